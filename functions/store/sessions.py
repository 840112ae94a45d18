"""The sessions table: one small item per session (summary only; events live in their own table).

Every write is an UpdateItem that sets ``created_at``/``start_day`` only if absent, so the token route,
the worker's session log and LiveKit webhooks can arrive in any order and repeat safely.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from functions.observability import tracer
from functions.store.tables import (
    day_of,
    dynamodb,
    expires_at,
    from_dynamo,
    iso,
    sessions_table,
    to_dynamo,
)

BY_DAY_INDEX = "by_start_day"


@tracer.capture_method(capture_response=False)  # items can be large; keep traces small
def update_session(
    session_id: str,
    now: datetime,
    *,
    set_always: dict[str, Any] | None = None,
    set_if_absent: dict[str, Any] | None = None,
    add_to_sets: dict[str, set[str]] | None = None,
    only_if: str | None = None,
) -> bool:
    """Returns False when ``only_if`` ("exists" or "open") did not hold, and nothing was written."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    sets: list[str] = []
    absent = {"created_at": iso(now), "start_day": day_of(now), **(set_if_absent or {})}
    always = {"expires_at": expires_at(now), **(set_always or {})}
    for i, (key, value) in enumerate(always.items()):
        if value is None:
            continue
        names[f"#a{i}"], values[f":a{i}"] = key, to_dynamo(value)
        sets.append(f"#a{i} = :a{i}")
    for i, (key, value) in enumerate(absent.items()):
        if value is None or key in always:
            continue
        names[f"#n{i}"], values[f":n{i}"] = key, to_dynamo(value)
        sets.append(f"#n{i} = if_not_exists(#n{i}, :n{i})")
    expression = "SET " + ", ".join(sets)
    adds = []
    for i, (key, members) in enumerate((add_to_sets or {}).items()):
        if members:
            names[f"#s{i}"], values[f":s{i}"] = key, set(members)
            adds.append(f"#s{i} :s{i}")
    if adds:
        expression += " ADD " + ", ".join(adds)
    kwargs: dict[str, Any] = {}
    if only_if is not None:
        names["#sid"] = "session_id"
        if only_if == "open":
            names["#end"] = "ended_at"
        kwargs["ConditionExpression"] = {
            "exists": "attribute_exists(#sid)",
            "open": "attribute_exists(#sid) AND attribute_not_exists(#end)",
        }[only_if]
    try:
        sessions_table().update_item(
            Key={"session_id": session_id},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            **kwargs,
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        return False
    return True


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


@tracer.capture_method(capture_response=False)
def create_session(session_id: str, now: datetime, fields: dict[str, Any]) -> bool:
    """A new session row, only if the id is unused (False otherwise). Sessions begin here, at /token."""
    item = {
        "session_id": session_id,
        "created_at": iso(now),
        "start_day": day_of(now),
        "expires_at": expires_at(now),
        **fields,
    }
    try:
        sessions_table().put_item(
            Item=to_dynamo(item),
            ConditionExpression="attribute_not_exists(session_id)",
        )
    except ClientError as exc:
        if not _conditional_failed(exc):
            raise
        return False
    return True


@tracer.capture_method(capture_response=False)
def record_end(
    session_id: str, reason: str, duration_s: float | None, ended_at: datetime, now: datetime
) -> bool:
    """The call's end, once: the first reason (and duration) wins; later ones change nothing.

    ``ended_at`` is kept if LiveKit's room_finished set it already. False when the session does not exist
    or its end was recorded before.
    """
    names = {"#sid": "session_id", "#reason": "end_reason", "#end": "ended_at", "#exp": "expires_at"}
    values: dict[str, Any] = {":reason": reason, ":end": iso(ended_at), ":exp": expires_at(now)}
    sets = ["#reason = :reason", "#end = if_not_exists(#end, :end)", "#exp = :exp"]
    if duration_s is not None:
        names["#dur"] = "duration_s"
        values[":dur"] = to_dynamo(float(duration_s))
        sets.append("#dur = :dur")
    try:
        sessions_table().update_item(
            Key={"session_id": session_id},
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression="attribute_exists(#sid) AND attribute_not_exists(#reason)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except ClientError as exc:
        if not _conditional_failed(exc):
            raise
        return False
    return True


class ClaimRefused(Exception):
    """The session cannot take this agent job: ``reason`` is "unknown", "finished" or "claimed"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@tracer.capture_method(capture_response=False)
def claim_session(session_id: str, job_id: str, agent_identity: str, now: datetime) -> dict[str, Any]:
    """Atomically bind one agent job to an open session (idempotent for the same job); returns the row,
    with ``takeover`` True when this job replaces a lost agent.

    Refused (ClaimRefused) for a session /token never created, one that has ended, or one another job
    already holds: a token replayed after its call re-creates at most an empty room, never a second agent.
    The one exception is a takeover the LiveKit webhook opened after the call's agent left mid-call
    (``takeover_open``): exactly one new job may then claim the call, which closes it again.
    """
    try:
        response = sessions_table().update_item(
            Key={"session_id": session_id},
            UpdateExpression=(
                "SET #job = :job, #agent = :agent, #at = if_not_exists(#at, :at), #last = :at "
                "REMOVE #takeover"
            ),
            ConditionExpression=(
                "attribute_exists(#sid) AND attribute_not_exists(#end) "
                "AND (attribute_not_exists(#job) OR #job = :job OR #takeover = :true)"
            ),
            ExpressionAttributeNames={
                "#sid": "session_id",
                "#end": "ended_at",
                "#job": "agent_job",
                "#agent": "agent_identity",
                "#at": "claimed_at",
                "#last": "last_claimed_at",
                "#takeover": "takeover_open",
            },
            ExpressionAttributeValues={
                ":job": job_id,
                ":agent": agent_identity,
                ":at": iso(now),
                ":true": True,
            },
            ReturnValues="ALL_OLD",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if not _conditional_failed(exc):
            raise
        old: dict[str, Any] = dict(exc.response.get("Item") or {})  # type: ignore[call-overload]
        if not old:
            raise ClaimRefused("unknown") from exc
        if "ended_at" in old:
            raise ClaimRefused("finished") from exc
        raise ClaimRefused("claimed") from exc
    row: dict[str, Any] = dict(from_dynamo(response.get("Attributes") or {}))
    previous_job = row.get("agent_job")
    row["takeover"] = bool(previous_job) and previous_job != job_id
    row.update(agent_job=job_id, agent_identity=agent_identity)
    return row


@tracer.capture_method(capture_response=False)
def open_takeover(session_id: str, lost_identity: str, now: datetime) -> bool:
    """After the call's agent (``lost_identity``) left mid-call: allow one new job to claim it. Once per
    call (``redispatched_at``); False when that was used already, the call ended or another agent holds it."""
    try:
        sessions_table().update_item(
            Key={"session_id": session_id},
            UpdateExpression="SET #takeover = :true, #redispatched = :now, #lost = :lost",
            ConditionExpression=(
                "attribute_exists(#sid) AND attribute_not_exists(#end) "
                "AND attribute_not_exists(#redispatched) AND #agent = :lost"
            ),
            ExpressionAttributeNames={
                "#sid": "session_id",
                "#end": "ended_at",
                "#takeover": "takeover_open",
                "#redispatched": "redispatched_at",
                "#lost": "agent_lost",
                "#agent": "agent_identity",
            },
            ExpressionAttributeValues={":true": True, ":now": iso(now), ":lost": lost_identity},
        )
    except ClientError as exc:
        if not _conditional_failed(exc):
            raise
        return False
    return True


@tracer.capture_method(capture_response=False)  # items can be large; keep traces small
def delete_session_row(session_id: str) -> None:
    sessions_table().delete_item(Key={"session_id": session_id})


def get_session(session_id: str) -> dict[str, Any] | None:
    item = sessions_table().get_item(Key={"session_id": session_id}, ConsistentRead=True).get("Item")
    return from_dynamo(item) if item else None


@tracer.capture_method(capture_response=False)  # items can be large; keep traces small
def get_sessions(session_ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    table_name = sessions_table().name
    for start in range(0, len(session_ids), 100):
        keys = [{"session_id": s} for s in session_ids[start : start + 100]]
        request: dict[str, Any] = {table_name: {"Keys": keys}}
        while request:
            response = dynamodb().batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table_name, []):
                found[item["session_id"]] = from_dynamo(item)
            request = response.get("UnprocessedKeys") or {}
    return found


@tracer.capture_method(capture_response=False)  # items can be large; keep traces small
def query_day(
    day: str, limit: int | None = None, start_key: dict[str, Any] | None = None, newest_first: bool = True
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    kwargs: dict[str, Any] = {
        "IndexName": BY_DAY_INDEX,
        "KeyConditionExpression": Key("start_day").eq(day),
        "ScanIndexForward": not newest_first,
    }
    if limit:
        kwargs["Limit"] = limit
    if start_key:
        kwargs["ExclusiveStartKey"] = start_key
    response = sessions_table().query(**kwargs)
    return [from_dynamo(i) for i in response.get("Items", [])], response.get("LastEvaluatedKey")


def all_of_day(day: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    start_key: dict[str, Any] | None = None
    while True:
        page, start_key = query_day(day, start_key=start_key, newest_first=False)
        items.extend(page)
        if not start_key:
            return items
