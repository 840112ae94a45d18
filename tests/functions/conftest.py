"""Functions tests run against a real moto server holding the tables of serverless.yml, and a real local
OpenID Connect issuer (infra/local_oidc) whose operator signs in for the operator routes."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest

from functions.settings import get_settings
from infra.local_aws import LocalAws, create_resources, start_local_aws
from infra.local_oidc import LocalOidc, LocalOidcSettings, local_oidc
from tests.support.operator import OTHER_CLIENT, Operator, SigningKey

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
    create_resources(local.url, stage="local", region=REGION)
    yield local
    local.stop()


# Where the web app would be; the issuer only redirects there (the tests read the code from the redirect).
REDIRECT_URI = "http://127.0.0.1:5173/"


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return SigningKey.create(tmp_path_factory.mktemp("issuer-key"))


@pytest.fixture(scope="session")
def operator_issuer(tmp_path_factory: pytest.TempPathFactory, signing_key: SigningKey) -> Iterator[LocalOidc]:
    """The local issuer signing with the test key; the functions (in-process and served) trust it."""
    settings = LocalOidcSettings(jwks_file=signing_key.jwks_file, operator_password="test-operator-pw")
    log = tmp_path_factory.mktemp("oidc") / "local-oidc.log"
    with local_oidc([REDIRECT_URI], log, extra_clients=[OTHER_CLIENT], settings=settings) as oidc:
        os.environ.update(
            OPERATOR_ISSUER=oidc.issuer, OPERATOR_AUDIENCE=oidc.client_id, OPERATOR_SCOPE_PREFIX=""
        )
        yield oidc


@pytest.fixture(scope="session")
def operator(operator_issuer: LocalOidc) -> Operator:
    return Operator(operator_issuer)


@pytest.fixture(autouse=True)
def _aws(local_aws: LocalAws, operator_issuer: LocalOidc) -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def fresh_tables(local_aws: LocalAws) -> None:
    """Empty tables for tests that count (analytics, listing)."""
    client = boto3.client("dynamodb", endpoint_url=local_aws.url, region_name=REGION)
    for name in client.list_tables()["TableNames"]:
        client.delete_table(TableName=name)
    create_resources(local_aws.url, stage="local", region=REGION)
