"""POST /token: grants, dispatch, TTL, access code, room rules, bad input."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from livekit.api import TokenVerifier

from functions.settings import get_settings
from tests.functions.helpers import SETTINGS, event_id, iso, post_events, started
from tests.functions.lambda_events import invoke


def issue(**body: object) -> dict:
    reply = invoke("POST", "/token", body=json.dumps(body))
    assert reply.status == 200, reply.text
    return reply.json()


def test_token_has_least_grants_and_dispatches_the_agent() -> None:
    issued = issue(name="Li Lei", language="zh")
    assert issued["url"] == SETTINGS.livekit_url
    assert issued["room"].startswith("call-") and len(issued["room"]) == len("call-") + 12
    claims = TokenVerifier(SETTINGS.livekit_api_key, SETTINGS.livekit_api_secret).verify(issued["token"])
    assert claims.identity == issued["identity"] and claims.identity.startswith("web-li-lei-")
    assert claims.name == "Li Lei"
    video = claims.video
    assert video is not None
    assert video.room_join is True and video.room == issued["room"]
    assert video.can_publish is True and video.can_publish_sources == ["microphone"]
    assert video.can_subscribe is True and video.can_publish_data is True
    for forbidden in (
        "room_create",
        "room_list",
        "room_record",
        "room_admin",
        "recorder",
        "hidden",
        "agent",
        "ingress_admin",
        "can_update_own_metadata",
        "destination_room",
    ):
        assert not getattr(video, forbidden), forbidden
    assert claims.sip is None or not (claims.sip.admin or claims.sip.call)
    assert claims.room_config is not None
    (dispatch,) = claims.room_config.agents
    assert dispatch.agent_name == SETTINGS.agent_name
    assert json.loads(dispatch.metadata) == {"language": "zh", "persona": "default"}

    decoded = jwt.decode(
        issued["token"], SETTINGS.livekit_api_secret, algorithms=["HS256"], issuer=SETTINGS.livekit_api_key
    )
    # Nothing beyond the video grant and the dispatch: no sip, agent, observability... grants.
    assert set(decoded) <= {"sub", "iss", "nbf", "exp", "name", "video", "roomConfig"}, decoded
    assert set(decoded["video"]) == {
        "roomJoin",
        "room",
        "canPublish",
        "canPublishSources",
        "canSubscribe",
        "canPublishData",
    }
    assert decoded["exp"] - time.time() <= timedelta(minutes=15).total_seconds() + 2
    assert decoded["exp"] > time.time() + 60


def test_foreign_secret_cannot_verify_the_token() -> None:
    issued = issue(name="x")
    with pytest.raises(Exception):  # noqa: B017 - PyJWT's InvalidSignatureError
        TokenVerifier(SETTINGS.livekit_api_key, "another-secret").verify(issued["token"])


def test_identities_are_unique_and_sanitised() -> None:
    a, b = issue(name="<script>Bob</script>"), issue(name="<script>Bob</script>")
    assert a["identity"] != b["identity"]
    assert all(ch.isalnum() or ch == "-" for ch in a["identity"])
    assert a["room"] != b["room"]


def test_join_existing_room_and_reject_unknown_or_finished() -> None:
    first = issue(name="host", language="en")
    second = issue(name="guest", room=first["room"])
    assert second["room"] == first["room"]

    unknown = invoke("POST", "/token", body=json.dumps({"name": "x", "room": "call-000000000000"}))
    assert unknown.status == 404 and unknown.json()["error"] == "session_not_found"

    now = datetime.now(UTC)
    ended = {"type": "session_ended", "event_id": event_id(), "ts": iso(now), "reason": "hangup"}
    assert post_events(first["room"], [started(first["room"], now), ended]).status == 200
    finished = invoke("POST", "/token", body=json.dumps({"name": "late", "room": first["room"]}))
    assert finished.status == 409 and finished.json()["error"] == "session_finished"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"language": "en"},
        {"name": ""},
        {"name": "   "},
        {"name": "\u0000\u0007"},
        {"name": "x" * 65},
        {"name": 5},
        {"name": "x", "language": "fr"},
        {"name": "x", "room": "../etc/passwd"},
        {"name": "x", "room": "UPPER"},
        {"name": "x", "unexpected": 1},
        {"name": ["x"]},
        {"name": "x", "access_code": "a" * 129},
    ],
)
def test_invalid_bodies_are_422(body: dict) -> None:
    reply = invoke("POST", "/token", body=json.dumps(body))
    assert reply.status == 422, reply.text
    assert reply.json()["error"] == "validation_error" and reply.json()["detail"]


@pytest.mark.parametrize("raw", ["{bad", "", "null", "[]", '"name"', '{"name": "x"'])
def test_malformed_json_is_4xx(raw: str) -> None:
    reply = invoke("POST", "/token", body=raw)
    assert reply.status in (400, 422), reply.text
    assert "error" in reply.json()


def test_access_code_required_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCESS_CODE", "open-sesame")
    get_settings.cache_clear()
    denied = invoke("POST", "/token", body=json.dumps({"name": "x"}))
    assert denied.status == 401 and denied.json()["error"] == "unauthorized"
    wrong = invoke("POST", "/token", body=json.dumps({"name": "x", "access_code": "nope"}))
    assert wrong.status == 401
    ok = invoke("POST", "/token", body=json.dumps({"name": "x", "access_code": "open-sesame"}))
    assert ok.status == 200
