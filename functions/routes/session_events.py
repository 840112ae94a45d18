"""POST /sessions/{id}/events: the agent worker's signed session log; POST /sessions/{id}/claim: the
worker's signed request to run a call's agent.

The signature (functions/models/signing.py) is checked on the raw body before the body is parsed, so an
unsigned caller learns nothing about the schema. Events are stored once each (see store/events.py).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from functions import secrets as runtime_secrets
from functions.api import raw_error
from functions.errors import ApiError, error_responses
from functions.models.api import AgentClaim, AgentClaimed, EventsAccepted
from functions.models.session_log import SESSION_ID_PATTERN, EventBatch, SessionEnded, SessionStarted
from functions.models.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, verify
from functions.observability import logger, metrics
from functions.settings import get_settings
from functions.store.events import store_events
from functions.store.sessions import ClaimRefused, claim_session, update_session
from functions.store.tables import iso

router = Router()

# Every route the worker signs with SESSION_LOG_SECRET.
_SIGNED_PATH = re.compile(r"^/sessions/[^/]+/(events|claim)/?$")


def _header(event: dict[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def verify_signature(event: dict[str, Any], body: bytes) -> dict[str, Any] | None:
    """Pre-check for the worker's routes: 401 unless signed with SESSION_LOG_SECRET inside the window."""
    method = (event.get("requestContext") or {}).get("http", {}).get("method", "")
    if method.upper() != "POST" or not _SIGNED_PATH.match(event.get("rawPath") or ""):
        return None
    try:
        verify(
            runtime_secrets.session_log_secret(),
            _header(event, TIMESTAMP_HEADER),
            _header(event, SIGNATURE_HEADER),
            body,
            window_s=get_settings().replay_window_s,
        )
    except SignatureError as exc:
        metrics.add_metric(name="SignatureRejected", unit="Count", value=1)
        logger.warning("session log signature rejected", extra={"reason": str(exc)})
        return raw_error(401, "invalid_signature", str(exc))
    return None


@router.post(
    "/sessions/<session_id>/events",
    summary="Append a signed batch of session-log events (idempotent per event_id)",
    description=(
        f"Headers `{SIGNATURE_HEADER}` = `v1=` + hex HMAC-SHA256 of `{{timestamp}}.{{body}}` and "
        f"`{TIMESTAMP_HEADER}` = unix seconds. Retried events (same event_id) are stored once."
    ),
    responses=error_responses(400, 401, 413, 415, 422),
)
def post_events(
    session_id: Annotated[str, Path(pattern=SESSION_ID_PATTERN, max_length=128)], batch: EventBatch
) -> EventsAccepted:
    for event in batch.events:
        if isinstance(event, SessionStarted) and event.room != session_id:
            raise ApiError(422, "room_mismatch", "session_started.room must equal the session id in the path")
    now = datetime.now(UTC)
    stored, duplicates = store_events(session_id, list(batch.events), now)
    set_always: dict[str, Any] = {}
    set_if_absent: dict[str, Any] = {}
    for event in batch.events:
        if isinstance(event, SessionStarted):
            set_always.update(language=event.language, providers=dict(event.providers))
            if event.participant:
                set_always["participant"] = event.participant
            set_if_absent["started_at"] = iso(event.ts)
        elif isinstance(event, SessionEnded):
            set_always.update(end_reason=event.reason, duration_s=event.duration_s)
            set_if_absent["ended_at"] = iso(event.ts)
    update_session(session_id, now, set_always=set_always, set_if_absent=set_if_absent)
    metrics.add_metric(name="EventsStored", unit="Count", value=stored)
    metrics.add_metric(name="EventsDuplicate", unit="Count", value=duplicates)
    logger.info(
        "session events", extra={"session_id": session_id, "stored": stored, "duplicates": duplicates}
    )
    return EventsAccepted(
        session_id=session_id, received=len(batch.events), stored=stored, duplicates=duplicates
    )


_CLAIM_REFUSALS = {
    "unknown": (404, "session_not_found", "no call with this id was started by POST /token"),
    "finished": (409, "session_finished", "this call has ended: its agent must not start again"),
    "claimed": (409, "session_claimed", "another agent job already runs this call"),
}


@router.post(
    "/sessions/<session_id>/claim",
    summary="Bind an agent job to a call before it starts (signed; refused for unknown or finished calls)",
    description=(
        "The worker asks before it accepts a dispatched job. 200 for an open call that no other job holds "
        "(again 200 for the same job); 404 for a call POST /token never started; 409 `session_finished` "
        "once the call ended and 409 `session_claimed` while another job holds it. Signed like the "
        "session log."
    ),
    responses=error_responses(400, 401, 404, 409, 413, 415, 422),
)
def post_claim(
    session_id: Annotated[str, Path(pattern=SESSION_ID_PATTERN, max_length=128)], claim: AgentClaim
) -> AgentClaimed:
    try:
        row = claim_session(session_id, claim.job_id, claim.agent_identity, datetime.now(UTC))
    except ClaimRefused as exc:
        status, error, detail = _CLAIM_REFUSALS[exc.reason]
        metrics.add_metric(name="AgentClaimRefused", unit="Count", value=1)
        logger.warning(
            "agent claim refused",
            extra={"session_id": session_id, "job_id": claim.job_id, "reason": exc.reason},
        )
        raise ApiError(status, error, detail) from exc
    logger.info("agent claim", extra={"session_id": session_id, "job_id": claim.job_id})
    caller = row.get("caller_identity")
    return AgentClaimed(
        session_id=session_id, job_id=claim.job_id, caller_identity=str(caller) if caller else None
    )
