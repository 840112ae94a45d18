"""The session-events table: one item per event (transcript line, turn metrics, error, start/end).

Key: (session_id, event_id), so a retried event maps onto the same item. A batch is written in one
DynamoDB transaction of conditional puts: either all new events land or none do; events that already
exist are reported as duplicates and the rest of the batch is written again without them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from functions.models.session_log import SessionEvent
from functions.observability import tracer
from functions.store.tables import day_of, dynamodb, events_table, expires_at, from_dynamo, iso, to_dynamo

BY_KIND_DAY_INDEX = "by_kind_day"
# Only these kinds are indexed per day (a sparse GSI): analytics reads them without a scan.
INDEXED_KINDS = frozenset({"turn_metrics", "error"})
_MAX_TRANSACTION_ITEMS = 100
_MAX_ATTEMPTS = 4


def _item(session_id: str, event: SessionEvent, now: datetime, position: int) -> dict[str, Any]:
    body = event.model_dump(mode="json", exclude={"ts"})
    item: dict[str, Any] = {
        **body,
        "session_id": session_id,
        "ts": iso(event.ts),
        # Tie-breaker for equal timestamps: arrival order (batch receive time, then position in the batch).
        "arrival": f"{iso(now)}#{position:03d}",
        "expires_at": expires_at(now),
    }
    if event.type in INDEXED_KINDS:
        item["kind_day"] = f"{event.type}#{day_of(event.ts)}"
    return to_dynamo(item)


@tracer.capture_method(capture_response=False)  # items can be large; keep traces small
def store_events(session_id: str, events: list[SessionEvent], now: datetime) -> tuple[int, int]:
    """Returns (stored, duplicates). Duplicate event ids inside one batch count as duplicates too."""
    unique: dict[str, SessionEvent] = {}
    for event in events:
        unique.setdefault(event.event_id, event)
    duplicates = len(events) - len(unique)
    pending = [_item(session_id, e, now, i) for i, e in enumerate(unique.values())]
    stored = 0
    for start in range(0, len(pending), _MAX_TRANSACTION_ITEMS):
        chunk = pending[start : start + _MAX_TRANSACTION_ITEMS]
        new, dup = _write_chunk(chunk)
        stored += new
        duplicates += dup
    return stored, duplicates


def _write_chunk(items: list[dict[str, Any]]) -> tuple[int, int]:
    client = dynamodb().meta.client
    table = events_table().name
    duplicates = 0
    for _ in range(_MAX_ATTEMPTS):
        if not items:
            return 0, duplicates
        try:
            client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": table,
                            "Item": item,
                            "ConditionExpression": "attribute_not_exists(event_id)",
                        }
                    }
                    for item in items
                ]
            )
            return len(items), duplicates
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            failed = {i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"}
            if not failed and not any(r.get("Code") == "TransactionConflict" for r in reasons):
                raise
            duplicates += len(failed)
            items = [item for i, item in enumerate(items) if i not in failed]
    raise RuntimeError("could not store the event batch after retries")


@tracer.capture_method(capture_response=False)  # items can be large; keep traces small
def session_events(session_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("session_id").eq(session_id),
        "ConsistentRead": True,
    }
    while True:
        response = events_table().query(**kwargs)
        items.extend(from_dynamo(i) for i in response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            break
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    items.sort(key=lambda i: (i["ts"], i.get("arrival", ""), i["event_id"]))
    return items


@tracer.capture_method(capture_response=False)  # items can be large; keep traces small
def events_of_day(kind: str, day: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "IndexName": BY_KIND_DAY_INDEX,
        "KeyConditionExpression": Key("kind_day").eq(f"{kind}#{day}"),
    }
    while True:
        response = events_table().query(**kwargs)
        items.extend(from_dynamo(i) for i in response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return items
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def delete_session_events(session_id: str) -> int:
    """Every event of the session, deleted (a retry deletes what is left); how many were."""
    table = events_table()
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("session_id").eq(session_id),
        "ProjectionExpression": "session_id, event_id",
    }
    deleted = 0
    with table.batch_writer() as batch:
        while True:
            response = table.query(**kwargs)
            for item in response.get("Items", []):
                batch.delete_item(Key={"session_id": item["session_id"], "event_id": item["event_id"]})
                deleted += 1
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return deleted
