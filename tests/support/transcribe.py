"""Re-transcription of what a listener received, with the offline STT, to compare with the reply text."""

from __future__ import annotations

import difflib
import functools
import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from infra.model_server.stt import WhisperEngine

_WORD = re.compile(r"[a-z0-9']+|[\u4e00-\u9fff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")


def units(text: str) -> list[str]:
    """English words and Chinese characters, lower-cased: the units two transcripts are compared in."""
    return _WORD.findall(text.lower())


def overlap(expected: str, heard: str) -> float:
    """Share of the expected units that were heard (order-free, with multiplicity)."""
    exp = units(expected)
    heard_of_expected = Counter(exp) & Counter(units(heard))
    return sum(heard_of_expected.values()) / len(exp) if exp else 0.0


def sounds_heard(expected: str, heard: str) -> float:
    """Share of the expected letters and characters heard, in order, word boundaries ignored: a
    listener hears sounds, not spaces ("France is" heard as "Francis" is no loss of speech)."""
    return _heard_in_order("".join(units(expected)), "".join(units(heard)))


def syllables_heard(expected: str, heard: str) -> float:
    """Share of the expected Mandarin syllables heard, in order, tones ignored: what a listener hears. A
    listener model writes a syllable as any of its characters ("富含纤维" heard as "富寒鲜为"), which is
    its own error, not the voice's; a voice that says something else (espeak-ng's ``cmn`` reading
    characters as English letters) loses the syllables too."""
    from pypinyin import lazy_pinyin

    def syllables(text: str) -> list[str]:
        return lazy_pinyin("".join(_HAN.findall(text)))

    return _heard_in_order(syllables(expected), syllables(heard))


def _heard_in_order(expected: Sequence[str], heard: Sequence[str]) -> float:
    """Share of ``expected`` found in ``heard`` in order (matching blocks), 0 when nothing was expected."""
    if not expected:
        return 0.0
    matcher = difflib.SequenceMatcher(a=expected, b=heard, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / len(expected)


@functools.cache
def _whisper() -> WhisperEngine:
    from infra.model_server.stt import WhisperEngine

    engine = WhisperEngine()  # the packaged Whisper base, as the model server runs it
    engine.load()
    return engine


SILENCE_S = 0.5  # a pause this long splits what a listener heard into stretches
_FRAME_S = 0.02
_SILENT_RMS = 0.003  # of full scale: below any speech, above Opus's comfort noise


def speech_stretches(audio: np.ndarray, rate: int) -> list[np.ndarray]:
    """``audio`` (float32) cut at pauses of ``SILENCE_S`` or more; stretches shorter than 0.2 s dropped.
    A streamed reply has such pauses where the voice waited for the model's next clause, and Whisper
    (greedy, no timestamps) often ends its transcript at the first long one."""
    frame = round(_FRAME_S * rate)
    n = audio.size // frame
    if n == 0:
        return []
    rms = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1))
    voiced = rms >= _SILENT_RMS
    stretches, start, quiet = [], None, 0
    for i, v in enumerate(voiced):
        if v:
            start = i if start is None else start
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet * _FRAME_S >= SILENCE_S:
                stretches.append((start, i - quiet + 1))
                start, quiet = None, 0
    if start is not None:
        stretches.append((start, n - quiet))
    pad = round(0.1 / _FRAME_S)
    return [
        audio[max(0, a - pad) * frame : min(n, b + pad) * frame]
        for a, b in stretches
        if (b - a) * _FRAME_S >= 0.2
    ]


def transcribe(samples: np.ndarray, rate: int, language: str) -> str:
    """What the offline STT hears in int16 ``samples`` at ``rate``, in ``language``: each stretch of
    speech between long pauses transcribed on its own, joined."""
    import soxr

    audio = samples.astype(np.float32) / 32768.0
    if rate != 16_000:
        audio = soxr.resample(audio, rate, 16_000)
    joiner = "" if language == "zh" else " "
    texts = (_whisper().transcribe(part, language).text for part in speech_stretches(audio, 16_000))
    return joiner.join(t.strip() for t in texts if t.strip())
