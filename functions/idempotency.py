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
# A client's Idempotency-Key header (e.g. POST /assistants retried after a timeout): a day, as Stripe
# keeps them. The same key with another body is refused (IdempotencyValidationError), never replayed.
CLIENT_KEY_CONFIG = IdempotencyConfig(
    event_key_jmespath="key", payload_validation_jmespath="body", expires_after_seconds=86_400
)


@lru_cache(maxsize=4)
def persistence(use: str) -> DynamoDBPersistenceLayer:
    """One layer per use: Powertools configures a layer once, with the first config it is given (its key
    and payload paths), so two configs sharing one layer would read the wrong key."""
    return DynamoDBPersistenceLayer(table_name=get_settings().idempotency_table)


def _lazily_idempotent(
    func: Callable[..., dict[str, Any]], config: IdempotencyConfig, keyword: str
) -> Callable[..., dict[str, Any]]:
    wrapped: Callable[..., dict[str, Any]] | None = None

    def call(**kwargs: dict[str, Any]) -> dict[str, Any]:
        nonlocal wrapped
        if wrapped is None:
            wrapped = idempotent_function(
                data_keyword_argument=keyword, persistence_store=persistence(keyword), config=config
            )(func)
        return wrapped(**kwargs)

    return call


def once_per_event_id(func: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Wrap ``func(event=dict)`` so a redelivered event (same ``id``) returns the stored result."""
    return _lazily_idempotent(func, CONFIG, "event")


def once_per_client_key(func: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Wrap ``func(request={"key": ..., "body": ...})`` so a retry with the same key returns the stored
    result; the same key with another body raises IdempotencyValidationError."""
    return _lazily_idempotent(func, CLIENT_KEY_CONFIG, "request")
