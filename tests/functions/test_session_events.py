"""POST /sessions/{id}/events: signature, replay window, validation, size, idempotency, atomicity."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from functions.settings import get_settings
from tests.functions.helpers import event_id, iso, post_events, signed, started, turn
from tests.functions.lambda_events import invoke
from tests.support.operator import Operator


def new_room() -> str:
    reply = invoke("POST", "/token", body=json.dumps({"name": "caller"}))
    return str(reply.json()["room"])


def transcript(text: str, ts: datetime, role: str = "user", **extra: object) -> dict:
    return {"type": "transcript", "event_id": event_id(), "ts": iso(ts), "role": role, "text": text, **extra}


def stored_events(room: str, operator: Operator) -> dict:
    """What the API holds for the session, read as the operator."""
    reply = invoke("GET", f"/sessions/{room}", headers=operator.headers())
    assert reply.status == 200, reply.text
    return reply.json()


def test_signed_batch_is_stored_and_summarised(operator: Operator) -> None:
    room, now = new_room(), datetime.now(UTC)
    batch = [
        started(room, now, language="zh", stt="local", llm="openai", tts="local"),
        transcript("你好", now, role="user", language="zh", turn=0),
        transcript("你好！有什么可以帮你？", now, role="agent", language="zh", turn=0),
        turn(
            0,
            now,
            end_of_utterance_delay=0.4,
            stt_duration=0.2,
            llm_ttft=0.5,
            tts_ttfb=0.3,
            voice_to_voice=1.4,
        ),
        {"type": "error", "event_id": event_id(), "ts": iso(now), "stage": "tts", "message": "slow"},
        {
            "type": "session_ended",
            "event_id": event_id(),
            "ts": iso(now),
            "reason": "hangup",
            "duration_s": 2.5,
        },
    ]
    reply = post_events(room, batch)
    assert reply.status == 200, reply.text
    assert reply.json() == {"session_id": room, "received": 6, "stored": 6, "duplicates": 0}
    session = stored_events(room, operator)
    assert session["status"] == "finished" and session["duration_s"] == 2.5
    assert session["language"] == "zh" and session["providers"] == {
        "stt": "local",
        "llm": "openai",
        "tts": "local",
    }
    assert [t["text"] for t in session["transcript"]] == ["你好", "你好！有什么可以帮你？"]
    assert session["turns"][0]["voice_to_voice"] == 1.4 and session["turns"][0]["transcription_delay"] is None
    assert session["errors"][0]["stage"] == "tts"


def test_the_summary_after_the_call_is_kept_with_the_session(operator: Operator) -> None:
    room, now = new_room(), datetime.now(UTC)
    ended = {"type": "session_ended", "event_id": event_id(), "ts": iso(now), "reason": "caller left"}
    assert post_events(room, [started(room, now), ended]).status == 200
    summary = {
        "summary": "The caller asked about sleep.  Advice was given.",
        "topic": "Sleep.",
        "outcome": "resolved",
    }
    # after the end (the LLM writes it then), within the grace period
    reply = post_events(
        room,
        [{"type": "call_summary", "event_id": event_id(), "ts": iso(now), **summary, "sentiment": "neutral"}],
    )
    assert reply.status == 200, reply.text
    kept = stored_events(room, operator)["summary"]
    assert kept == {
        "summary": "The caller asked about sleep. Advice was given.",
        "topic": "sleep",
        "outcome": "resolved",
        "sentiment": "neutral",
    }
    bad = {"type": "call_summary", "event_id": event_id(), "ts": iso(now), **summary, "sentiment": "furious"}
    assert post_events(room, [bad]).status == 422


def test_the_session_keeps_what_the_worker_ran(operator: Operator) -> None:
    room, now = new_room(), datetime.now(UTC)
    assert stored_events(room, operator)["assistant_ran"] is None  # not started yet
    fell_back = {**started(room, now), "assistant_ran": "built-in"}
    assert post_events(room, [fell_back]).status == 200
    assert stored_events(room, operator)["assistant_ran"] == "built-in"
    for bad in ("default", "asst-12@3", "built-in@1", "default@x"):
        reply = post_events(room, [{**started(room, now), "assistant_ran": bad}])
        assert reply.status == 422, (bad, reply.text)
    assert post_events(room, [{**started(room, now), "assistant_ran": "default@7"}]).status == 200
    assert stored_events(room, operator)["assistant_ran"] == "default@7"


def test_retried_and_overlapping_batches_store_nothing_twice(operator: Operator) -> None:
    room, now = new_room(), datetime.now(UTC)
    first = [transcript(f"line {i}", now, turn=i) for i in range(5)]
    assert post_events(room, first).json()["stored"] == 5
    retry = post_events(room, first)
    assert retry.status == 200 and retry.json()["stored"] == 0 and retry.json()["duplicates"] == 5
    overlap = [*first[3:], transcript("line 5", now, turn=5)]
    assert post_events(room, overlap).json() == {
        "session_id": room,
        "received": 3,
        "stored": 1,
        "duplicates": 2,
    }
    same_id_twice = [transcript("x", now), transcript("y", now)]
    same_id_twice[1]["event_id"] = same_id_twice[0]["event_id"]
    assert post_events(room, same_id_twice).json()["stored"] == 1
    assert len(stored_events(room, operator)["transcript"]) == 7


def test_batch_of_max_size_is_written_in_one_go(operator: Operator) -> None:
    room, now = new_room(), datetime.now(UTC)
    batch = [transcript(f"{i}", now, turn=i) for i in range(100)]
    assert post_events(room, batch).json()["stored"] == 100
    assert post_events(room, batch).json()["duplicates"] == 100
    assert len(stored_events(room, operator)["transcript"]) == 100


def _signed(room: str, body: bytes, now: float | None = None) -> dict[str, str]:
    return signed(f"/sessions/{room}/events", body, now=now)


@pytest.mark.parametrize(
    "mutate",
    [
        "no_headers",
        "wrong_secret",
        "tampered_body",
        "stale",
        "future",
        "garbage_timestamp",
        "garbage_signature",
    ],
)
def test_forged_or_replayed_signatures_are_401_and_store_nothing(mutate: str, operator: Operator) -> None:
    room, now = new_room(), datetime.now(UTC)
    body = json.dumps({"events": [transcript("forged", now)]}).encode()
    headers = _signed(room, body)
    sent = body
    if mutate == "no_headers":
        headers = {"content-type": "application/json"}
    elif mutate == "wrong_secret":
        headers = signed(f"/sessions/{room}/events", body, secret="not-the-secret-but-long-enough-to-be-one")
    elif mutate == "tampered_body":
        sent = body.replace(b"forged", b"FORGED")
    elif mutate == "stale":
        headers = _signed(room, body, now=time.time() - get_settings().replay_window_s - 5)
    elif mutate == "future":
        headers = _signed(room, body, now=time.time() + get_settings().replay_window_s + 5)
    elif mutate == "garbage_timestamp":
        headers["x-signature-timestamp"] = "yesterday"
    elif mutate == "garbage_signature":
        headers["x-signature"] = "v1=" + "0" * 64
    reply = invoke("POST", f"/sessions/{room}/events", body=sent, headers=headers)
    assert reply.status == 401, reply.text
    assert reply.json()["error"] == "invalid_signature"
    assert stored_events(room, operator)["transcript"] == []


def test_base64_encoded_body_is_verified_on_its_bytes() -> None:
    room, now = new_room(), datetime.now(UTC)
    body = json.dumps({"events": [transcript("编码", now)]}, ensure_ascii=False).encode()
    reply = invoke(
        "POST", f"/sessions/{room}/events", body=body, headers=_signed(room, body), base64_body=True
    )
    assert reply.status == 200 and reply.json()["stored"] == 1


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"events": []},
        {"events": "nope"},
        {"events": [{"type": "transcript"}]},
        {"events": [{"type": "teleport", "event_id": "abcdefgh", "ts": "2026-01-01T00:00:00Z"}]},
        {
            "events": [
                {
                    "type": "transcript",
                    "event_id": "short",
                    "ts": "2026-01-01T00:00:00Z",
                    "role": "user",
                    "text": "x",
                }
            ]
        },
        {"events": [{"type": "turn_metrics", "event_id": "abcdefgh1", "ts": "not-a-time", "turn": 1}]},
        {
            "events": [
                {"type": "turn_metrics", "event_id": "abcdefgh1", "ts": "2026-01-01T00:00:00Z", "turn": -1}
            ]
        },
        {
            "events": [
                {
                    "type": "turn_metrics",
                    "event_id": "abcdefgh1",
                    "ts": "2026-01-01T00:00:00Z",
                    "turn": 1,
                    "llm_ttft": "fast",
                }
            ]
        },
        {
            "events": [
                {
                    "type": "transcript",
                    "event_id": "abcdefgh1",
                    "ts": "2026-01-01T00:00:00Z",
                    "role": "user",
                    "text": "x" * 4001,
                }
            ]
        },
        {
            "events": [
                {
                    "type": "transcript",
                    "event_id": "abcdefgh1",
                    "ts": "2026-01-01T00:00:00Z",
                    "role": "god",
                    "text": "x",
                }
            ]
        },
        {"events": [], "extra": True},
    ],
)
def test_invalid_batches_are_422_and_store_nothing(payload: dict, operator: Operator) -> None:
    room = new_room()
    body = json.dumps(payload).encode()
    reply = invoke("POST", f"/sessions/{room}/events", body=body, headers=_signed(room, body))
    assert reply.status == 422, reply.text
    assert reply.json()["error"] == "validation_error"
    assert stored_events(room, operator)["transcript"] == []


def test_one_bad_event_rejects_the_whole_batch(operator: Operator) -> None:
    room, now = new_room(), datetime.now(UTC)
    good = transcript("good", now)
    bad = {**transcript("bad", now), "role": "nobody"}
    assert post_events(room, [good, bad]).status == 422
    wrong_room = started("call-ffffffffffff", now)
    reply = post_events(room, [good, wrong_room])
    assert reply.status == 422 and reply.json()["error"] == "room_mismatch"
    assert stored_events(room, operator)["transcript"] == []


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe\x00"])
def test_malformed_signed_bodies_are_400(raw: bytes) -> None:
    room = new_room()
    reply = invoke("POST", f"/sessions/{room}/events", body=raw, headers=_signed(room, raw), base64_body=True)
    assert reply.status in (400, 422), reply.text
    assert reply.json()["error"] in ("malformed_json", "bad_body", "validation_error")


def test_oversized_body_is_413_before_anything_else() -> None:
    room = new_room()
    limit = get_settings().max_body_bytes
    body = b'{"events": [' + b" " * limit + b"]}"
    reply = invoke("POST", f"/sessions/{room}/events", body=body, headers=_signed(room, body))
    assert reply.status == 413 and reply.json()["error"] == "body_too_large"
    big_b64 = invoke(
        "POST", f"/sessions/{room}/events", body=body, headers=_signed(room, body), base64_body=True
    )
    assert big_b64.status == 413


@pytest.mark.parametrize("session_id", ["bad id", "x" * 129, "a/b"])
def test_bad_session_ids_are_4xx(session_id: str) -> None:
    now = datetime.now(UTC)
    reply = post_events(session_id, [transcript("x", now)])
    assert 400 <= reply.status < 500, reply.text
