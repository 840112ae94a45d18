"""The three model engines, built from settings and loaded once at start-up (with progress).

Each stage has its own thread pool: a long generation never queues a transcription behind it, and
the engines themselves decide what may run concurrently (llama.cpp's slots, one Whisper pass at a
time, one synthesis per voice).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from infra.model_server.llm import LlamaEngine
from infra.model_server.packaged import Progress, stderr_progress
from infra.model_server.settings import ModelServerSettings
from infra.model_server.stt import WhisperEngine
from infra.model_server.tts import VoiceBook, default_voicebook


@dataclass
class Engines:
    settings: ModelServerSettings
    stt: WhisperEngine
    llm: LlamaEngine
    voices: VoiceBook
    stt_pool: ThreadPoolExecutor = field(init=False)
    llm_pool: ThreadPoolExecutor = field(init=False)
    tts_pool: ThreadPoolExecutor = field(init=False)

    def __post_init__(self) -> None:
        self.stt_pool = ThreadPoolExecutor(1, thread_name_prefix="stt")
        self.llm_pool = ThreadPoolExecutor(self.settings.llm_parallel + 1, thread_name_prefix="llm")
        self.tts_pool = ThreadPoolExecutor(2, thread_name_prefix="tts")

    @classmethod
    def from_settings(cls, settings: ModelServerSettings) -> Engines:
        return cls(
            settings=settings,
            stt=WhisperEngine(
                settings.stt_model, threads=settings.stt_threads, zh_script=settings.stt_zh_script
            ),
            llm=LlamaEngine(
                settings.llm_model,
                n_ctx=settings.llm_context,
                threads=settings.llm_threads,
                batch_threads=settings.llm_batch_threads,
                parallel=settings.llm_parallel,
                draft_model=settings.llm_draft_model,
                model_id=settings.llm_id,
                cache_reuse=settings.llm_cache_reuse,
            ),
            voices=default_voicebook(zh=settings.voice_zh, en=settings.voice_en),
        )

    def load(self, progress: Progress = stderr_progress) -> None:
        """Load and warm every model, printing one line per stage (a person sees it progress)."""
        t0 = time.perf_counter()
        steps = (
            ("speech recognition", self._load_stt),
            ("language model", self._load_llm),
            ("speech synthesis", lambda: self.voices.prepare(progress)),
        )
        for i, (label, load) in enumerate(steps, 1):
            t = time.perf_counter()
            progress(f"loading models ({i}/{len(steps)}): {label} …")
            load()
            progress(f"loaded {label} in {time.perf_counter() - t:.1f}s")
        progress(f"models ready in {time.perf_counter() - t0:.1f}s")

    def _load_stt(self) -> None:
        self.stt.load()
        self.stt.warm_up()

    def _load_llm(self) -> None:
        self.llm.load()

    def close(self) -> None:
        for pool in (self.stt_pool, self.llm_pool, self.tts_pool):
            pool.shutdown(wait=False, cancel_futures=True)
        self.llm.close()
