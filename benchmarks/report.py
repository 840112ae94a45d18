"""The benchmark framework: statistics, the machine's description, and the writer of docs/benchmarks.md.

A benchmark module returns a ``BenchResult``; ``write_report`` replaces only that benchmark's section of
the markdown file (between ``<!-- bench:NAME:start -->`` and ``<!-- bench:NAME:end -->``), writes its plot
to ``benchmarks/NAME.png`` and its raw samples to ``benchmarks/NAME.json`` next to the markdown file.

Percentiles are linear interpolation between closest ranks (numpy's default "linear" method, Hyndman &
Fan type 7): p50 of [1, 2, 3, 4] is 2.5.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
from matplotlib.figure import Figure

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS_DIR = REPO_ROOT / "docs"
DOC_NAME = "benchmarks.md"
PERCENTILE_METHOD = "linear interpolation between closest ranks (numpy 'linear', type 7)"

# Versions worth knowing when comparing runs across machines or upgrades.
KEY_PACKAGES = (
    "livekit-agents",
    "livekit-plugins-silero",
    "onnxruntime",
    "aws-lambda-powertools",
    "boto3",
    "moto",
    "pydantic",
    "numpy",
)


# ---- statistics -------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside 0..100")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class Summary:
    n: int
    p50: float
    p95: float
    p99: float
    mean: float
    min: float
    max: float

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in ("n", "p50", "p95", "p99", "mean", "min", "max")}


def summarize(values: Sequence[float]) -> Summary:
    return Summary(
        n=len(values),
        p50=percentile(values, 50),
        p95=percentile(values, 95),
        p99=percentile(values, 99),
        mean=statistics.fmean(values),
        min=min(values),
        max=max(values),
    )


@dataclass(frozen=True)
class Repeated:
    """A figure measured ``len(runs)`` times; ``value`` is the median of the runs."""

    value: float
    runs: tuple[float, ...]

    @property
    def spread(self) -> float:
        """(max - min) / median of the runs: how far to trust the median."""
        return (max(self.runs) - min(self.runs)) / self.value if self.value else 0.0


def median_of_repeats(measure: Callable[[], float], repeats: int) -> Repeated:
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    runs = tuple(measure() for _ in range(repeats))
    return Repeated(value=statistics.median(runs), runs=runs)


def median_of(runs: Sequence[float]) -> Repeated:
    return Repeated(value=statistics.median(runs), runs=tuple(runs))


@contextlib.contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """``with stopwatch() as elapsed: ...; elapsed()`` seconds (perf_counter), frozen at exit."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


# ---- the machine --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    cpu_model: str
    cores: int
    usable_cores: int
    ram_gib: float
    python: str
    os: str
    packages: dict[str, str]
    load_1m: float  # load average when described: other work on the machine skews timings

    def markdown(self) -> str:
        pkgs = ", ".join(f"{k} {v}" for k, v in self.packages.items())
        return (
            f"{self.cpu_model}, {self.usable_cores} usable cores (of {self.cores}), "
            f"{self.ram_gib:.0f} GiB RAM, Python {self.python}, {self.os}, "
            f"1-min load average {self.load_1m:.1f} at the start; {pkgs}"
        )


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _ram_gib() -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    return 0.0


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def describe_machine(packages: Sequence[str] = KEY_PACKAGES) -> Machine:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 1
    versions = {p: v for p in packages if (v := _version(p)) is not None}
    return Machine(
        cpu_model=_cpu_model(),
        cores=os.cpu_count() or 1,
        usable_cores=usable,
        ram_gib=_ram_gib(),
        python=platform.python_version(),
        os=f"{platform.system()} {platform.release()}",
        packages=versions,
        load_1m=os.getloadavg()[0],
    )


# ---- results and the markdown report ------------------------------------------------------------------


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""

    def markdown(self) -> str:
        def cell(v: str) -> str:
            return v.replace("|", "\\|").replace("\n", " ")

        lines = []
        if self.caption:
            lines += [self.caption, ""]
        lines.append("| " + " | ".join(cell(h) for h in self.headers) + " |")
        lines.append("| " + " | ".join("---" for _ in self.headers) + " |")
        for row in self.rows:
            if len(row) != len(self.headers):
                raise ValueError(f"row has {len(row)} cells, table has {len(self.headers)} columns: {row}")
            lines.append("| " + " | ".join(cell(c) for c in row) + " |")
        return "\n".join(lines)


@dataclass
class BenchResult:
    """What a benchmark hands back; the writer adds the date, the machine and the plot link."""

    name: str
    title: str
    method: str  # markdown: what was measured and how, sample counts
    tables: list[Table]
    headline: list[str]  # the figures printed to stdout
    conclusion: str = ""  # markdown: reading of the numbers, recommendations
    plot: Callable[[Figure], None] | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # JSON-able samples behind the figures
    quick: bool = False


def fmt_ms(seconds: float | None, digits: int = 1) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.{digits}f} ms"


def fmt_s(seconds: float | None, digits: int = 3) -> str:
    return "n/a" if seconds is None else f"{seconds:.{digits}f} s"


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def render_section(
    result: BenchResult, machine: Machine, when: datetime, plot_rel: str | None, load_end: float
) -> str:
    parts = [
        f"## {result.title}",
        "",
        f"*Run {when.strftime('%Y-%m-%d %H:%M UTC')}"
        + (" (quick configuration: smoke test only, not a measurement)" if result.quick else "")
        + f" on {machine.markdown()}; load average {load_end:.1f} at the end.*",
        "",
        result.method.strip(),
        "",
    ]
    for table in result.tables:
        parts += [table.markdown(), ""]
    if plot_rel:
        parts += [f"![{result.title}]({plot_rel})", ""]
    if result.conclusion.strip():
        parts += [result.conclusion.strip(), ""]
    return "\n".join(parts).rstrip() + "\n"


def replace_section(document: str, name: str, body: str) -> str:
    """Put ``body`` between the section's markers; append the section if the markers are missing."""
    start, end = markers(name)
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(document):
        return pattern.sub(lambda _m: block, document, count=1)
    return document.rstrip() + "\n\n" + block + "\n"


def save_plot(draw: Callable[[Figure], None], path: Path) -> None:
    fig = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
    draw(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")


@dataclass(frozen=True)
class Written:
    document: Path
    plot: Path | None
    raw: Path


def write_report(
    result: BenchResult,
    docs_dir: Path,
    machine: Machine | None = None,
    when: datetime | None = None,
    load_end: float | None = None,
) -> Written:
    """Update one section of ``docs_dir/benchmarks.md`` and write its plot and raw samples."""
    machine = machine or describe_machine()
    when = when or datetime.now(UTC)
    load_end = os.getloadavg()[0] if load_end is None else load_end
    doc = docs_dir / DOC_NAME
    assets = docs_dir / "benchmarks"
    plot_path: Path | None = None
    if result.plot is not None:
        plot_path = assets / f"{result.name}.png"
        save_plot(result.plot, plot_path)
    raw_path = assets / f"{result.name}.json"
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    raw = {
        "name": result.name,
        "date": when.isoformat(),
        "quick": result.quick,
        "machine": machine.__dict__,
        "load_end": load_end,
        "percentiles": PERCENTILE_METHOD,
        **result.raw,
    }
    raw_path.write_text(json.dumps(raw, indent=1, ensure_ascii=False, default=str) + "\n")
    plot_rel = f"benchmarks/{plot_path.name}" if plot_path else None
    body = render_section(result, machine, when, plot_rel, load_end)
    document = doc.read_text() if doc.exists() else skeleton()
    doc.write_text(replace_section(document, result.name, body))
    return Written(document=doc, plot=plot_path, raw=raw_path)


# Sections in the order they appear in a fresh document; benchmarks added later append theirs.
SECTIONS = {
    "latency": "Voice-to-voice latency, its budget and the overhead ratio (items 1–3)",
    "capacity": "Capacity: concurrent calls per worker process (item 4)",
    "functions": "Functions: token issuance, cold imports, session-log ingestion (item 5)",
    "endpointing": "Endpointing trade-off: false end of turn vs. end-of-utterance delay (item 6)",
}


def skeleton() -> str:
    parts = [
        "# Benchmarks",
        "",
        "Figures written by `python -m benchmarks NAME` (see the section list below). "
        "Each section carries the date and machine it was measured on; do not edit between the markers.",
        "",
    ]
    for name, title in SECTIONS.items():
        start, end = markers(name)
        parts += [start, f"## {title}", "", "*Not measured yet.*", end, ""]
    return "\n".join(parts)


def print_headline(result: BenchResult, written: Written, out: Callable[[str], None] = print) -> None:
    out(f"== {result.name}: {result.title}")
    for line in result.headline:
        out(f"  {line}")
    out(f"  section written to {written.document}")
    if written.plot:
        out(f"  plot: {written.plot}")
    out(f"  raw samples: {written.raw}")
    sys.stdout.flush()
