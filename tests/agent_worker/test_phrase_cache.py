"""Fixed phrases replayed from the phrase cache: a greeting cached by one call plays in the next without
the TTS (here: a TTS that cannot be reached), sample for sample what was synthesised."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from agent_worker import phrase_cache
from agent_worker.phrase_cache import PhraseCache, voice_key
from agent_worker.settings import WorkerSettings
from benchmarks.greeting_bench import fill_cache, one_start
from tests.support.model_server import ModelServer
from tests.support.stack import free_port

pytestmark = pytest.mark.timeout(300)


def test_a_cached_greeting_plays_without_the_tts(model_server: ModelServer, tmp_path: Path) -> None:
    cache = tmp_path / "phrases"
    dead = f"http://127.0.0.1:{free_port()}/v1"
    # Nothing cached and no TTS: no greeting (what the next assertion would see without the cache).
    with pytest.raises(RuntimeError, match="no greeting heard"):
        asyncio.run(one_start(dead, "k", "zh", cached=True, cache_dir=cache))
    asyncio.run(fill_cache(model_server.url, model_server.api_key, cache))
    assert len(list(cache.glob("*.wav"))) == 2, "one file per greeting (en, zh)"
    phrase_cache._MEMORY.clear()  # as a new job process: from disk
    for language in ("en", "zh"):
        sample = asyncio.run(one_start(dead, "k", language, cached=True, cache_dir=cache))
        assert sample.first_audio_s < 0.5 and sample.greeting_s > 1.0, sample


def test_the_voice_is_part_of_the_key(tmp_path: Path) -> None:
    a = WorkerSettings(functions_api_url=None)
    b = WorkerSettings(functions_api_url=None, local_tts_voice="zh-baker")
    assert voice_key(a) != voice_key(b)
    samples = (np.arange(2400) % 100).astype(np.int16)
    PhraseCache(tmp_path, voice_key(a))._store("你好", samples, 24_000)
    phrase_cache._MEMORY.clear()
    got = PhraseCache(tmp_path, voice_key(a)).get("你好")
    assert got is not None and np.array_equal(got[0], samples) and got[1] == 24_000
    assert PhraseCache(tmp_path, voice_key(b)).get("你好") is None, "another voice's audio is not replayed"
    assert PhraseCache(tmp_path, voice_key(a)).get("你好吗") is None
