"""Item 4: how many concurrent calls one worker process carries with network-bound providers.

One agent worker (``python -m agent_worker start``) with ``JOB_EXECUTOR=thread`` — every call is a
thread-hosted job in that one process — and STT/LLM/TTS on the OpenAI protocol against
``infra/fake_openai`` with fixed delays (STT 150 ms, time to first token 300 ms then 20 ms per token,
TTS 150 ms), no fallback to the local models. The dev SFU runs as a subprocess; N callers
(tests/support/caller.py, each in its own room) run in this process.

At each level N every caller speaks the same English question several times, each turn after a random
0–1.5 s pause, so turns overlap as they would in real traffic. Per turn: voice-to-voice at the caller
(last voiced sample sent → first audible reply frame) and underruns: a silence inside the reply longer
than the longest one in the single-call run plus ``UNDERRUN_MARGIN_S`` (the reply text is fixed, so
its own pauses are the same at every N). A level passes when its voice-to-voice p95 is within 1.2× of
the single call's and no reply had an underrun. Memory per call: growth of the RSS of the worker's
process tree from idle to the peak during the level, divided by N.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import math
import os
import random
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from matplotlib.figure import Figure

from benchmarks.latency_bench import sent_delay, trailing_silence_s
from benchmarks.report import BenchResult, Table, fmt_s, summarize
from benchmarks.runner import RunOptions, progress

ROOT = Path(__file__).resolve().parents[1]
AUDIBLE_RMS = 500.0
QUIET_RMS = 150.0
UNDERRUN_MARGIN_S = 0.25
P95_LIMIT = 1.2
QUESTION = "Hello there, how are you today"
FAKE_DELAYS = {"stt_delay_ms": 150, "ttft_ms": 300, "token_interval_ms": 20, "tts_delay_ms": 150}
LEVELS = [1, 2, 4, 8, 12, 16, 20, 24]
QUICK_LEVELS = [1, 2]
MIN_TURNS_PER_LEVEL = 12
JOIN_GAP_S = 0.5  # between two callers joining


@dataclass
class Level:
    n: int
    v2v: list[float] = field(default_factory=list)  # caller-measured, every turn of every caller
    agent_v2v: list[float] = field(default_factory=list)
    max_gaps: list[float] = field(default_factory=list)  # longest silence inside each reply
    missed: int = 0  # turns with no audible reply
    rss_idle_mb: float = 0.0
    rss_peak_mb: float = 0.0
    worker_cpu_pct: float = 0.0  # mean over the level, 100 = one core
    sfu_cpu_pct: float = 0.0
    load_1m: float = 0.0
    underruns: int = 0
    no_agent: int = 0  # calls the worker never joined
    passed: bool = False

    @property
    def mb_per_call(self) -> float:
        return max(self.rss_peak_mb - self.rss_idle_mb, 0.0) / self.n


def longest_quiet_inside(frames: list[tuple[float, np.ndarray]], threshold: float = QUIET_RMS) -> float:
    """Longest run of quiet audio between the first and the last loud frame of a reply (seconds)."""
    levels = [
        (a.size, float(np.sqrt(np.mean(a.astype(np.float64) ** 2))) if a.size else 0.0) for _t, a in frames
    ]
    loud = [i for i, (_n, r) in enumerate(levels) if r > threshold]
    if len(loud) < 2:
        return 0.0
    longest = run = 0
    for n, r in levels[loud[0] : loud[-1] + 1]:
        run = run + n if r <= threshold else 0
        longest = max(longest, run)
    return longest / 48_000


def tree_rss_mb(pid: int) -> float:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total / 2**20


class Sampler:
    """Samples RSS and CPU of the worker tree and the SFU every 0.5 s in a thread."""

    def __init__(self, worker_pid: int, sfu_pid: int) -> None:
        import psutil

        self._worker = psutil.Process(worker_pid)
        self._sfu = psutil.Process(sfu_pid)
        self.peak_mb = 0.0
        self.cpu: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree_cpu(self) -> float:
        import psutil

        total = 0.0
        for p in [self._worker, *self._worker.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def _run(self) -> None:
        last_w, last_s, last_t = self._tree_cpu(), sum(self._sfu.cpu_times()[:2]), time.monotonic()
        while not self._stop.wait(0.5):
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self._worker.pid))
            w, s, t = self._tree_cpu(), sum(self._sfu.cpu_times()[:2]), time.monotonic()
            self.cpu.append(((w - last_w) / (t - last_t) * 100, (s - last_s) / (t - last_t) * 100))
            last_w, last_s, last_t = w, s, t

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(2)


def token(api_key: str, api_secret: str, agent_name: str, room: str, identity: str) -> str:
    from livekit import api

    return (
        api.AccessToken(api_key, api_secret)
        .with_identity(identity)
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .with_ttl(datetime.timedelta(minutes=30))
        .with_room_config(
            api.RoomConfiguration(
                agents=[api.RoomAgentDispatch(agent_name=agent_name, metadata='{"language": "en"}')]
            )
        )
        .to_jwt()
    )


async def _one_caller(
    url: str,
    tok: str,
    identity: str,
    speech: np.ndarray,
    trailing_s: float,
    turns: int,
    seed: int,
    level: Level,
    join_delay: float,
) -> None:
    from tests.support.caller import Caller

    caller = Caller(identity=identity)
    rnd = random.Random(seed)
    await asyncio.sleep(join_delay)  # calls arrive one after another, not in one burst
    await caller.join(url, tok)
    try:
        try:
            await caller.wait_state("speaking", within=60)  # greeting
        except TimeoutError:
            level.no_agent += 1  # the worker never took this call
            level.missed += turns
            return
        for done in range(turns):
            try:
                await caller.wait_idle(within=60, quiet_s=0.3)
            except TimeoutError:  # stuck speaking or thinking: the rest of this call is lost
                level.missed += turns - done
                return
            await asyncio.sleep(rnd.uniform(0.0, 1.5))
            seen_metrics = len(caller.metrics)
            ended = await caller.say(speech)
            ended += sent_delay(caller) - trailing_s
            try:
                speaking_at = await caller.wait_state("speaking", within=60, after=ended)
                done_at = await caller.wait_state("listening", within=60, after=speaking_at)
            except TimeoutError:
                level.missed += 1
                continue
            await asyncio.sleep(0.3)
            first = caller.first_loud_after(ended, AUDIBLE_RMS)
            if first is None:
                level.missed += 1
                continue
            level.v2v.append(first - ended)
            reply = [(t, a) for t, a in caller.audio if first <= t <= done_at + 0.3]
            level.max_gaps.append(longest_quiet_inside(reply))
            new = caller.metrics[seen_metrics:]
            if new and new[-1].get("voice_to_voice") is not None:
                level.agent_v2v.append(float(new[-1]["voice_to_voice"]))
    finally:
        await caller.leave()


async def _run_level(
    url: str, keys: tuple[str, str, str], speech: np.ndarray, trailing_s: float, level: Level, turns: int
) -> None:
    stamp = f"{int(time.time()) % 100000:05d}"
    calls = []
    for i in range(level.n):
        room = f"call-cap{level.n:02d}{i:02d}{stamp}"
        tok = token(*keys, room=room, identity=f"caller-{i}")
        calls.append(
            _one_caller(
                url, tok, f"caller-{i}", speech, trailing_s, turns, level.n * 100 + i, level, JOIN_GAP_S * i
            )
        )
    await asyncio.gather(*calls)


def run_levels(
    options: RunOptions, levels: list[int], min_turns: int = MIN_TURNS_PER_LEVEL, per_caller: int = 3
) -> tuple[list[Level], dict[str, Any]]:
    from infra.stack.supervisor import Service, Supervisor
    from tests.support import stack as stack_support
    from tests.support.audio import read_wav, speak
    from tests.support.caller import RATE, load_48k

    wav = speak(QUESTION, "en", options.work_dir / "q.wav", speed=130)
    speech = load_48k(wav)

    trailing = trailing_silence_s(speech, RATE)
    speech_s = read_wav(wav)[0].size / read_wav(wav)[1]

    fake_port = stack_support.free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    fake_sup = Supervisor(out=sys.stderr, quiet=True, color=False)
    fake = Service(
        "fake_openai",
        [sys.executable, "-m", "infra.fake_openai", "--port", str(fake_port)],
        env,
        ROOT,
        ready_log=r"fake OpenAI API on",
    )
    worker_env = {
        "STT_PROVIDER": "openai",
        "LLM_PROVIDER": "openai",
        "TTS_PROVIDER": "openai",
        "OPENAI_API_KEY": "fake-key",
        "OPENAI_BASE_URL": f"{fake_url}/v1",
        "FALLBACK_TO_LOCAL": "false",
        "JOB_EXECUTOR": "thread",
        "LOAD_THRESHOLD": "1.0",
        "IDLE_PROCESSES": "1",
        "FUNCTIONS_API_URL": "",
        "TELEMETRY_SPOOL_DIR": str(options.work_dir / "spool"),
    }
    results: list[Level] = []
    meta: dict[str, Any] = {"fake_delays": FAKE_DELAYS, "speech_s": speech_s}
    try:
        fake_sup.start(fake, 60)
        import httpx

        httpx.post(f"{fake_url}/_control", json=FAKE_DELAYS, timeout=5).raise_for_status()
        settings = stack_support.stack_settings(with_web=False)
        keys = (settings.api_key, settings.api_secret, settings.agent_name)
        with stack_support.running(settings, ["sfu", "agent"], env=worker_env) as started:
            svcs = cast(Any, started)[0]  # running() yields (services, supervisor)
            worker_pid = svcs["agent"].proc.pid
            sfu_pid = svcs["sfu"].proc.pid
            time.sleep(2.0)
            baseline_gap: float | None = None
            base_p95: float | None = None
            for n in levels:
                level = Level(n=n, rss_idle_mb=tree_rss_mb(worker_pid), load_1m=os.getloadavg()[0])
                turns = max(per_caller, math.ceil(min_turns / n))
                progress(f"capacity: {n} concurrent calls, {turns} turns each")
                with Sampler(worker_pid, sfu_pid) as sampler:
                    asyncio.run(_run_level(settings.livekit_url, keys, speech, trailing, level, turns))
                level.rss_peak_mb = sampler.peak_mb
                if sampler.cpu:
                    level.worker_cpu_pct = statistics.fmean(c[0] for c in sampler.cpu)
                    level.sfu_cpu_pct = statistics.fmean(c[1] for c in sampler.cpu)
                if baseline_gap is None:
                    baseline_gap = max(level.max_gaps, default=0.0)
                    base_p95 = summarize(level.v2v).p95 if level.v2v else None
                level.underruns = sum(g > baseline_gap + UNDERRUN_MARGIN_S for g in level.max_gaps)
                p95 = summarize(level.v2v).p95 if level.v2v else math.inf
                level.passed = (
                    base_p95 is not None
                    and p95 <= P95_LIMIT * base_p95
                    and level.underruns == 0
                    and level.missed == 0
                    and level.no_agent == 0
                )
                if level.no_agent:
                    meta.setdefault("worker_log_tail", {})[str(n)] = list(svcs["agent"].tail)[-15:]
                results.append(level)
                progress(
                    f"  N={n}: p50 {fmt_s(summarize(level.v2v).p50 if level.v2v else None)} p95 {fmt_s(p95)} "
                    f"underruns {level.underruns} missed {level.missed} "
                    f"RSS {level.rss_idle_mb:.0f}→{level.rss_peak_mb:.0f} MB "
                    f"worker CPU {level.worker_cpu_pct:.0f}% "
                    f"-> {'pass' if level.passed else 'FAIL'}"
                )
                # two failing levels in a row: higher N will not pass either
                if len(results) >= 2 and not results[-1].passed and not results[-2].passed:
                    break
                time.sleep(2.0)  # rooms close, jobs end
            meta["baseline_gap_s"] = baseline_gap
    finally:
        fake_sup.stop()
    return results, meta


def from_raw(raw: dict[str, Any]) -> BenchResult:
    levels = [Level(**lv) for lv in raw["levels"]]
    quick = bool(raw.get("quick_run", False))
    base = levels[0] if levels else None
    base_p95 = summarize(base.v2v).p95 if base and base.v2v else None
    base_agent_p95 = summarize(base.agent_v2v).p95 if base and base.agent_v2v else None
    passing = [lv.n for lv in levels if lv.passed]
    # the largest N such that it and every level below passed
    best = 0
    for lv in levels:
        if not lv.passed:
            break
        best = lv.n
    rows = []
    for lv in levels:
        s = summarize(lv.v2v) if lv.v2v else None
        rows.append(
            [
                str(lv.n),
                str(len(lv.v2v)),
                fmt_s(s.p50 if s else None),
                fmt_s(s.p95 if s else None),
                "n/a" if s is None or not base_p95 else f"{s.p95 / base_p95:.2f}",
                fmt_s(statistics.median(lv.agent_v2v) if lv.agent_v2v else None),
                "n/a"
                if not lv.agent_v2v or not base_agent_p95
                else f"{summarize(lv.agent_v2v).p95 / base_agent_p95:.2f}",
                str(lv.underruns),
                str(lv.missed),
                f"{lv.rss_peak_mb:.0f}",
                f"{lv.mb_per_call:.1f}",
                f"{lv.worker_cpu_pct:.0f} / {lv.sfu_cpu_pct:.0f}",
                f"{lv.load_1m:.1f}",
                "pass" if lv.passed else "fail",
            ]
        )
    table = Table(
        headers=[
            "N",
            "turns",
            "v2v p50",
            "v2v p95",
            "p95 ÷ single",
            "agent v2v p50",
            "agent p95 ÷ single",
            "underruns",
            "missed",
            "worker RSS peak MB",
            "MB per call",
            "CPU % worker / SFU",
            "load 1m",
            "",
        ],
        rows=rows,
        caption="**Concurrent calls on one worker process** (voice-to-voice measured at the callers).",
    )
    per_call = [lv.mb_per_call for lv in levels if lv.n >= 4] or [lv.mb_per_call for lv in levels]
    delays = raw.get("fake_delays", FAKE_DELAYS)
    method = f"""
`python -m benchmarks capacity` — one worker process (`JOB_EXECUTOR=thread`, `LOAD_THRESHOLD=1.0`),
providers `openai` against `infra/fake_openai` (STT {delays["stt_delay_ms"]} ms, time to first token
{delays["ttft_ms"]} ms then {delays["token_interval_ms"]} ms per token, TTS {delays["tts_delay_ms"]} ms; the
reply is the fake's fixed two-sentence echo), `FALLBACK_TO_LOCAL=false`, worker telemetry off. The
dev SFU and the worker are subprocesses; the N callers share the benchmark process (their own audio
pumps also use CPU on the same 2 cores). Each caller speaks "{QUESTION}" (espeak-ng,
{raw.get("speech_s", 0):.1f} s) max(3, ⌈{MIN_TURNS_PER_LEVEL}/N⌉) times, each after a random 0–1.5 s
pause. A level passes when voice-to-voice p95 ≤
{P95_LIMIT}× the single call's, no turn went unanswered (a call the worker never
joined within 60 s counts all its turns) and no reply had an underrun (a silence inside
the reply longer than the single call's longest, {raw.get("baseline_gap_s") or 0:.2f} s, plus
{UNDERRUN_MARGIN_S} s). Memory: RSS of the worker's process tree, idle → peak during the level. One
run per level; levels stop after two consecutive failures.
"""
    headline = [
        f"single call: v2v p95 {fmt_s(base_p95)}",
        f"largest N within {P95_LIMIT}x p95 and no underruns: {best} (target ≥ 20); passing levels {passing}",
        f"memory per call: {statistics.median(per_call):.1f} MB (median over levels ≥ 4)" if per_call else "",
    ]

    def plot(fig: Figure) -> None:
        ax = fig.subplots()
        ns = [lv.n for lv in levels]
        p50 = [summarize(lv.v2v).p50 if lv.v2v else np.nan for lv in levels]
        p95 = [summarize(lv.v2v).p95 if lv.v2v else np.nan for lv in levels]
        ax.plot(ns, p50, "o-", label="voice-to-voice p50")
        ax.plot(ns, p95, "s-", label="voice-to-voice p95")
        if base_p95:
            ax.axhline(
                P95_LIMIT * base_p95, color="red", ls="--", lw=0.8, label=f"{P95_LIMIT}× single-call p95"
            )
        ax.set_xlabel("concurrent calls on one worker process")
        ax.set_ylabel("seconds")
        ax2 = ax.twinx()
        ax2.bar(ns, [lv.rss_peak_mb for lv in levels], alpha=0.2, color="gray", width=0.8)
        ax2.set_ylabel("worker RSS peak (MB, bars)")
        ax.set_title("Capacity: network-bound providers (fake OpenAI server), dev SFU")
        ax.legend(fontsize=8, loc="upper left")

    return BenchResult(
        name="capacity",
        title="Capacity: concurrent calls per worker process (item 4)",
        method=method,
        tables=[table],
        headline=[h for h in headline if h],
        conclusion=raw.get("conclusion", ""),
        plot=plot,
        raw=raw,
        quick=quick,
    )


def run(options: RunOptions) -> BenchResult:
    if options.quick:
        levels, meta = run_levels(options, QUICK_LEVELS, min_turns=2, per_caller=1)
    else:
        levels, meta = run_levels(options, LEVELS)
    raw = {
        "quick_run": options.quick,
        "levels": [asdict(lv) for lv in levels],
        **meta,
        "conclusion": "",  # written after reading the numbers, then `--render-only`
    }
    json.dumps(raw)
    return from_raw(raw)
