"""POST /token: grants, dispatch, TTL, access code, room rules, bad input."""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import UTC, datetime

import jwt
import pytest
from livekit.api import TokenVerifier

from functions.settings import get_settings
from functions.store.sessions import get_session
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
    # A room per call: the caller alone (livekit-server counts no agents), closed soon after they leave.
    assert claims.room_config.max_participants == 1
    assert claims.room_config.departure_timeout == SETTINGS.room_departure_timeout_s > 0
    assert claims.room_config.empty_timeout == SETTINGS.room_empty_timeout_s > 0
    (dispatch,) = claims.room_config.agents
    assert dispatch.agent_name == SETTINGS.agent_name
    assert issued["assistant_id"] == "default" and issued["assistant_version"] >= 1
    assert json.loads(dispatch.metadata) == {
        "language": "zh",
        "persona": "default",
        "caller": issued["identity"],
        "assistant_id": "default",
        "assistant_version": issued["assistant_version"],
    }
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", issued["call_key"])

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
    # Short-lived: the token only has to cover the join (LiveKit refreshes a connected participant's).
    assert decoded["exp"] - time.time() <= SETTINGS.token_ttl_s + 2 <= 62
    assert decoded["exp"] > time.time() + 20
    assert set(decoded["roomConfig"]) == {"maxParticipants", "departureTimeout", "emptyTimeout", "agents"}


def test_foreign_secret_cannot_verify_the_token() -> None:
    issued = issue(name="x")
    with pytest.raises(Exception):  # noqa: B017 - PyJWT's InvalidSignatureError
        TokenVerifier(SETTINGS.livekit_api_key, "another-secret").verify(issued["token"])


def test_identities_are_unique_and_sanitised() -> None:
    a, b = issue(name="<script>Bob</script>"), issue(name="<script>Bob</script>")
    assert a["identity"] != b["identity"]
    assert all(ch.isalnum() or ch == "-" for ch in a["identity"])
    assert a["room"] != b["room"]


def test_rejoin_needs_the_call_key_and_keeps_the_identity() -> None:
    first = issue(name="Host", language="en")
    again = issue(name="Someone else", room=first["room"], call_key=first["call_key"])
    assert again["room"] == first["room"] and again["identity"] == first["identity"]
    assert again.get("call_key") is None, "the key is returned once, by the call's first token"
    claims = TokenVerifier(SETTINGS.livekit_api_key, SETTINGS.livekit_api_secret).verify(again["token"])
    assert claims.identity == first["identity"] and claims.name == "Host"
    assert claims.room_config is not None and claims.room_config.max_participants == 1
    assert not claims.room_config.agents, "a rejoin never dispatches a second agent"

    now = datetime.now(UTC)
    ended = {"type": "session_ended", "event_id": event_id(), "ts": iso(now), "reason": "caller left"}
    assert post_events(first["room"], [started(first["room"], now), ended]).status == 200
    finished = invoke(
        "POST",
        "/token",
        body=json.dumps({"name": "late", "room": first["room"], "call_key": first["call_key"]}),
    )
    assert finished.status == 409 and finished.json()["error"] == "session_finished"


def test_nobody_joins_a_call_without_its_key() -> None:
    """Issue 10 #2: someone's room id (e.g. from a list of sessions) opens nothing."""
    victim, mallory = issue(name="Victim"), issue(name="Mallory")
    attempts = {
        "no key": {"name": "Voicecall Agent", "room": victim["room"]},
        "another call's valid key": {"name": "x", "room": victim["room"], "call_key": mallory["call_key"]},
        "a made-up key": {"name": "x", "room": victim["room"], "call_key": "A" * 43},
        "an unknown call": {"name": "x", "room": "call-000000000000", "call_key": victim["call_key"]},
    }
    expected = {
        "no key": (401, "call_key_required"),
        "another call's valid key": (403, "call_key_invalid"),
        "a made-up key": (403, "call_key_invalid"),
        "an unknown call": (403, "call_key_invalid"),
    }
    for label, body in attempts.items():
        reply = invoke("POST", "/token", body=json.dumps(body))
        assert (reply.status, reply.json()["error"]) == expected[label], (label, reply.text)
        assert "token" not in reply.json(), label
    # Mallory's own key still opens only Mallory's call, as Mallory.
    own = issue(name="x", room=mallory["room"], call_key=mallory["call_key"])
    assert own["identity"] == mallory["identity"] != victim["identity"]


def test_the_call_key_is_stored_only_as_a_hash(local_aws: object) -> None:
    issued = issue(name="Hash")
    item = get_session(issued["room"])
    assert item is not None
    assert issued["call_key"] not in json.dumps(item, default=str)
    assert item["call_key_hash"] == hashlib.sha256(issued["call_key"].encode()).hexdigest()
    assert item["caller_identity"] == issued["identity"]


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
        {"name": "x", "room": "call-000000000000", "call_key": "short"},
        {"name": "x", "room": "call-000000000000", "call_key": "!" * 43},
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
