"""The interface every voice engine offers, and the lazy, idempotent loading they share."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from infra.model_server.packaged import ModelFileError
from infra.model_server.tts.errors import VoiceUnavailableError

Language = Literal["zh", "en"]

# OpenAI's `speed` range; each engine maps it onto its own duration control.
MIN_SPEED, MAX_SPEED = 0.25, 4.0


class Voice(Protocol):
    name: str
    language: Language
    sample_rate: int
    licence: str

    def load(self) -> None: ...

    def synthesize(self, text: str, speed: float = 1.0) -> np.ndarray:
        """Mono float32 samples in [-1, 1] at ``sample_rate``; empty when nothing was speakable."""
        ...


@dataclass(frozen=True)
class VoiceInfo:
    name: str
    language: Language
    sample_rate: int
    licence: str
    description: str
    loaded: bool


class LazyVoice(ABC):
    """Loads its model on first use, once, even when several threads ask at the same time.

    ``_lock`` is for subclasses to hold around inference: LiteRT interpreters are not thread-safe, and an
    ONNX session gains nothing from two callers competing for the same two cores.
    """

    name: str
    language: Language
    sample_rate: int
    licence: str
    description: str
    gain = 1.0  # brings the engine's output to the common speech level (about -21 dBFS RMS)

    def __init__(self) -> None:
        self._load_lock = threading.Lock()
        self._lock = threading.Lock()
        self._loaded = False

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        if self._loaded:
            return
        with self._load_lock:
            if self._loaded:
                return
            try:
                self._load()
            except (ModelFileError, FileNotFoundError, ImportError) as e:
                raise VoiceUnavailableError(f"voice {self.name}: {e}") from e
            self._loaded = True

    @abstractmethod
    def _load(self) -> None: ...

    @abstractmethod
    def synthesize(self, text: str, speed: float = 1.0) -> np.ndarray: ...

    def info(self) -> VoiceInfo:
        return VoiceInfo(
            self.name, self.language, self.sample_rate, self.licence, self.description, self._loaded
        )
