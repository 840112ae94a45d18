"""Each benchmark, run in its tiny configuration as a user would: `python -m benchmarks NAME --quick`.

Asserts the report's structure (section, tables, plot, raw samples), never timing thresholds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.report import DOCS_DIR, markers

ROOT = Path(__file__).resolve().parents[2]


def run_quick(name: str, out: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", name, "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def section(out: Path, name: str) -> str:
    text = (out / "benchmarks.md").read_text()
    start, end = markers(name)
    assert text.count(start) == 1 and text.count(end) == 1, text
    return text.split(start)[1].split(end)[0]


@pytest.fixture
def docs_snapshot() -> bytes:
    return (DOCS_DIR / "benchmarks.md").read_bytes()


def check_common(out: Path, name: str, docs_before: bytes) -> dict:
    body = section(out, name)
    assert "quick configuration" in body and "usable cores" in body
    assert "![" in body and f"benchmarks/{name}.png" in body
    assert (out / "benchmarks" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    raw = json.loads((out / "benchmarks" / f"{name}.json").read_text())
    assert raw["name"] == name and raw["quick"] is True and raw["machine"]["cores"] >= 1
    # Other sections kept, docs/ untouched.
    assert "bench:latency:start" in (out / "benchmarks.md").read_text()
    assert (DOCS_DIR / "benchmarks.md").read_bytes() == docs_before
    return raw


def test_functions_quick(tmp_path: Path, docs_snapshot: bytes) -> None:
    proc = run_quick("functions", tmp_path)
    assert "token warm (mock_aws, in process): p50" in proc.stdout
    assert "events/s" in proc.stdout
    raw = check_common(tmp_path, "functions", docs_snapshot)
    body = section(tmp_path, "functions")
    for caption in ("POST /token, warm", "Cold import", "Session-log ingestion"):
        assert caption in body
    assert len(raw["token"]) == 3
    assert all(v["p50"] > 0 for v in raw["token"].values())
    assert raw["cold_import_s"] and all(s and min(s) > 0 for s in raw["cold_import_s"].values())
    labels = {i["label"] for i in raw["ingestion"]}
    assert any("in process" in x for x in labels) and any("serverless-offline" in x for x in labels)
    assert all(i["events_per_s"] > 0 for i in raw["ingestion"])


def test_endpointing_quick(tmp_path: Path, docs_snapshot: bytes) -> None:
    proc = run_quick("endpointing", tmp_path)
    assert "shipped (shipped) [en]: false end" in proc.stdout
    raw = check_common(tmp_path, "endpointing", docs_snapshot)
    body = section(tmp_path, "endpointing")
    assert "| **shipped** | English |" in body and "**Recommendation.**" in body
    assert "False ends by pause length" in body and "Settings compared" in body
    records = raw["records"]
    assert len(records) == 2 and sorted(str(r["pause_s"]) for r in records) == ["0.6", "None"]
    for r in records:
        # The real session heard the sentence and committed it as a user turn after its speech ended...
        assert r["commits"] and r["user_turns"] >= 1, r
        assert all(committed > end for _start, end, committed in r["commits"]), r
        # ...and asked the turn detector, keyed by the caller's language, for a probability.
        assert any(
            p is not None and 0.0 <= p <= 1.0 and lang == "en" for _at, p, _t, _d, lang in r["predictions"]
        ), r
