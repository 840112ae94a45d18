"""Re-transcription of what a listener received, with the offline STT, to compare with the reply text."""

from __future__ import annotations

import difflib
import functools
import re
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from infra.model_server.stt import WhisperEngine

_WORD = re.compile(r"[a-z0-9']+|[\u4e00-\u9fff]")


def units(text: str) -> list[str]:
    """English words and Chinese characters, lower-cased: the units two transcripts are compared in."""
    return _WORD.findall(text.lower())


def overlap(expected: str, heard: str) -> float:
    """Share of the expected units that were heard (order-free, with multiplicity)."""
    exp, got = units(expected), units(heard)
    if not exp:
        return 0.0
    pool = list(got)
    hit = 0
    for u in exp:
        if u in pool:
            pool.remove(u)
            hit += 1
    return hit / len(exp)


def sounds_heard(expected: str, heard: str) -> float:
    """Share of the expected letters and characters heard, in order, word boundaries ignored: a
    listener hears sounds, not spaces ("France is" heard as "Francis" is no loss of speech)."""
    exp, got = "".join(units(expected)), "".join(units(heard))
    if not exp:
        return 0.0
    matcher = difflib.SequenceMatcher(a=exp, b=got, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / len(exp)


@functools.cache
def _whisper() -> WhisperEngine:
    from infra.model_server.stt import WhisperEngine

    engine = WhisperEngine()  # the packaged Whisper base, as the model server runs it
    engine.load()
    return engine


def transcribe(samples: np.ndarray, rate: int, language: str) -> str:
    """What the offline STT hears in int16 ``samples`` at ``rate``, in ``language``."""
    import soxr

    audio = samples.astype(np.float32) / 32768.0
    if rate != 16_000:
        audio = soxr.resample(audio, rate, 16_000)
    return _whisper().transcribe(audio, language).text
