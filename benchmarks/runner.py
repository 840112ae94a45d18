"""What every benchmark receives, and small helpers they share."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunOptions:
    quick: bool  # tiny configuration for smoke tests: structure, not figures
    work_dir: Path  # scratch space, removed after the run


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null: Powertools logs and EMF metrics print a line per request,
    through handlers that captured sys.stdout at import, so redirecting sys.stdout is not enough."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def progress(message: str) -> None:
    """A progress line on stderr (stdout carries the figures)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
