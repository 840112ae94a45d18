"""The SFU transit benchmark: its burst detection and trace matching on known inputs, and its quick
configuration end to end (a real dev SFU subprocess and SDK participants; structure, never timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from benchmarks.report import DOCS_DIR, markers
from benchmarks.sfu_transit_bench import (
    RATE,
    Burst,
    Scenario,
    bursts_of,
    from_raw,
    heard_onsets,
    onsets,
    packet_timing,
    pair_heard,
    pair_sfu,
    parse_trace,
    tone_code,
)

ROOT = Path(__file__).resolve().parents[2]


def _tone(hz: float, seconds: float) -> np.ndarray:
    return (10000 * np.cos(2 * np.pi * hz * np.arange(int(seconds * RATE)) / RATE)).astype(np.int16)


def test_onsets_after_silence_are_found_and_named_by_their_tone() -> None:
    quiet = np.zeros(RATE // 5, np.int16)  # 200 ms
    gap = np.zeros(RATE // 50, np.int16)  # 20 ms: too short to end a burst
    signal = np.concatenate([quiet, _tone(600, 0.1), gap, _tone(600, 0.1), quiet, _tone(1500, 0.1)])
    # delivered as 10 ms frames, the first at t = 5 s
    frames = [(5.0 + i / 100, signal[i * 480 : (i + 1) * 480]) for i in range(signal.size // 480)]
    times, codes = heard_onsets(frames)
    second = (quiet.size + 0.2 * RATE + gap.size + quiet.size) / RATE
    assert times == pytest.approx([5.0 + quiet.size / RATE, 5.0 + second]) and codes == [0, 3]
    assert list(onsets(signal)) == [quiet.size, int(second * RATE)]
    assert tone_code(np.zeros(480, np.int16) + 1) is None


def test_heard_onsets_pair_with_the_burst_of_their_tone_even_a_period_late() -> None:
    sent = [1.0, 1.41, 1.82, 2.23]
    # burst 0 heard 0.5 s late (after burst 1 was sent), burst 1 lost, bursts 2 and 3 heard
    times, codes = [1.5, 1.9, 2.3], [0, 2, 3]
    assert pair_heard(sent, times, codes) == [1.5, None, 1.9, 2.3]


def _trace_file(path: Path) -> Path:
    ns = 1_000_000
    lines = [f"in TR_a {960 * i} 127 {(1000 + 20 * i) * ns}" for i in range(10)]  # 200 ms quiet
    lines += [
        f"in TR_a 9600 9 {1230 * ns}",  # burst 0 arrives 30 ms after it was sent
        f"out TR_a PA_s 9600 {1231 * ns}",
        f"out TR_a PA_t 9600 {1235 * ns}",  # a second subscriber: the first departure counts
    ]
    lines += [f"in TR_a {9600 + 960 * i} 127 {(1240 + 20 * i) * ns}" for i in range(1, 41)]
    lines += [f"in TR_a {9600 + 19680} 12 {2100 * ns}", "garbage line"]  # burst 1: 460 ms late
    path.write_text("\n".join(lines) + "\n")
    return path


def test_sfu_onsets_pair_by_order_and_rtp_time_even_when_late(tmp_path: Path) -> None:
    trace = parse_trace(_trace_file(tmp_path / "trace.txt"))["TR_a"]
    assert pair_sfu([1.2, 1.61], trace) == [(pytest.approx(1.230), pytest.approx(1.231)), (2.1, None)]
    bursts = bursts_of(0, [0.4, 0.81, 1.2, 1.61], [], trace)  # two warm-up bursts: not counted
    assert [b.index for b in bursts] == [2, 3] and all(b.heard is None for b in bursts)
    timing = packet_timing([trace])
    assert timing["packets"] == 1 and timing["residence_p50"] == pytest.approx(0.001)


def test_packet_timing_measures_delay_variation_above_the_fastest_packet(tmp_path: Path) -> None:
    ns = 1_000_000
    # RTP times 0, 20, 40, 60, 80 ms arriving at 1000, 1030, 1050, 1400, 1425 ms
    arrivals = [(0, 1000), (960, 1030), (1920, 1050), (2880, 1400), (3840, 1425)]
    text = "".join(f"in TR_b {k} 127 {t * ns}\nout TR_b PA_s {k} {(t + 1) * ns}\n" for k, t in arrivals)
    (tmp_path / "t.txt").write_text(text)
    timing = packet_timing(list(parse_trace(tmp_path / "t.txt").values()))
    # offsets above the fastest: 0, 10, 10, 340, 345 ms; p95 interpolates between the last two
    assert timing["jitter_in_p95"] == pytest.approx(0.344, abs=1e-6)
    assert timing["jitter_out_p95"] == pytest.approx(0.344, abs=1e-6)
    assert timing["residence_max"] == pytest.approx(0.001)


def test_report_compares_the_modes_from_known_scenarios() -> None:
    def scenario(mode: str, transit: float, in_sfu: float) -> Scenario:
        bursts = [
            Burst(room=0, sent=s, sfu_in=s + 0.02, sfu_out=s + 0.02 + in_sfu, heard=s + transit)
            for s in (1.0, 2.0, 3.0)
        ]
        return Scenario(mode=mode, rooms=1, repeat=0, bursts=bursts, jitter_buffer_s=[0.03], sfu_cpu=0.1)

    raw = {
        "levels": [1],
        "bursts": 3,
        "repeats": 1,
        "scenarios": [asdict(scenario("decode", 0.100, 0.022)), asdict(scenario("forward", 0.065, 0.0001))],
    }
    result = from_raw(raw)
    text = "\n".join(result.headline)
    assert "one-way p50 100.0 → 65.0 ms (-35.0)" in text
    assert "in SFU 0.1 ms" in text and "NetEq mean 30.0 ms" in text
    parts = result.tables[1].rows
    assert parts[0][:3] == ["decode", "1", "20.0 ms"] and parts[0][3].startswith("22.0 ms")
    assert parts[1][7] == "46.5 ms"  # floor: 16.5 ms of Opus + the NetEq mean


@pytest.mark.timeout(300)
def test_quick_run_writes_its_section_with_both_relay_modes(tmp_path: Path) -> None:
    before = (DOCS_DIR / "benchmarks.md").read_bytes()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "sfu_transit", "--quick", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "decode → forward: one-way p50" in proc.stdout
    text = (tmp_path / "benchmarks.md").read_text()
    start, end = markers("sfu_transit")
    assert text.count(start) == 1 and text.count(end) == 1
    body = text.split(start)[1].split(end)[0]
    assert "quick configuration" in body and "benchmarks/sfu_transit.png" in body
    assert "**One-way transit**" in body and "**Parts**" in body
    assert (tmp_path / "benchmarks" / "sfu_transit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (DOCS_DIR / "benchmarks.md").read_bytes() == before
    raw = json.loads((tmp_path / "benchmarks" / "sfu_transit.json").read_text())
    assert {s["mode"] for s in raw["scenarios"]} == {"decode", "forward"}
    for s in raw["scenarios"]:
        heard = [b for b in s["bursts"] if b["heard"] is not None]
        assert heard, s
        assert all(0 < b["heard"] - b["sent"] < 1.0 for b in heard)
        assert any(b["sfu_in"] is not None and b["sfu_out"] is not None for b in heard), s
