"""Offline speech synthesis with espeak-ng, one sentence per request.

``streaming=False``: the AgentSession wraps it in ``tts.StreamAdapter`` with a sentence tokenizer, so
the first sentence plays while the LLM is still writing the next. A sentence written in the other
script (an English word alone in a Chinese reply, or the reverse) is read with that script's voice.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Literal

from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, APIError, tts

from agent_worker.providers.local import espeak

TTSLanguage = Literal["zh", "en"]


@dataclass(frozen=True)
class _Options:
    language: TTSLanguage
    voice: str
    other_voice: str  # for sentences in the other script
    speed: int
    pitch: int


class LocalTTS(tts.TTS):
    def __init__(
        self,
        *,
        language: TTSLanguage = "en",
        voice: str | None = None,
        other_voice: str | None = None,
        speed: int = 150,
        pitch: int = 50,
    ) -> None:
        """``voice``: an espeak-ng voice for ``language`` (default ``en-us`` / ``cmn-latn-pinyin``);
        an unknown voice raises ``espeak.EspeakError`` here, at start-up, not mid-call."""
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False), sample_rate=espeak.SAMPLE_RATE, num_channels=1
        )
        if language not in ("zh", "en"):
            raise ValueError(f"language must be zh or en, not {language!r}")
        if not 80 <= speed <= 450:
            raise ValueError("speed must be 80..450 words per minute")
        voice = voice or espeak.default_voice(language)
        other_voice = other_voice or espeak.default_voice("en" if language == "zh" else "zh")
        espeak.check_voice(voice)
        espeak.check_voice(other_voice)
        self._opts = _Options(
            language=language, voice=voice, other_voice=other_voice, speed=speed, pitch=pitch
        )

    @property
    def model(self) -> str:
        return f"espeak-ng:{self._opts.voice}"

    @property
    def provider(self) -> str:
        return "local"

    def voice_for(self, text: str) -> str:
        cjk = espeak.has_cjk(text)
        if self._opts.language == "zh":
            return self._opts.voice if cjk or not any(c.isalpha() for c in text) else self._opts.other_voice
        return self._opts.other_voice if cjk else self._opts.voice

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> LocalChunkedStream:
        return LocalChunkedStream(tts=self, input_text=text, conn_options=conn_options)


class LocalChunkedStream(tts.ChunkedStream):
    def __init__(self, *, tts: LocalTTS, input_text: str, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._local = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        opts = self._local._opts
        output_emitter.initialize(
            request_id=uuid.uuid4().hex,
            sample_rate=espeak.SAMPLE_RATE,
            num_channels=1,
            mime_type="audio/pcm",
        )
        text = self.input_text.strip()
        if not text:
            output_emitter.flush()
            return
        try:
            pcm = await asyncio.to_thread(
                espeak.synthesize, text, self._local.voice_for(text), opts.speed, opts.pitch
            )
        except espeak.EspeakError as exc:
            raise APIError(f"espeak-ng failed: {exc}", retryable=False) from exc
        output_emitter.push(pcm)
        output_emitter.flush()
