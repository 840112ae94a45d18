"""The limits of a call, through the whole local stack with the real worker: a silent caller hears a
goodbye after CALLER_IDLE_TIMEOUT and the call ends as "caller idle"; a call past MAX_CALL_DURATION ends
as "max length" (issue 10 #3). The goodbye is in the call's language and the room is deleted, so the
caller is disconnected too; the reason is the session log's session_ended.reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from livekit import rtc

from tests.e2e.conftest import Stack
from tests.support import stack as stack_support
from tests.support.audio import speak, voiced_seconds
from tests.support.caller import RATE, Caller, load_48k
from tests.support.model_server import ModelServer
from tests.support.operator import stack_operator

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

IDLE_S = 8.0
MAX_CALL_S = 45.0
ENV = {
    "CALLER_IDLE_TIMEOUT": str(IDLE_S),
    "MAX_CALL_DURATION": str(MAX_CALL_S),
    # The machine is shared: capacity is not what these tests check.
    "LOAD_THRESHOLD": "1.0",
}


@pytest.fixture(scope="module")
def stack(model_server: ModelServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = stack_support.stack_settings(oidc_port=stack_support.free_port())
    env, operator = stack_operator(settings)
    with stack_support.running(
        settings,
        ["aws", "oidc", "functions", "sfu", "agent"],
        env={**env, **ENV, **model_server.worker_env()},
        log_dir=tmp_path_factory.mktemp("stack-logs"),
    ) as (services, sup):
        yield Stack(settings, services, sup, operator)


async def wait_disconnected(caller: Caller, within: float) -> float:
    deadline = time.monotonic() + within
    while caller.room.connection_state != rtc.ConnectionState.CONN_DISCONNECTED:
        if time.monotonic() > deadline:
            raise TimeoutError("the call was never ended")
        await asyncio.sleep(0.1)
    return time.monotonic()


async def test_a_silent_caller_hears_goodbye_and_the_call_ends_as_caller_idle(stack: Stack) -> None:
    grant = stack.token(name="Silent")
    caller = Caller(identity="silent")
    await caller.join(grant["url"], grant["token"])
    try:
        greeting = await caller.wait_state("speaking", within=120)
        listening = await caller.wait_state("listening", within=60, after=greeting)
        goodbye = await caller.wait_state("speaking", within=IDLE_S + 60, after=listening + 0.5)
        assert goodbye - listening >= IDLE_S - 1.0, "not before the idle timeout"
        gone = await wait_disconnected(caller, within=60)
        assert voiced_seconds(caller.audio_between(goodbye, gone), RATE) > 0.5, "the goodbye was heard"
    finally:
        if caller.room.isconnected():
            await caller.leave()
    session = stack.wait_session(
        grant["room"], lambda s: s["status"] == "finished" and s["end_reason"], within=60
    )
    assert session["end_reason"] == "caller idle", session
    last = [t for t in session["transcript"] if t["role"] == "agent"][-1]
    assert "stepped away" in last["text"], session["transcript"]
    assert not [t for t in session["transcript"] if t["role"] == "user"]


async def test_a_call_past_its_maximum_length_ends_as_max_length(stack: Stack, tmp_path: Path) -> None:
    grant = stack.token(name="Talker")
    caller = Caller(identity="talker")
    phrase = load_48k(speak("Tell me one more short fact please", "en", tmp_path / "more.wav"))
    await caller.join(grant["url"], grant["token"])
    started = time.monotonic()
    try:
        await caller.wait_state("speaking", within=120)
        # Keep talking whenever the agent listens, so the call is never idle.
        while caller.room.isconnected() and time.monotonic() - started < MAX_CALL_S + 120:
            try:
                await caller.wait_idle(within=5, quiet_s=0.3)
            except TimeoutError:
                continue
            if caller.room.isconnected():
                await caller.say(phrase)
        await wait_disconnected(caller, within=5)
    finally:
        if caller.room.isconnected():
            await caller.leave()
    assert time.monotonic() - started >= MAX_CALL_S - 5
    session = stack.wait_session(
        grant["room"], lambda s: s["status"] == "finished" and s["end_reason"], within=60
    )
    assert session["end_reason"] == "max length", session
    assert any("time limit" in t["text"] for t in session["transcript"] if t["role"] == "agent")
    assert session["duration_s"] >= MAX_CALL_S - 5
