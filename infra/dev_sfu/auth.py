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
    return JoinGrant(claims=claims, room=video.room, identity=claims.identity)


def verify_agent_worker(verifier: TokenVerifier, token: str) -> Claims:
    claims = verify(verifier, token)
    if claims.video is None or not claims.video.agent:
        raise TokenRejected("token has no agent grant")
    return claims


def verify_admin(verifier: TokenVerifier, token: str) -> Claims:
    claims = verify(verifier, token)
    video = claims.video
    if video is None or not (video.room_admin or video.room_list or video.room_create):
        raise TokenRejected("token has no room admin grant")
    return claims
