"""POST /livekit/webhook: LiveKit room/participant events, verified with livekit-api's WebhookReceiver.

LiveKit signs each delivery with a JWT (API key/secret) carrying the body's SHA-256; anything that fails
that check is a 401. Redeliveries are processed once (Powertools idempotency keyed by the event id).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from google.protobuf.json_format import ParseError
from livekit.api import TokenVerifier, WebhookReceiver
from livekit.protocol.webhook import WebhookEvent

from functions import secrets as runtime_secrets
from functions.errors import ApiError, error_responses
from functions.idempotency import CONFIG, once_per_event_id
from functions.models.api import WebhookAck
from functions.models.session_log import SESSION_ID_PATTERN
from functions.observability import logger, metrics
from functions.settings import get_settings
from functions.store.sessions import update_session
from functions.store.tables import iso

router = Router()

HANDLED = frozenset({"room_started", "room_finished", "participant_joined", "participant_left"})
_SESSION_ID = re.compile(SESSION_ID_PATTERN)


def _verified_event(body: str, authorization: str | None) -> WebhookEvent:
    if not authorization:
        raise ApiError(401, "invalid_webhook", "missing Authorization header")
    token = authorization.removeprefix("Bearer ").strip()
    settings = get_settings()
    receiver = WebhookReceiver(TokenVerifier(settings.livekit_api_key, runtime_secrets.livekit_api_secret()))
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
        applied = update_session(room, at, set_if_absent={"ended_at": iso(at)}, only_if="open")
    elif kind == "participant_joined" and event["identity"]:
        applied = update_session(room, at, add_to_sets={"participants": {event["identity"]}}, only_if="open")
    elif kind == "participant_left" and event["identity"]:
        applied = update_session(
            room, at, add_to_sets={"participants_left": {event["identity"]}}, only_if="open"
        )
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
        "created_at": int(verified.created_at),
    }
    result = apply_event(event=event)
    metrics.add_metric(name="WebhooksApplied", unit="Count", value=1 if result["applied"] else 0)
    logger.info("webhook", extra={**event, "applied": result["applied"]})
    return WebhookAck(event=verified.event, room=verified.room.name or None, applied=bool(result["applied"]))
