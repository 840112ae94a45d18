"""POST /livekit/webhook: LiveKit room/participant events, verified with livekit-api's WebhookReceiver.

LiveKit signs each delivery with a JWT (API key/secret) carrying the body's SHA-256; anything that fails
that check is a 401. Redeliveries are processed once (Powertools idempotency keyed by the event id).

An agent that dies mid-call (docs/security.md): when the call's own agent leaves without hanging up
(its connection dropped; not a deliberate leave or a deleted room) while the caller is still in the
room, the call gets one new agent — a takeover the claim route lets exactly one new job take, and a new
dispatch (AgentDispatchService.CreateDispatch); the page is told through the room's metadata that the
agent is reconnecting. A second loss ends the call: the page is told the agent has left, the room is
deleted and the session records the reason "agent lost" (as it does when the caller leaves while the
takeover is still open).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from google.protobuf.json_format import ParseError
from livekit.api import TokenVerifier, WebhookReceiver
from livekit.protocol.models import DisconnectReason, ParticipantInfo
from livekit.protocol.webhook import WebhookEvent

from functions import livekit_rooms
from functions import secrets as runtime_secrets
from functions.errors import ApiError, error_responses
from functions.idempotency import CONFIG, once_per_event_id
from functions.models.api import WebhookAck
from functions.models.dispatch import AgentDispatchMetadata
from functions.models.session_log import SESSION_ID_PATTERN
from functions.observability import logger, metrics
from functions.settings import get_settings
from functions.store.sessions import get_session, open_takeover, record_end, update_session
from functions.store.tables import iso

router = Router()

HANDLED = frozenset({"room_started", "room_finished", "participant_joined", "participant_left"})
_SESSION_ID = re.compile(SESSION_ID_PATTERN)
AGENT_LOST = "agent lost"
# An agent that leaves for one of these meant to (it hung up, or the room went away): nothing to repair.
DELIBERATE = frozenset(
    {
        DisconnectReason.CLIENT_INITIATED,
        DisconnectReason.ROOM_DELETED,
        DisconnectReason.ROOM_CLOSED,
        DisconnectReason.PARTICIPANT_REMOVED,
        DisconnectReason.DUPLICATE_IDENTITY,
    }
)


def _verified_event(body: str, authorization: str | None) -> WebhookEvent:
    if not authorization:
        raise ApiError(401, "invalid_webhook", "missing Authorization header")
    token = authorization.removeprefix("Bearer ").strip()
    receiver = WebhookReceiver(
        TokenVerifier(runtime_secrets.livekit_api_key(), runtime_secrets.livekit_api_secret())
    )
    try:
        event = receiver.receive(body, token)
    except ParseError as exc:
        raise ApiError(400, "bad_webhook_body", "body is not a LiveKit WebhookEvent") from exc
    except Exception as exc:  # livekit-api raises bare Exceptions and PyJWT errors for every mismatch
        metrics.add_metric(name="WebhookRejected", unit="Count", value=1)
        logger.warning("webhook rejected", extra={"reason": type(exc).__name__})
        raise ApiError(401, "invalid_webhook", "signature, key or body hash check failed") from exc
    if not event.event:
        raise ApiError(400, "bad_webhook_body", "webhook without an event type")
    return event


def _end_agent_lost(room: str, at: datetime) -> str:
    """Tell the page, end the call for everyone, record why (first end wins)."""
    record_end(room, AGENT_LOST, None, at, datetime.now(UTC))
    try:
        livekit_rooms.set_call_state(room, agent="left", reason=AGENT_LOST)
    except Exception:  # the room may be gone already; ending the call matters more than the message
        logger.warning("could not tell the page the agent left", extra={"room": room}, exc_info=True)
    livekit_rooms.delete_room(room)
    metrics.add_metric(name="CallsEndedAgentLost", unit="Count", value=1)
    logger.warning("call ended: agent lost", extra={"room": room})
    return "ended"


def agent_left(room: str, identity: str, reason: int, at: datetime) -> str:
    """The call's agent left: re-dispatch once while the caller remains, otherwise end the call."""
    if reason in DELIBERATE:
        return "deliberate"
    session = get_session(room)
    if session is None or session.get("ended_at") or session.get("agent_identity") != identity:
        return "not the call's agent"
    present: list[ParticipantInfo] | None = livekit_rooms.participants(room)
    caller = session.get("caller_identity")
    if not present or not any(p.identity == caller for p in present):
        return "caller gone"  # the room closes by itself (departure timeout) and room_finished ends it
    if any(p.kind == ParticipantInfo.Kind.AGENT for p in present):
        return "another agent present"
    if not open_takeover(room, identity, datetime.now(UTC)):
        return _end_agent_lost(room, at)  # the one re-dispatch was used already
    settings = get_settings()
    metadata = AgentDispatchMetadata(
        language=session.get("language") or "en",
        persona=session.get("persona") or settings.default_persona,
        caller=str(caller) if caller else None,
    )
    try:
        livekit_rooms.set_call_state(room, agent="reconnecting")
        dispatch_id = livekit_rooms.dispatch_agent(room, settings.agent_name, metadata.model_dump_json())
    except Exception:
        logger.exception("re-dispatch failed", extra={"room": room})
        return _end_agent_lost(room, at)
    metrics.add_metric(name="AgentRedispatched", unit="Count", value=1)
    logger.warning(
        "agent lost mid-call: re-dispatched", extra={"room": room, "lost": identity, "dispatch": dispatch_id}
    )
    return "redispatched"


def agent_joined(room: str) -> None:
    """A replacement agent is in: the page stops saying "reconnecting" (the room metadata says so)."""
    session = get_session(room)
    if session is None or not session.get("redispatched_at") or session.get("ended_at"):
        return
    try:
        livekit_rooms.set_call_state(room, agent="present")
    except Exception:  # the page copes (a present agent wins over "reconnecting"); the call goes on
        logger.warning("could not clear the reconnecting state", extra={"room": room}, exc_info=True)


@once_per_event_id
def apply_event(*, event: dict[str, Any]) -> dict[str, Any]:
    kind, room = event["event"], event["room"]
    if kind not in HANDLED or not room or not _SESSION_ID.match(room):
        return {"applied": False}
    at = datetime.fromtimestamp(event["created_at"], UTC) if event["created_at"] else datetime.now(UTC)
    # Sessions begin at POST /token: events for rooms it never created change nothing, and a finished
    # call stays as it ended (a token replayed afterwards may re-create its room; that room is not the
    # call). Only room_finished may still close a session that has not recorded its end.
    if kind == "room_started":
        applied = update_session(room, at, set_if_absent={"started_at": iso(at)}, only_if="open")
    elif kind == "room_finished":
        session = get_session(room)
        if session is not None and session.get("takeover_open") and not session.get("ended_at"):
            # The caller left while the lost agent's replacement never came: that is why the call ended.
            record_end(room, AGENT_LOST, None, at, datetime.now(UTC))
        applied = update_session(room, at, set_if_absent={"ended_at": iso(at)}, only_if="open")
    elif kind == "participant_joined" and event["identity"]:
        applied = update_session(room, at, add_to_sets={"participants": {event["identity"]}}, only_if="open")
        if applied and event.get("agent"):
            agent_joined(room)
    elif kind == "participant_left" and event["identity"]:
        applied = update_session(
            room, at, add_to_sets={"participants_left": {event["identity"]}}, only_if="open"
        )
        if applied and event.get("agent"):
            outcome = agent_left(room, event["identity"], int(event.get("reason") or 0), at)
            logger.info("agent left", extra={"room": room, "identity": event["identity"], "outcome": outcome})
            return {"applied": applied, "agent_left": outcome}
    else:
        return {"applied": False}
    return {"applied": applied}


@router.post(
    "/livekit/webhook",
    summary="LiveKit webhook receiver (room and participant lifecycle)",
    responses=error_responses(400, 401, 413, 415),
)
def livekit_webhook() -> WebhookAck:
    current = router.current_event
    verified = _verified_event(current.decoded_body or "", current.headers.get("authorization"))
    CONFIG.register_lambda_context(router.lambda_context)
    event = {
        "id": verified.id,
        "event": verified.event,
        "room": verified.room.name,
        "identity": verified.participant.identity,
        "agent": verified.participant.kind == ParticipantInfo.Kind.AGENT,
        "reason": int(verified.participant.disconnect_reason),
        "created_at": int(verified.created_at),
    }
    result = apply_event(event=event)
    metrics.add_metric(name="WebhooksApplied", unit="Count", value=1 if result["applied"] else 0)
    logger.info("webhook", extra={**event, "applied": result["applied"]})
    return WebhookAck(event=verified.event, room=verified.room.name or None, applied=bool(result["applied"]))
