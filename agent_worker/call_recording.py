"""A call's recording: livekit-agents records the caller (left) and the agent (right) to an Ogg/Opus
file while the call runs (``session.start(record=…)``, audio only); after the call the file goes to S3
through a presigned PUT the functions issue (POST /sessions/{id}/recording, signed), and a
``recording_stored`` event tells the session.

On LiveKit Cloud, livekit-agents also sends a recording to the project's Agent Observability when its
project records; calls of assistants that do not record are started with ``record=False``, so a project
setting never records a call the operator did not choose to (docs/security.md)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import httpx
from livekit.agents import RecordingOptions

from agent_worker.settings import WorkerSettings
from agent_worker.telemetry import new_event_id, now_utc
from functions.models.session_log import RecordingStored
from functions.models.signing import signed_headers

logger = logging.getLogger("voicecall.recording")


def record_option(recorded: bool) -> RecordingOptions:
    """``session.start(record=…)``: the audio of a recorded call, nothing else (no traces, logs or
    transcript leave for LiveKit Cloud: our session log has the transcript)."""
    return RecordingOptions(audio=recorded, traces=False, logs=False, transcript=False)


def read_recording(path: Path | None) -> tuple[bytes, float] | None:
    """The file and its length in seconds; None when there is none, or it is empty or unreadable."""
    if path is None or not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        with av.open(str(path)) as container:
            duration = float(container.duration or 0) / av.time_base
    except (av.FFmpegError, OSError) as exc:
        logger.warning("recording %s unreadable (%s)", path, exc)
        return None
    return path.read_bytes(), duration


async def upload(
    settings: WorkerSettings, session_id: str, path: Path | None, started_at: float | None
) -> RecordingStored | None:
    """PUT the file where the functions say; the event to record on success, None (logged) otherwise."""
    api = settings.functions_api_url
    recording = await asyncio.to_thread(read_recording, path)
    if not api or recording is None:
        logger.warning("call %s was to be recorded, but there is no recording to upload", session_id)
        return None
    data, duration_s = recording
    started = datetime.fromtimestamp(started_at, UTC) if started_at else datetime.now(UTC)
    route = f"/sessions/{session_id}/recording"
    body = b"{}"
    headers = {
        **signed_headers(settings.session_log_key(), body, method="POST", path=route),
        "Content-Type": "application/json",
    }
    try:
        async with httpx.AsyncClient(timeout=settings.recording_upload_timeout) as client:
            grant = await client.post(api.rstrip("/") + route, content=body, headers=headers)
            if grant.status_code != 200:
                logger.warning("recording of %s not uploaded: API answered %s", session_id, grant.status_code)
                return None
            target: dict[str, Any] = grant.json()
            put = await client.put(target["upload_url"], content=data, headers=target["headers"])
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        logger.warning("recording of %s not uploaded (%s)", session_id, type(exc).__name__)
        return None
    if put.status_code not in (200, 204):
        logger.warning("recording of %s not uploaded: storage answered %s", session_id, put.status_code)
        return None
    logger.info("recording of %s uploaded: %.1f s, %d bytes", session_id, duration_s, len(data))
    return RecordingStored(
        event_id=new_event_id(),
        ts=now_utc(),
        started_at=started,
        duration_s=round(duration_s, 3),
        bytes=len(data),
    )
