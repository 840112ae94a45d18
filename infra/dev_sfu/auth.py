"""Access-token checks, as livekit-server applies them before a WebSocket upgrade."""

from __future__ import annotations

from dataclasses import dataclass

import jwt
from aiohttp import web
from livekit.api import TokenVerifier
from livekit.api.access_token import Claims


class TokenRejected(Exception):
    """The request carries no usable token; the message is safe to show the client."""


@dataclass(frozen=True)
class JoinGrant:
    claims: Claims
    room: str
    identity: str
    expires_at: float = 0.0  # the token's exp (unix seconds)


def token_from_request(request: web.Request) -> str:
    """JS passes `access_token` in the query, the Rust/Python SDK an `Authorization: Bearer` header."""
    token = request.query.get("access_token", "")
    if not token:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            token = header[7:].strip()
    if not token:
        raise TokenRejected("no access token")
    return token


def verify(verifier: TokenVerifier, token: str) -> Claims:
    try:
        return verifier.verify(token)
    except jwt.ExpiredSignatureError as exc:
        raise TokenRejected("token expired") from exc
    except (jwt.PyJWTError, ValueError) as exc:
        raise TokenRejected("invalid token") from exc


def verify_join(verifier: TokenVerifier, token: str) -> JoinGrant:
    claims = verify(verifier, token)
    video = claims.video
    if video is None or not video.room_join:
        raise TokenRejected("token has no roomJoin grant")
    if not video.room:
        raise TokenRejected("token names no room")
    if not claims.identity:
        raise TokenRejected("token has no identity")
    # Verified above: read exp without checking the signature twice.
    exp = jwt.decode(token, options={"verify_signature": False}).get("exp") or 0
    return JoinGrant(claims=claims, room=video.room, identity=claims.identity, expires_at=float(exp))


def verify_agent_worker(verifier: TokenVerifier, token: str) -> Claims:
    claims = verify(verifier, token)
    if claims.video is None or not claims.video.agent:
        raise TokenRejected("token has no agent grant")
    return claims


class PermissionDenied(TokenRejected):
    """A valid token without the grant this call needs (livekit-server: 401 "permissions denied")."""


def verify_admin(verifier: TokenVerifier, token: str) -> Claims:
    """A valid server-API token; which grant it needs depends on the call (``require``)."""
    claims = verify(verifier, token)
    if claims.video is None:
        raise PermissionDenied("permissions denied")
    return claims


# The grant each server-API call needs, as livekit-server's Ensure*Permission checks: room creation and
# listing are global grants; everything that acts on one room needs roomAdmin *for that room*.
Requirement = str  # "create", "list" or "admin"


def require(claims: Claims, requirement: Requirement, room: str = "") -> None:
    video = claims.video
    if video is None:
        raise PermissionDenied("permissions denied")
    if requirement == "create":
        ok = bool(video.room_create)
    elif requirement == "list":
        ok = bool(video.room_list)
    else:
        # A roomAdmin grant for room A is no grant for room B (nor for "every room": room must match).
        ok = bool(video.room_admin) and bool(room) and video.room == room
    if not ok:
        raise PermissionDenied("permissions denied")
