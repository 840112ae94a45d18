"""Per-turn observation of an ``AgentSession``: transcript items and latency, as session-log events.

The source is livekit-agents' own: each committed ``ChatMessage`` carries its turn metrics (end-of-turn
and transcription delay on the user's; LLM TTFT, TTS TTFB and end-to-end latency on the agent's). The STT
figure is the transcription delay: end of speech to final transcript, the STT's share of the wait.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from livekit.agents import AgentSession, ConversationItemAddedEvent, llm
from livekit.agents.voice.events import ErrorEvent as AgentErrorEvent

from agent_worker.settings import Language
from agent_worker.telemetry import new_event_id, now_utc
from functions.models.session_log import ErrorEvent, SessionEvent, TranscriptItem, TurnMetrics

logger = logging.getLogger("voicecall.turns")

EventSink = Callable[[SessionEvent], None]


def _seconds(value: object) -> float | None:
    return round(float(value), 4) if isinstance(value, int | float) and value >= 0 else None


@dataclass
class TurnTracker:
    language: Language
    sinks: list[EventSink] = field(default_factory=list)
    turn: int = 0
    transcript: list[TranscriptItem] = field(default_factory=list)
    turn_metrics: list[TurnMetrics] = field(default_factory=list)
    _pending_user: dict[str, float | None] = field(default_factory=dict)

    def attach(self, session: AgentSession) -> None:
        session.on("conversation_item_added", self._on_item)
        session.on("error", self._on_error)

    def _emit(self, event: SessionEvent) -> None:
        for sink in self.sinks:
            try:
                sink(event)
            except Exception:  # a broken sink (e.g. room gone) must not break the voice loop
                logger.exception("session-log sink failed")

    def _on_error(self, ev: AgentErrorEvent) -> None:
        err = ev.error
        stage = type(ev.source).__name__.lower()[:32] if ev.source is not None else "session"
        recoverable = bool(getattr(err, "recoverable", True))
        self._emit(
            ErrorEvent(
                event_id=new_event_id(),
                ts=now_utc(),
                stage=stage,
                message=str(getattr(err, "error", err))[:1000],
                recoverable=recoverable,
            )
        )

    def _on_item(self, ev: ConversationItemAddedEvent) -> None:
        item = ev.item
        if not isinstance(item, llm.ChatMessage) or item.role not in ("user", "assistant"):
            return
        text = (item.text_content or "").strip()
        m = item.metrics
        if item.role == "user":
            self.turn += 1
            self._pending_user = {
                "end_of_utterance_delay": _seconds(m.get("end_of_turn_delay")),
                "transcription_delay": _seconds(m.get("transcription_delay")),
            }
        role = "user" if item.role == "user" else "agent"
        t_item = TranscriptItem(
            event_id=new_event_id(),
            ts=now_utc(),
            role=role,
            text=text[:4000],
            language=self.language,
            interrupted=item.interrupted,
            turn=self.turn,
        )
        self.transcript.append(t_item)
        self._emit(t_item)
        if item.role == "assistant" and self.turn > 0 and self._pending_user is not None:
            tm = TurnMetrics(
                event_id=new_event_id(),
                ts=now_utc(),
                turn=self.turn,
                end_of_utterance_delay=self._pending_user.get("end_of_utterance_delay"),
                transcription_delay=self._pending_user.get("transcription_delay"),
                llm_ttft=_seconds(m.get("llm_node_ttft")),
                tts_ttfb=_seconds(m.get("tts_node_ttfb")),
                voice_to_voice=_seconds(m.get("e2e_latency")),
                interrupted=item.interrupted,
            )
            self.turn_metrics.append(tm)
            self._emit(tm)
            self._pending_user = {}


def format_metrics(tm: TurnMetrics) -> str:
    def f(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}s"

    return (
        f"metrics: turn={tm.turn} end_of_utterance_delay={f(tm.end_of_utterance_delay)} "
        f"stt={f(tm.transcription_delay)} llm_ttft={f(tm.llm_ttft)} tts_ttfb={f(tm.tts_ttfb)} "
        f"voice_to_voice={f(tm.voice_to_voice)}"
    )
