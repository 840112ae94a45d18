"""Fixed phrases (greetings, goodbyes, the apology of an agent taking over a call) synthesised once per
voice and replayed from a cache: the caller hears them as soon as the agent speaks, not after a synthesis.

A phrase is keyed by the voice that speaks it (TTS provider, model and voice settings) and its text. The
cache is a directory of WAV files shared by the worker's job processes (each written whole, then renamed
into place) and a copy in memory per process. A phrase not cached yet is spoken by the TTS as usual and
synthesised into the cache in the background, for the next call.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
from livekit import rtc
from livekit.agents import AgentSession, tts
from livekit.agents.voice import SpeechHandle

from agent_worker.audio_files import write_wav
from agent_worker.settings import Provider, WorkerSettings

logger = logging.getLogger("voicecall.phrases")

FRAME_MS = 20
_MEMORY: dict[str, tuple[np.ndarray, int]] = {}


def voice_key(settings: WorkerSettings) -> str:
    """What makes the same text sound different: the provider, its model and its voice(s)."""
    if settings.tts_provider is Provider.OPENAI:
        return f"openai/{settings.openai_tts_model}/{settings.openai_tts_voice}"
    if settings.tts_provider is Provider.AZURE:
        return f"azure/{settings.azure_voice_en}/{settings.azure_voice_zh}"
    return f"local/{settings.local_tts_model}/{settings.local_tts_voice}"


class PhraseCache:
    def __init__(self, directory: Path, voice: str) -> None:
        self._dir = directory
        self._voice = voice
        self._filling: set[asyncio.Task[None]] = set()

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self._voice}\n{text}".encode()).hexdigest()[:40]

    def _path(self, text: str) -> Path:
        return self._dir / f"{self._key(text)}.wav"

    def get(self, text: str) -> tuple[np.ndarray, int] | None:
        """The phrase's samples (int16, mono) and rate, or None."""
        key = self._key(text)
        if key in _MEMORY:
            return _MEMORY[key]
        try:
            with wave.open(str(self._path(text)), "rb") as wf:
                rate = wf.getframerate()
                samples = np.frombuffer(wf.readframes(wf.getnframes()), dtype=np.int16)
        except FileNotFoundError:
            return None
        except (OSError, EOFError, wave.Error) as exc:
            logger.warning("phrase cache file unreadable (%s): synthesising it again", exc)
            return None
        if samples.size == 0:
            return None
        _MEMORY[key] = (samples, rate)
        return _MEMORY[key]

    def say(self, session: AgentSession, text: str, *, allow_interruptions: bool = True) -> SpeechHandle:
        """``session.say`` with the cached audio when there is some; else the TTS speaks, and the phrase
        is synthesised into the cache meanwhile."""
        cached = self.get(text)
        if cached is not None:
            return session.say(text, audio=replay(*cached), allow_interruptions=allow_interruptions)
        if session.tts is not None:
            task = asyncio.create_task(self.fill(session.tts, text))
            self._filling.add(task)
            task.add_done_callback(self._filling.discard)
        return session.say(text, allow_interruptions=allow_interruptions)

    async def fill(self, engine: tts.TTS, text: str) -> None:
        """Synthesise ``text`` into the cache (best effort: a failure costs only the saving)."""
        try:
            chunks: list[np.ndarray] = []
            rate = engine.sample_rate
            async with engine.synthesize(text) as stream:
                async for ev in stream:
                    rate = ev.frame.sample_rate
                    chunks.append(
                        np.frombuffer(ev.frame.data, dtype=np.int16).reshape(-1, ev.frame.num_channels)[:, 0]
                    )
            if chunks:
                self._store(text, np.concatenate(chunks), rate)
        except Exception as exc:
            logger.debug("phrase not cached: %s", exc)

    def _store(self, text: str, samples: np.ndarray, rate: int) -> None:
        write_wav(self._path(text), samples, rate)
        _MEMORY[self._key(text)] = (samples, rate)

    async def aclose(self) -> None:
        for task in list(self._filling):
            task.cancel()


async def replay(samples: np.ndarray, rate: int) -> AsyncIterator[rtc.AudioFrame]:
    step = rate * FRAME_MS // 1000
    for start in range(0, samples.size, step):
        chunk = samples[start : start + step]
        yield rtc.AudioFrame(
            data=chunk.tobytes(), sample_rate=rate, num_channels=1, samples_per_channel=chunk.size
        )
