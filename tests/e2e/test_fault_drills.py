"""Fault drills (issue 10 #8, #9; docs/security.md), through the whole local stack with the real worker:

- the functions API down for 20 s mid-call: every session-log event of the call reaches it exactly once
  within 30 s after it is back, while the call goes on — no later call needed (the worker's periodic
  spool flush);
- the worker SIGKILLed mid-call: the dev SFU reports the agent's dropped connection (SIGNAL_CLOSE, not a
  hang-up), the functions' webhook re-dispatches the call, the page is told the agent is reconnecting,
  and an agent on a freshly started worker takes the call over with an apology instead of a greeting;
  with no worker to take it, the call ends with the reason "agent lost" recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack
from tests.support import stack as stack_support
from tests.support.audio import speak, voiced_seconds
from tests.support.caller import RATE, Caller, load_48k
from tests.support.model_server import ModelServer
from tests.support.operator import stack_operator

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

OUTAGE_S = 20.0
DELIVERY_WITHIN_S = 30.0
FLUSH_S = 3.0


@pytest.fixture(scope="module")
def stack(model_server: ModelServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = stack_support.stack_settings(oidc_port=stack_support.free_port())
    env, operator = stack_operator(settings)
    spool = tmp_path_factory.mktemp("spool")
    drill_env = {
        **env,
        **model_server.worker_env(),
        "TELEMETRY_SPOOL_DIR": str(spool),
        "TELEMETRY_SPOOL_FLUSH_INTERVAL": str(FLUSH_S),
        "CALLER_IDLE_TIMEOUT": "600",
        "LOAD_THRESHOLD": "1.0",
    }
    with stack_support.running(
        settings,
        ["aws", "oidc", "functions", "sfu", "agent"],
        env=drill_env,
        log_dir=tmp_path_factory.mktemp("stack-logs"),
    ) as (services, sup):
        yield Stack(settings, services, sup, operator)


def telemetry(stack: Stack) -> dict[str, int]:
    url = f"http://{stack.settings.host}:{stack.settings.worker_http_port}/telemetry"
    resp = httpx.get(url, timeout=5)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def ensure_worker(stack: Stack) -> None:
    proc = stack.services["agent"].proc
    if proc is None or proc.poll() is not None:
        stack.restart("agent")


def session_now(stack: Stack, room: str) -> dict[str, Any] | None:
    try:
        r = httpx.get(
            f"{stack.settings.functions_url}/sessions/{room}", headers=stack.operator.headers(), timeout=5
        )
    except httpx.HTTPError:
        return None
    return r.json() if r.status_code == 200 else None


async def test_api_down_20s_mid_call_every_event_arrives_once_within_30s(
    stack: Stack, tmp_path: Path
) -> None:
    await asyncio.to_thread(ensure_worker, stack)
    dead_before = telemetry(stack)["dead_letters"]
    grant = stack.token(name="Outage", language="en")
    room = grant["room"]
    caller = Caller(identity="outage-caller")
    phrase = load_48k(speak("What is the weather like today", "en", tmp_path / "q.wav"))
    await caller.join(grant["url"], grant["token"])
    try:
        greeting = await caller.wait_state("speaking", within=120)
        await caller.wait_idle(within=60)
        await asyncio.to_thread(stack.wait_session, room, lambda s: len(s["transcript"]) >= 1, 30)

        # ---- the API goes away mid-call; the call goes on ----
        functions = stack.services["functions"]
        await asyncio.to_thread(stack.sup.stop_one, functions)
        down_at, down_wall = time.monotonic(), datetime.now(UTC)
        ended = await caller.say(phrase)
        speaking = await caller.wait_state("speaking", within=60, after=ended)
        await caller.wait_state("listening", within=60, after=speaking)
        assert voiced_seconds(caller.audio_between(ended), RATE) > 0.5, "the agent answered during the outage"
        # the turn's events (user, agent, metrics) reach the spool after the sender's retries; the API
        # stays down at least OUTAGE_S, longer on a slow machine until the whole turn is spooled
        spool_deadline = time.monotonic() + 20
        while (spooled := telemetry(stack)["spooled_events"]) < 3:
            assert time.monotonic() < spool_deadline, f"only {spooled} events spooled"
            await asyncio.sleep(0.3)
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))

        # ---- the API comes back: nothing but the worker's own flush may deliver the outage's events ----
        back_wall = datetime.now(UTC)
        await asyncio.to_thread(stack.restart, "functions")
        back_at = time.monotonic()
        delivered: dict[str, Any] | None = None
        while time.monotonic() - back_at < DELIVERY_WITHIN_S:
            s = await asyncio.to_thread(session_now, stack, room)
            if s is not None and any(t["role"] == "user" for t in s["transcript"]) and s["turns"]:
                agent_lines = [t for t in s["transcript"] if t["role"] == "agent" and t.get("turn")]
                if agent_lines:
                    delivered = s
                    break
            await asyncio.sleep(0.5)
        took = time.monotonic() - back_at
        assert delivered is not None, f"the outage's events did not arrive within {DELIVERY_WITHIN_S} s"
        print(f"outage events delivered {took:.1f} s after the API was back")
        status = telemetry(stack)
        assert status["dead_letters"] == dead_before, status
    finally:
        if caller.room.isconnected():
            await caller.leave()
    assert greeting > 0
    session = await asyncio.to_thread(
        stack.wait_session, room, lambda s: s["status"] == "finished" and s["end_reason"], 60
    )
    ids = [t["event_id"] for t in session["transcript"]] + [t["event_id"] for t in session["turns"]]
    assert len(ids) == len(set(ids)), "an event was stored twice"
    users = [t for t in session["transcript"] if t["role"] == "user"]
    agents = [t for t in session["transcript"] if t["role"] == "agent"]
    # The one user line is the question asked while the API was down (what Whisper made of it varies).
    assert len(users) == 1 and down_wall <= _when(users[0]) <= back_wall, (down_wall, back_wall, users)
    assert len(agents) == 2, session["transcript"]  # the greeting and the one reply, each once
    assert [t["turn"] for t in session["turns"]] == [1]
    assert session["end_reason"] == "caller left"
    assert telemetry(stack)["spooled_events"] == 0, "the spool is empty once everything arrived"


def _when(line: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(line["ts"].replace("Z", "+00:00"))


def _watch_room_state(caller: Caller) -> list[tuple[float, dict[str, Any]]]:
    states: list[tuple[float, dict[str, Any]]] = []

    def changed(_old: str, new: str) -> None:
        with contextlib.suppress(ValueError, AttributeError):
            states.append((time.monotonic(), json.loads(new).get("voicecall", {})))

    caller.room.on("room_metadata_changed", changed)
    return states


async def test_worker_sigkill_mid_call_a_new_agent_takes_over_with_an_apology(
    stack: Stack, tmp_path: Path
) -> None:
    await asyncio.to_thread(ensure_worker, stack)
    grant = stack.token(name="Crash", language="en")
    room = grant["room"]
    caller = Caller(identity="crash-caller")
    states = _watch_room_state(caller)
    phrase = load_48k(speak("Tell me a short fact about the moon", "en", tmp_path / "moon.wav"))
    await caller.join(grant["url"], grant["token"])
    try:
        await caller.wait_state("speaking", within=120)
        await caller.wait_idle(within=60)
        first_agent = caller.agent_identity
        assert first_agent
        # the greeting is in the session log before the crash (it would otherwise die with the job)
        await asyncio.to_thread(stack.wait_session, room, lambda s: len(s["transcript"]) >= 1, 30)

        await asyncio.to_thread(stack.kill, "agent")  # SIGKILL: the worker and its job processes
        killed_at = time.monotonic()
        deadline = killed_at + 30
        while not any(s.get("agent") == "reconnecting" for _, s in states):
            assert time.monotonic() < deadline, f"the page was never told the agent is reconnecting: {states}"
            await asyncio.sleep(0.2)
        assert caller.room.isconnected(), "the caller stays in the call"

        # A worker comes back (a restarted pod); the pending re-dispatch reaches it.
        await asyncio.to_thread(stack.restart, "agent")
        back = await caller.wait_state("speaking", within=90, after=killed_at)
        await caller.wait_state("listening", within=60, after=back)
        assert caller.agent_identity and caller.agent_identity != first_agent, "a new agent answers"
        assert voiced_seconds(caller.audio_between(back), RATE) > 0.5, "the new agent was heard"
        print(f"new agent speaking {back - killed_at:.1f} s after the kill")

        # ...and goes on with the call.
        ended = await caller.say(phrase)
        reply = await caller.wait_state("speaking", within=60, after=ended)
        await caller.wait_state("listening", within=60, after=reply)
        assert voiced_seconds(caller.audio_between(ended), RATE) > 0.5
    finally:
        if caller.room.isconnected():
            await caller.leave()
    session = await asyncio.to_thread(
        stack.wait_session, room, lambda s: s["status"] == "finished" and s["end_reason"], 60
    )
    agents = [t["text"] for t in session["transcript"] if t["role"] == "agent"]
    greeting_lines = [t for t in agents if "cut off" not in t]
    assert any("cut off" in t and "back" in t for t in agents), agents
    assert agents.index(next(t for t in agents if "cut off" in t)) == 1, (
        "the apology right after the greeting"
    )
    assert len(greeting_lines) == 2, f"one greeting, one reply — the greeting is not replayed: {agents}"
    assert session["end_reason"] == "caller left", session


async def test_worker_sigkill_with_no_worker_to_take_over_ends_the_call_as_agent_lost(stack: Stack) -> None:
    await asyncio.to_thread(ensure_worker, stack)
    grant = stack.token(name="Lost", language="en")
    room = grant["room"]
    caller = Caller(identity="lost-caller")
    states = _watch_room_state(caller)
    await caller.join(grant["url"], grant["token"])
    try:
        await caller.wait_state("speaking", within=120)
        await asyncio.to_thread(stack.kill, "agent")
        deadline = time.monotonic() + 30
        while not any(s.get("agent") == "reconnecting" for _, s in states):
            assert time.monotonic() < deadline, f"no reconnecting state: {states}"
            await asyncio.sleep(0.2)
        await asyncio.sleep(3)  # nobody comes; the caller gives up
    finally:
        if caller.room.isconnected():
            await caller.leave()
    session = await asyncio.to_thread(
        stack.wait_session, room, lambda s: s["status"] == "finished" and s["end_reason"], 60
    )
    assert session["end_reason"] == "agent lost", session
    await asyncio.to_thread(ensure_worker, stack)


def metrics(stack: Stack) -> dict[str, float]:
    url = f"http://{stack.settings.host}:{stack.settings.worker_http_port}/metrics"
    resp = httpx.get(url, timeout=5)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    values = {}
    for line in resp.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.split()
            values[name] = float(value)
    return values


def test_dead_letters_written_by_any_process_are_counted_in_the_worker_metrics(stack: Stack) -> None:
    """Job processes dead-letter what the API refuses as invalid; the worker process's HTTP server (the
    one livekit-agents serves its health on) counts them from the spool directory."""
    from agent_worker.telemetry import Spool, new_event_id, now_utc
    from functions.models.session_log import TranscriptItem

    ensure_worker(stack)
    spool = Spool(Path(stack.services["agent"].env["TELEMETRY_SPOOL_DIR"]))
    before = metrics(stack)
    events = [
        TranscriptItem(event_id=new_event_id(), ts=now_utc(), role="user", text="x", turn=1) for _ in range(3)
    ]
    spool.dead_letter("call-refused", events, "404: session_not_found")
    after = metrics(stack)
    assert after["voicecall_telemetry_dead_letters"] == before["voicecall_telemetry_dead_letters"] + 3
    assert telemetry(stack)["dead_letters"] == after["voicecall_telemetry_dead_letters"]
    health = httpx.get(f"http://{stack.settings.host}:{stack.settings.worker_http_port}/", timeout=5)
    assert health.status_code == 200 and health.text == "OK", "livekit-agents' own health still answers"
