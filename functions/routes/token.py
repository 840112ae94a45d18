"""POST /token: a least-privilege LiveKit access token for one call, which also dispatches our agent.

A call is a room of its own. The first token of a call creates it (and its session row) and returns the
call's key once: 32 random bytes the caller keeps, stored here only as a SHA-256 hash together with the
caller's identity. Rejoining the call (``room`` given) needs that key and yields a token for the same
identity, never a new one: nobody else can enter someone's call through this route (docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from livekit.api import AccessToken, VideoGrants
from livekit.protocol.agent_dispatch import RoomAgentDispatch
from livekit.protocol.room import RoomConfiguration

from functions import secrets as runtime_secrets
from functions.errors import ApiError, error_responses
from functions.models.api import TokenRequest, TokenResponse
from functions.models.dispatch import AgentDispatchMetadata
from functions.observability import logger, metrics
from functions.routes.assistants import assistant_for_call
from functions.settings import FunctionsSettings, get_settings
from functions.store.rate_limits import hit
from functions.store.sessions import create_session, get_session

router = Router()

# Only the microphone: the web app never needs camera or screen share.
PUBLISH_SOURCES = ["microphone"]
_NEW_ROOM_ATTEMPTS = 3


def new_room_name() -> str:
    return f"call-{secrets.token_hex(6)}"


def identity_for(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24] or "guest"
    return f"web-{slug}-{secrets.token_hex(4)}"


def new_call_key() -> str:
    return secrets.token_urlsafe(32)


def call_key_hash(call_key: str) -> str:
    """A 256-bit random key needs no slow hash: SHA-256 cannot be inverted or brute-forced."""
    return hashlib.sha256(call_key.encode()).hexdigest()


def owns_call(session: dict[str, Any] | None, call_key: str | None) -> bool:
    """True only for the key this call's first token returned (constant time; unknown calls are False)."""
    if not call_key:
        return False
    expected = str((session or {}).get("call_key_hash") or "")
    # Compare against a dummy when there is no session, so the timing tells nothing either.
    return hmac.compare_digest(call_key_hash(call_key), expected or "0" * 64) and bool(expected)


def source_ip(event: dict[str, Any]) -> str:
    """The client's address as API Gateway saw it (the TCP peer: not a header a client can write)."""
    return str(((event.get("requestContext") or {}).get("http") or {}).get("sourceIp") or "unknown")


def limit_token_requests(event: dict[str, Any], body: bytes) -> dict[str, Any] | None:
    """Pre-check of POST /token: every request counts against its source IP before anything is parsed
    (raises RateLimited -> 429 with Retry-After)."""
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method") or ""
    if str(method).upper() != "POST" or (event.get("rawPath") or "").rstrip("/") != "/token":
        return None
    hit("token_per_ip", source_ip(event), get_settings().token_requests_per_ip)
    return None


def _check_access(request: TokenRequest) -> None:
    expected = runtime_secrets.access_code()
    if not expected:
        return
    given = request.access_code or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        metrics.add_metric(name="TokenDenied", unit="Count", value=1)
        raise ApiError(401, "unauthorized", "a valid access_code is required")


def room_configuration(settings: FunctionsSettings, dispatch: RoomAgentDispatch | None) -> RoomConfiguration:
    """The room of one call: the caller alone (agents are not counted), closed soon after they leave."""
    return RoomConfiguration(
        max_participants=settings.room_max_participants,
        departure_timeout=settings.room_departure_timeout_s,
        empty_timeout=settings.room_empty_timeout_s,
        agents=[dispatch] if dispatch is not None else [],
    )


def _token(
    settings: FunctionsSettings, room: str, identity: str, name: str, dispatch: RoomAgentDispatch | None
) -> str:
    grants = VideoGrants(
        room_join=True,
        room=room,
        can_publish=True,
        can_publish_sources=PUBLISH_SOURCES,
        can_subscribe=True,
        can_publish_data=True,
    )
    return (
        AccessToken(runtime_secrets.livekit_api_key(), runtime_secrets.livekit_api_secret())
        .with_identity(identity)
        .with_name(name)
        .with_ttl(timedelta(seconds=settings.token_ttl_s))
        .with_grants(grants)
        .with_room_config(room_configuration(settings, dispatch))
        .to_jwt()
    )


def _rejoin(request: TokenRequest, room: str, settings: FunctionsSettings) -> TokenResponse:
    if not request.call_key:
        metrics.add_metric(name="RejoinDenied", unit="Count", value=1)
        raise ApiError(
            401, "call_key_required", "rejoining a call needs the call_key its first token returned"
        )
    existing = get_session(room)
    if not owns_call(existing, request.call_key) or existing is None:
        metrics.add_metric(name="RejoinDenied", unit="Count", value=1)
        logger.warning("rejoin refused", extra={"room": room, "reason": "call key"})
        # The same answer for an unknown call and a wrong key: the route tells nobody which calls exist.
        raise ApiError(403, "call_key_invalid", "this call key does not open this call")
    if existing.get("ended_at"):
        raise ApiError(409, "session_finished", "this call has ended; start a new one")
    identity = str(existing["caller_identity"])
    # Per identity (bound to the call key): a leaked key cannot mint tokens without end.
    hit("rejoins_per_identity", identity, settings.rejoins_per_identity)
    name = str(existing.get("caller_name") or request.name)
    # No agent dispatch: the call's agent is already there (or the call is over), never a second one.
    token = _token(settings, room, identity, name, dispatch=None)
    metrics.add_metric(name="TokensIssued", unit="Count", value=1)
    logger.info("token issued (rejoin)", extra={"room": room, "identity": identity})
    # The call's assistant as it started: a rejoin changes nothing about it.
    version = existing.get("assistant_version")
    return TokenResponse(
        url=settings.livekit_url,
        token=token,
        room=room,
        identity=identity,
        assistant_id=existing.get("assistant_id"),
        assistant_version=int(version) if version is not None else None,
        recording=bool(existing.get("recording")),
    )


@router.post(
    "/token",
    summary="Start a call (a LiveKit token for a new room, with the agent dispatched) or rejoin your own",
    description=(
        "A new call runs the latest version of `assistant_id` (default: `default`): 404 "
        "`assistant_not_found`, 409 `assistant_archived`, 422 `language_not_offered` when `language` is "
        "not one of its languages. Abuse limits per client: every request counts against its source IP, "
        "each new call (it dispatches an agent) against a tighter per-IP limit, each rejoin against the "
        "call's identity; over a limit the answer is 429 `rate_limited` with `Retry-After` (seconds)."
    ),
    responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429),
)
def issue_token(request: TokenRequest) -> TokenResponse:
    _check_access(request)
    settings = get_settings()
    if request.room:
        return _rejoin(request, request.room, settings)
    assistant = assistant_for_call(request.assistant_id)
    if request.language not in assistant.languages:
        offered = " or ".join(assistant.languages)
        detail = f"assistant {assistant.assistant_id!r} takes calls in {offered}, not {request.language}"
        raise ApiError(422, "language_not_offered", detail)
    # A new call dispatches an agent (and, in production, paid providers): the tightest limit.
    hit("calls_per_ip", source_ip(router.current_event.raw_event), settings.calls_per_ip)
    now = datetime.now(UTC)
    identity = identity_for(request.name)
    call_key = new_call_key()
    fields = {
        "language": request.language,
        "persona": settings.default_persona,
        "caller_identity": identity,
        "caller_name": request.name,
        "call_key_hash": call_key_hash(call_key),
        # The version the call runs, fixed now: later edits of the assistant do not change this call.
        "assistant_id": assistant.assistant_id,
        "assistant_version": assistant.version,
        "recording": assistant.recording,
    }
    for _ in range(_NEW_ROOM_ATTEMPTS):
        room = new_room_name()
        if create_session(room, now, fields):
            break
    else:  # 48 random bits colliding three times: something else is wrong
        raise RuntimeError("could not allocate a room name")
    metadata = AgentDispatchMetadata(
        language=request.language,
        persona=settings.default_persona,
        caller=identity,
        assistant_id=assistant.assistant_id,
        assistant_version=assistant.version,
    )
    dispatch = RoomAgentDispatch(agent_name=settings.agent_name, metadata=metadata.model_dump_json())
    token = _token(settings, room, identity, request.name, dispatch)
    metrics.add_metric(name="TokensIssued", unit="Count", value=1)
    logger.info(
        "token issued",
        extra={
            "room": room,
            "identity": identity,
            "language": request.language,
            "assistant_id": assistant.assistant_id,
            "assistant_version": assistant.version,
        },
    )
    return TokenResponse(
        url=settings.livekit_url,
        token=token,
        room=room,
        identity=identity,
        call_key=call_key,
        assistant_id=assistant.assistant_id,
        assistant_version=assistant.version,
        recording=assistant.recording,
    )
