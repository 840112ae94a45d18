"""A recorded call as the worker leaves one, made over the served functions API: an assistant that
records, a token, the signed upload request, the file PUT to the local S3, the transcript and the
``recording_stored`` event. For the browser test of the recording player."""

from __future__ import annotations

import json
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from functions.models.signing import signed_headers
from tests.support.operator import Operator


def stereo_ogg(seconds: float = 8.0) -> bytes:
    """Ogg/Opus like the worker's: a tone on the left (the caller), another on the right (the agent)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "call.ogg"
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", f"sine=frequency=300:duration={seconds}",
             "-f", "lavfi", "-i", f"sine=frequency=600:duration={seconds}",
             "-filter_complex", "[0][1]amerge=inputs=2", "-c:a", "libopus", "-b:a", "32k", str(out)],
            check=True,
        )  # fmt: skip
        return out.read_bytes()


def _signed_post(api: str, secret: str, path: str, body: dict[str, object]) -> httpx.Response:
    raw = json.dumps(body).encode()
    headers = {**signed_headers(secret, raw, method="POST", path=path), "Content-Type": "application/json"}
    return httpx.post(api + path, content=raw, headers=headers, timeout=10)


def seed_recorded_call(api: str, session_log_secret: str, operator: Operator) -> str:
    """The session id of a finished, recorded call with two transcript lines 2 s and 5 s in."""
    spec = {
        "name": "Recorded demo",
        "instructions": {"en": "You help."},
        "greeting": {"en": "Hello, this call is recorded."},
        "languages": ["en"],
        "recording": True,
    }
    made = httpx.post(
        f"{api}/assistants", json=spec, headers=operator.headers("openid assistants:write"), timeout=10
    )
    assert made.status_code == 201, made.text
    token = httpx.post(
        f"{api}/token",
        json={"name": "Caller", "language": "en", "assistant_id": made.json()["assistant_id"]},
        timeout=10,
    )
    assert token.status_code == 200, token.text
    room = str(token.json()["room"])
    grant = _signed_post(api, session_log_secret, f"/sessions/{room}/recording", {})
    assert grant.status_code == 200, grant.text
    audio = stereo_ogg()
    put = httpx.put(grant.json()["upload_url"], content=audio, headers=grant.json()["headers"], timeout=10)
    assert put.status_code == 200, put.text
    start = datetime.now(UTC) - timedelta(seconds=30)

    def at(seconds: float) -> str:
        return (start + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")

    events = [
        {"type": "session_started", "event_id": f"{room}-start", "ts": at(0), "room": room, "language": "en"},
        {"type": "transcript", "event_id": f"{room}-t1", "ts": at(2), "role": "agent", "text": "Hello."},
        {"type": "transcript", "event_id": f"{room}-t2", "ts": at(5), "role": "user", "text": "Hi there."},
        {"type": "session_ended", "event_id": f"{room}-end", "ts": at(8), "reason": "caller left"},
        {
            "type": "recording_stored",
            "event_id": f"{room}-rec",
            "ts": at(8),
            "started_at": at(0),
            "duration_s": 8.0,
            "bytes": len(audio),
        },
    ]
    stored = _signed_post(api, session_log_secret, f"/sessions/{room}/events", {"events": events})
    assert stored.status_code == 200, stored.text
    return room
