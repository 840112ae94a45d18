"""Functions tests run against a real moto server holding the tables of serverless.yml."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest

from functions.settings import get_settings
from infra.local_aws import LocalAws, create_tables, start_local_aws

REGION = "us-east-1"


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    local = start_local_aws(port=0)
    os.environ.update(
        AWS_ENDPOINT_URL=local.url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        POWERTOOLS_METRICS_NAMESPACE="voicecall-tests",
    )
    create_tables(local.url, stage="local", region=REGION)
    yield local
    local.stop()


@pytest.fixture(autouse=True)
def _aws(local_aws: LocalAws) -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def fresh_tables(local_aws: LocalAws) -> None:
    """Empty tables for tests that count (analytics, listing)."""
    client = boto3.client("dynamodb", endpoint_url=local_aws.url, region_name=REGION)
    for name in client.list_tables()["TableNames"]:
        client.delete_table(TableName=name)
    create_tables(local_aws.url, stage="local", region=REGION)
