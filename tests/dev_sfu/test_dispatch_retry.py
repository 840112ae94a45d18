"""A job a worker declines while it still reports itself available is offered again at its next load
report (livekit-agents reports load every few seconds; it declines when its load crossed the threshold
between two reports). The dispatcher's protocol with a stand-in worker end: its outbox and its answers."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from livekit.protocol import agent, models

from infra.dev_sfu.agents import AgentDispatcher, Worker
from infra.dev_sfu.room import RoomManager
from infra.dev_sfu.webhooks import WebhookSender


async def _next_offer(worker: Worker) -> agent.AvailabilityRequest:
    while True:
        msg = await asyncio.wait_for(worker.outbox.get(), 5)
        assert msg is not None
        if msg.WhichOneof("message") == "availability":
            return msg.availability


def _answer(dispatcher: AgentDispatcher, worker: Worker, job_id: str, available: bool) -> None:
    reply = agent.AvailabilityResponse(job_id=job_id, available=available, participant_identity="agent-x")
    dispatcher._handle(worker, agent.WorkerMessage(availability=reply))


def _report(dispatcher: AgentDispatcher, worker: Worker, load: float) -> None:
    status = agent.WorkerStatus.WS_AVAILABLE
    dispatcher._handle(
        worker, agent.WorkerMessage(update_worker=agent.UpdateWorkerStatus(status=status, load=load))
    )


async def test_a_declined_job_is_offered_again_at_the_next_report_of_an_available_worker() -> None:
    rooms = RoomManager(WebhookSender("", "key", "secret"), models.ServerInfo(), departure_timeout=20)
    dispatcher = AgentDispatcher(rooms, "key", "secret-secret-secret-secret-1234", availability_timeout=5)
    worker = Worker(
        id="AW_test",
        ws=cast(Any, None),
        agent_name="voicecall-agent",
        namespace="",
        permissions=models.ParticipantPermission(can_publish=True, can_subscribe=True),
        public_url="ws://127.0.0.1:1",
    )
    dispatcher.workers[worker.id] = worker
    room = rooms.get_or_create("call-retry")
    dispatcher.dispatch(room, "voicecall-agent", "{}")

    first = await _next_offer(worker)
    _answer(dispatcher, worker, first.job.id, available=False)  # busy, though it said available
    await asyncio.sleep(0.05)
    assert not dispatcher.jobs  # nothing assigned: the call waits

    _report(dispatcher, worker, load=0.4)  # still "available": no change of status
    second = await _next_offer(worker)
    assert second.job.room.name == "call-retry"
    _answer(dispatcher, worker, second.job.id, available=True)
    await asyncio.sleep(0.05)
    assert [r.room_name for r in dispatcher.jobs.values()] == ["call-retry"]

    _report(dispatcher, worker, load=0.4)  # nothing waits any more: nothing is offered
    await asyncio.sleep(0.05)
    queued = [worker.outbox.get_nowait() for _ in range(worker.outbox.qsize())]
    assert all(m is not None and m.WhichOneof("message") != "availability" for m in queued)
    await dispatcher.close()
