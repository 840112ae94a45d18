"""Agent workers and dispatch, following what livekit-agents' worker expects from livekit-server.

Worker side (livekit/agents/worker.py): connect to `/agent` with an agent-grant token, send
`WorkerMessage.register`, wait for `ServerMessage.register`; then answer `availability` requests
(accepting with the identity/name/attributes it will join as), receive `assignment` (url + token)
within 7.5 s, report `update_job` / `update_worker`, and may receive `termination`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web
from livekit.api import AccessToken, VideoGrants
from livekit.protocol import agent, models

from . import ids
from .participant import Participant
from .room import Room, RoomManager

logger = logging.getLogger("dev_sfu")


@dataclass
class Worker:
    id: str
    ws: web.WebSocketResponse
    agent_name: str
    namespace: str
    permissions: models.ParticipantPermission
    public_url: str
    status: int = agent.WorkerStatus.WS_AVAILABLE
    load: float = 0.0
    availability: dict[str, asyncio.Future[agent.AvailabilityResponse]] = field(default_factory=dict)
    outbox: asyncio.Queue[agent.ServerMessage | None] = field(default_factory=asyncio.Queue)

    def send(self, msg: agent.ServerMessage) -> None:
        self.outbox.put_nowait(msg)


@dataclass
class JobRecord:
    job: agent.Job
    room_name: str
    worker_id: str
    status: int = agent.JobStatus.JS_PENDING
    terminated: bool = False


class _DispatchTerminated(Exception):
    """The worker rejected the job with terminate=True."""


@dataclass
class _PendingDispatch:
    room: Room
    agent_name: str
    metadata: str
    dispatch_id: str = field(default_factory=ids.dispatch_id)


class AgentDispatcher:
    def __init__(
        self, rooms: RoomManager, api_key: str, api_secret: str, availability_timeout: float
    ) -> None:
        self.rooms = rooms
        self.workers: dict[str, Worker] = {}
        self.jobs: dict[str, JobRecord] = {}
        self._api_key = api_key
        self._api_secret = api_secret
        self._availability_timeout = availability_timeout
        self._pending: list[_PendingDispatch] = []
        self._tasks: set[asyncio.Task[None]] = set()
        rooms.on_room_closed.append(self._on_room_closed)
        rooms.on_participant_left.append(self._on_participant_left)

    # ----- dispatch -----------------------------------------------------------------------------

    def dispatch_for_join(self, room: Room, room_config: object | None, new_room: bool) -> None:
        """Explicit dispatch from the token's roomConfig.agents; automatic dispatch for new rooms."""
        agents = list(getattr(room_config, "agents", []) or [])
        for entry in agents:
            if entry.agent_name in room.dispatched_agents:
                continue
            room.dispatched_agents.add(entry.agent_name)
            self._start(_PendingDispatch(room, entry.agent_name, entry.metadata))
        if new_room and not agents and any(w.agent_name == "" for w in self.workers.values()):
            room.dispatched_agents.add("")
            self._start(_PendingDispatch(room, "", ""))

    def dispatch(self, room: Room, agent_name: str, metadata: str) -> str:
        """An explicit dispatch (AgentDispatchService.CreateDispatch); returns its dispatch id."""
        room.dispatched_agents.add(agent_name)
        pending = _PendingDispatch(room, agent_name, metadata)
        self._start(pending)
        return pending.dispatch_id

    def _start(self, pending: _PendingDispatch) -> None:
        task = asyncio.create_task(self._dispatch(pending), name=f"dispatch_{pending.room.name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _dispatch(self, pending: _PendingDispatch) -> None:
        room = pending.room
        job = agent.Job(
            id=ids.job_id(),
            dispatch_id=pending.dispatch_id,
            type=agent.JobType.JT_ROOM,
            room=room.info(),
            metadata=pending.metadata,
            agent_name=pending.agent_name,
            state=agent.JobState(status=agent.JobStatus.JS_PENDING, updated_at=int(time.time())),
        )
        tried: set[str] = set()
        while not room.closed:
            candidates = sorted(
                (
                    w
                    for w in self.workers.values()
                    if w.agent_name == pending.agent_name
                    and w.status == agent.WorkerStatus.WS_AVAILABLE
                    and w.id not in tried
                ),
                key=lambda w: w.load,
            )
            if not candidates:
                break
            worker = candidates[0]
            tried.add(worker.id)
            try:
                if await self._offer(worker, job, room):
                    return
            except _DispatchTerminated:
                # livekit-server: a worker that rejects with terminate ends the job (no other worker is
                # asked, no retry later); the room keeps its dispatch as done.
                return
        if not room.closed:
            logger.info("dispatch room=%s agent=%r waiting for a worker", room.name, pending.agent_name)
            self._pending.append(pending)

    async def _offer(self, worker: Worker, job: agent.Job, room: Room) -> bool:
        fut: asyncio.Future[agent.AvailabilityResponse] = asyncio.get_running_loop().create_future()
        worker.availability[job.id] = fut
        worker.send(agent.ServerMessage(availability=agent.AvailabilityRequest(job=job)))
        try:
            resp = await asyncio.wait_for(fut, self._availability_timeout)
        except (TimeoutError, asyncio.CancelledError, ConnectionError):
            logger.warning("dispatch room=%s job=%s: worker %s did not answer", room.name, job.id, worker.id)
            return False
        finally:
            worker.availability.pop(job.id, None)
        if not resp.available:
            if resp.terminate:
                logger.info(
                    "dispatch room=%s job=%s: worker %s rejected it (terminate)", room.name, job.id, worker.id
                )
                raise _DispatchTerminated
            logger.info("dispatch room=%s job=%s: worker %s declined", room.name, job.id, worker.id)
            return False
        if room.closed or worker.id not in self.workers:
            return False
        identity = resp.participant_identity or f"agent-{job.id}"
        token = self._job_token(worker, room.name, identity, resp)
        job.state.participant_identity = identity
        job.state.worker_id = worker.id
        job.state.status = agent.JobStatus.JS_RUNNING
        job.state.started_at = int(time.time())
        self.jobs[job.id] = JobRecord(job=job, room_name=room.name, worker_id=worker.id)
        worker.send(
            agent.ServerMessage(assignment=agent.JobAssignment(job=job, url=worker.public_url, token=token))
        )
        logger.info(
            "dispatch room=%s agent=%r job=%s worker=%s identity=%s",
            room.name,
            job.agent_name,
            job.id,
            worker.id,
            identity,
        )
        return True

    def _job_token(self, worker: Worker, room: str, identity: str, resp: agent.AvailabilityResponse) -> str:
        perms = worker.permissions
        token = (
            AccessToken(self._api_key, self._api_secret)
            .with_identity(identity)
            .with_kind("agent")
            .with_ttl(datetime.timedelta(hours=6))
            .with_grants(
                VideoGrants(
                    room_join=True,
                    room=room,
                    can_publish=perms.can_publish,
                    can_subscribe=perms.can_subscribe,
                    can_publish_data=perms.can_publish_data,
                    can_update_own_metadata=perms.can_update_metadata,
                    hidden=perms.hidden,
                    agent=True,
                )
            )
        )
        if resp.participant_name:
            token = token.with_name(resp.participant_name)
        if resp.participant_metadata:
            token = token.with_metadata(resp.participant_metadata)
        if resp.participant_attributes:
            token = token.with_attributes(dict(resp.participant_attributes))
        return token.to_jwt()

    def _retry_pending(self) -> None:
        pending, self._pending = self._pending, []
        for item in pending:
            if not item.room.closed:
                self._start(item)

    def _on_room_closed(self, room: Room) -> None:
        self._pending = [p for p in self._pending if p.room is not room]
        for job_id, record in self.jobs.items():
            if record.room_name != room.name or record.terminated:
                continue
            record.terminated = True
            worker = self.workers.get(record.worker_id)
            if worker is not None:
                # The record stays until the worker reports the job ended (update_job).
                worker.send(agent.ServerMessage(termination=agent.JobTermination(job_id=job_id)))
        for job_id, record in list(self.jobs.items()):
            if record.terminated and record.worker_id not in self.workers:
                del self.jobs[job_id]

    def _on_participant_left(self, room: Room, p: Participant) -> None:
        """An agent whose worker is gone will not report its job's end: its leaving is the end."""
        if not p.is_agent:
            return
        for job_id, record in list(self.jobs.items()):
            if (
                record.room_name == room.name
                and record.job.state.participant_identity == p.identity
                and record.worker_id not in self.workers
            ):
                del self.jobs[job_id]
                self._forget_dispatch(record)

    # ----- worker connection --------------------------------------------------------------------

    async def serve_worker(self, ws: web.WebSocketResponse, public_url: str) -> None:
        """Run one worker connection; `public_url` is the URL the worker reached us on."""
        first = await ws.receive()
        if first.type != WSMsgType.BINARY:
            return
        msg = agent.WorkerMessage()
        msg.ParseFromString(first.data)
        if not msg.HasField("register"):
            await ws.close(message=b"expected register")
            return
        reg = msg.register
        worker = Worker(
            id=ids.worker_id(),
            ws=ws,
            agent_name=reg.agent_name,
            namespace=reg.namespace,
            permissions=reg.allowed_permissions,
            public_url=public_url,
        )
        await ws.send_bytes(
            agent.ServerMessage(
                register=agent.RegisterWorkerResponse(worker_id=worker.id, server_info=self.rooms.server_info)
            ).SerializeToString()
        )
        self.workers[worker.id] = worker
        logger.info("worker   %s registered agent=%r version=%s", worker.id, worker.agent_name, reg.version)
        writer = asyncio.create_task(self._write(worker), name=f"worker_out_{worker.id}")
        self._retry_pending()
        try:
            async for raw in ws:
                if raw.type != WSMsgType.BINARY:
                    continue
                wmsg = agent.WorkerMessage()
                try:
                    wmsg.ParseFromString(raw.data)
                except Exception:
                    continue
                self._handle(worker, wmsg)
        finally:
            self.workers.pop(worker.id, None)
            worker.outbox.put_nowait(None)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            for fut in worker.availability.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("worker disconnected"))
            for job_id, record in list(self.jobs.items()):
                if record.worker_id != worker.id:
                    continue
                room = self.rooms.get(record.room_name)
                agent_present = (
                    room is not None and record.job.state.participant_identity in room.participants
                )
                if record.terminated or not agent_present:
                    del self.jobs[job_id]
                    self._forget_dispatch(record)
                else:
                    # Its job processes die with the worker: a later join may dispatch again.
                    self._forget_dispatch(record)
            logger.info("worker   %s disconnected agent=%r", worker.id, worker.agent_name)

    async def _write(self, worker: Worker) -> None:
        while True:
            msg = await worker.outbox.get()
            if msg is None:
                return
            try:
                await worker.ws.send_bytes(msg.SerializeToString())
            except (ConnectionError, RuntimeError):
                return

    def _handle(self, worker: Worker, msg: agent.WorkerMessage) -> None:
        which = msg.WhichOneof("message")
        if which == "availability":
            fut = worker.availability.get(msg.availability.job_id)
            if fut is not None and not fut.done():
                fut.set_result(msg.availability)
        elif which == "update_worker":
            worker.status = msg.update_worker.status
            worker.load = msg.update_worker.load
            # Every report of an available worker retries what waits, not only a change to available: a
            # worker that declined a job while it still reported itself available (its load crossed the
            # threshold between two reports) sends no change, and the call would wait forever.
            if worker.status == agent.WorkerStatus.WS_AVAILABLE and self._pending:
                self._retry_pending()
        elif which == "update_job":
            record = self.jobs.get(msg.update_job.job_id)
            if record is not None:
                record.status = msg.update_job.status
                record.job.state.status = msg.update_job.status
                logger.info(
                    "job      %s room=%s status=%s%s",
                    record.job.id,
                    record.room_name,
                    agent.JobStatus.Name(msg.update_job.status),
                    f" error={msg.update_job.error}" if msg.update_job.error else "",
                )
                if msg.update_job.status in (agent.JobStatus.JS_SUCCESS, agent.JobStatus.JS_FAILED):
                    self.jobs.pop(record.job.id, None)
                    self._forget_dispatch(record)
        elif which == "ping":
            worker.send(
                agent.ServerMessage(
                    pong=agent.WorkerPong(
                        last_timestamp=msg.ping.timestamp, timestamp=int(time.time() * 1000)
                    )
                )
            )
        elif which == "migrate_job":
            # A worker that reconnects reports the jobs it still runs; they keep running.
            for job_id in msg.migrate_job.job_ids:
                record = self.jobs.get(job_id)
                if record is not None:
                    record.worker_id = worker.id

    def _forget_dispatch(self, record: JobRecord) -> None:
        room = self.rooms.get(record.room_name)
        if room is not None and not room.closed:
            room.dispatched_agents.discard(record.job.agent_name)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for worker in list(self.workers.values()):
            with contextlib.suppress(Exception):
                await worker.ws.close()
