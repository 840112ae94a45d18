"""The handlers served over real HTTP by serverless-offline from serverless.yml, against moto."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from livekit.api import TokenVerifier

from functions.models.signing import signed_headers
from infra.local_aws import LocalAws
from infra.local_aws.serving import serverless_offline
from infra.local_aws.tables import ensure_node_modules
from tests.functions.helpers import SETTINGS, webhook_auth, webhook_body

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def functions_url(local_aws: LocalAws, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ensure_node_modules(ROOT)
    log = tmp_path_factory.mktemp("offline") / "serverless-offline.log"
    with serverless_offline(local_aws.url, log, timeout_s=90) as url:
        yield url


def test_token_events_and_session_over_http(functions_url: str) -> None:
    with httpx.Client(base_url=functions_url, timeout=30) as http:
        issued = http.post("/token", json={"name": "Offline", "language": "zh"})
        assert issued.status_code == 200, issued.text
        room = issued.json()["room"]
        claims = TokenVerifier(SETTINGS.livekit_api_key, SETTINGS.livekit_api_secret).verify(
            issued.json()["token"]
        )
        assert claims.video is not None and claims.video.room == room

        now = datetime.now(UTC).isoformat()
        body = json.dumps(
            {
                "events": [
                    {
                        "type": "transcript",
                        "event_id": uuid.uuid4().hex,
                        "ts": now,
                        "role": "user",
                        "text": "你好",
                    },
                ]
            },
            ensure_ascii=False,
        ).encode()
        headers = {**signed_headers(SETTINGS.session_log_secret, body), "content-type": "application/json"}
        stored = http.post(f"/sessions/{room}/events", content=body, headers=headers)
        assert stored.status_code == 200 and stored.json()["stored"] == 1, stored.text
        again = http.post(f"/sessions/{room}/events", content=body, headers=headers)
        assert again.json()["duplicates"] == 1
        forged = http.post(
            f"/sessions/{room}/events", content=body.replace("你好".encode(), b"hi"), headers=headers
        )
        assert forged.status_code == 401

        hook = webhook_body("room_started", room)
        assert (
            http.post(
                "/livekit/webhook",
                content=hook,
                headers={"authorization": webhook_auth(hook), "content-type": "application/webhook+json"},
            ).status_code
            == 200
        )
        assert (
            http.post(
                "/livekit/webhook",
                content=hook,
                headers={"authorization": webhook_auth(hook, secret="forged-secret-forged")},
            ).status_code
            == 401
        )

        session = http.get(f"/sessions/{room}").json()
        assert session["status"] == "active" and [t["text"] for t in session["transcript"]] == ["你好"]
        listed = http.get("/sessions").json()
        assert room in {s["session_id"] for s in listed["items"]}
        assert http.get("/analytics").status_code == 200


def test_errors_and_cors_over_http(functions_url: str) -> None:
    with httpx.Client(base_url=functions_url, timeout=30) as http:
        missing = http.get("/no/such/route")
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        bad = http.post("/token", content=b"{oops", headers={"content-type": "application/json"})
        assert bad.status_code == 400 and bad.json()["error"] == "malformed_json"
        preflight = http.options(
            "/token", headers={"Origin": "http://127.0.0.1:5173", "Access-Control-Request-Method": "POST"}
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] in ("*", "http://127.0.0.1:5173")
        assert http.get("/openapi.json").json()["info"]["title"] == "voicecall functions API"
