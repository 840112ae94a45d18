"""Powertools idempotency on DynamoDB (the idempotency table in serverless.yml).

Built lazily so that boto3 picks up the endpoint/region of the environment the function runs in.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from functions.settings import get_settings

# LiveKit retries a webhook delivery for a while; an hour covers its retries and then expires.
CONFIG = IdempotencyConfig(
    event_key_jmespath="id", expires_after_seconds=3600, raise_on_no_idempotency_key=False
)


@lru_cache(maxsize=1)
def persistence() -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(table_name=get_settings().idempotency_table)


def once_per_event_id(func: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Wrap ``func(event=dict)`` so a redelivered event (same ``id``) returns the stored result."""
    wrapped: Callable[..., dict[str, Any]] | None = None

    def call(*, event: dict[str, Any]) -> dict[str, Any]:
        nonlocal wrapped
        if wrapped is None:
            wrapped = idempotent_function(
                data_keyword_argument="event", persistence_store=persistence(), config=CONFIG
            )(func)
        return wrapped(event=event)

    return call
