"""The assistants table: every version of every assistant, immutable, plus one head item per assistant.

Key (assistant_id, version). Versions 1, 2, ... are written once each (a conditional put) and never
changed: a call records the version it was dispatched with, and the worker reads exactly that one. The
head (version 0) holds the latest version number, the archived flag and a copy of the latest spec, so
listing and POST /token need one read. A new version is one transaction: put version n+1 and update the
head on the condition that it still says n (optimistic concurrency: a stale editor gets VersionConflict).

Listing queries the sparse GSI ``by_name``: only heads carry its partition key (``listed``), sorted by the
case-folded name. One partition holds every assistant: operators create tens, not millions.

The default assistant (id ``default``) is seeded from functions/default_assistant.json the first time it
is needed, with a conditional write: two Lambdas seeding at once leave one copy and no error.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from functions.models.assistant import DEFAULT_ASSISTANT_ID, Assistant, AssistantSpec, AssistantVersionSummary
from functions.observability import logger, tracer
from functions.store.tables import assistants_table, dynamodb, from_dynamo, iso, to_dynamo

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "default_assistant.json"
BY_NAME_INDEX = "by_name"
HEAD_VERSION = 0
_LISTED = "assistants"
_ATTEMPTS = 3


class AssistantRefused(Exception):
    """What the table says no to (the routes turn each kind into its 4xx)."""

    def __init__(self, assistant_id: str, latest: int | None = None) -> None:
        super().__init__(assistant_id)
        self.assistant_id = assistant_id
        self.latest = latest


class AssistantNotFound(AssistantRefused):
    pass


class VersionNotFound(AssistantRefused):
    """The assistant exists, this version of it does not (``latest`` says which does)."""


class AssistantArchived(AssistantRefused):
    pass


class AssistantProtected(AssistantRefused):
    """The default assistant: every call without an assistant_id needs it, so it cannot be archived."""


class VersionConflict(AssistantRefused):
    """The edit started from an older version than ``latest``."""


@lru_cache(maxsize=1)
def default_spec() -> AssistantSpec:
    return AssistantSpec.model_validate_json(DEFAULT_FILE.read_text(encoding="utf-8"))


def new_assistant_id() -> str:
    return f"asst-{secrets.token_hex(6)}"


def _spec_map(spec: AssistantSpec) -> dict[str, Any]:
    return to_dynamo(spec.model_dump(mode="json"))


def _version_item(assistant_id: str, version: int, spec: AssistantSpec, saved_at: str) -> dict[str, Any]:
    return {"assistant_id": assistant_id, "version": version, "spec": _spec_map(spec), "updated_at": saved_at}


def _head_item(assistant_id: str, spec: AssistantSpec, now: str) -> dict[str, Any]:
    return {
        "assistant_id": assistant_id,
        "version": HEAD_VERSION,
        "latest": 1,
        "archived": False,
        "spec": _spec_map(spec),
        "created_at": now,
        "updated_at": now,
        "listed": _LISTED,
        "name_key": spec.name.casefold(),
    }


def _assistant(head: dict[str, Any], version: int, spec: dict[str, Any], saved_at: str) -> Assistant:
    """``head``: the assistant's state (id, archived, created_at); ``spec``: that version's content."""
    return Assistant(
        **spec,
        assistant_id=head["assistant_id"],
        version=version,
        archived=bool(head.get("archived")),
        created_at=head["created_at"],
        updated_at=saved_at,
    )


def _latest(head: dict[str, Any]) -> Assistant:
    return _assistant(head, int(head["latest"]), head["spec"], head["updated_at"])


def _cancelled(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "TransactionCanceledException"


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _put_new(assistant_id: str, spec: AssistantSpec, now: datetime) -> bool:
    """Version 1 and the head of a new assistant, both or neither; False when the id exists already."""
    at = iso(now)
    table = assistants_table().name
    absent = "attribute_not_exists(assistant_id)"
    try:
        dynamodb().meta.client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": item, "ConditionExpression": absent}}
                for item in (_version_item(assistant_id, 1, spec, at), _head_item(assistant_id, spec, at))
            ]
        )
    except ClientError as exc:
        if not _cancelled(exc):
            raise
        return False
    return True


def _read_head(assistant_id: str) -> dict[str, Any] | None:
    key = {"assistant_id": assistant_id, "version": HEAD_VERSION}
    item = assistants_table().get_item(Key=key, ConsistentRead=True).get("Item")
    return from_dynamo(item) if item else None


@tracer.capture_method(capture_response=False)
def head(assistant_id: str) -> dict[str, Any]:
    """The head item (the default seeded if it is missing); AssistantNotFound otherwise."""
    found = _read_head(assistant_id)
    attempts = 0
    while found is None:
        if assistant_id != DEFAULT_ASSISTANT_ID:
            raise AssistantNotFound(assistant_id)
        if attempts == _ATTEMPTS:
            raise RuntimeError("the default assistant could not be seeded")
        attempts += 1
        # A concurrent seed cancels ours (its item exists, or its transaction had not committed yet):
        # either way the head is read again, and whoever won is what every caller gets.
        if _put_new(DEFAULT_ASSISTANT_ID, default_spec(), datetime.now(UTC)):
            logger.info("default assistant seeded")
        found = _read_head(assistant_id)
    return found


def latest(assistant_id: str) -> Assistant:
    return _latest(head(assistant_id))


@tracer.capture_method(capture_response=False)
def version(assistant_id: str, number: int) -> Assistant:
    """One stored version; its ``archived`` is the assistant's state now."""
    current = head(assistant_id)
    key = {"assistant_id": assistant_id, "version": number}
    item = assistants_table().get_item(Key=key, ConsistentRead=True).get("Item") if number > 0 else None
    if not item:
        raise VersionNotFound(assistant_id, int(current["latest"]))
    stored = from_dynamo(item)
    return _assistant(current, number, stored["spec"], stored["updated_at"])


@tracer.capture_method(capture_response=False)
def versions(assistant_id: str) -> list[AssistantVersionSummary]:
    head(assistant_id)  # 404 for an unknown id, the default seeded
    kwargs: dict[str, Any] = {
        "KeyConditionExpression": Key("assistant_id").eq(assistant_id) & Key("version").gt(HEAD_VERSION),
        "ProjectionExpression": "#v, #at, #spec.#n",
        "ExpressionAttributeNames": {"#v": "version", "#at": "updated_at", "#spec": "spec", "#n": "name"},
        "ScanIndexForward": False,
        "ConsistentRead": True,
    }
    found: list[AssistantVersionSummary] = []
    while True:
        response = assistants_table().query(**kwargs)
        for item in map(from_dynamo, response.get("Items", [])):
            found.append(
                AssistantVersionSummary(
                    version=item["version"], updated_at=item["updated_at"], name=item["spec"]["name"]
                )
            )
        if "LastEvaluatedKey" not in response:
            return found
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


@tracer.capture_method(capture_response=False)
def list_latest(include_archived: bool) -> list[Assistant]:
    """The latest version of every assistant, sorted by name (then id)."""
    heads: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"IndexName": BY_NAME_INDEX, "KeyConditionExpression": Key("listed").eq(_LISTED)}
    while True:
        response = assistants_table().query(**kwargs)
        heads.update((i["assistant_id"], from_dynamo(i)) for i in response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            break
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    # The index is eventually consistent: a default seeded a moment ago is taken from the table itself.
    heads[DEFAULT_ASSISTANT_ID] = head(DEFAULT_ASSISTANT_ID)
    listed = [_latest(h) for h in heads.values() if include_archived or not h.get("archived")]
    return sorted(listed, key=lambda a: (a.name.casefold(), a.assistant_id))


@tracer.capture_method(capture_response=False)
def create(spec: AssistantSpec, now: datetime) -> Assistant:
    for _ in range(_ATTEMPTS):
        assistant_id = new_assistant_id()
        if _put_new(assistant_id, spec, now):
            state = {"assistant_id": assistant_id, "archived": False, "created_at": iso(now)}
            return _assistant(state, 1, spec.model_dump(mode="json"), iso(now))
    raise RuntimeError("could not allocate an assistant id")  # 48 random bits colliding three times


@tracer.capture_method(capture_response=False)
def update(assistant_id: str, spec: AssistantSpec, base_version: int, now: datetime) -> Assistant:
    """Version base_version + 1, if base_version is still the latest and the assistant is not archived."""
    current = head(assistant_id)
    new, at = base_version + 1, iso(now)
    table = assistants_table().name
    for _ in range(_ATTEMPTS):
        if current.get("archived"):
            raise AssistantArchived(assistant_id)
        if int(current["latest"]) != base_version:
            raise VersionConflict(assistant_id, int(current["latest"]))
        try:
            dynamodb().meta.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": table,
                            "Item": _version_item(assistant_id, new, spec, at),
                            "ConditionExpression": "attribute_not_exists(assistant_id)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": table,
                            "Key": {"assistant_id": assistant_id, "version": HEAD_VERSION},
                            "UpdateExpression": "SET #latest = :new, #spec = :spec, #at = :at, #name = :name",
                            "ConditionExpression": "#latest = :base AND #archived = :false",
                            "ExpressionAttributeNames": {
                                "#latest": "latest",
                                "#spec": "spec",
                                "#at": "updated_at",
                                "#name": "name_key",
                                "#archived": "archived",
                            },
                            "ExpressionAttributeValues": {
                                ":new": new,
                                ":base": base_version,
                                ":false": False,
                                ":spec": _spec_map(spec),
                                ":at": at,
                                ":name": spec.name.casefold(),
                            },
                        }
                    },
                ]
            )
        except ClientError as exc:
            if not _cancelled(exc):
                raise
            # Another editor saved first, someone archived it, or a concurrent transaction on these
            # items: the head now tells which (the checks above); a mere conflict is tried again.
            current = head(assistant_id)
            continue
        return _assistant(current, new, spec.model_dump(mode="json"), at)
    raise RuntimeError("could not save the assistant after retries")


@tracer.capture_method(capture_response=False)
def set_archived(assistant_id: str, archived: bool) -> Assistant:
    """Archive (or restore) an assistant; idempotent. Its versions stay: calls recorded them."""
    if archived and assistant_id == DEFAULT_ASSISTANT_ID:
        raise AssistantProtected(assistant_id)
    head(assistant_id)  # the default seeded, so that restoring it works on a fresh table too
    try:
        response = assistants_table().update_item(
            Key={"assistant_id": assistant_id, "version": HEAD_VERSION},
            UpdateExpression="SET #archived = :archived",
            ConditionExpression="attribute_exists(#id)",
            ExpressionAttributeNames={"#archived": "archived", "#id": "assistant_id"},
            ExpressionAttributeValues={":archived": archived},
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if not _conditional_failed(exc):
            raise
        raise AssistantNotFound(assistant_id) from exc
    return _latest(from_dynamo(response["Attributes"]))
