"""Lazily created boto3 handles (boto3 reads AWS_ENDPOINT_URL, so moto works without code changes)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

from functions.settings import get_settings

_BOTO_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=10)


@lru_cache(maxsize=1)
def dynamodb() -> Any:
    return boto3.resource("dynamodb", config=_BOTO_CONFIG)


def sessions_table() -> Any:
    return dynamodb().Table(get_settings().sessions_table)


def events_table() -> Any:
    return dynamodb().Table(get_settings().events_table)


def assistants_table() -> Any:
    return dynamodb().Table(get_settings().assistants_table)


def iso(ts: datetime) -> str:
    """Fixed-width UTC timestamps so that string order is time order (sort keys)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def day_of(ts: datetime) -> str:
    return iso(ts)[:10]


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def expires_at(now: datetime) -> int:
    """DynamoDB TTL attribute (epoch seconds)."""
    return int((now + timedelta(days=get_settings().data_retention_days)).timestamp())


def to_dynamo(value: Any) -> Any:
    """boto3's resource layer wants Decimal, not float; drop None so items stay small."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [to_dynamo(v) for v in value]
    return value


def from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    if isinstance(value, set):
        return sorted(from_dynamo(v) for v in value)
    return value
