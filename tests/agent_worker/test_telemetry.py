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

from agent_worker.telemetry import SessionLog, SessionLogSender, Spool, new_event_id, now_utc, resend_spooled
from functions.models.session_log import SessionEvent, SessionStarted, TranscriptItem, TurnMetrics
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
    room = f"call-{uuid.uuid4().hex[:12]}"
    events = call_events(room, turns=25)  # 76 events: more than one batch
    spool = Spool(tmp_path / "spool")
    env, operator = stack_operator(settings)

    with running(settings, ["aws", "oidc"], env=env):

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


def test_forged_signature_is_rejected_and_kept_as_dead_letter(tmp_path: Path) -> None:
    settings = stack_settings()
    room = f"call-{uuid.uuid4().hex[:12]}"
    spool = Spool(tmp_path / "spool")
    env, operator = stack_operator(settings)
    with running(settings, ["aws", "oidc", "functions"], env=env):

        async def send_forged() -> None:
            sender = SessionLogSender(settings.functions_url, "not-the-secret")
            log = SessionLog(room, sender, spool, batch_size=5, flush_interval_s=0.05)
            log.start()
            for ev in call_events(room, turns=1):
                log.record(ev)
            await log.aclose()

        asyncio.run(send_forged())
        url = f"{settings.functions_url}/sessions/{room}"
        status = httpx.get(url, headers=operator.headers(), timeout=10).status_code
    assert status == 404, "nothing may be stored from a forged request"
    rejected = (spool.dir / "rejected.jsonl").read_text().splitlines()
    assert len(rejected) == 4 and "401" in rejected[0]
