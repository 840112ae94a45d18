"""Assistants defined without code: the operators' /assistants routes (versioned, archived instead of
deleted) and the worker's signed read of the version a call was dispatched with.

Every save is a new immutable version (functions/store/assistants.py). PUT names the version the editor
started from: a stale one is 409 ``version_conflict``, so two operators editing at once never overwrite
each other silently. The default assistant always exists (seeded on first use) and cannot be archived.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from functions.errors import ApiError, error_responses
from functions.idempotency import CLIENT_KEY_CONFIG, once_per_client_key
from functions.models.assistant import (
    ASSISTANT_ID_PATTERN,
    DEFAULT_ASSISTANT_ID,
    MAX_VERSION,
    Assistant,
    AssistantList,
    AssistantSpec,
    AssistantUpdate,
    AssistantVersions,
)
from functions.models.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER
from functions.observability import logger, metrics
from functions.operator_auth import openapi_security
from functions.store import assistants as store

router = Router()

AssistantId = Annotated[str, Path(pattern=ASSISTANT_ID_PATTERN, description="`default` or `asst-<12 hex>`")]
VersionNumber = Annotated[int, Path(ge=1, le=MAX_VERSION)]
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_.:-]{8,128}$"


@contextmanager
def store_refusals() -> Iterator[None]:
    """The store's refusals as the API's 4xx (one wording for every route, /token included)."""
    try:
        yield
    except store.AssistantRefused as exc:
        name = exc.assistant_id
        if isinstance(exc, store.AssistantNotFound):
            raise ApiError(404, "assistant_not_found", f"no assistant {name!r}") from exc
        if isinstance(exc, store.VersionNotFound):
            detail = f"assistant {name!r} has no such version (latest: {exc.latest})"
            raise ApiError(404, "version_not_found", detail) from exc
        if isinstance(exc, store.AssistantArchived):
            detail = f"assistant {name!r} is archived: restore it first"
            raise ApiError(409, "assistant_archived", detail) from exc
        if isinstance(exc, store.AssistantProtected):
            raise ApiError(409, "assistant_protected", "the default assistant cannot be archived") from exc
        if isinstance(exc, store.VersionConflict):
            metrics.add_metric(name="AssistantVersionConflict", unit="Count", value=1)
            message = (
                f"assistant {name!r} was saved as version {exc.latest} since this edit began: "
                "reload it and apply the edit again"
            )
            conflict = {"message": message, "latest_version": exc.latest}
            raise ApiError(409, "version_conflict", conflict) from exc
        raise


def assistant_for_call(assistant_id: str | None) -> Assistant:
    """The latest version of the assistant a new call gets (None: the default): 404 unknown, 409 archived."""
    with store_refusals():
        assistant = store.latest(assistant_id or DEFAULT_ASSISTANT_ID)
        if assistant.archived:
            raise store.AssistantArchived(assistant.assistant_id)
    return assistant


@router.get(
    "/assistants",
    summary="Every assistant (its latest version), sorted by name",
    responses=error_responses(401, 403, 422, 503),
    security=openapi_security("GET /assistants"),
)
def list_assistants(
    include_archived: Annotated[bool, Query(description="Also list archived assistants.")] = False,
) -> AssistantList:
    return AssistantList(assistants=store.list_latest(include_archived))


@once_per_client_key
def _create_once(*, request: dict[str, Any]) -> dict[str, Any]:
    spec = AssistantSpec.model_validate(request["body"])
    return store.create(spec, datetime.now(UTC)).model_dump(mode="json")


@router.post(
    "/assistants",
    status_code=201,
    summary="Create an assistant (version 1)",
    description=(
        "With an `Idempotency-Key` header (8-128 of `A-Za-z0-9_.:-`), a retry with the same key and body "
        "within 24 h returns the assistant the first request created (201) instead of a second one; the "
        "same key with another body is 422 `idempotency_key_reused`, and while the first request is still "
        "running 409 `idempotency_in_progress`."
    ),
    responses=error_responses(400, 401, 403, 409, 413, 415, 422, 503, success=201),
    security=openapi_security("POST /assistants"),
)
def create_assistant(
    spec: AssistantSpec,
    idempotency_key: Annotated[
        str | None, Header(alias="idempotency-key", pattern=IDEMPOTENCY_KEY_PATTERN)
    ] = None,
) -> Assistant:
    if idempotency_key is None:
        created = store.create(spec, datetime.now(UTC))
    else:
        CLIENT_KEY_CONFIG.register_lambda_context(router.lambda_context)
        try:
            stored = _create_once(request={"key": idempotency_key, "body": spec.model_dump(mode="json")})
        except IdempotencyValidationError as exc:
            detail = "this Idempotency-Key was used with another body: use a new key for a new assistant"
            raise ApiError(422, "idempotency_key_reused", detail) from exc
        except IdempotencyAlreadyInProgressError as exc:
            detail = "a request with this Idempotency-Key is still running: retry in a moment"
            raise ApiError(409, "idempotency_in_progress", detail) from exc
        created = Assistant.model_validate(stored)
    logger.info("assistant created", extra={"assistant_id": created.assistant_id})
    return created


@router.get(
    "/assistants/<assistant_id>",
    summary="An assistant's latest version (archived ones too)",
    responses=error_responses(401, 403, 404, 422, 503),
    security=openapi_security("GET /assistants/{assistant_id}"),
)
def get_assistant(assistant_id: AssistantId) -> Assistant:
    with store_refusals():
        return store.latest(assistant_id)


@router.put(
    "/assistants/<assistant_id>",
    summary="Save a new version (base_version + 1) of an assistant",
    description=(
        "`base_version` is the version the edit started from: unless it is still the latest, 409 "
        "`version_conflict` (detail: `message`, `latest_version`) and nothing is saved. 409 "
        "`assistant_archived` for an archived assistant."
    ),
    responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422, 503),
    security=openapi_security("PUT /assistants/{assistant_id}"),
)
def update_assistant(assistant_id: AssistantId, update: AssistantUpdate) -> Assistant:
    with store_refusals():
        saved = store.update(assistant_id, update.spec(), update.base_version, datetime.now(UTC))
    logger.info("assistant saved", extra={"assistant_id": assistant_id, "version": saved.version})
    return saved


@router.delete(
    "/assistants/<assistant_id>",
    summary="Archive an assistant (idempotent; its versions are kept, new calls refuse it)",
    responses=error_responses(401, 403, 404, 409, 422, 503),
    security=openapi_security("DELETE /assistants/{assistant_id}"),
)
def archive_assistant(assistant_id: AssistantId) -> Assistant:
    return _set_archived(assistant_id, True)


@router.post(
    "/assistants/<assistant_id>/restore",
    summary="Restore an archived assistant (idempotent)",
    responses=error_responses(401, 403, 404, 422, 503),
    security=openapi_security("POST /assistants/{assistant_id}/restore"),
)
def restore_assistant(assistant_id: AssistantId) -> Assistant:
    return _set_archived(assistant_id, False)


def _set_archived(assistant_id: str, archived: bool) -> Assistant:
    with store_refusals():
        changed = store.set_archived(assistant_id, archived)
    logger.info(
        "assistant archived" if archived else "assistant restored", extra={"assistant_id": assistant_id}
    )
    return changed


@router.get(
    "/assistants/<assistant_id>/versions",
    summary="An assistant's versions, newest first",
    responses=error_responses(401, 403, 404, 422, 503),
    security=openapi_security("GET /assistants/{assistant_id}/versions"),
)
def list_versions(assistant_id: AssistantId) -> AssistantVersions:
    with store_refusals():
        return AssistantVersions(versions=store.versions(assistant_id))


@router.get(
    "/assistants/<assistant_id>/versions/<version>",
    summary="One version of an assistant (its `archived` is the assistant's state now)",
    responses=error_responses(401, 403, 404, 422, 503),
    security=openapi_security("GET /assistants/{assistant_id}/versions/{version}"),
)
def get_version(assistant_id: AssistantId, version: VersionNumber) -> Assistant:
    with store_refusals():
        return store.version(assistant_id, version)


@router.get(
    "/agent/assistants/<assistant_id>/versions/<version>",
    summary="The worker: the assistant version a call was dispatched with (signed)",
    description=(
        "For the agent worker, signed like the session log with SESSION_LOG_SECRET: headers "
        f"`{SIGNATURE_HEADER}` = `v2=` + hex HMAC-SHA256 of `v2\\n{{timestamp}}\\nGET\\n{{path}}\\n` (the "
        f"body is empty) and `{TIMESTAMP_HEADER}` = unix seconds; 401 `invalid_signature` otherwise. The "
        "same body as the operators' route; archived assistants are served too (a call may have begun "
        "before the archive)."
    ),
    responses=error_responses(401, 404, 422),
)
def agent_get_version(assistant_id: AssistantId, version: VersionNumber) -> Assistant:
    with store_refusals():
        return store.version(assistant_id, version)
