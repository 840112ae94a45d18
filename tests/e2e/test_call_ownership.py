"""A caller owns their call, through the whole local stack (issue 10 #2 and #3): real HTTP to the functions,
the Python rtc SDK through the dev SFU, the real agent worker.

- nobody else gets into a live call: not through POST /token with its room id (with or without another
  call's key), not with a valid LiveKit token for the room (max_participants);
- the owner's call key rejoins as the same identity, and no second agent is dispatched;
- a used token after the call ended re-creates at most an empty room: the worker refuses the job (the
  call's claim is finished), no agent joins, the finished session does not change;
- a silent caller hears a goodbye after CALLER_IDLE_TIMEOUT and the call ends with "caller idle"; a call
  past MAX_CALL_DURATION ends with "max length"; a hang-up ends with "caller left".

The stack here issues tokens that stay valid for 10 minutes (TOKEN_TTL_S=600, the maximum), so that the
replayed token is still a valid one: what stops it is the claim, not the clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from livekit import rtc

from tests.e2e.conftest import Stack
from tests.support import stack as stack_support
from tests.support.audio import speak, voiced_seconds
from tests.support.caller import RATE, Caller, load_48k
from tests.support.operator import stack_operator

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

IDLE_S = 8.0
MAX_CALL_S = 50.0
ENV = {
    "CALLER_IDLE_TIMEOUT": str(IDLE_S),
    "MAX_CALL_DURATION": str(MAX_CALL_S),
    "TOKEN_TTL_S": "600",
    # The machine is shared: capacity is not what these tests check.
    "LOAD_THRESHOLD": "1.0",
}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    settings = stack_support.stack_settings(oidc_port=stack_support.free_port())
    env, operator = stack_operator(settings)
    with stack_support.running(
        settings, ["aws", "oidc", "functions", "sfu", "agent"], env={**env, **ENV}
    ) as (services, sup):
        yield Stack(settings, services, sup, operator)


def post_token(stack: Stack, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{stack.settings.functions_url}/token", json=body, timeout=10)


def read_transcript(stack: Stack, room: str, call_key: str) -> httpx.Response:
    return httpx.get(
        f"{stack.settings.functions_url}/calls/{room}/transcript",
        headers={"X-Call-Key": call_key},
        timeout=10,
    )


async def wait_disconnected(caller: Caller, within: float) -> float:
    deadline = time.monotonic() + within
    while caller.room.connection_state != rtc.ConnectionState.CONN_DISCONNECTED:
        if time.monotonic() > deadline:
            raise TimeoutError("the call was never ended")
        await asyncio.sleep(0.1)
    return time.monotonic()


async def test_nobody_joins_a_live_call_and_a_used_token_brings_no_agent_back(
    stack: Stack, tmp_path: Path
) -> None:
    owner_grant = stack.token(name="Owner")
    room = owner_grant["room"]
    owner = Caller(identity="owner")
    await owner.join(owner_grant["url"], owner_grant["token"])
    await owner.wait_state("listening", within=120)
    agent_identity = owner.agent_identity
    assert agent_identity and set(owner.room.remote_participants) == {agent_identity}

    # 1. POST /token with someone's room id: no key, or another call's valid key -> no token.
    mallory = stack.token(name="Mallory")
    for body, status in [
        ({"name": "Voicecall Agent", "room": room}, 401),
        ({"name": "Voicecall Agent", "room": room, "call_key": mallory["call_key"]}, 403),
    ]:
        refused = post_token(stack, body)
        assert refused.status_code == status and "token" not in refused.json(), refused.text

    # 2. Even a valid LiveKit token for the room (a second identity) is refused by max_participants.
    intruder = Caller(identity="intruder")
    with pytest.raises(rtc.ConnectError):
        await intruder.join(stack.settings.livekit_url, stack.raw_token(room, "web-intruder", dispatch=False))
    assert not intruder.audio and not intruder.transcriptions and not intruder.metrics
    await asyncio.sleep(1.0)
    assert set(owner.room.remote_participants) == {agent_identity}, "the caller saw nobody else"

    # 3. The owner's key rejoins as the same identity (another tab, a lost connection): it takes the
    # call over from the old connection, the agent answers it, and no second agent comes.
    rejoin = post_token(stack, {"name": "Owner", "room": room, "call_key": owner_grant["call_key"]})
    assert rejoin.status_code == 200, rejoin.text
    assert rejoin.json()["identity"] == owner_grant["identity"]
    again = Caller(identity="owner-again")
    await again.join(rejoin.json()["url"], rejoin.json()["token"])
    await wait_disconnected(owner, within=15)  # replaced: DUPLICATE_IDENTITY
    await owner.leave()
    assert set(again.room.remote_participants) == {agent_identity}, "no second agent"
    await again.wait_idle(within=60)
    said = await again.say(load_48k(speak("What is your name", "en", tmp_path / "name.wav")))
    await again.wait_state("speaking", within=90, after=said)
    assert set(again.room.remote_participants) == {agent_identity}
    await again.leave()  # a hang-up
    ended = stack.wait_session(room, lambda s: s["status"] == "finished", within=60)
    assert ended["end_reason"] == "caller left", ended
    assert owner_grant["identity"] in ended["participants"]
    assert "web-intruder" not in ended["participants"]
    await asyncio.sleep(3.0)  # late webhooks (room_finished) land
    snapshot = stack.session(room)

    # 4. The used token, still valid, after the call ended: the room may come back, the agent may not.
    late = Caller(identity="late")
    await late.join(owner_grant["url"], owner_grant["token"])
    try:
        await asyncio.sleep(20.0)
        assert not late.room.remote_participants, "no agent joined the re-created room"
        assert not late.agent_states and not late.audio and not late.transcriptions
    finally:
        await late.leave()
    await asyncio.sleep(3.0)
    assert stack.session(room) == snapshot, "nothing was added to the finished call"
    finished = post_token(stack, {"name": "Owner", "room": room, "call_key": owner_grant["call_key"]})
    assert finished.status_code == 409 and finished.json()["error"] == "session_finished"

    # The caller reads their own call back with the key; another call's key reads nothing.
    own = read_transcript(stack, room, owner_grant["call_key"])
    assert own.status_code == 200 and own.json()["end_reason"] == "caller left"
    assert [t["text"] for t in own.json()["transcript"]] == [t["text"] for t in snapshot["transcript"]]
    other = read_transcript(stack, room, mallory["call_key"])
    assert other.status_code == 403


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
    session = stack.wait_session(grant["room"], lambda s: s["status"] == "finished", within=60)
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
    session = stack.wait_session(grant["room"], lambda s: s["status"] == "finished", within=60)
    assert session["end_reason"] == "max length", session
    assert any("time limit" in t["text"] for t in session["transcript"] if t["role"] == "agent")
    assert session["duration_s"] >= MAX_CALL_S - 5
