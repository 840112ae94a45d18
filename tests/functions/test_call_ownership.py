"""A caller owns their call: the agent job's claim, the caller's transcript read-back, and a finished call
that nothing changes any more (issue 10 #2 and #3, the functions' half; the SFU and worker halves are in
tests/dev_sfu and tests/e2e)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.functions.helpers import (
    event_id,
    iso,
    post_events,
    post_webhook,
    signed,
    started,
    webhook_auth,
    webhook_body,
)
from tests.functions.lambda_events import Reply, invoke
from tests.support.operator import Operator


def new_call(name: str = "Owner") -> dict:
    reply = invoke("POST", "/token", body=json.dumps({"name": name}))
    assert reply.status == 200, reply.text
    return reply.json()


def claim(room: str, job_id: str, identity: str = "agent-x", secret: str | None = None) -> Reply:
    body = json.dumps({"job_id": job_id, "agent_identity": identity}).encode()
    path = f"/sessions/{room}/claim"
    return invoke("POST", path, body=body, headers=signed(path, body, secret=secret))


def transcript(room: str, key: str | None) -> Reply:
    headers = {"x-call-key": key} if key is not None else {}
    return invoke("GET", f"/calls/{room}/transcript", headers=headers)


def end(room: str, reason: str = "caller left") -> None:
    now = datetime.now(UTC)
    ended = {"type": "session_ended", "event_id": event_id(), "ts": iso(now), "reason": reason}
    assert post_events(room, [started(room, now), ended]).status == 200


def test_one_agent_job_per_call_and_none_after_it_ended() -> None:
    call = new_call()
    room = call["room"]
    first = claim(room, "AJ_first", "agent-AJ_first")
    assert first.status == 200, first.text
    assert first.json() == {
        "session_id": room,
        "job_id": "AJ_first",
        "caller_identity": call["identity"],
        "takeover": False,
    }
    assert claim(room, "AJ_first", "agent-AJ_first").status == 200, "a retried claim of the same job"
    second = claim(room, "AJ_second")
    assert second.status == 409 and second.json()["error"] == "session_claimed"
    end(room)
    after = claim(room, "AJ_third")
    assert after.status == 409 and after.json()["error"] == "session_finished"
    assert claim(room, "AJ_first").status == 409, "not even the call's own job starts again"


def test_claims_for_calls_token_never_started_are_404_and_create_nothing(operator: Operator) -> None:
    reply = claim("call-0123456789ab", "AJ_nobody")
    assert reply.status == 404 and reply.json()["error"] == "session_not_found"
    assert invoke("GET", "/sessions/call-0123456789ab", headers=operator.headers()).status == 404


def test_claims_must_be_signed() -> None:
    room = new_call()["room"]
    forged = claim(room, "AJ_forged", secret="not-the-session-log-secret")
    assert forged.status == 401 and forged.json()["error"] == "invalid_signature"
    unsigned = invoke(
        "POST",
        f"/sessions/{room}/claim",
        body=json.dumps({"job_id": "AJ_x", "agent_identity": "a"}),
        headers={"content-type": "application/json"},
    )
    assert unsigned.status == 401
    # The forged claims took nothing: the real job still gets the call.
    assert claim(room, "AJ_real").status == 200


def test_the_caller_reads_back_their_own_transcript_only() -> None:
    mine, theirs = new_call("Me"), new_call("Them")
    now = datetime.now(UTC)
    lines = [
        {"type": "transcript", "event_id": event_id(), "ts": iso(now), "role": "user", "text": "hello"},
        {
            "type": "transcript",
            "event_id": event_id(),
            "ts": iso(now + timedelta(seconds=1)),
            "role": "agent",
            "text": "hi there",
            "turn": 1,
        },
        {"type": "turn_metrics", "event_id": event_id(), "ts": iso(now), "turn": 1, "voice_to_voice": 0.9},
        {
            "type": "error",
            "event_id": event_id(),
            "ts": iso(now),
            "stage": "tts",
            "message": "internal detail",
        },
    ]
    assert post_events(mine["room"], [started(mine["room"], now), *lines]).status == 200

    own = transcript(mine["room"], mine["call_key"])
    assert own.status == 200, own.text
    body = own.json()
    assert set(body) == {"session_id", "status", "ended_at", "end_reason", "transcript"}
    assert [(t["role"], t["text"]) for t in body["transcript"]] == [("user", "hello"), ("agent", "hi there")]
    assert "internal detail" not in own.text and "voice_to_voice" not in own.text

    missing = transcript(mine["room"], None)
    assert missing.status == 401 and missing.json()["error"] == "call_key_required"
    for label, room, key in [
        ("another call's key", mine["room"], theirs["call_key"]),
        ("a made-up key", mine["room"], "B" * 43),
        ("malformed", mine["room"], "not a key"),
        ("an unknown call", "call-0123456789ab", mine["call_key"]),
    ]:
        refused = transcript(room, key)
        assert refused.status == 403 and refused.json()["error"] == "call_key_invalid", (label, refused.text)
        assert "hello" not in refused.text
    # The call key is no operator credential.
    for path in (f"/sessions/{mine['room']}", "/sessions", "/analytics"):
        assert invoke("GET", path, headers={"x-call-key": mine["call_key"]}).status == 401, path
        assert invoke("GET", path, headers={"authorization": f"Bearer {mine['call_key']}"}).status == 401, (
            path
        )


def test_a_finished_call_is_not_changed_by_webhooks_of_a_re_created_room(operator: Operator) -> None:
    """A token replayed after its call may re-create the room; that room's lifecycle is not the call's."""
    call = new_call()
    room = call["room"]
    t0 = datetime.now(UTC)
    assert post_webhook(*_hook("participant_joined", room, call["identity"], t0)).json()["applied"] is True
    end(room)
    before = invoke("GET", f"/sessions/{room}", headers=operator.headers()).json()
    later = t0 + timedelta(minutes=2)
    for kind, identity in [
        ("room_started", ""),
        ("participant_joined", call["identity"]),
        ("participant_joined", "web-intruder-1"),
        ("participant_left", call["identity"]),
        ("room_finished", ""),
    ]:
        reply = post_webhook(*_hook(kind, room, identity, later))
        assert reply.status == 200 and reply.json()["applied"] is False, (kind, reply.text)
    assert invoke("GET", f"/sessions/{room}", headers=operator.headers()).json() == before


def test_webhooks_for_rooms_token_never_started_create_no_session(operator: Operator) -> None:
    room = "call-fedcba987654"
    for kind in ("room_started", "participant_joined", "room_finished"):
        reply = post_webhook(*_hook(kind, room, "web-x" if kind == "participant_joined" else "", None))
        assert reply.status == 200 and reply.json()["applied"] is False
    assert invoke("GET", f"/sessions/{room}", headers=operator.headers()).status == 404


def _hook(kind: str, room: str, identity: str, at: datetime | None) -> tuple[str, str]:
    body = webhook_body(kind, room, identity, created_at=at)
    return body, webhook_auth(body)
