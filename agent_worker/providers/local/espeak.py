"""espeak-ng (Debian package ``espeak-ng``) as the offline voice: instant, English and Mandarin.

Mandarin uses ``cmn-latn-pinyin``: espeak-ng 1.51's plain ``cmn`` voice reads its own pinyin
transcription as English letters and digits ("ni3" -> "n i three"), which no listener understands.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess

SAMPLE_RATE = 22050  # espeak-ng's native output rate
_WAV_HEADER = 44  # --stdout writes a canonical 44-byte header whose sizes are placeholders

DEFAULT_VOICES = {"en": "en-us", "zh": "cmn-latn-pinyin"}
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class EspeakError(RuntimeError):
    pass


def default_voice(language: str) -> str:
    return DEFAULT_VOICES["zh" if language.startswith("zh") else "en"]


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


@functools.cache
def binary() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise EspeakError("espeak-ng is not installed (apt-get install espeak-ng)")
    return path


@functools.cache
def known_voices() -> frozenset[str]:
    """Language codes, voice names and voice files that ``espeak-ng --voices`` lists (lower case)."""
    proc = subprocess.run([binary(), "--voices"], capture_output=True, text=True, timeout=10, check=True)
    names: set[str] = set()
    for line in proc.stdout.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5:
            names.update(c.lower() for c in (cols[1], cols[3], cols[4]))
    return frozenset(names)


@functools.cache
def check_voice(voice: str) -> None:
    """Raise EspeakError unless espeak-ng lists ``voice`` (optionally with a ``+variant``).

    Exact names only: espeak-ng itself would quietly fall back on a prefix ("no-such" -> Norwegian).
    """
    if not re.fullmatch(r"[A-Za-z0-9_/-]{1,64}(\+[A-Za-z0-9_-]{1,32})?", voice):
        raise EspeakError(f"invalid espeak-ng voice name {voice!r}")
    base = voice.split("+", 1)[0].lower()
    if base not in known_voices():
        raise EspeakError(f"unknown espeak-ng voice {voice!r} (see `espeak-ng --voices`)")
    proc = subprocess.run([binary(), "-v", voice, "--stdout", "x"], capture_output=True, timeout=10)
    if proc.returncode != 0:
        raise EspeakError(
            f"espeak-ng cannot use voice {voice!r}: {proc.stderr.decode(errors='replace').strip()}"
        )


def synthesize(text: str, voice: str, speed: int = 150, pitch: int = 50) -> bytes:
    """16-bit mono PCM at SAMPLE_RATE for ``text``; blocking (run it in a thread)."""
    # "--" ends options so that text starting with "-" is spoken, not parsed.
    proc = subprocess.run(
        [binary(), "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", "--", text],
        capture_output=True,
        timeout=60,
    )
    if proc.returncode != 0:
        raise EspeakError(
            proc.stderr.decode(errors="replace").strip() or f"espeak-ng exited {proc.returncode}"
        )
    pcm = proc.stdout[_WAV_HEADER:]
    return pcm[: len(pcm) // 2 * 2]
