"""``python -m agent_worker call``: the whole voice loop with no room.

The real ``AgentSession`` hears the caller's WAV through an ``AudioInput`` paced in real time (then
silence, so endpointing happens) and speaks into an ``AudioOutput`` that plays out in real time into
memory, written to the reply WAV at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from livekit import rtc
from livekit.agents.voice import TranscriptSynchronizer, io

from agent_worker.audio_files import SAMPLE_RATE, read_mono_pcm16, write_wav
from agent_worker.session import new_call
from agent_worker.settings import Language, WorkerSettings
from agent_worker.turns import TurnTracker, format_metrics
from functions.models.session_log import SessionEvent, TranscriptItem, TurnMetrics

FRAME_MS = 20
OUTPUT_RATE = 24_000


class PacedFileInput(io.AudioInput):
    """Plays samples as a microphone would: one 20 ms frame per 20 ms, then silence until closed."""

    def __init__(self, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
        super().__init__(label="wav-file")
        self._rate = sample_rate
        self._spf = sample_rate * FRAME_MS // 1000
        self._samples = samples
        self._silence = np.zeros(self._spf, dtype=np.int16)
        self._pos = 0
        self._t0: float | None = None
        self._n = 0
        self._closed = False
        self.finished_at: float | None = None  # monotonic time the caller's audio ended

    def close(self) -> None:
        self._closed = True

    async def __anext__(self) -> rtc.AudioFrame:
        if self._closed:
            raise StopAsyncIteration
        if self._t0 is None:
            self._t0 = time.monotonic()
        delay = self._t0 + self._n * FRAME_MS / 1000 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        self._n += 1
        chunk = self._samples[self._pos : self._pos + self._spf]
        self._pos += self._spf
        if chunk.size < self._spf:
            if self.finished_at is None:
                self.finished_at = time.monotonic()
            chunk = np.concatenate([chunk, self._silence[: self._spf - chunk.size]])
        return rtc.AudioFrame(chunk.tobytes(), self._rate, 1, self._spf)


class MemoryPlayoutOutput(io.AudioOutput):
    """An audio sink that 'plays' in real time into memory, so interruptions cut where a listener would."""

    def __init__(self, sample_rate: int = OUTPUT_RATE) -> None:
        super().__init__(
            label="wav-out", capabilities=io.AudioOutputCapabilities(pause=False), sample_rate=sample_rate
        )
        self.rate = sample_rate
        self.chunks: list[np.ndarray] = []
        self.first_audio_at: list[float] = []  # monotonic time of each segment's first frame
        self._segment_started: float | None = None
        self._pushed = 0.0
        self._done_task: asyncio.Task[None] | None = None
        self._interrupted = asyncio.Event()

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if self._segment_started is None:
            self._segment_started = time.monotonic()
            self.first_audio_at.append(self._segment_started)
            self._interrupted.clear()
            self.on_playback_started(created_at=time.time())
        self.chunks.append(np.frombuffer(bytes(frame.data), dtype=np.int16).copy())
        self._pushed += frame.duration

    def flush(self) -> None:
        super().flush()
        if self._segment_started is None:
            return
        started, pushed = self._segment_started, self._pushed
        self._segment_started, self._pushed = None, 0.0
        self._done_task = asyncio.create_task(self._play_out(started, pushed))

    async def _play_out(self, started: float, pushed: float) -> None:
        remaining = started + pushed - time.monotonic()
        interrupted = False
        if remaining > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._interrupted.wait(), timeout=remaining)
                interrupted = True
        played = min(pushed, time.monotonic() - started) if interrupted else pushed
        self.on_playback_finished(playback_position=played, interrupted=interrupted)

    def clear_buffer(self) -> None:
        self._interrupted.set()
        if self._segment_started is not None:  # interrupted before flush: finish this segment now
            self.flush()

    def samples(self) -> np.ndarray:
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, dtype=np.int16)


@dataclass
class CallResult:
    transcript: list[TranscriptItem]
    turns: list[TurnMetrics]
    reply_samples: int
    heard_speech: bool


async def run_call(
    settings: WorkerSettings,
    in_path: Path,
    out_path: Path,
    language: Language,
    printer: Callable[[str], None] = print,
    max_wait_s: float = 60.0,
) -> CallResult:
    samples = read_mono_pcm16(in_path)
    session, agent = new_call(
        settings, language, None, greet=False, conversation=f"call-{uuid.uuid4().hex[:12]}", echo_free=True
    )
    audio_in = PacedFileInput(samples)
    audio_out = MemoryPlayoutOutput()
    session.input.audio = audio_in
    # The synchronizer aligns the reply text to playout, so an interrupted reply is kept in the
    # context as only the words already "played", exactly as RoomIO does in a room.
    sync = TranscriptSynchronizer(next_in_chain_audio=audio_out, next_in_chain_text=None)
    session.output.audio = sync.audio_output
    session.output.transcription = sync.text_output

    def show(event: SessionEvent) -> None:
        if isinstance(event, TranscriptItem):
            printer(f"{event.role}{' (interrupted)' if event.interrupted else ''}: {event.text}")
        elif isinstance(event, TurnMetrics):
            printer(format_metrics(event))

    tracker = TurnTracker(language=language, sinks=[show])
    tracker.attach(session)
    idle_since: list[float] = [time.monotonic()]

    def on_state(_ev: object) -> None:
        idle_since[0] = time.monotonic()

    session.on("agent_state_changed", on_state)
    session.on("user_state_changed", on_state)
    await session.start(agent=agent, record=False)
    try:
        deadline = time.monotonic() + samples.size / SAMPLE_RATE + max_wait_s
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            if audio_in.finished_at is None:
                continue
            quiet = session.agent_state == "listening" and session.user_state == "listening"
            if not quiet:
                continue
            idle = time.monotonic() - idle_since[0]
            answered = bool(tracker.turn_metrics) and tracker.turn_metrics[-1].turn >= tracker.turn
            if answered and idle > 1.0:
                break
            # Endpointing and recognition have had their time since the audio ended: either nothing
            # was heard, or the last words got no reply (cancelled when the caller resumed).
            settle = settings.max_endpointing_delay + 2.5
            if idle > settle and time.monotonic() - audio_in.finished_at > settle:
                break
    finally:
        audio_in.close()
        await session.aclose()
    write_wav(out_path, audio_out.samples(), audio_out.rate)
    return CallResult(
        transcript=tracker.transcript,
        turns=tracker.turn_metrics,
        reply_samples=int(audio_out.samples().size),
        heard_speech=tracker.turn > 0,
    )
