"""Items 1–3: voice-to-voice latency through the dev SFU, its stage budget, the overhead ratio, no-SFU.

Three phases on the same espeak-ng questions (English ``en-us`` and Mandarin ``cmn-latn-pinyin``,
speed 130), one after the other so they never share the CPU:

A. **Through the SFU.** The dev SFU and the agent worker (``python -m agent_worker start``, offline
   providers) run as subprocesses; a Python ``livekit`` caller (tests/support/caller.py) speaks each
   question in real time in one call and records the agent's audio with arrival times. Voice-to-voice
   at the caller = last speech sample sent → first audible (RMS > 500) reply frame received. The stage
   budget is the agent's own per-turn metrics packet (``voicecall.metrics``).
B. **Each stage alone** in this process on the same inputs: Whisper on the same WAV, LLM time to first
   token on the same context (instructions + the transcript of phase A up to that turn + the reply
   language hint), espeak-ng on the first sentence of the same reply.
C. **No SFU**: each question through ``agent_worker.wav_call.run_call``, the code of
   ``python -m agent_worker call`` (one child process, models loaded once, a fresh conversation per
   question), the agent's own metrics of the turn.

The functions API is not started: the worker's telemetry is switched off (``FUNCTIONS_API_URL=``) so
serverless-offline's per-request Python processes do not compete for the two cores.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from matplotlib.figure import Figure

from benchmarks.report import BenchResult, Table, fmt_s, summarize
from benchmarks.runner import RunOptions, progress

ROOT = Path(__file__).resolve().parents[1]
AUDIBLE_RMS = 500.0

# Short questions a caller might ask; alternating languages exercises the bilingual STT mode.
QUESTIONS: list[tuple[str, str]] = [
    ("en", "What time is it now"),
    ("zh", "你好吗"),
    ("en", "Can you help me today"),
    ("zh", "请给我一杯咖啡"),
    ("en", "What is your name"),
    ("zh", "今天是星期几"),
    ("en", "Tell me a short joke"),
    ("zh", "你喜欢音乐吗"),
    ("en", "Where is the station"),
    ("zh", "我想喝茶"),
    ("en", "How are you doing"),
    ("zh", "你会说英语吗"),
    ("en", "Do you like books"),
    ("zh", "北京在哪里"),
    ("en", "What should I eat for lunch"),
    ("zh", "谢谢你的帮助"),
    ("en", "Is it going to rain"),
    ("zh", "现在几点了"),
    ("en", "Can you speak Chinese"),
    ("zh", "你叫什么名字"),
    ("en", "Thank you very much"),
    ("zh", "再见"),
]
QUICK_QUESTIONS = QUESTIONS[:2]


@dataclass
class Turn:
    index: int
    language: str
    text: str
    speech_s: float
    # phase A (SFU), caller-side and the agent's own metrics
    caller_v2v: float | None = None
    agent: dict[str, float | None] = field(default_factory=dict)
    user_text: str = ""
    agent_text: str = ""
    extra_user_turns: int = 0  # >0: the agent split the question into several turns
    # phase B (alone)
    stt_alone: float | None = None
    llm_ttft_alone: float | None = None
    tts_ttfb_alone: float | None = None
    # phase C (no SFU)
    call_agent: dict[str, float | None] = field(default_factory=dict)

    @property
    def transit(self) -> float | None:
        v2v = self.agent.get("voice_to_voice")
        return None if self.caller_v2v is None or v2v is None else self.caller_v2v - v2v

    @property
    def agent_rest(self) -> float | None:
        """Agent voice-to-voice not in its stage metrics: from the first token to a whole first
        sentence for the TTS, and scheduling between the stages."""
        keys = ("voice_to_voice", "end_of_utterance_delay", "llm_ttft", "tts_ttfb")
        v2v, eou, ttft, ttfb = (self.agent.get(k) for k in keys)
        if v2v is None or eou is None or ttft is None or ttfb is None:
            return None
        return v2v - eou - ttft - ttfb

    def alone_sum(self, endpointing: float) -> float | None:
        parts = (self.stt_alone, self.llm_ttft_alone, self.tts_ttfb_alone)
        return None if any(p is None for p in parts) else endpointing + sum(p for p in parts if p)


# ---- helpers ----------------------------------------------------------------------------------------


def worker_defaults() -> dict[str, Any]:
    from agent_worker.settings import WorkerSettings

    s = WorkerSettings(_env_file=None)
    return {
        "min_endpointing_delay": s.min_endpointing_delay,
        "vad_min_silence_duration": s.vad_min_silence_duration,
        "local_threads": s.local_threads,
        "language_mode": s.language_mode,
        "preemptive_generation": s.preemptive_generation,
        "memory_turns": s.memory_turns,
    }


def load_average() -> float:
    return os.getloadavg()[0]


def first_sentence(text: str) -> str:
    m = re.search(r"^.*?(?:[.!?](?:\s|$)|[。！？])", text.strip())
    return (m.group(0) if m else text).strip()


def dispatch_token(api_key: str, api_secret: str, agent_name: str, room: str) -> str:
    from livekit import api

    return (
        api.AccessToken(api_key, api_secret)
        .with_identity("bench-caller")
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .with_ttl(datetime.timedelta(minutes=30))
        .with_room_config(
            api.RoomConfiguration(
                agents=[api.RoomAgentDispatch(agent_name=agent_name, metadata='{"language": "en"}')]
            )
        )
        .to_jwt()
    )


def bench_env(work_dir: Path) -> dict[str, str]:
    return {"FUNCTIONS_API_URL": "", "TELEMETRY_SPOOL_DIR": str(work_dir / "spool")}


# ---- phase A: through the SFU -------------------------------------------------------------------------


def trailing_silence_s(samples: np.ndarray, rate: int, threshold: float = 300.0) -> float:
    """Seconds of quiet after the last voiced 10 ms window: the caller's speech ends before the WAV."""
    win = rate // 100
    n = samples.size // win
    if n == 0:
        return 0.0
    frames = samples[: n * win].reshape(n, win).astype(np.float64)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > threshold)
    return 0.0 if loud.size == 0 else (samples.size - (int(loud[-1]) + 1) * win) / rate


def sent_delay(caller: Any) -> float:
    """Seconds of audio still queued in the caller's ``AudioSource`` when its last frame was handed
    over: after a stall of the caller's event loop the pump catches up in a burst, and that audio
    leaves the caller only this much later."""
    source = caller._source
    return float(source.queued_duration) if source is not None else 0.0


def bench_caller() -> Any:
    from livekit import rtc

    from tests.support.caller import Caller

    class BenchCaller(Caller):
        """The test caller, also noting which track a transcription belongs to (the agent sends both
        the caller's and its own transcriptions)."""

        def _on_text_stream(self, reader: rtc.TextStreamReader, participant_identity: str) -> None:
            async def read() -> None:
                text = await reader.read_all()
                attrs = reader.info.attributes or {}
                self.transcriptions[attrs.get("lk.segment_id", reader.info.stream_id)] = {
                    "from": participant_identity,
                    "text": text,
                    "final": attrs.get("lk.transcription_final") == "true",
                    "track": attrs.get("lk.transcribed_track_id"),
                }

            self._tasks.append(asyncio.create_task(read()))

        def mic_track_sids(self) -> set[str]:
            return set(self.room.local_participant.track_publications)

    return BenchCaller(identity="bench-caller")


async def _sfu_turns(url: str, token: str, wavs: list[Path], turns: list[Turn]) -> None:
    from tests.support.caller import RATE, load_48k

    caller = bench_caller()
    await caller.join(url, token)
    try:
        await caller.wait_state("speaking", within=120)  # the greeting
        for turn, wav in zip(turns, wavs, strict=True):
            await caller.wait_idle(within=120)
            seen_metrics = len(caller.metrics)
            seen_text = set(caller.transcriptions)
            speech = load_48k(wav)
            # the end of the caller's speech: the last voiced sample, not the WAV's trailing quiet
            ended = await caller.say(speech)
            ended += sent_delay(caller) - trailing_silence_s(speech, RATE)
            try:
                speaking_at = await caller.wait_state("speaking", within=60, after=ended)
                await caller.wait_state("listening", within=120, after=speaking_at)
            except TimeoutError as exc:
                progress(f"  turn {turn.index}: {exc}")
                continue
            deadline = time.monotonic() + 3.0
            while len(caller.metrics) == seen_metrics and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)  # the metrics packet follows the reply
            await asyncio.sleep(0.3)  # the last transcription streams
            first = caller.first_loud_after(ended, AUDIBLE_RMS)
            turn.caller_v2v = None if first is None else first - ended
            new = caller.metrics[seen_metrics:]
            if new:
                turn.agent = {k: new[-1].get(k) for k in METRIC_KEYS}
                turn.extra_user_turns = len(new) - 1
            for key, seg in caller.transcriptions.items():
                if key in seen_text or not seg.get("final", True):
                    continue
                if seg.get("track") in caller.mic_track_sids():
                    turn.user_text = (turn.user_text + " " + seg["text"]).strip()
                else:
                    turn.agent_text = (turn.agent_text + " " + seg["text"]).strip()
            progress(
                f"  turn {turn.index} [{turn.language}] caller v2v {fmt_s(turn.caller_v2v)} "
                f"agent v2v {fmt_s(turn.agent.get('voice_to_voice'))}: {turn.user_text!r} -> "
                f"{turn.agent_text[:60]!r}"
            )
    finally:
        await caller.leave()


METRIC_KEYS = ("end_of_utterance_delay", "transcription_delay", "llm_ttft", "tts_ttfb", "voice_to_voice")


def phase_sfu(options: RunOptions, wavs: list[Path], turns: list[Turn]) -> dict[str, Any]:
    from tests.support import stack as stack_support

    settings = stack_support.stack_settings(with_web=False)
    load_before = load_average()
    with stack_support.running(settings, ["sfu", "agent"], env=bench_env(options.work_dir)) as started:
        svcs = cast(Any, started)[0]  # running() yields (services, supervisor)
        agent_pid = svcs["agent"].proc.pid if svcs["agent"].proc else None
        time.sleep(3.0)  # the idle job process finishes prewarming its models
        token = dispatch_token(
            settings.api_key, settings.api_secret, settings.agent_name, "call-bench0latency"
        )
        asyncio.run(_sfu_turns(settings.livekit_url, token, wavs, turns))
    return {"load_before": load_before, "load_after": load_average(), "agent_pid": agent_pid}


# ---- phase B: each stage alone ---------------------------------------------------------------------------


async def _stages_alone(wavs: list[Path], turns: list[Turn], repeats: int) -> None:
    from livekit import rtc
    from livekit.agents import llm

    from agent_worker.agent import with_reply_language
    from agent_worker.memory import bounded_context
    from agent_worker.persona import get_persona
    from agent_worker.providers.local.llm import LocalLLM
    from agent_worker.providers.local.stt import LocalSTT
    from agent_worker.providers.local.tts import LocalTTS
    from agent_worker.settings import WorkerSettings
    from tests.support.audio import read_wav

    s = WorkerSettings(_env_file=None)
    mode = "auto" if s.language_mode == "bilingual" else "en"
    stt = LocalSTT(model_path=s.local_stt_model, language=mode, threads=s.local_threads)  # type: ignore[arg-type]
    lm = LocalLLM(model_path=s.local_llm_model, max_tokens=s.max_reply_tokens, threads=s.local_threads)
    tts = LocalTTS(language="en")
    await asyncio.to_thread(stt.load)
    await asyncio.to_thread(lm._warm_up)
    persona = get_persona(s.persona)
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content=persona.instructions("en"))

    for turn, wav in zip(turns, wavs, strict=True):
        samples, rate = read_wav(wav)
        frame = rtc.AudioFrame(samples.tobytes(), rate, 1, samples.size)
        stt_runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            await stt.recognize(frame)
            stt_runs.append(time.perf_counter() - t0)
        turn.stt_alone = statistics.median(stt_runs)
        user_text = turn.user_text or turn.text
        ctx.add_message(role="user", content=user_text)
        hinted = with_reply_language(bounded_context(ctx, s.memory_turns), "en")
        llm_runs = []
        llama, llama_lock = lm.load()
        with llama_lock:
            # each repeat starts from the same KV cache (the previous turn's prompt), as the agent's
            # did: without this the 2nd and 3rd runs would find the whole prompt already evaluated
            kv_state = llama.save_state()
        for _ in range(repeats):
            with llama_lock:
                llama.load_state(kv_state)
            t0 = time.perf_counter()
            async with lm.chat(chat_ctx=hinted) as stream:
                async for chunk in stream:
                    if chunk.delta and chunk.delta.content:
                        llm_runs.append(time.perf_counter() - t0)
                        break
        turn.llm_ttft_alone = statistics.median(llm_runs) if llm_runs else None
        reply = turn.agent_text or "Sorry, could you say that again?"
        ctx.add_message(role="assistant", content=reply)
        sentence = first_sentence(reply)
        tts_runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            async with tts.synthesize(sentence) as synth:
                async for _audio in synth:
                    tts_runs.append(time.perf_counter() - t0)
                    break
        turn.tts_ttfb_alone = statistics.median(tts_runs) if tts_runs else None
        progress(
            f"  turn {turn.index} alone: stt {fmt_s(turn.stt_alone)} llm_ttft {fmt_s(turn.llm_ttft_alone)} "
            f"tts_ttfb {fmt_s(turn.tts_ttfb_alone)}"
        )


# ---- phase C: no SFU ---------------------------------------------------------------------------------------


def phase_no_sfu(options: RunOptions, wavs: list[Path], turns: list[Turn]) -> None:
    """One child process runs ``agent_worker.wav_call.run_call`` — what ``python -m agent_worker call``
    runs — once per question, in order: the models load once (a process per turn spent ~15 s of the
    budget on imports and loading; the call command prewarms before the audio starts anyway)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **bench_env(options.work_dir)}
    out_json = options.work_dir / "no_sfu.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.latency_bench", str(out_json), *map(str, wavs)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60 * len(wavs) + 120,
    )
    results = json.loads(out_json.read_text()) if out_json.exists() else []
    if proc.returncode != 0:
        progress(f"  no-SFU runner exited {proc.returncode}: {proc.stderr[-1500:]}")
    for turn, metrics in zip(turns, results, strict=False):
        turn.call_agent = metrics
        progress(f"  turn {turn.index} no SFU: v2v {fmt_s(metrics.get('voice_to_voice'))}")


def _call_each(out_json: Path, wavs: list[Path]) -> None:
    """Child process of ``phase_no_sfu``: each WAV through ``run_call``, metrics of its last turn."""
    import logging

    from agent_worker.settings import WorkerSettings
    from agent_worker.wav_call import run_call

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("livekit.agents").setLevel(logging.ERROR)
    settings = WorkerSettings()
    results: list[dict[str, float | None]] = []
    for i, wav in enumerate(wavs):
        result = asyncio.run(
            run_call(settings, wav, out_json.with_name(f"reply{i}.wav"), "en", printer=lambda _l: None)
        )
        last = result.turns[-1].model_dump() if result.turns else {}
        results.append({k: last.get(k) for k in METRIC_KEYS})
        out_json.write_text(json.dumps(results))


# ---- the report -----------------------------------------------------------------------------------------


def _vals(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def _p(values: Sequence[float | None], q: str = "p50") -> str:
    got = _vals(values)
    return fmt_s(getattr(summarize(got), q)) if got else "n/a"


def from_raw(raw: dict[str, Any]) -> BenchResult:
    turns = [Turn(**t) for t in raw["turns"]]
    cfg = raw["config"]
    endpointing = float(cfg["min_endpointing_delay"])
    vad_silence = float(cfg["vad_min_silence_duration"])
    quick = bool(raw.get("quick_run", False))

    caller = [t.caller_v2v for t in turns]
    agent_v2v = [t.agent.get("voice_to_voice") for t in turns]
    call_v2v = [t.call_agent.get("voice_to_voice") for t in turns]
    alone = [t.alone_sum(endpointing) for t in turns]
    critical = [None if t.alone_sum(0.0) is None else vad_silence + (t.alone_sum(0.0) or 0.0) for t in turns]
    caller_vals, alone_vals = _vals(caller), _vals(alone)
    overhead = (
        statistics.median(caller_vals) / statistics.median(alone_vals) if caller_vals and alone_vals else None
    )
    agent_overhead = (
        statistics.median(_vals(agent_v2v)) / statistics.median(alone_vals)
        if _vals(agent_v2v) and alone_vals
        else None
    )
    crit_overhead = (
        statistics.median(caller_vals) / statistics.median(_vals(critical))
        if caller_vals and _vals(critical)
        else None
    )
    call_overhead = (
        statistics.median(_vals(call_v2v)) / statistics.median(alone_vals)
        if _vals(call_v2v) and alone_vals
        else None
    )

    def row(name: str, values: Sequence[float | None], target: str = "") -> list[str]:
        got = _vals(values)
        if not got:
            return [name, "0", "n/a", "n/a", "n/a", target]
        s = summarize(got)
        return [name, str(s.n), fmt_s(s.p50), fmt_s(s.p95), fmt_s(s.max), target]

    def by_lang(lang: str) -> list[Turn]:
        return [t for t in turns if t.language == lang]

    headline_table = Table(
        headers=["figure", "turns", "p50", "p95", "max", "target"],
        rows=[
            row("voice-to-voice at the caller, through the SFU", caller, "p50 ≤ 1.2 s, p95 ≤ 2.0 s"),
            row("  English turns", [t.caller_v2v for t in by_lang("en")]),
            row("  Mandarin turns", [t.caller_v2v for t in by_lang("zh")]),
            row("voice-to-voice as the agent measured it (SFU run)", agent_v2v),
            row("voice-to-voice, `agent_worker call` (no SFU, agent-measured)", call_v2v),
            row("sum of stages alone + MIN_ENDPOINTING_DELAY", alone),
        ],
        caption="**Voice-to-voice** (seconds; end of the caller's speech → first audible reply audio).",
    )
    budget = Table(
        headers=["stage", "p50 (SFU run, agent metrics)", "p95", "p50 alone, same inputs", "p50 no SFU"],
        rows=[
            [
                "end-of-utterance delay (includes STT)",
                _p([t.agent.get("end_of_utterance_delay") for t in turns]),
                _p([t.agent.get("end_of_utterance_delay") for t in turns], "p95"),
                f"{endpointing:.2f} s (MIN_ENDPOINTING_DELAY)",
                _p([t.call_agent.get("end_of_utterance_delay") for t in turns]),
            ],
            [
                "STT (transcription delay)",
                _p([t.agent.get("transcription_delay") for t in turns]),
                _p([t.agent.get("transcription_delay") for t in turns], "p95"),
                _p([t.stt_alone for t in turns]),
                _p([t.call_agent.get("transcription_delay") for t in turns]),
            ],
            [
                "LLM time to first token",
                _p([t.agent.get("llm_ttft") for t in turns]),
                _p([t.agent.get("llm_ttft") for t in turns], "p95"),
                _p([t.llm_ttft_alone for t in turns]),
                _p([t.call_agent.get("llm_ttft") for t in turns]),
            ],
            [
                "TTS time to first byte",
                _p([t.agent.get("tts_ttfb") for t in turns]),
                _p([t.agent.get("tts_ttfb") for t in turns], "p95"),
                _p([t.tts_ttfb_alone for t in turns]),
                _p([t.call_agent.get("tts_ttfb") for t in turns]),
            ],
            [
                "rest of the agent's voice-to-voice (first token → first sentence, scheduling)",
                _p([t.agent_rest for t in turns]),
                _p([t.agent_rest for t in turns], "p95"),
                "–",
                "–",
            ],
            [
                "SFU transit both ways (caller − agent voice-to-voice)",
                _p([t.transit for t in turns]),
                _p([t.transit for t in turns], "p95"),
                "–",
                "–",
            ],
        ],
        caption="**Stage budget** per turn.",
    )

    def ratio(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f}"

    ratios = Table(
        headers=["ratio (medians over the same turns, one run)", "value", "target"],
        rows=[
            [
                "caller voice-to-voice ÷ (STT + LLM TTFT + TTS TTFB alone + MIN_ENDPOINTING_DELAY)",
                ratio(overhead),
                "≤ 1.10",
            ],
            ["agent-measured voice-to-voice (SFU run) ÷ the same", ratio(agent_overhead), ""],
            ["`agent_worker call` voice-to-voice ÷ the same", ratio(call_overhead), ""],
            [
                "caller voice-to-voice ÷ (VAD silence + STT + LLM TTFT + TTS TTFB alone): the critical path",
                ratio(crit_overhead),
                "",
            ],
        ],
        caption="**Overhead ratio.**",
    )
    per_turn = Table(
        headers=["#", "lang", "heard", "caller v2v", "agent v2v", "eou", "stt", "ttft", "ttfb", "no-SFU v2v"],
        rows=[
            [
                str(t.index),
                t.language,
                (t.user_text or "–")[:40],
                fmt_s(t.caller_v2v, 2),
                fmt_s(t.agent.get("voice_to_voice"), 2),
                fmt_s(t.agent.get("end_of_utterance_delay"), 2),
                fmt_s(t.agent.get("transcription_delay"), 2),
                fmt_s(t.agent.get("llm_ttft"), 2),
                fmt_s(t.agent.get("tts_ttfb"), 2),
                fmt_s(t.call_agent.get("voice_to_voice"), 2),
            ]
            for t in turns
        ],
        caption="**Per turn** (seconds; agent columns from the SFU run).",
    )

    loads = raw.get("loads", {})
    method = f"""
`python -m benchmarks latency` — {len(turns)} questions alternating English (espeak-ng `en-us`) and
Mandarin (`cmn-latn-pinyin`), speed 130, in one call (bilingual STT mode, memory of
{cfg["memory_turns"]} turns). Offline providers (Whisper base int8, Qwen2.5-0.5B GGUF, espeak-ng),
LOCAL_THREADS={cfg["local_threads"]}, MIN_ENDPOINTING_DELAY={endpointing}, VAD silence {vad_silence} s,
preemptive generation {cfg["preemptive_generation"]}. The dev SFU and the worker run as subprocesses
(the functions API is not started: worker telemetry off). **Caller voice-to-voice** = last speech
sample handed to the caller's `AudioSource` → first received reply frame with RMS > {AUDIBLE_RMS:.0f}.
**Agent voice-to-voice** is livekit-agents' `e2e_latency` (VAD end of speech, back-dated by the
detected silence → first reply frame to the room). SFU transit is their difference (caller → SFU →
agent plus agent → SFU → caller, including the WebRTC jitter buffers). The stages alone (phase B) run
in the benchmark process after the stack is stopped, each the median of {raw.get("repeats", 1)} runs per
turn: Whisper on the same WAV, LLM time to first token on the same context (instructions, the
transcript of the SFU run so far, the reply-language hint), espeak-ng on the first sentence of the
same reply. The no-SFU figures run each question through `agent_worker.wav_call.run_call` (what
`python -m agent_worker call` runs; one child process, models loaded once, a fresh conversation per
question). Each figure is one run of {len(turns)} turns (p50/p95 over the
turns); the whole run did not fit in the 15-minute budget more than once. 1-min load average: SFU
phase {loads.get("sfu_before", 0):.1f} → {loads.get("sfu_after", 0):.1f}, stages alone
{loads.get("alone_before", 0):.1f}, no-SFU phase {loads.get("call_before", 0):.1f} →
{loads.get("call_after", 0):.1f}.
"""
    c50 = summarize(caller_vals).p50 if caller_vals else None
    c95 = summarize(caller_vals).p95 if caller_vals else None
    headline = [
        f"caller voice-to-voice (SFU): p50 {fmt_s(c50)}  p95 {fmt_s(c95)}  (n={len(caller_vals)})",
        f"agent voice-to-voice (SFU run): p50 {_p(agent_v2v)}; "
        f"no SFU (agent_worker call): p50 {_p(call_v2v)}",
        f"stages p50 (agent): eou {_p([t.agent.get('end_of_utterance_delay') for t in turns])} "
        f"stt {_p([t.agent.get('transcription_delay') for t in turns])} "
        f"llm_ttft {_p([t.agent.get('llm_ttft') for t in turns])} "
        f"tts_ttfb {_p([t.agent.get('tts_ttfb') for t in turns])} "
        f"SFU transit {_p([t.transit for t in turns])}",
        f"stages alone p50: stt {_p([t.stt_alone for t in turns])} "
        f"llm_ttft {_p([t.llm_ttft_alone for t in turns])} tts_ttfb {_p([t.tts_ttfb_alone for t in turns])}",
        f"overhead ratio {ratio(overhead)} (target ≤ 1.10); critical-path ratio {ratio(crit_overhead)}",
    ]
    conclusion = raw.get("conclusion", "")

    def plot(fig: Figure) -> None:
        ax = fig.subplots()
        xs = np.arange(len(turns))
        stages = [
            ("end of utterance (incl. STT)", "end_of_utterance_delay", "#8da0cb"),
            ("LLM TTFT", "llm_ttft", "#66c2a5"),
            ("TTS TTFB", "tts_ttfb", "#fc8d62"),
        ]
        bottom = np.zeros(len(turns))
        for label, key, color in stages:
            vals = np.array([t.agent.get(key) or 0.0 for t in turns])
            ax.bar(xs, vals, bottom=bottom, color=color, label=label)
            bottom += vals
        rest = np.array([max(t.agent_rest or 0.0, 0.0) for t in turns])
        ax.bar(xs, rest, bottom=bottom, color="#e5c494", label="rest of the agent's time (see table)")
        bottom += rest
        transit = np.array([max(t.transit or 0.0, 0.0) for t in turns])
        ax.bar(xs, transit, bottom=bottom, color="#bbbbbb", label="SFU transit (caller − agent)")
        ax.plot(xs, [t.caller_v2v or np.nan for t in turns], "k.", label="caller voice-to-voice")
        ax.plot(
            xs, [t.call_agent.get("voice_to_voice") or np.nan for t in turns], "rx", label="no SFU (call)"
        )
        ax.plot(
            xs,
            [t.alone_sum(endpointing) or np.nan for t in turns],
            "b_",
            ms=12,
            label="stages alone + endpointing",
        )
        ax.axhline(1.2, color="green", ls="--", lw=0.8)
        ax.axhline(2.0, color="red", ls="--", lw=0.8)
        ax.set_xticks(xs, [f"{t.index}{t.language}" for t in turns], fontsize=7, rotation=90)
        ax.set_ylabel("seconds")
        ax.set_title("Voice-to-voice per turn and its stage budget (offline providers, dev SFU)")
        ax.legend(fontsize=7, loc="upper left")

    return BenchResult(
        name="latency",
        title="Voice-to-voice latency, its budget and the overhead ratio (items 1–3)",
        method=method,
        tables=[headline_table, budget, ratios, per_turn],
        headline=headline,
        conclusion=conclusion,
        plot=plot,
        raw=raw,
        quick=quick,
    )


def run(options: RunOptions) -> BenchResult:
    from tests.support.audio import read_wav, speak

    questions = QUICK_QUESTIONS if options.quick else QUESTIONS
    repeats = 1 if options.quick else 3
    wavs: list[Path] = []
    turns: list[Turn] = []
    for i, (lang, text) in enumerate(questions, start=1):
        wav = speak(text, lang, options.work_dir / f"q{i}.wav", speed=130)
        samples, rate = read_wav(wav)
        wavs.append(wav)
        turns.append(Turn(index=i, language=lang, text=text, speech_s=round(samples.size / rate, 3)))
    loads: dict[str, float] = {}
    progress(f"latency: phase A, {len(turns)} turns through the dev SFU")
    sfu = phase_sfu(options, wavs, turns)
    loads["sfu_before"], loads["sfu_after"] = sfu["load_before"], sfu["load_after"]
    progress("latency: phase B, each stage alone on the same inputs")
    loads["alone_before"] = load_average()
    asyncio.run(_stages_alone(wavs, turns, repeats))
    progress("latency: phase C, the same turns through `python -m agent_worker call`")
    loads["call_before"] = load_average()
    phase_no_sfu(options, wavs, turns)
    loads["call_after"] = load_average()
    raw = {
        "config": worker_defaults(),
        "repeats": repeats,
        "quick_run": options.quick,
        "loads": loads,
        "turns": [asdict(t) for t in turns],
        "conclusion": "",  # written after reading the numbers, then `--render-only`
    }
    json.dumps(raw)  # JSON-able, for --render-only
    return from_raw(raw)


if __name__ == "__main__":
    _call_each(Path(sys.argv[1]), [Path(a) for a in sys.argv[2:]])
