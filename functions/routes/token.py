"""POST /token: a least-privilege LiveKit access token that also dispatches our agent to the room."""

from __future__ import annotations

import hmac
import json
import re
import secrets
from datetime import UTC, datetime, timedelta

from aws_lambda_powertools.event_handler.api_gateway import Router
from livekit.api import AccessToken, VideoGrants
from livekit.protocol.agent_dispatch import RoomAgentDispatch
from livekit.protocol.room import RoomConfiguration

from functions import secrets as runtime_secrets
from functions.errors import ApiError, error_responses
from functions.models.api import TokenRequest, TokenResponse
from functions.observability import logger, metrics
from functions.settings import get_settings
from functions.store.sessions import get_session, update_session

router = Router()

# Only the microphone: the web app never needs camera or screen share.
PUBLISH_SOURCES = ["microphone"]


def new_room_name() -> str:
    return f"call-{secrets.token_hex(6)}"


def identity_for(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24] or "guest"
    return f"web-{slug}-{secrets.token_hex(4)}"


def _check_access(request: TokenRequest) -> None:
    expected = runtime_secrets.access_code()
    if not expected:
        return
    given = request.access_code or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        metrics.add_metric(name="TokenDenied", unit="Count", value=1)
        raise ApiError(401, "unauthorized", "a valid access_code is required")


@router.post(
    "/token",
    summary="Issue a LiveKit access token for the web app and dispatch the agent",
    responses=error_responses(400, 401, 404, 409, 413, 415, 422),
)
def issue_token(request: TokenRequest) -> TokenResponse:
    _check_access(request)
    settings = get_settings()
    now = datetime.now(UTC)
    if request.room:
        existing = get_session(request.room)
        if existing is None:
            raise ApiError(404, "session_not_found", "rooms are created by POST /token without 'room'")
        if existing.get("ended_at"):
            raise ApiError(409, "session_finished", "this session has ended; start a new one")
        room = request.room
    else:
        room = new_room_name()
    identity = identity_for(request.name)
    dispatch_metadata = json.dumps({"language": request.language, "persona": settings.default_persona})
    grants = VideoGrants(
        room_join=True,
        room=room,
        can_publish=True,
        can_publish_sources=PUBLISH_SOURCES,
        can_subscribe=True,
        can_publish_data=True,
    )
    token = (
        AccessToken(settings.livekit_api_key, runtime_secrets.livekit_api_secret())
        .with_identity(identity)
        .with_name(request.name)
        .with_ttl(timedelta(seconds=settings.token_ttl_s))
        .with_grants(grants)
        .with_room_config(
            RoomConfiguration(
                agents=[RoomAgentDispatch(agent_name=settings.agent_name, metadata=dispatch_metadata)]
            )
        )
        .to_jwt()
    )
    update_session(
        room, now, set_if_absent={"language": request.language, "persona": settings.default_persona}
    )
    metrics.add_metric(name="TokensIssued", unit="Count", value=1)
    logger.info("token issued", extra={"room": room, "identity": identity, "language": request.language})
    return TokenResponse(url=settings.livekit_url, token=token, room=room, identity=identity)
