"""What speech synthesis raises: request errors (the caller's fault, HTTP 400) and unavailable voices."""

from __future__ import annotations


class TTSError(Exception):
    """Any speech-synthesis failure; catch the subclasses to tell the caller's fault from ours."""


class SpeechRequestError(TTSError, ValueError):
    """The request cannot be spoken as given (bad speed, bad sample rate, ...): HTTP 400."""


class UnknownVoiceError(SpeechRequestError):
    def __init__(self, voice: str, known: list[str]) -> None:
        super().__init__(f"unknown voice {voice!r}; known voices: {', '.join(known)}")
        self.voice = voice


class EmptyTextError(SpeechRequestError):
    def __init__(self) -> None:
        super().__init__("nothing to speak: the text has no letters, characters or digits")


class VoiceUnavailableError(TTSError, RuntimeError):
    """A voice's engine or model is missing on this machine (HTTP 503); the message says what to install."""
