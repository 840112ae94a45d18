"""Signed session logs are bound to method, path and session (issue 10 #6): replays to another session,
events for sessions /token never created or long finished, and rewritten summaries are refused; two
secrets work during a rotation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from functions.models.signing import sign
from functions.settings import get_settings
from tests.functions.helpers import event_id, iso, post_events, signed, started
from tests.functions.lambda_events import invoke
from tests.support.operator import Operator


def new_call() -> str:
    reply = invoke("POST", "/token", body=json.dumps({"name": "caller"}))
    assert reply.status == 200, reply.text
    return str(reply.json()["room"])


def line(text: str) -> dict:
    return {
        "type": "transcript",
        "event_id": event_id(),
        "ts": iso(datetime.now(UTC)),
        "role": "user",
        "text": text,
    }


def ended(duration_s: float, reason: str = "caller left") -> dict:
    return {
        "type": "session_ended",
        "event_id": event_id(),
        "ts": iso(datetime.now(UTC)),
        "reason": reason,
        "duration_s": duration_s,
    }


def session(room: str, operator: Operator) -> dict:
    reply = invoke("GET", f"/sessions/{room}", headers=operator.headers())
    assert reply.status == 200, reply.text
    return reply.json()


def test_a_batch_signed_for_one_session_is_refused_for_another(operator: Operator) -> None:
    victim, mine = new_call(), new_call()
    body = json.dumps({"events": [line("injected")]}).encode()
    headers = signed(f"/sessions/{mine}/events", body)
    assert invoke("POST", f"/sessions/{mine}/events", body=body, headers=headers).status == 200
    replayed = invoke("POST", f"/sessions/{victim}/events", body=body, headers=headers)
    assert replayed.status == 401 and replayed.json()["error"] == "invalid_signature"
    # Nor to the other signed route, nor with the old scheme that signed only timestamp and body.
    claim = invoke("POST", f"/sessions/{mine}/claim", body=body, headers=headers)
    assert claim.status == 401
    ts = int(datetime.now(UTC).timestamp())
    v1 = {
        "x-signature-timestamp": str(ts),
        "x-signature": "v1=" + "0" * 64,
        "content-type": "application/json",
    }
    assert invoke("POST", f"/sessions/{mine}/events", body=body, headers=v1).status == 401
    assert session(victim, operator)["transcript"] == []


def test_events_for_sessions_token_never_created_are_404_and_stored_nowhere(operator: Operator) -> None:
    room = "call-" + "0" * 12
    reply = post_events(room, [started(room, datetime.now(UTC)), line("ghost")])
    assert reply.status == 404 and reply.json()["error"] == "session_not_found", reply.text
    assert invoke("GET", f"/sessions/{room}", headers=operator.headers()).status == 404


def test_events_after_the_grace_period_are_409(monkeypatch: pytest.MonkeyPatch, operator: Operator) -> None:
    room = new_call()
    assert post_events(room, [ended(1.0)]).status == 200
    assert post_events(room, [line("the last words, just after the end")]).status == 200, "within grace"
    monkeypatch.setenv("SESSION_LOG_GRACE_S", "0")
    get_settings.cache_clear()
    late = post_events(room, [line("much later")])
    assert late.status == 409 and late.json()["error"] == "session_finished"
    texts = [t["text"] for t in session(room, operator)["transcript"]]
    assert texts == ["the last words, just after the end"]


def test_the_first_end_wins_and_durations_are_bounded(operator: Operator) -> None:
    room = new_call()
    assert post_events(room, [ended(86_400.0, "hangup")]).status == 200
    first = session(room, operator)
    slack = get_settings().duration_slack_s
    assert first["end_reason"] == "hangup" and 0 <= first["duration_s"] <= slack + 5
    # A replayed or forged later end changes nothing.
    assert post_events(room, [ended(3_600.0, "idle")]).status == 200
    again = session(room, operator)
    assert (again["end_reason"], again["duration_s"]) == ("hangup", first["duration_s"])


def test_two_secrets_are_accepted_during_a_rotation(monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = "old-session-log-secret-" + "o" * 16, "new-session-log-secret-" + "n" * 16
    room = new_call()
    monkeypatch.setenv("SESSION_LOG_SECRET", new)
    monkeypatch.setenv("SESSION_LOG_SECRET_PREVIOUS", old)
    get_settings.cache_clear()
    assert post_events(room, [line("signed with the new one")], secret=new).status == 200
    assert post_events(room, [line("signed with the old one")], secret=old).status == 200
    monkeypatch.delenv("SESSION_LOG_SECRET_PREVIOUS")
    get_settings.cache_clear()
    refused = post_events(room, [line("the old one after the rotation")], secret=old)
    assert refused.status == 401


def test_the_signature_covers_the_method_and_path() -> None:
    body, ts = b"{}", 1_800_000_000
    base = sign("k" * 32, ts, "POST", "/sessions/a/events", body)
    assert base != sign("k" * 32, ts, "POST", "/sessions/b/events", body)
    assert base != sign("k" * 32, ts, "PUT", "/sessions/a/events", body)
    assert base == sign("k" * 32, ts, "post", "/sessions/a/events", body)
    assert base.startswith("v2=") and len(base) == 3 + 64
    assert timedelta(seconds=get_settings().replay_window_s) <= timedelta(hours=1)
