"""Request and response bodies of the HTTP API (the session-log batch lives in session_log.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from functions.models.assistant import ASSISTANT_ID_PATTERN
from functions.models.call_summary import CallSummaryFields
from functions.models.session_log import Language

# Room names are the session ids: lowercase, URL- and key-safe, no leading dash.
ROOM_NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{2,63}$"
# The call key (the caller's proof of owning a call): 32 random bytes, base64url without padding.
CALL_KEY_PATTERN = r"^[A-Za-z0-9_-]{43}$"
CALL_KEY_HEADER = "x-call-key"
STAGES = (
    "end_of_utterance_delay",
    "transcription_delay",
    "stt_duration",
    "llm_ttft",
    "tts_ttfb",
    "voice_to_voice",
)


class ErrorBody(BaseModel):
    error: str = Field(description="Machine-readable error code, e.g. 'validation_error'.")
    detail: Any = Field(default=None, description="Human-readable message or the list of validation errors.")


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=64, description="Display name of the caller.")]
    language: Language = "en"
    room: Annotated[str, Field(pattern=ROOM_NAME_PATTERN)] | None = Field(
        default=None,
        description=(
            "Rejoin this call (e.g. after a page reload) instead of starting a new one. Needs the "
            "call's `call_key`; the token is for the caller's own identity."
        ),
    )
    call_key: Annotated[str, Field(pattern=CALL_KEY_PATTERN)] | None = Field(
        default=None, description="The call key the first POST /token of this call returned."
    )
    access_code: Annotated[str, Field(max_length=128)] | None = None
    assistant_id: Annotated[str, Field(pattern=ASSISTANT_ID_PATTERN)] | None = Field(
        default=None,
        description=(
            "The assistant a new call gets (its latest version); none = `default`. Unknown: 404 "
            "`assistant_not_found`; archived: 409 `assistant_archived`; `language` not among its "
            "languages: 422 `language_not_offered`. Ignored on a rejoin: a call keeps its assistant."
        ),
    )

    @field_validator("name")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        # The name ends up in the token and in other participants' UIs: no control characters.
        cleaned = "".join(ch for ch in value if ch.isprintable()).strip()
        if not cleaned:
            raise ValueError("name must contain printable characters")
        return cleaned


class TokenResponse(BaseModel):
    url: str
    token: str
    room: str
    identity: str
    call_key: str | None = Field(
        default=None,
        description=(
            "Returned once, for a new call only: the caller's proof of owning it, to rejoin "
            "(POST /token with `room`) and to read the call's transcript back "
            "(GET /calls/{session_id}/transcript). Stored only as a hash; keep it secret."
        ),
    )
    assistant_id: str | None = Field(default=None, description="The call's assistant.")
    assistant_version: int | None = Field(
        default=None, description="The version of it the call runs (fixed when the call started)."
    )
    recording: bool = Field(default=False, description="The call is recorded: tell the caller.")


class AgentClaim(BaseModel):
    """The worker's request to run a call's agent (signed like the session log)."""

    model_config = ConfigDict(extra="forbid")

    job_id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
    agent_identity: Annotated[str, Field(min_length=1, max_length=128)]


class AgentClaimed(BaseModel):
    session_id: str
    job_id: str
    caller_identity: str | None = Field(
        default=None, description="The only participant the agent should listen to."
    )
    takeover: bool = Field(
        default=False, description="This job replaces the call's agent, which left mid-call (re-dispatch)."
    )


class EventsAccepted(BaseModel):
    session_id: str
    received: int
    stored: int
    duplicates: int


class RecordingUploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecordingUpload(BaseModel):
    upload_url: str = Field(description="A presigned S3 PUT for the Ogg/Opus file.")
    headers: dict[str, str] = Field(description="Send these with the PUT (the content type is signed).")
    expires_in: int = Field(description="Seconds the URL stays valid.")


class SessionDeleted(BaseModel):
    session_id: str
    events_deleted: int
    recording_deleted: bool


class RecordingInfo(BaseModel):
    started_at: datetime = Field(description="When the recording's first sample was captured (UTC).")
    duration_s: float
    bytes: int


class RecordingLink(RecordingInfo):
    url: str = Field(description="A presigned S3 GET of the Ogg/Opus file (caller left, agent right).")
    expires_in: int
    content_type: str = "audio/ogg"


class TranscriptEntry(BaseModel):
    event_id: str
    ts: datetime
    role: str
    text: str
    language: str | None = None
    interrupted: bool = False
    turn: int | None = None


class TurnLatency(BaseModel):
    event_id: str
    ts: datetime
    turn: int
    interrupted: bool = False
    end_of_utterance_delay: float | None = None
    transcription_delay: float | None = None
    stt_duration: float | None = None
    llm_ttft: float | None = None
    tts_ttfb: float | None = None
    voice_to_voice: float | None = None


class SessionError(BaseModel):
    event_id: str
    ts: datetime
    stage: str
    message: str
    recoverable: bool


class SessionSummary(BaseModel):
    session_id: str
    status: str = Field(description="'created' (token issued), 'active' or 'finished'.")
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: float | None = None
    end_reason: str | None = None
    language: str | None = None
    persona: str | None = None
    assistant_id: str | None = Field(default=None, description="The assistant the call was started with.")
    assistant_version: int | None = Field(default=None, description="Its version at the call's start.")
    recording: RecordingInfo | None = Field(
        default=None, description="The call's recording, once the worker uploaded it (GET …/recording)."
    )
    assistant_ran: str | None = Field(
        default=None,
        description="What the worker ran: `<id>@<version>`, or `built-in` when it could not fetch that one.",
    )
    summary: CallSummaryFields | None = Field(
        default=None,
        description="Written by the LLM after the call: two sentences, topic, outcome, sentiment.",
    )
    providers: dict[str, str] = Field(default_factory=dict)
    participants: list[str] = Field(default_factory=list)


class CallTranscript(BaseModel):
    """What a caller may read back about their own call, with its call key: the transcript, no more."""

    session_id: str
    status: str
    ended_at: datetime | None = None
    end_reason: str | None = None
    transcript: list[TranscriptEntry] = Field(default_factory=list)


class SessionDetail(SessionSummary):
    transcript: list[TranscriptEntry] = Field(default_factory=list)
    turns: list[TurnLatency] = Field(default_factory=list)
    errors: list[SessionError] = Field(default_factory=list)


class SessionExport(SessionSummary):
    """One line of GET /export/sessions?format=jsonl: a session with its transcript."""

    transcript: list[TranscriptEntry] = Field(default_factory=list)


class SessionPage(BaseModel):
    items: list[SessionSummary]
    next_cursor: str | None = Field(default=None, description="Pass as ?cursor= to get the next page.")


class StageStats(BaseModel):
    count: int
    p50: float | None = None
    p95: float | None = None
    mean: float | None = None


class PeriodStats(BaseModel):
    sessions: int = 0
    finished_sessions: int = 0
    duration_s_total: float = 0.0
    duration_s_p50: float | None = None
    duration_s_p95: float | None = None
    turns: int = 0
    interruptions: int = 0
    errors: int = 0
    stages: dict[str, StageStats] = Field(default_factory=dict)


class DayStats(PeriodStats):
    day: date


class AnalyticsReport(BaseModel):
    from_day: date
    to_day: date
    lang: str | None = None
    provider: str | None = None
    overall: PeriodStats
    days: list[DayStats]
    tags: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description=(
            "Sessions per `assistant`, `topic`, `outcome` and `sentiment` (post-call summary), most "
            "frequent first; `none`: no assistant recorded or not summarised."
        ),
    )


class WebhookAck(BaseModel):
    event: str
    room: str | None = None
    applied: bool
