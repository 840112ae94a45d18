"""Speech made with espeak-ng, and measurements of audio (energy, duration)."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np

# espeak-ng 1.51 "cmn" reads its own pinyin as English; "cmn-latn-pinyin" speaks Mandarin, robotically.
VOICES = {"en": "en-us", "zh": "cmn-latn-pinyin"}


def speak(text: str, lang: str, path: Path, speed: int = 130, pad_s: float = 0.3) -> Path:
    """Write ``text`` spoken to ``path`` (mono 16-bit WAV), with a little silence before.

    A Mandarin caller speaks with the neural voice (espeak-ng's Mandarin is barely intelligible, so a
    test built on it measures the voice, not the platform); English uses espeak-ng ``en-us``, which
    Whisper hears near-exactly. ``speak_robotic`` is the espeak Mandarin robustness case."""
    if lang == "zh":
        from tests.support.voices import speak_natural

        return speak_natural(text, "zh", path, speed=speed / 130, pad_s=pad_s)
    return speak_espeak(text, lang, path, speed, pad_s)


def speak_robotic(text: str, path: Path, speed: int = 130, pad_s: float = 0.3) -> Path:
    """espeak-ng's Mandarin (cmn-latn-pinyin): only to test robustness to unclear speech."""
    return speak_espeak(text, "zh", path, speed, pad_s)


def speak_espeak(text: str, lang: str, path: Path, speed: int = 130, pad_s: float = 0.3) -> Path:
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", VOICES[lang], "-s", str(speed), "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), str(path), "pad", str(pad_s), "0"], check=True)
    raw.unlink()
    return path


def silence(path: Path, seconds: float, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(np.zeros(int(seconds * rate), dtype=np.int16).tobytes())
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as wf:
        rate = wf.getframerate()
        data = np.frombuffer(wf.readframes(wf.getnframes()), dtype=np.int16)
        if wf.getnchannels() > 1:
            data = data.reshape(-1, wf.getnchannels())[:, 0]
    return data, rate


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


def voiced_seconds(samples: np.ndarray, rate: int, threshold: float = 300.0) -> float:
    """Seconds of 20 ms windows louder than ``threshold`` RMS: speech, not silence or faint noise."""
    win = rate // 50
    n = samples.size // win
    if n == 0:
        return 0.0
    frames = samples[: n * win].reshape(n, win).astype(np.float64)
    loud = np.sqrt((frames**2).mean(axis=1)) > threshold
    return float(loud.sum()) * 0.02
