"""The LiveKit job: one ``AgentSession`` per dispatched room, reporting to the functions API."""

from __future__ import annotations

import asyncio
import logging
import time

from livekit.agents import AgentServer, JobContext, JobExecutorType, JobProcess

from agent_worker.providers import build_vad
from agent_worker.providers.offline import prewarm_local
from agent_worker.session import new_call
from agent_worker.settings import WorkerSettings, get_settings
from agent_worker.telemetry import SessionLog, SessionLogSender, Spool, new_event_id, now_utc
from agent_worker.turns import TurnTracker
from functions.models.dispatch import AgentDispatchMetadata
from functions.models.session_log import SessionEnded, SessionEvent, SessionStarted, TurnMetrics

logger = logging.getLogger("voicecall.agent")

METRICS_TOPIC = "voicecall.metrics"


def session_log_for(settings: WorkerSettings, session_id: str) -> SessionLog:
    sender = (
        SessionLogSender(settings.functions_api_url, settings.session_log_secret.get_secret_value())
        if settings.functions_api_url
        else None
    )
    return SessionLog(
        session_id,
        sender,
        Spool(settings.telemetry_spool_dir),
        batch_size=settings.telemetry_batch_size,
        flush_interval_s=settings.telemetry_flush_interval,
    )


def prewarm(proc: JobProcess) -> None:
    """Runs once per job process before any call: models are loaded here, not while a caller waits."""
    settings = get_settings()
    build_vad(settings)
    prewarm_local(settings)


async def entrypoint(ctx: JobContext) -> None:
    settings = get_settings()
    meta = AgentDispatchMetadata.parse_lenient(ctx.job.metadata, settings.default_language)
    session_id = ctx.room.name
    started = time.monotonic()
    log = session_log_for(settings, session_id)
    log.start()

    def publish_metrics(event: SessionEvent) -> None:
        # The caller's app shows each turn's latency; a lost packet costs only that display.
        if isinstance(event, TurnMetrics) and ctx.room.isconnected():
            payload = event.model_dump_json().encode()
            asyncio.get_running_loop().create_task(
                ctx.room.local_participant.publish_data(payload, reliable=True, topic=METRICS_TOPIC)
            )

    tracker = TurnTracker(language=meta.language, sinks=[log.record, publish_metrics])
    session, agent = new_call(settings, meta.language, meta.persona, greet=True)
    tracker.attach(session)

    async def on_shutdown() -> None:
        log.record(
            SessionEnded(
                event_id=new_event_id(),
                ts=now_utc(),
                reason="room closed",
                duration_s=round(time.monotonic() - started, 3),
            )
        )
        await log.aclose()

    ctx.add_shutdown_callback(on_shutdown)
    await ctx.connect()
    log.record(
        SessionStarted(
            event_id=new_event_id(),
            ts=now_utc(),
            room=ctx.room.name,
            language=meta.language,
            providers=settings.providers(),
            participant=None,
        )
    )
    logger.info(
        "call started room=%s language=%s providers=%s", session_id, meta.language, settings.providers()
    )
    await session.start(agent=agent, room=ctx.room)


def build_server(settings: WorkerSettings) -> AgentServer:
    server = AgentServer(
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
    )
    server.rtc_session(entrypoint, agent_name=settings.agent_name)
    return server
