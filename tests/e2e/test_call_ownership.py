"""A caller owns their call, through the whole local stack (issue 10 #2 and #3): real HTTP to the functions,
the Python rtc SDK through the dev SFU, the real agent worker.

- nobody else gets into a live call: not through POST /token with its room id (with or without another
  call's key), not with a valid LiveKit token for the room (max_participants);
- the owner's call key rejoins as the same identity, and no second agent is dispatched;
- a used token after the call ended re-creates at most an empty room: the worker refuses the job (the
  call's claim is finished), no agent joins, the finished session does not change;
- a hang-up ends the call as "caller left" (the idle and length limits: test_call_limits.py).

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
from tests.support.audio import speak
from tests.support.caller import Caller, load_48k
from tests.support.model_server import ModelServer
from tests.support.operator import stack_operator

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ENV = {
    "TOKEN_TTL_S": "600",
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
    (agent,) = owner.room.remote_participants.values()
    assert agent.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
    agent_identity = agent.identity

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
    question = load_48k(speak("What is your name", "en", tmp_path / "name.wav"))
    again = Caller(identity="owner-again")
    await again.join(rejoin.json()["url"], rejoin.json()["token"])
    await wait_disconnected(owner, within=15)  # replaced: DUPLICATE_IDENTITY
    await owner.leave()
    assert set(again.room.remote_participants) == {agent_identity}, "no second agent"
    said = await again.say(question)  # the agent is listening: it answers the new connection
    await again.wait_state("speaking", within=120, after=said)
    assert set(again.room.remote_participants) == {agent_identity}
    await again.leave()  # a hang-up
    ended = stack.wait_session(room, lambda s: s["status"] == "finished" and s["end_reason"], within=60)
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
