"""The latency and capacity benchmarks: their measuring helpers on known inputs, and each one run in
its tiny configuration end to end (a real dev SFU, worker and caller; structure, never timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.capacity_bench import Level, longest_quiet_inside
from benchmarks.capacity_bench import from_raw as capacity_from_raw
from benchmarks.latency_bench import Turn, first_sentence, trailing_silence_s
from benchmarks.latency_bench import from_raw as latency_from_raw
from benchmarks.report import DOCS_DIR, markers

ROOT = Path(__file__).resolve().parents[2]


def test_trailing_silence_is_measured_after_the_last_voiced_window() -> None:
    rate = 48_000
    voiced = (np.sin(np.arange(rate) / 5) * 8000).astype(np.int16)  # 1 s loud
    samples = np.concatenate([voiced, np.zeros(rate // 4, dtype=np.int16)])
    assert trailing_silence_s(samples, rate) == pytest.approx(0.25, abs=0.011)
    assert trailing_silence_s(voiced, rate) == pytest.approx(0.0, abs=0.011)
    assert trailing_silence_s(np.zeros(rate, dtype=np.int16), rate) == 0.0


def test_longest_quiet_inside_a_reply_ignores_the_quiet_around_it() -> None:
    loud = (np.ones(480) * 4000).astype(np.int16)
    quiet = np.zeros(480, dtype=np.int16)
    frames = [quiet] * 30 + [loud] * 5 + [quiet] * 20 + [loud] * 5 + [quiet] * 7 + [loud] + [quiet] * 50
    timed = [(i * 0.01, f) for i, f in enumerate(frames)]
    assert longest_quiet_inside(timed) == pytest.approx(0.20)
    assert longest_quiet_inside(timed[:40]) == 0.0  # one loud stretch: no gap inside


def test_first_sentence_in_both_scripts() -> None:
    assert first_sentence("Sure. I can help you with that.") == "Sure."
    assert first_sentence("好的。请告诉我。") == "好的。"
    assert first_sentence("no stop at all") == "no stop at all"


def test_latency_report_ratios_from_known_turns() -> None:
    turns = [
        Turn(
            index=i,
            language="en",
            text="q",
            speech_s=1.0,
            caller_v2v=2.2,
            agent={"voice_to_voice": 2.0, "end_of_utterance_delay": 1.0, "llm_ttft": 0.5},
            stt_alone=0.8,
            llm_ttft_alone=0.5,
            tts_ttfb_alone=0.2,
        )
        for i in range(1, 4)
    ]
    raw = {
        "config": {
            "min_endpointing_delay": 0.5,
            "vad_min_silence_duration": 0.4,
            "local_threads": 2,
            "preemptive_generation": True,
            "memory_turns": 10,
        },
        "turns": [t.__dict__ for t in turns],
    }
    result = latency_from_raw(raw)
    text = "\n".join(result.headline)
    # 2.2 / (0.5 + 0.8 + 0.5 + 0.2) = 1.10; SFU transit 2.2 - 2.0 = 0.2
    assert "overhead ratio 1.10" in text
    assert "SFU transit 0.200 s" in text


def test_capacity_level_passes_only_within_the_p95_limit() -> None:
    one = Level(n=1, v2v=[1.0, 1.0, 1.1], passed=True, rss_idle_mb=400, rss_peak_mb=420)
    two = Level(n=2, v2v=[1.0, 1.1, 1.2], passed=True, rss_idle_mb=420, rss_peak_mb=460)
    four = Level(n=4, v2v=[2.0, 3.0, 3.0], passed=False, underruns=1)
    result = capacity_from_raw(
        {
            "levels": [lv.__dict__ for lv in (one, two, four)],
            "fake_delays": {
                "stt_delay_ms": 150,
                "ttft_ms": 300,
                "token_interval_ms": 20,
                "tts_delay_ms": 150,
            },
        }
    )
    assert "largest N within 1.2x p95 and no underruns: 2" in "\n".join(result.headline)
    assert two.mb_per_call == 20.0


def run_quick(name: str, out: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", name, "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=420,
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
def test_latency_quick_measures_each_turn_through_the_sfu_and_without(tmp_path: Path) -> None:
    before = (DOCS_DIR / "benchmarks.md").read_bytes()
    proc = run_quick("latency", tmp_path)
    assert "caller voice-to-voice (SFU): p50" in proc.stdout
    raw = check_section(tmp_path, "latency", before)
    answered = [t for t in raw["turns"] if t["caller_v2v"] is not None]
    assert answered, raw["turns"]
    for t in answered:
        assert 0 < t["caller_v2v"] < 60
        assert t["agent"].get("voice_to_voice") is not None
        assert t["stt_alone"] > 0 and t["llm_ttft_alone"] > 0 and t["tts_ttfb_alone"] > 0
    assert any(t["call_agent"].get("voice_to_voice") for t in raw["turns"])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_capacity_quick_runs_one_and_two_calls_on_one_worker(tmp_path: Path) -> None:
    before = (DOCS_DIR / "benchmarks.md").read_bytes()
    proc = run_quick("capacity", tmp_path)
    assert "largest N within" in proc.stdout
    raw = check_section(tmp_path, "capacity", before)
    assert [lv["n"] for lv in raw["levels"]][:1] == [1]
    first = raw["levels"][0]
    assert first["v2v"] and first["rss_peak_mb"] > first["rss_idle_mb"] > 0
