"""Reading and writing audio files for the ``call`` command (PyAV decodes any common format)."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import av
import numpy as np

from agent_worker.files import write_atomically

SAMPLE_RATE = 48_000


class AudioFileError(Exception):
    """The file cannot serve as a caller's voice; the message is shown to the user as is."""


def read_mono_pcm16(path: Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode ``path`` to mono int16 at ``sample_rate``. Raises AudioFileError with a readable reason."""
    if not path.exists():
        raise AudioFileError(f"{path}: no such file")
    if not path.is_file():
        raise AudioFileError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise AudioFileError(f"{path}: the file is empty")
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioFileError(f"{path}: no audio stream in the file")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
            chunks = []
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except PermissionError as exc:
        raise AudioFileError(f"{path}: cannot be read ({exc.strerror})") from exc
    except av.error.FFmpegError as exc:
        raise AudioFileError(f"{path}: not a readable audio file") from exc
    if not chunks:
        raise AudioFileError(f"{path}: the file holds no audio samples")
    samples = np.concatenate(chunks).astype(np.int16)
    if samples.size < sample_rate // 50:
        raise AudioFileError(f"{path}: the audio is shorter than 20 ms")
    return samples


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Mono 16-bit WAV, written whole then renamed into place (the phrase cache shares its files)."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(sample_rate)
        wf.writeframes(samples.astype(np.int16).tobytes())
    write_atomically(path, buf.getvalue())
