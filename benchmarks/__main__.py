"""``python -m benchmarks NAME [--quick] [--out DIR]``: run one benchmark, print it, write its section.

Without ``--out`` the section goes to docs/benchmarks.md (plot and raw samples in docs/benchmarks/).
``--quick`` is a tiny configuration for smoke tests; it never writes to docs/: it writes to ``--out``
or, if none is given, to a fresh temporary directory.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import cast

from benchmarks.report import (
    DOC_NAME,
    DOCS_DIR,
    BenchResult,
    Machine,
    describe_machine,
    print_headline,
    write_report,
)
from benchmarks.runner import RunOptions

# name -> module with ``run(options: RunOptions) -> BenchResult``. Add new benchmarks here.
BENCHMARKS: dict[str, str] = {
    "functions": "benchmarks.functions_bench",
    "endpointing": "benchmarks.endpointing_bench",
    # voice-to-voice latency and capacity (items 1-4)
    "latency": "benchmarks.latency_bench",
    "capacity": "benchmarks.capacity_bench",
    # recognition on natural speech, replies, the agent's own voice (issue 9)
    "conversation": "benchmarks.conversation_bench",
    # one-way audio through the dev SFU, by relay mode and number of rooms
    "sfu_transit": "benchmarks.sfu_transit_bench",
    # the first audio of a greeting, from the phrase cache vs. the TTS (issue 11)
    "greeting": "benchmarks.greeting_bench",
}


def load(name: str) -> Callable[[RunOptions], BenchResult]:
    module = importlib.import_module(BENCHMARKS[name])
    return cast(Callable[[RunOptions], BenchResult], module.run)


def render_only(name: str, docs_dir: Path) -> int:
    """Rewrite a section from its saved raw samples (same date and machine), e.g. after changing how
    the section is written; only for benchmarks whose module has ``from_raw``."""
    module = importlib.import_module(BENCHMARKS[name])
    if not hasattr(module, "from_raw"):
        raise SystemExit(f"{name}: no from_raw(); run the benchmark instead")
    raw = json.loads((docs_dir / "benchmarks" / f"{name}.json").read_text())
    result = cast(BenchResult, module.from_raw(raw))
    written = write_report(
        result,
        docs_dir,
        machine=Machine(**raw["machine"]),
        when=datetime.fromisoformat(raw["date"]),
        load_end=raw.get("load_end"),
    )
    print_headline(result, written)
    return 0


def output_dir(out: Path | None, quick: bool) -> Path:
    if out is None:
        if not quick:
            return DOCS_DIR
        out = Path(tempfile.mkdtemp(prefix="bench-quick-"))
    if out.resolve() == DOCS_DIR.resolve() and quick:
        raise SystemExit("--quick must not write to docs/: give another --out")
    out.mkdir(parents=True, exist_ok=True)
    # Start from the real document so the smoke test exercises replacing a section in it.
    if not (out / DOC_NAME).exists() and (DOCS_DIR / DOC_NAME).exists():
        shutil.copy(DOCS_DIR / DOC_NAME, out / DOC_NAME)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(BENCHMARKS))
    parser.add_argument("--quick", action="store_true", help="tiny run for smoke tests (never writes docs/)")
    parser.add_argument("--out", type=Path, help="directory for benchmarks.md, plots and raw samples")
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite the section from its saved raw samples"
    )
    args = parser.parse_args(argv)
    docs_dir = output_dir(args.out, args.quick)
    if args.render_only:
        return render_only(args.name, docs_dir)
    machine = describe_machine()  # before the run: the load average it starts under
    options = RunOptions(quick=args.quick, work_dir=Path(tempfile.mkdtemp(prefix=f"bench-{args.name}-")))
    try:
        result = load(args.name)(options)
    finally:
        shutil.rmtree(options.work_dir, ignore_errors=True)
    written = write_report(result, docs_dir, machine=machine)
    print_headline(result, written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
