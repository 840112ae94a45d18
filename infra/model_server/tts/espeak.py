"""espeak-ng (Debian package, GPL-3.0) driven as a command-line subprocess: never linked in process.

Two uses: speech (the licence-clean fallback voices) and IPA phonemes for the Piper voice, which was
trained on espeak-ng's IPA with stress marks, one clause per output line.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess

from infra.model_server.tts.errors import VoiceUnavailableError

SAMPLE_RATE = 22050  # espeak-ng's native output rate
_WAV_HEADER = 44  # --stdout writes a canonical 44-byte header whose sizes are placeholders
_TIMEOUT_S = 30
# Language switches espeak-ng marks inline, e.g. "(fr)ʃˈɛ(en)", are not phonemes.
_LANGUAGE_SWITCH = re.compile(r"\([a-z]{2,3}(-[a-z0-9]+)*\)")


@functools.cache
def binary() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise VoiceUnavailableError("espeak-ng is not installed (apt-get install espeak-ng)")
    return path


def _run(args: list[str], text: str) -> bytes:
    # "--" ends the options so that text starting with "-" is spoken, not parsed as an option.
    proc = subprocess.run([binary(), *args, "--", text], capture_output=True, timeout=_TIMEOUT_S)
    if proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip() or f"exit status {proc.returncode}"
        raise VoiceUnavailableError(f"espeak-ng failed: {message}")
    return proc.stdout


def speech(text: str, voice: str, words_per_minute: int) -> bytes:
    """16-bit mono PCM at SAMPLE_RATE."""
    pcm = _run(["-v", voice, "-s", str(words_per_minute), "--stdout"], text)[_WAV_HEADER:]
    return pcm[: len(pcm) // 2 * 2]


def ipa_lines(text: str, voice: str) -> list[str]:
    """espeak-ng's IPA for ``text``, one entry per clause it found (punctuation itself is not printed)."""
    out = _run(["-q", "--ipa", "-v", voice], text).decode("utf-8", errors="replace")
    lines = (_LANGUAGE_SWITCH.sub("", line).strip() for line in out.splitlines())
    return [line for line in lines if line]


def check_voice(voice: str) -> None:
    """Fail now, not in the middle of a reply, when espeak-ng cannot use ``voice``."""
    if not speech("a", voice, 175):
        raise VoiceUnavailableError(f"espeak-ng voice {voice!r} produced no audio")
