"""Re-transcription of what a listener received, with the offline STT, to compare with the reply text."""

from __future__ import annotations

import re

import numpy as np
from livekit import rtc

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


async def transcribe(samples: np.ndarray, rate: int, language: str) -> str:
    from agent_worker.providers.local.stt import LocalSTT

    stt = LocalSTT(language=language)  # type: ignore[arg-type]
    frame = rtc.AudioFrame(samples.astype(np.int16).tobytes(), rate, 1, samples.size)
    event = await stt.recognize(frame)
    return event.alternatives[0].text if event.alternatives else ""
