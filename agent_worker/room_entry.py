"""The LiveKit job: one ``AgentSession`` per dispatched room, reporting to the functions API.

A call belongs to its caller (docs/security.md): before accepting a dispatched job the worker claims the
call from the functions API, which refuses a call that /token never started, one that has ended and one
another job already runs; the agent then listens to the caller's identity only. A call ends when the
caller leaves, after a silence (CALLER_IDLE_TIMEOUT) or at its maximum length (MAX_CALL_DURATION) with a
short goodbye, or on an agent error; the reason is the session log's ``session_ended.reason``.

An agent that replaces one lost mid-call (the claim answers ``takeover: true``: the functions' LiveKit
webhook re-dispatched the call) does not greet the caller as if the call were new: it apologises for the
interruption in the call's language and listens.

The worker process re-sends the telemetry spool every TELEMETRY_SPOOL_FLUSH_INTERVAL seconds and its HTTP
server (WORKER_HTTP_PORT) answers, besides livekit-agents' ``/`` and ``/worker``, ``/telemetry`` (JSON)
and ``/metrics`` (Prometheus text): dead letters and spooled events, counted on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from aiohttp import web
from livekit import rtc
from livekit.agents import AgentServer, AgentSession, JobContext, JobExecutorType, JobProcess, JobRequest
from livekit.agents.utils import http_server
from livekit.agents.voice.events import CloseEvent, CloseReason, UserStateChangedEvent
from livekit.agents.voice.room_io import RoomOptions

from agent_worker.assistants import call_assistant
from agent_worker.call_recording import record_option
from agent_worker.call_recording import upload as upload_recording
from agent_worker.call_summary import summarise
from agent_worker.providers import build_llm, build_vad
from agent_worker.session import new_call
from agent_worker.settings import Language, WorkerSettings, get_settings, reload_session_log_secret
from agent_worker.telemetry import (
    SessionLog,
    SessionLogSender,
    Spool,
    SpoolFlusher,
    new_event_id,
    now_utc,
    telemetry_status,
)
from agent_worker.turns import TurnTracker
from functions.models.dispatch import AgentDispatchMetadata
from functions.models.session_log import (
    CallSummarized,
    SessionEnded,
    SessionEvent,
    SessionStarted,
    TurnMetrics,
)
from functions.models.signing import signed_headers

logger = logging.getLogger("voicecall.agent")

METRICS_TOPIC = "voicecall.metrics"
# The agent participant's attribute that tells the job (another process) it replaces a lost agent.
TAKEOVER_ATTRIBUTE = "voicecall.takeover"

EndReason = Literal["caller left", "caller idle", "max length", "agent error", "room closed"]

GOODBYES: dict[str, dict[Language, str]] = {
    "caller idle": {
        "en": "It seems you have stepped away, so I will end the call now. Goodbye!",
        "zh": "您好像暂时离开了，我先结束通话。再见！",
    },
    "max length": {
        "en": "We have reached the time limit for this call. Thank you for calling, goodbye!",
        "zh": "本次通话已到时长上限。感谢您的来电，再见！",
    },
}


# What the replacing agent says instead of the greeting.
RESUMED: dict[Language, str] = {
    "en": "Sorry, we were cut off. I'm back now. Where were we?",
    "zh": "抱歉，刚才通话中断了，我回来了。我们说到哪儿了？",
}


def session_log_sender(settings: WorkerSettings) -> SessionLogSender | None:
    if not settings.functions_api_url:
        return None
    return SessionLogSender(
        settings.functions_api_url, settings.session_log_key(), reload_secret=reload_session_log_secret
    )


def session_log_for(settings: WorkerSettings, session_id: str) -> SessionLog:
    sender = session_log_sender(settings)
    return SessionLog(
        session_id,
        sender,
        Spool(settings.telemetry_spool_dir),
        batch_size=settings.telemetry_batch_size,
        flush_interval_s=settings.telemetry_flush_interval,
    )


def prewarm(proc: JobProcess) -> None:
    """Runs once per job process before any call (the models themselves live in the model server)."""
    build_vad(get_settings())


# ---------- the job request: one agent per call, none for a call that has ended ----------


class ClaimRefused(Exception):
    """The functions API refused the call to this job: unknown, finished or another job's."""


class ClaimUnavailable(Exception):
    """The functions API did not answer in time: the call's ownership cannot be checked."""


@dataclass(frozen=True)
class Claim:
    takeover: bool = False


async def claim_call(settings: WorkerSettings, room: str, job_id: str, agent_identity: str) -> Claim:
    """POST /sessions/{room}/claim, signed like the session log. Raises ClaimRefused for a definite no,
    ClaimUnavailable when the API does not answer within CALL_CLAIM_TIMEOUT. A 401/403 is asked again
    once with the secret read again (a rotation under way)."""
    assert settings.functions_api_url
    path = f"/sessions/{room}/claim"
    url = settings.functions_api_url.rstrip("/") + path
    body = json.dumps({"job_id": job_id, "agent_identity": agent_identity}).encode()
    secret = settings.session_log_key()
    reloaded = False
    deadline = time.monotonic() + settings.call_claim_timeout
    last = "no answer"
    async with httpx.AsyncClient(timeout=settings.call_claim_timeout) as client:
        while time.monotonic() < deadline:
            signature = signed_headers(secret, body, method="POST", path=path)
            headers = {"content-type": "application/json", **signature}
            try:
                resp = await client.post(
                    url, content=body, headers=headers, timeout=max(0.1, deadline - time.monotonic())
                )
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}"
                await asyncio.sleep(0.2)
                continue
            if resp.status_code == 200:
                return Claim(takeover=_takeover(resp))
            if resp.status_code in (401, 403) and not reloaded:
                reloaded = True
                with contextlib.suppress(Exception):
                    secret = reload_session_log_secret()
                continue
            if resp.status_code < 500 and resp.status_code != 429:
                raise ClaimRefused(f"HTTP {resp.status_code} {_error_code(resp)}")
            last = f"HTTP {resp.status_code}"
            await asyncio.sleep(0.2)
    raise ClaimUnavailable(f"functions API unavailable ({last})")


def _takeover(resp: httpx.Response) -> bool:
    try:
        body = resp.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("takeover") is True


def _error_code(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""


async def on_request(req: JobRequest) -> None:
    settings = get_settings()
    identity = f"agent-{req.id}"
    claim = Claim()
    if settings.functions_api_url:
        try:
            claim = await claim_call(settings, req.room.name, req.id, identity)
        except ClaimRefused as exc:
            logger.warning("job refused room=%s job=%s: %s", req.room.name, req.id, exc)
            # terminate: the dispatch ends here, no other worker is asked (livekit-server semantics).
            await req.reject(terminate=True)
            return
        except ClaimUnavailable as exc:
            # Fail closed, but not for good: another worker (or a later offer) may reach the API.
            logger.warning("job declined room=%s job=%s: %s", req.room.name, req.id, exc)
            await req.reject(terminate=False)
            return
    if claim.takeover:
        logger.warning("taking over room=%s job=%s: the call's agent was lost", req.room.name, req.id)
        await req.accept(identity=identity, attributes={TAKEOVER_ATTRIBUTE: "true"})
        return
    await req.accept(identity=identity)


# ---------- the call ----------


@dataclass
class CallEnd:
    """How the call ends: the first reason wins."""

    reason: EndReason | None = None
    caller_gone: bool = False

    def final(self) -> EndReason:
        if self.reason is not None:
            return self.reason
        return "caller left" if self.caller_gone else "room closed"


async def entrypoint(ctx: JobContext) -> None:
    settings = get_settings()
    meta = AgentDispatchMetadata.parse_lenient(ctx.job.metadata, settings.default_language)
    session_id = ctx.room.name
    started = time.monotonic()
    log = session_log_for(settings, session_id)
    log.start()
    end = CallEnd()
    tasks: set[asyncio.Task[None]] = set()

    def spawn(coro: Coroutine[Any, Any, Any]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def publish_metrics(event: SessionEvent) -> None:
        # The caller's app shows each turn's latency; a lost packet costs only that display.
        if isinstance(event, TurnMetrics) and ctx.room.isconnected():
            payload = event.model_dump_json().encode()
            spawn(ctx.room.local_participant.publish_data(payload, reliable=True, topic=METRICS_TOPIC))

    tracker = TurnTracker(language=meta.language, sinks=[log.record, publish_metrics])
    # The job's token carries the attributes on_request accepted with (another process).
    takeover = _job_attributes(ctx).get(TAKEOVER_ATTRIBUTE) == "true"
    assistant = await call_assistant(settings, meta)
    call_settings = assistant.settings  # the worker's, with the assistant's choices for this call
    session, agent = new_call(
        call_settings,
        meta.language,
        assistant.persona,
        greet=True,
        conversation=session_id,
        opening=RESUMED[meta.language] if takeover else None,
    )
    # livekit-agents' own idle detection: the caller is "away" after this long with both sides listening.
    session.options.user_away_timeout = call_settings.caller_idle_timeout
    tracker.attach(session)

    async def finish(reason: EndReason, goodbye: bool) -> None:
        """Say goodbye (when the caller may still hear it), then end the call for everyone."""
        if end.reason is not None:
            return
        end.reason = reason
        logger.info("ending call room=%s reason=%s", session_id, reason)
        text = GOODBYES.get(reason, {}).get(meta.language) if goodbye else None
        if text:
            with contextlib.suppress(Exception):
                handle = agent.say_phrase(text, allow_interruptions=False)
                await asyncio.wait_for(handle.wait_for_playout(), settings.goodbye_timeout)
        # Deleting the room disconnects the caller too: the call is over, not just the agent's part.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ctx.delete_room(), 5.0)
        ctx.shutdown(reason=reason)

    def on_user_state(ev: UserStateChangedEvent) -> None:
        if ev.new_state == "away":
            spawn(finish("caller idle", goodbye=True))

    def on_close(ev: CloseEvent) -> None:
        if ev.reason == CloseReason.ERROR or ev.error is not None:
            spawn(finish("agent error", goodbye=False))
        elif ev.reason == CloseReason.PARTICIPANT_DISCONNECTED:
            end.caller_gone = True
            spawn(finish("caller left", goodbye=False))

    def on_participant_disconnected(p: rtc.RemoteParticipant) -> None:
        if meta.caller is None or p.identity == meta.caller:
            end.caller_gone = True

    def on_participant_connected(p: rtc.RemoteParticipant) -> None:
        if meta.caller is None or p.identity == meta.caller:
            end.caller_gone = False

    session.on("user_state_changed", on_user_state)
    session.on("close", on_close)
    ctx.room.on("participant_disconnected", on_participant_disconnected)
    ctx.room.on("participant_connected", on_participant_connected)

    max_length_timer: asyncio.TimerHandle | None = None

    async def on_shutdown() -> None:
        if max_length_timer is not None:
            max_length_timer.cancel()
        log.record(
            SessionEnded(
                event_id=new_event_id(),
                ts=now_utc(),
                reason=end.final(),
                duration_s=round(time.monotonic() - started, 3),
            )
        )
        await log.aclose()

    ctx.add_shutdown_callback(on_shutdown)
    # For on_session_end, which livekit-agents runs before the shutdown callbacks.
    ctx.proc.userdata[_call_key(ctx)] = CallRecord(
        call_settings, meta.language, tracker, log, session, recorded=assistant.recording
    )
    await ctx.connect()
    log.record(
        SessionStarted(
            event_id=new_event_id(),
            ts=now_utc(),
            room=ctx.room.name,
            language=meta.language,
            providers=settings.providers(),
            participant=meta.caller,
            assistant_ran=assistant.ran,
        )
    )
    logger.info(
        "call %s room=%s language=%s caller=%s assistant=%s providers=%s",
        "taken over" if takeover else "started",
        session_id,
        meta.language,
        meta.caller,
        assistant.ran,
        settings.providers(),
    )
    if call_settings.max_call_duration is not None:
        max_length_timer = asyncio.get_running_loop().call_later(
            call_settings.max_call_duration, lambda: spawn(finish("max length", goodbye=True))
        )
    # Only the caller /token named is heard and answered (no one else can be in the room anyway).
    options = RoomOptions(participant_identity=meta.caller) if meta.caller else RoomOptions()
    await session.start(
        agent=agent, room=ctx.room, room_options=options, record=record_option(assistant.recording)
    )


@dataclass(frozen=True)
class CallRecord:
    """What the post-call work needs of a call."""

    settings: WorkerSettings
    language: Language
    tracker: TurnTracker
    log: SessionLog
    session: AgentSession
    recorded: bool = False


def _call_key(ctx: JobContext) -> str:
    return f"voicecall.call:{ctx.job.id}"  # the thread executor runs several jobs in one process


async def on_session_end(ctx: JobContext) -> None:
    """After the call (the session is closed, its recording written): the recording to S3, the summary
    and tags into the session log (before SessionEnded is sent)."""
    call: CallRecord | None = ctx.proc.userdata.pop(_call_key(ctx), None)
    if call is None:
        return
    if call.recorded:
        report = ctx.make_session_report(call.session)
        stored = await upload_recording(
            call.settings, ctx.room.name, report.audio_recording_path, report.audio_recording_started_at
        )
        if stored is not None:
            call.log.record(stored)
    if not call.settings.call_summary or not call.settings.functions_api_url:
        return  # no summary wanted, or nowhere to keep it
    # Its own LLM client: a summary is longer than a reply, and wants no creativity.
    summary_settings = call.settings.model_copy(update={"max_reply_tokens": 300, "llm_temperature": 0.2})
    started = time.monotonic()
    summary = await summarise(
        build_llm(summary_settings, ctx.room.name),
        call.tracker.transcript,
        call.language,
        call.settings.call_summary_timeout,
    )
    if summary is None:
        return
    call.log.record(CallSummarized(event_id=new_event_id(), ts=now_utc(), **summary.model_dump()))
    logger.info(
        "call summary room=%s in %.1fs: topic=%s outcome=%s sentiment=%s",
        ctx.room.name,
        time.monotonic() - started,
        summary.topic,
        summary.outcome,
        summary.sentiment,
    )


def _job_attributes(ctx: JobContext) -> dict[str, str]:
    """The attributes in the job's access token (what the worker accepted the job with)."""
    try:
        return dict(ctx.token_claims().attributes or {})
    except Exception:  # a token without attributes, or one livekit-api cannot read: no takeover
        return {}


class VoicecallServer(AgentServer):
    """livekit-agents' AgentServer whose HTTP server (WORKER_HTTP_PORT) also answers ``/telemetry`` and
    ``/metrics``, and which re-sends the telemetry spool while it runs.

    AgentServer creates its HTTP server inside ``run`` and starts it a little later; its routes can only
    be added in between, so the assignment of that attribute is where they are added."""

    def __init__(self, settings: WorkerSettings, **kwargs: Any) -> None:
        self._voicecall_http: http_server.HttpServer | None = None
        self._spool = Spool(settings.telemetry_spool_dir)
        self._flusher: SpoolFlusher | None = None
        super().__init__(**kwargs)
        sender = session_log_sender(settings)
        if sender is not None:
            self._flusher = SpoolFlusher(sender, self._spool, settings.telemetry_spool_flush_interval)
            self.on("worker_started", self._flusher.start)

    @property
    def _http_server(self) -> http_server.HttpServer | None:
        return self._voicecall_http

    @_http_server.setter
    def _http_server(self, value: http_server.HttpServer | None) -> None:
        if value is not None and value is not self._voicecall_http:
            value.app.add_routes([web.get("/telemetry", self._telemetry), web.get("/metrics", self._metrics)])
        self._voicecall_http = value

    async def _telemetry(self, _: web.Request) -> web.Response:
        return web.json_response(await asyncio.to_thread(telemetry_status, self._spool))

    async def _metrics(self, _: web.Request) -> web.Response:
        status = await asyncio.to_thread(telemetry_status, self._spool)
        lines = []
        for name, help_text, kind in _METRICS:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            lines.append(f"{name} {status[_METRIC_KEYS[name]]}")
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    async def aclose(self) -> None:
        await super().aclose()
        if self._flusher is not None:
            await self._flusher.aclose()


_METRICS = (
    ("voicecall_telemetry_dead_letters", "session-log events the API refused as invalid", "gauge"),
    ("voicecall_telemetry_spooled_events", "session-log events waiting in the spool", "gauge"),
    ("voicecall_telemetry_flush_delivered_total", "spooled events delivered by this process", "counter"),
    ("voicecall_telemetry_auth_refused_total", "batches refused 401/403 after a secret reload", "counter"),
)
_METRIC_KEYS = {
    "voicecall_telemetry_dead_letters": "dead_letters",
    "voicecall_telemetry_spooled_events": "spooled_events",
    "voicecall_telemetry_flush_delivered_total": "delivered_by_flush",
    "voicecall_telemetry_auth_refused_total": "auth_refused",
}


def build_server(settings: WorkerSettings) -> AgentServer:
    server = VoicecallServer(
        settings,
        ws_url=settings.livekit_url,
        api_key=settings.livekit_api_key,
        api_secret=settings.livekit_api_secret.get_secret_value(),
        setup_fnc=prewarm,
        initialize_process_timeout=float(settings.process_init_timeout),
        num_idle_processes=settings.idle_processes,
        job_executor_type=JobExecutorType(settings.job_executor),
        load_threshold=settings.load_threshold,
        host=settings.worker_http_host,
        port=settings.worker_http_port,
        session_end_timeout=settings.recording_upload_timeout + settings.call_summary_timeout + 5.0,
    )
    server.rtc_session(
        entrypoint, agent_name=settings.agent_name, on_request=on_request, on_session_end=on_session_end
    )
    return server
