"""POST /sessions/{id}/events: the agent worker's signed session log; POST /sessions/{id}/claim: the
worker's signed request to run a call's agent.

The signature (functions/models/signing.py, scheme v2) covers the method, the path — so the session id —
and the raw body, and is checked before the body is parsed (functions/signed_routes.py), so an unsigned
caller learns nothing about the schema and a signed batch cannot be replayed to another session. During a
secret rotation the previous secret is accepted too. Events are stored once each (see store/events.py),
only for sessions POST /token created and, once a call has ended, only for SESSION_LOG_GRACE_S more. The
summary changes conditionally: the first session_ended wins, and its duration is bounded by the session's
real age.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from functions.errors import ApiError, error_responses
from functions.models.api import (
    AgentClaim,
    AgentClaimed,
    EventsAccepted,
    RecordingUpload,
    RecordingUploadRequest,
)
from functions.models.call_summary import CallSummaryFields
from functions.models.session_log import (
    CallSummarized,
    EventBatch,
    RecordingStored,
    SessionEnded,
    SessionStarted,
)
from functions.models.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER
from functions.observability import logger, metrics
from functions.routes.query_params import SessionIdPath
from functions.settings import get_settings
from functions.store import recordings
from functions.store.events import store_events
from functions.store.sessions import ClaimRefused, claim_session, get_session, record_end, update_session
from functions.store.tables import iso, parse_iso

router = Router()


def _open_for_events(session_id: str, now: datetime) -> dict[str, Any]:
    """The session row, if this session may still take events: created by /token, and not ended more
    than SESSION_LOG_GRACE_S ago."""
    row = get_session(session_id)
    if row is None:
        metrics.add_metric(name="EventsRefused", unit="Count", value=1)
        raise ApiError(404, "session_not_found", "no call with this id was started by POST /token")
    ended = row.get("ended_at")
    if ended:
        grace = timedelta(seconds=get_settings().session_log_grace_s)
        if now - parse_iso(str(ended)) > grace:
            metrics.add_metric(name="EventsRefused", unit="Count", value=1)
            raise ApiError(409, "session_finished", "this call ended too long ago to take more events")
    return row


def _require_recorded(row: dict[str, Any]) -> None:
    if not row.get("recording"):
        raise ApiError(409, "not_recorded", "this call's assistant does not record calls")


def bounded_duration(reported: float | None, row: dict[str, Any], now: datetime) -> float | None:
    """A call cannot have lasted longer than its session has existed (plus a little clock slack)."""
    if reported is None:
        return None
    created = row.get("created_at")
    if not created:
        return reported
    age = (now - parse_iso(str(created))).total_seconds() + get_settings().duration_slack_s
    return round(max(0.0, min(float(reported), age)), 3)


@router.post(
    "/sessions/<session_id>/events",
    summary="Append a signed batch of session-log events (idempotent per event_id)",
    description=(
        f"Headers `{SIGNATURE_HEADER}` = `v2=` + hex HMAC-SHA256 of "
        "`v2\\n{timestamp}\\n{METHOD}\\n{path}\\n{body}` and "
        f"`{TIMESTAMP_HEADER}` = unix seconds. Retried events (same event_id) are stored once. "
        "404 for a session POST /token never created, 409 once the call ended more than the grace "
        "period ago; the first session_ended wins and its duration is bounded by the session's age."
    ),
    responses=error_responses(400, 401, 404, 409, 413, 415, 422),
)
def post_events(session_id: SessionIdPath, batch: EventBatch) -> EventsAccepted:
    for event in batch.events:
        if isinstance(event, SessionStarted) and event.room != session_id:
            raise ApiError(422, "room_mismatch", "session_started.room must equal the session id in the path")
    now = datetime.now(UTC)
    row = _open_for_events(session_id, now)
    uploaded: int | None = None
    if any(isinstance(e, RecordingStored) for e in batch.events):
        _require_recorded(row)
        uploaded = recordings.stored_size(session_id)
        if uploaded is None:  # before anything is stored: the worker's retry (after its PUT) succeeds
            raise ApiError(409, "recording_missing", "no recording was uploaded for this call")
    stored, duplicates = store_events(session_id, list(batch.events), now)
    set_always: dict[str, Any] = {}
    set_if_absent: dict[str, Any] = {}
    end: SessionEnded | None = None
    for event in batch.events:
        if isinstance(event, SessionStarted):
            set_always.update(language=event.language, providers=dict(event.providers))
            if event.participant:
                set_always["participant"] = event.participant
            if event.assistant_ran:
                set_always["assistant_ran"] = event.assistant_ran
            set_if_absent["started_at"] = iso(event.ts)
        elif isinstance(event, SessionEnded) and end is None:
            end = event
        elif isinstance(event, CallSummarized):
            set_always["summary"] = event.model_dump(include=set(CallSummaryFields.model_fields))
        elif isinstance(event, RecordingStored):
            set_always["recording_stored"] = {
                "started_at": iso(event.started_at),
                "duration_s": event.duration_s,
                "bytes": uploaded,  # what S3 holds, not what the worker says
            }
    if set_always or set_if_absent:
        update_session(session_id, now, set_always=set_always, set_if_absent=set_if_absent, only_if="exists")
    if end is not None:
        duration = bounded_duration(end.duration_s, row, now)
        if not record_end(session_id, end.reason, duration, end.ts, now):
            # The first end wins: a replayed or later session_ended changes nothing.
            metrics.add_metric(name="SessionEndIgnored", unit="Count", value=1)
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
def post_claim(session_id: SessionIdPath, claim: AgentClaim) -> AgentClaimed:
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
    takeover = bool(row.get("takeover"))
    if takeover:
        metrics.add_metric(name="AgentTakeover", unit="Count", value=1)
    logger.info("agent claim", extra={"session_id": session_id, "job_id": claim.job_id, "takeover": takeover})
    caller = row.get("caller_identity")
    return AgentClaimed(
        session_id=session_id,
        job_id=claim.job_id,
        caller_identity=str(caller) if caller else None,
        takeover=takeover,
    )


@router.post(
    "/sessions/<session_id>/recording",
    summary="Where the worker uploads the call's recording (signed; presigned S3 PUT, Ogg/Opus)",
    description=(
        "For a call whose assistant records calls (409 `not_recorded` otherwise), while the call may "
        "still take events. The worker PUTs the file to `upload_url` with the given headers, then sends "
        "a `recording_stored` event. Signed like the session log; the body is `{}`."
    ),
    responses=error_responses(400, 401, 404, 409, 413, 415, 422),
)
def post_recording_upload(session_id: SessionIdPath, body: RecordingUploadRequest) -> RecordingUpload:
    row = _open_for_events(session_id, datetime.now(UTC))
    _require_recorded(row)
    metrics.add_metric(name="RecordingUploads", unit="Count", value=1)
    return RecordingUpload(
        upload_url=recordings.upload_url(session_id),
        headers={"Content-Type": recordings.CONTENT_TYPE},
        expires_in=get_settings().recording_url_ttl_s,
    )
