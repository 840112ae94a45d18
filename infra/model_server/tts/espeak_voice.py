"""espeak-ng voices: formant synthesis, robotic but instant, and free of any model licence."""

from __future__ import annotations

import numpy as np

from infra.model_server.tts import espeak
from infra.model_server.tts.voice import Language, LazyVoice

# espeak-ng's rate in words a minute: 175 is its normal pace, and 80–450 the range it accepts.
_NORMAL_WPM, _MIN_WPM, _MAX_WPM = 175, 80, 450


class EspeakVoice(LazyVoice):
    sample_rate = espeak.SAMPLE_RATE
    licence = "espeak-ng GPL-3.0, run as a separate program (not linked)"

    def __init__(
        self, name: str, espeak_voice: str, language: Language, description: str, gain: float = 1.0
    ) -> None:
        super().__init__()
        self.gain = gain
        self.name = name
        self.language = language
        self.description = description
        self._voice = espeak_voice

    def _load(self) -> None:
        espeak.check_voice(self._voice)

    def synthesize(self, text: str, speed: float = 1.0) -> np.ndarray:
        self.load()
        wpm = min(_MAX_WPM, max(_MIN_WPM, round(_NORMAL_WPM * speed)))
        # No lock: every call is its own process, so requests run side by side.
        pcm = espeak.speech(text, self._voice, wpm)
        return np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0


def espeak_english() -> EspeakVoice:
    return EspeakVoice("espeak-en", "en-us", "en", "English (US), espeak-ng formant voice")


def espeak_mandarin() -> EspeakVoice:
    # cmn-latn-pinyin, never cmn/zh: espeak-ng 1.51's "cmn" reads its own pinyin as English letters.
    return EspeakVoice("espeak-zh", "cmn-latn-pinyin", "zh", "Mandarin, espeak-ng formant voice", 0.75)
