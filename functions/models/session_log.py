"""The session-log payload: the one definition used by the agent worker (sender) and the API (receiver).

Every event carries a stable, client-generated ``event_id`` so that a retried batch is stored once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from functions.models.call_summary import CallSummaryFields

MAX_BATCH_EVENTS = 100
MAX_TEXT_CHARS = 4000
# Event ids are produced by the worker (uuid4 hex or "<session>-<seq>"): keep them key-safe.
EVENT_ID_PATTERN = r"^[A-Za-z0-9_.:-]{8,128}$"
SESSION_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
ASSISTANT_RAN_PATTERN = r"^(built-in|(default|asst-[0-9a-f]{12})@[0-9]{1,10})$"

Language = Literal["zh", "en"]


class _EventBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: Annotated[str, Field(pattern=EVENT_ID_PATTERN)]
    ts: datetime = Field(description="When the event happened (ISO 8601, UTC).")


class SessionStarted(_EventBase):
    type: Literal["session_started"] = "session_started"
    room: Annotated[str, Field(max_length=128)]
    language: Language = "en"
    providers: dict[str, Annotated[str, Field(max_length=64)]] = Field(
        default_factory=dict, description="stage -> provider, e.g. {'stt': 'local', 'llm': 'openai'}"
    )
    participant: Annotated[str, Field(max_length=128)] | None = None
    assistant_ran: Annotated[str, Field(pattern=ASSISTANT_RAN_PATTERN)] | None = Field(
        default=None,
        description=(
            "What the worker runs: `<assistant id>@<version>`, or `built-in` when the dispatched version "
            "could not be fetched and the built-in persona took the call."
        ),
    )


class TranscriptItem(_EventBase):
    type: Literal["transcript"] = "transcript"
    role: Literal["user", "agent"]
    text: Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
    language: Language | None = None
    interrupted: bool = False
    turn: Annotated[int, Field(ge=0, le=100_000)] | None = None


class TurnMetrics(_EventBase):
    """Per-turn latency, seconds. A stage that did not run (e.g. no STT in text mode) is None."""

    type: Literal["turn_metrics"] = "turn_metrics"
    turn: Annotated[int, Field(ge=0, le=100_000)]
    end_of_utterance_delay: Annotated[float, Field(ge=0, le=600)] | None = None
    transcription_delay: Annotated[float, Field(ge=0, le=600)] | None = None
    stt_duration: Annotated[float, Field(ge=0, le=600)] | None = None
    llm_ttft: Annotated[float, Field(ge=0, le=600)] | None = None
    tts_ttfb: Annotated[float, Field(ge=0, le=600)] | None = None
    voice_to_voice: Annotated[float, Field(ge=0, le=600)] | None = None
    interrupted: bool = False


class SessionEnded(_EventBase):
    type: Literal["session_ended"] = "session_ended"
    reason: Annotated[str, Field(max_length=256)] = "completed"
    duration_s: Annotated[float, Field(ge=0, le=86_400)] | None = None


class CallSummarized(_EventBase, CallSummaryFields):
    """Written by the LLM after the call ended (agent_worker/call_summary.py)."""

    type: Literal["call_summary"] = "call_summary"


class RecordingStored(_EventBase):
    """The call's recording was uploaded (to the URL of POST /sessions/{id}/recording)."""

    type: Literal["recording_stored"] = "recording_stored"
    started_at: datetime = Field(description="When the recording's first sample was captured (UTC).")
    duration_s: Annotated[float, Field(ge=0, le=86_400)]
    bytes: Annotated[int, Field(ge=1, le=2**40)]


class ErrorEvent(_EventBase):
    type: Literal["error"] = "error"
    stage: Annotated[str, Field(max_length=32)]
    message: Annotated[str, Field(max_length=1000)]
    recoverable: bool = True


SessionEvent = Annotated[
    SessionStarted
    | TranscriptItem
    | TurnMetrics
    | SessionEnded
    | CallSummarized
    | RecordingStored
    | ErrorEvent,
    Field(discriminator="type"),
]


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: Annotated[list[SessionEvent], Field(min_length=1, max_length=MAX_BATCH_EVENTS)]
