"""The benchmark framework: statistics, section replacement, output directories."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks.__main__ import output_dir
from benchmarks.report import (
    DOCS_DIR,
    BenchResult,
    Table,
    describe_machine,
    markers,
    median_of_repeats,
    percentile,
    replace_section,
    skeleton,
    summarize,
    write_report,
)


def test_percentiles_interpolate_between_closest_ranks() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10], 99) == 10
    assert percentile(list(range(1, 101)), 95) == pytest.approx(95.05)
    assert percentile([5, 1, 3], 0) == 1 and percentile([5, 1, 3], 100) == 5
    s = summarize([0.1, 0.2, 0.3, 0.4, 10.0])
    assert (s.n, s.p50, s.max) == (5, 0.3, 10.0)
    assert s.p99 > s.p95 > s.p50
    with pytest.raises(ValueError):
        percentile([], 50)


def test_median_of_repeats_keeps_every_run() -> None:
    values = iter([3.0, 1.0, 2.0])
    rep = median_of_repeats(lambda: next(values), 3)
    assert rep.value == 2.0 and rep.runs == (3.0, 1.0, 2.0)
    assert rep.spread == pytest.approx(1.0)


def test_machine_description_names_cpu_cores_ram_and_versions() -> None:
    m = describe_machine()
    assert m.cpu_model and m.cores >= 1 and m.usable_cores >= 1 and m.ram_gib > 0
    assert m.python.count(".") == 2
    assert "livekit-agents" in m.packages and "moto" in m.packages
    assert m.cpu_model in m.markdown()


def test_only_the_named_section_is_replaced() -> None:
    doc = skeleton()
    updated = replace_section(doc, "functions", "## new\n\nfigures")
    start, end = markers("functions")
    assert updated.count(start) == 1 and updated.count(end) == 1
    assert "figures" in updated.split(start)[1].split(end)[0]
    # the other sections are untouched
    for other in ("latency", "capacity", "endpointing"):
        s, e = markers(other)
        assert doc.split(s)[1].split(e)[0] == updated.split(s)[1].split(e)[0]
    again = replace_section(updated, "functions", "second")
    assert "figures" not in again and "second" in again
    appended = replace_section(doc, "newbench", "hello")
    assert appended.rstrip().endswith(markers("newbench")[1]) and "hello" in appended


def test_table_rejects_ragged_rows() -> None:
    assert Table(["a", "b"], [["1", "x|y"]]).markdown().splitlines()[-1] == "| 1 | x\\|y |"
    with pytest.raises(ValueError):
        Table(["a", "b"], [["1"]]).markdown()


def test_write_report_writes_section_plot_and_raw(tmp_path: Path) -> None:
    def draw(fig: object) -> None:
        fig.subplots().plot([0, 1], [1, 0])  # type: ignore[attr-defined]

    result = BenchResult(
        name="endpointing",
        title="T",
        method="how",
        tables=[Table(["x"], [["1"]])],
        headline=["h"],
        plot=draw,
        raw={"samples": [1]},
    )
    written = write_report(result, tmp_path, when=datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
    text = written.document.read_text()
    assert "*Run 2026-01-02 03:04 UTC on " in text and "| x |" in text
    assert "![T](benchmarks/endpointing.png)" in text
    assert written.plot is not None and written.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert '"samples"' in written.raw.read_text()
    assert markers("latency")[0] in text  # fresh document: the skeleton with every section


def test_quick_runs_never_write_to_docs(tmp_path: Path) -> None:
    chosen = output_dir(None, quick=True)
    assert chosen.resolve() != DOCS_DIR.resolve() and chosen.is_dir()
    with pytest.raises(SystemExit):
        output_dir(DOCS_DIR, quick=True)
    assert output_dir(tmp_path / "o", quick=True) == tmp_path / "o"
