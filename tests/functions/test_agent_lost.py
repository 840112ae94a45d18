"""An agent that dies mid-call (issue 10 #9, the functions' half): LiveKit's participant_left webhook for
the call's agent re-dispatches one new agent while the caller remains, and a second loss ends the call
with a reason. Against a real dev SFU (RoomService, AgentDispatchService) and a real caller (LiveKit's
Python SDK); the whole drill with a killed worker is in tests/e2e."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import pytest
from livekit import rtc

from functions.settings import get_settings
from infra.dev_sfu import dev_sfu_process
from tests.functions.helpers import post_webhook, signed, webhook_auth
from tests.functions.lambda_events import Reply, invoke
from tests.support.operator import Operator


class Loop:
    """An asyncio loop in a thread, for the SDK's caller beside the synchronous Lambda handlers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 20) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def sfu_url() -> Iterator[str]:
    with dev_sfu_process() as (url, _proc):
        yield url


@pytest.fixture
def loop() -> Iterator[Loop]:
    running = Loop()
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _livekit_is_the_dev_sfu(sfu_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEKIT_URL", sfu_url)
    get_settings.cache_clear()


def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def claim(room: str, job: str) -> Reply:
    body = json.dumps({"job_id": job, "agent_identity": f"agent-{job}"}).encode()
    path = f"/sessions/{room}/claim"
    return invoke("POST", path, body=body, headers=signed(path, body))


def agent_event(kind: str, room: str, job: str, reason: str = "") -> None:
    body = json.dumps(
        {
            "event": kind,
            "id": f"EV_{uuid.uuid4().hex[:12]}",
            "createdAt": str(int(datetime.now(UTC).timestamp())),
            "room": {"name": room, "sid": "RM_test"},
            "participant": {
                "identity": f"agent-{job}",
                "sid": "PA_agent",
                "kind": "AGENT",
                **({"disconnectReason": reason} if reason else {}),
            },
        }
    )
    reply = post_webhook(body, webhook_auth(body))
    assert reply.status == 200, reply.text


def agent_left(room: str, job: str, reason: str) -> None:
    agent_event("participant_left", room, job, reason)


def caller_joins(loop: Loop, sfu_url: str) -> tuple[str, rtc.Room, list[str]]:
    issued = invoke("POST", "/token", body=json.dumps({"name": "Caller"}))
    assert issued.status == 200, issued.text
    call = issued.json()
    states: list[str] = []

    async def join() -> rtc.Room:
        room = rtc.Room()
        room.on(
            "room_metadata_changed", lambda _old, new: states.append(json.loads(new)["voicecall"]["agent"])
        )
        await room.connect(sfu_url, call["token"])
        return room

    return str(call["room"]), loop.run(join()), states


def session(room: str, operator: Operator) -> dict:
    return invoke("GET", f"/sessions/{room}", headers=operator.headers()).json()


def test_a_lost_agent_is_replaced_once_then_the_call_ends_with_a_reason(
    loop: Loop, sfu_url: str, operator: Operator
) -> None:
    room, caller, states = caller_joins(loop, sfu_url)
    try:
        assert claim(room, "AJ_first").status == 200
        agent_left(room, "AJ_first", "SIGNAL_CLOSE")  # its connection dropped: a crash, not a hang-up
        eventually(lambda: states == ["reconnecting"], 10, "the page told the agent is reconnecting")
        # Exactly one new job may take the call over; nobody else.
        taken = claim(room, "AJ_second")
        assert taken.status == 200 and taken.json()["takeover"] is True, taken.text
        assert claim(room, "AJ_third").status == 409
        assert session(room, operator)["status"] != "finished"
        agent_event("participant_joined", room, "AJ_second")  # the page stops saying "reconnecting"
        eventually(lambda: states == ["reconnecting", "present"], 10, "the reconnecting state cleared")

        agent_left(room, "AJ_second", "SIGNAL_CLOSE")  # lost again: the call ends
        eventually(lambda: "left" in states, 10, "the page told the agent left")
        eventually(
            lambda: caller.connection_state == rtc.ConnectionState.CONN_DISCONNECTED, 10, "room deleted"
        )
        ended = session(room, operator)
        assert ended["end_reason"] == "agent lost" and ended["status"] == "finished"
    finally:
        loop.run(caller.disconnect())


def test_an_agent_that_hangs_up_is_not_replaced(loop: Loop, sfu_url: str, operator: Operator) -> None:
    room, caller, states = caller_joins(loop, sfu_url)
    try:
        assert claim(room, "AJ_one").status == 200
        agent_left(room, "AJ_one", "CLIENT_INITIATED")
        time.sleep(0.5)
        assert states == []
        assert claim(room, "AJ_two").status == 409
        assert caller.connection_state == rtc.ConnectionState.CONN_CONNECTED
    finally:
        loop.run(caller.disconnect())


def test_no_replacement_when_the_caller_is_gone(operator: Operator) -> None:
    issued = invoke("POST", "/token", body=json.dumps({"name": "Gone"})).json()
    room = str(issued["room"])
    assert claim(room, "AJ_alone").status == 200
    agent_left(room, "AJ_alone", "SIGNAL_CLOSE")
    assert claim(room, "AJ_late").status == 409
