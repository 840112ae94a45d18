"""Telemetry delivery against the real functions API (serverless-offline + moto), over real HTTP.

API down → events spooled to disk; API back → re-sent; the session then holds every event exactly once,
even when a batch is delivered twice (a retry whose first answer was lost).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from agent_worker.telemetry import (
    STATS,
    SessionLog,
    SessionLogSender,
    Spool,
    deliver_or_spool,
    new_event_id,
    now_utc,
    resend_spooled,
)
from functions.models.session_log import SessionEvent, SessionStarted, TranscriptItem, TurnMetrics
from infra.stack.settings import StackSettings
from tests.support.operator import stack_operator
from tests.support.stack import running, stack_settings

SECRET = "dev-session-log-secret"


def call_events(room: str, turns: int) -> list[SessionEvent]:
    events: list[SessionEvent] = [
        SessionStarted(
            event_id=new_event_id(),
            ts=now_utc(),
            room=room,
            language="zh",
            providers={"stt": "local", "llm": "local", "tts": "local"},
        )
    ]
    for t in range(1, turns + 1):
        events.append(
            TranscriptItem(
                event_id=new_event_id(), ts=now_utc(), role="user", text=f"第{t}个问题", language="zh", turn=t
            )
        )
        events.append(
            TranscriptItem(
                event_id=new_event_id(), ts=now_utc(), role="agent", text=f"回答{t}", language="zh", turn=t
            )
        )
        events.append(
            TurnMetrics(
                event_id=new_event_id(),
                ts=now_utc(),
                turn=t,
                end_of_utterance_delay=0.5,
                transcription_delay=0.2,
                llm_ttft=0.3,
                tts_ttfb=0.1,
                voice_to_voice=1.1,
            )
        )
    return events


@pytest.mark.timeout(300)
def test_api_down_then_back_delivers_every_event_exactly_once(tmp_path: Path) -> None:
    settings = stack_settings()
    spool = Spool(tmp_path / "spool")
    env, operator = stack_operator(settings)

    with running(settings, ["aws", "oidc"], env=env):
        with running(settings, ["functions"], env=env):
            room = open_session(settings)  # sessions begin at /token; then the API goes away
        events = call_events(room, turns=25)  # 76 events: more than one batch

        async def while_down() -> None:
            sender = SessionLogSender(settings.functions_url, SECRET, timeout_s=1.0)
            log = SessionLog(room, sender, spool, batch_size=20, flush_interval_s=0.05)
            log.start()
            for ev in events:
                log.record(ev)
            await log.aclose()

        asyncio.run(while_down())
        spooled = sum(len(v) for p in spool.dir.glob("*.jsonl") for v in Spool.read(p).values())
        assert spooled == len(events), "every undeliverable event must be on disk"

        with running(settings, ["functions"], env=env):

            async def when_back() -> tuple[int, int]:
                sender = SessionLogSender(settings.functions_url, SECRET)
                try:
                    first = await resend_spooled(sender, spool)
                    # The same events again, as after a lost answer: the API must store nothing twice.
                    for ev in events[:30]:
                        spool.append(room, [ev])
                    second = await resend_spooled(sender, spool)
                    return first, second
                finally:
                    await sender.aclose()

            first, second = asyncio.run(when_back())
            assert (first, second) == (len(events), 30)
            assert not list(spool.dir.glob("*.jsonl")), "a delivered spool file is removed"
            resp = httpx.get(
                f"{settings.functions_url}/sessions/{room}", headers=operator.headers(), timeout=10
            )
            assert resp.status_code == 200, resp.text
            print(resp.text[:1500])
            detail = resp.json()

    ids = [e["event_id"] for e in detail["transcript"]] + [t["event_id"] for t in detail["turns"]]
    assert len(ids) == len(set(ids)), "duplicated events"
    expected = {e.event_id for e in events if e.type in ("transcript", "turn_metrics")}
    assert set(ids) == expected
    assert detail["language"] == "zh"
    assert [t["turn"] for t in detail["turns"]] == list(range(1, 26))


def open_session(settings: StackSettings) -> str:
    """Sessions begin at POST /token: the room of a new call."""
    resp = httpx.post(
        f"{settings.functions_url}/token", json={"name": "Telemetry", "language": "zh"}, timeout=10
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["room"])


def spooled_events(spool: Spool) -> int:
    return sum(
        len(v)
        for p in spool.dir.glob("*.jsonl")
        for v in Spool.read(p).values()
        if p.name != "rejected.jsonl"
    )


def test_forged_signature_is_refused_and_stays_spooled_never_dead_lettered(tmp_path: Path) -> None:
    """A 401 is the secret's fault, not the batch's: the events wait in the spool, nothing is stored,
    and nothing is reported as delivered."""
    settings = stack_settings()
    spool = Spool(tmp_path / "spool")
    env, operator = stack_operator(settings)
    with running(settings, ["aws", "oidc", "functions"], env=env):
        room = open_session(settings)
        events = call_events(room, turns=1)

        async def send_forged() -> int:
            sender = SessionLogSender(settings.functions_url, "not-the-secret-" + "x" * 32)
            try:
                return await deliver_or_spool(sender, spool, room, events)
            finally:
                await sender.aclose()

        refused_before = STATS.auth_refused
        delivered = asyncio.run(send_forged())
        detail = httpx.get(
            f"{settings.functions_url}/sessions/{room}", headers=operator.headers(), timeout=10
        )
    assert delivered == 0, "a refused batch is never reported as delivered"
    assert STATS.auth_refused == refused_before + 1
    assert detail.status_code == 200 and detail.json()["transcript"] == [], "nothing stored from a forgery"
    assert not (spool.dir / "rejected.jsonl").exists(), "a 401 is not a dead letter"
    assert spool.dead_letter_count() == 0
    assert spooled_events(spool) == len(events) == spool.pending_count()


def test_a_401_during_rotation_reloads_the_secret_and_delivers(tmp_path: Path) -> None:
    """Issue 10 #8: the API has moved to a new secret (the worker's copy is stale). The sender reads the
    secret again from its file after the 401 and re-sends; while the file still holds the old one the
    batch stays spooled, and the next flush after the file is rotated delivers it."""
    old, new = "old-session-log-secret-" + "o" * 20, "new-session-log-secret-" + "n" * 20
    settings = stack_settings(session_log_secret=new)
    spool = Spool(tmp_path / "spool")
    secret_file = tmp_path / "session-log-secret"
    env, operator = stack_operator(settings)
    with running(settings, ["aws", "oidc", "functions"], env=env):
        room_a, room_b = open_session(settings), open_session(settings)
        first, second = call_events(room_a, turns=2), call_events(room_b, turns=1)

        async def scenario() -> tuple[int, int, int, int]:
            secret_file.write_text(old + "\n")
            sender = SessionLogSender(
                settings.functions_url, old, reload_secret=lambda: secret_file.read_text().strip()
            )
            try:
                # 1. the file still holds the old secret: refused twice, kept in the spool
                stale = await deliver_or_spool(sender, spool, room_a, first)
                kept = spooled_events(spool)
                # 2. the secret is rotated in place (a mounted Kubernetes Secret): the next flush
                #    gets a 401 with the cached secret, reloads it and delivers
                secret_file.write_text(new + "\n")
                flushed = await resend_spooled(sender, spool)
                # 3. live batches go on with the reloaded secret at once
                live = await deliver_or_spool(sender, spool, room_b, second)
                return stale, kept, flushed, live
            finally:
                await sender.aclose()

        stale, kept, flushed, live = asyncio.run(scenario())
        a = httpx.get(f"{settings.functions_url}/sessions/{room_a}", headers=operator.headers(), timeout=10)
        b = httpx.get(f"{settings.functions_url}/sessions/{room_b}", headers=operator.headers(), timeout=10)
    assert (stale, kept) == (0, len(first)), "refused with the old secret: nothing delivered, all kept"
    assert flushed == len(first) and live == len(second)
    assert spooled_events(spool) == 0 and spool.dead_letter_count() == 0
    stored_a = [t["event_id"] for t in a.json()["transcript"]] + [t["event_id"] for t in a.json()["turns"]]
    assert sorted(stored_a) == sorted(e.event_id for e in first if e.type in ("transcript", "turn_metrics"))
    assert len(b.json()["transcript"]) == 2


def test_an_invalid_batch_is_dead_lettered_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch for a call /token never started is refused for good (404): the dead-letter file keeps
    it and counts it — what the worker's /metrics report."""
    settings = stack_settings()
    spool = Spool(tmp_path / "spool")
    env, _ = stack_operator(settings)
    room = f"call-{uuid.uuid4().hex[:12]}"
    with running(settings, ["aws", "oidc", "functions"], env=env):

        async def send() -> int:
            sender = SessionLogSender(settings.functions_url, SECRET)
            try:
                return await deliver_or_spool(sender, spool, room, call_events(room, turns=1))
            finally:
                await sender.aclose()

        with caplog.at_level("ERROR", logger="voicecall.telemetry"):
            delivered = asyncio.run(send())
    assert delivered == 0
    assert spool.dead_letter_count() == 4 and spooled_events(spool) == 0
    assert any("dead-lettered (4 in total)" in r.getMessage() for r in caplog.records), caplog.text


def _append_many(directory: str, room: str, count: int) -> None:
    spool = Spool(Path(directory))
    for t in range(count):
        spool.append(
            room, [TranscriptItem(event_id=f"{room}-{t}", ts=now_utc(), role="user", text="x", turn=1)]
        )


def test_claims_racing_appends_from_other_processes_lose_nothing(tmp_path: Path) -> None:
    """The worker's flush claims spool files while job processes append to them: every event ends up
    either claimed (sent) or still in the spool, never in a file already read and removed."""
    import multiprocessing

    spool = Spool(tmp_path / "spool")
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_append_many, args=(str(spool.dir), f"call-{i}", 400)) for i in range(3)]
    for w in writers:
        w.start()
    seen: list[str] = []
    while any(w.is_alive() for w in writers):
        with spool.claimed() as paths:
            for path in paths:
                seen += [e.event_id for events in Spool.read(path).values() for e in events]
                path.unlink()
    for w in writers:
        w.join()
        assert w.exitcode == 0
    with spool.claimed() as paths:
        for path in paths:
            seen += [e.event_id for events in Spool.read(path).values() for e in events]
            path.unlink()
    assert len(seen) == len(set(seen)) == 1200
    assert spool.pending_count() == 0


def test_a_file_left_claimed_by_a_dead_process_is_taken_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append("call-x", call_events("call-x", turns=1))
    orphan = next(spool.dir.glob("*.jsonl")).with_suffix(".sending-99999-dead00")
    next(spool.dir.glob("*.jsonl")).rename(orphan)  # its claimer died mid-send: no lock is held
    with spool.claimed() as paths:
        assert paths == [orphan]
        # while one claimer holds it, another does not take it
        with Spool(spool.dir).claimed() as other:
            assert other == []
