"""Signed requests the way the agent worker and the LiveKit server send them."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from livekit.api import AccessToken

from functions.models.signing import signed_headers
from functions.settings import FunctionsSettings
from tests.functions.lambda_events import Reply, invoke

SETTINGS = FunctionsSettings()


def event_id() -> str:
    return uuid.uuid4().hex


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def signed(
    path: str, body: bytes, now: float | None = None, secret: str | None = None, method: str = "POST"
) -> dict[str, str]:
    """Headers of a request signed as the worker signs it (v2: method, path and body)."""
    headers = signed_headers(secret or SETTINGS.session_log_secret, body, method=method, path=path, now=now)
    return {**headers, "content-type": "application/json"}


def post_events(
    session_id: str, events: list[dict[str, Any]], now: float | None = None, secret: str | None = None
) -> Reply:
    body = json.dumps({"events": events}).encode()
    path = f"/sessions/{session_id}/events"
    return invoke("POST", path, body=body, headers=signed(path, body, now=now, secret=secret))


def turn(turn_no: int, ts: datetime, **latency: float | bool) -> dict[str, Any]:
    return {"type": "turn_metrics", "event_id": event_id(), "ts": iso(ts), "turn": turn_no, **latency}


def started(room: str, ts: datetime, language: str = "en", **providers: str) -> dict[str, Any]:
    return {
        "type": "session_started",
        "event_id": event_id(),
        "ts": iso(ts),
        "room": room,
        "language": language,
        "providers": providers,
    }


def webhook_auth(body: str, api_key: str | None = None, secret: str | None = None, ttl_s: int = 300) -> str:
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    return (
        AccessToken(api_key or SETTINGS.livekit_api_key, secret or SETTINGS.livekit_api_secret)
        .with_sha256(digest)
        .with_ttl(timedelta(seconds=ttl_s))
        .to_jwt()
    )


def webhook_body(
    kind: str, room: str, identity: str = "", created_at: datetime | None = None, id_: str | None = None
) -> str:
    payload: dict[str, Any] = {
        "event": kind,
        "id": id_ or f"EV_{uuid.uuid4().hex[:12]}",
        "createdAt": str(int((created_at or datetime.now(UTC)).timestamp())),
        "room": {"name": room, "sid": "RM_test"},
    }
    if identity:
        payload["participant"] = {"identity": identity, "sid": "PA_test"}
    return json.dumps(payload)


def post_webhook(body: str, authorization: str | None) -> Reply:
    headers = {"content-type": "application/webhook+json"}
    if authorization is not None:
        headers["authorization"] = authorization
    return invoke("POST", "/livekit/webhook", body=body, headers=headers)
