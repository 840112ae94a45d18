"""Starts services as child process groups, waits for each to be healthy, prefixes their logs, stops all.

Each service runs in its own session (process group) so that stopping it also stops whatever it spawned
(npx → node → python), leaving no orphans.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

COLORS = ["36", "33", "35", "32", "34", "31"]


@dataclass
class Service:
    name: str
    cmd: list[str]
    env: dict[str, str]
    cwd: Path
    health_url: str | None = None
    ready_log: str | None = None  # regex on the service's output meaning "ready"
    proc: subprocess.Popen[str] | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=40))
    _ready_seen: threading.Event = field(default_factory=threading.Event)


class StartupError(RuntimeError):
    pass


class Supervisor:
    def __init__(
        self,
        out: TextIO = sys.stdout,
        color: bool | None = None,
        quiet: bool = False,
        log_dir: Path | None = None,
    ) -> None:
        """``log_dir``: every service's whole output is also kept in ``<log_dir>/<name>.log`` (tests read
        them back when they fail; quiet mode alone keeps only the last lines)."""
        self.services: list[Service] = []
        self.log_dir = log_dir
        self._out = out
        self._color = out.isatty() if color is None else color
        self._quiet = quiet
        self._lock = threading.Lock()

    def say(self, text: str) -> None:
        with self._lock:
            self._out.write(text + "\n")
            self._out.flush()

    def _prefix(self, idx: int, name: str) -> str:
        label = f"{name:>9} |"
        return f"\x1b[{COLORS[idx % len(COLORS)]}m{label}\x1b[0m" if self._color else label

    def start(self, svc: Service, timeout_s: float, progress: Callable[[str], None] | None = None) -> None:
        idx = len(self.services)
        self.services.append(svc)
        svc.proc = subprocess.Popen(
            svc.cmd,
            cwd=svc.cwd,
            env=svc.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        ready_re = re.compile(svc.ready_log) if svc.ready_log else None
        prefix = self._prefix(idx, svc.name)

        log = self.log_path(svc.name).open("a", encoding="utf-8") if self.log_dir else None

        def pump() -> None:
            assert svc.proc is not None and svc.proc.stdout is not None
            for line in svc.proc.stdout:
                line = line.rstrip("\n")
                svc.tail.append(line)
                if log:
                    log.write(line + "\n")
                    log.flush()
                if ready_re and ready_re.search(line):
                    svc._ready_seen.set()
                if not self._quiet:
                    self.say(f"{prefix} {line}")
            if log:
                log.close()

        threading.Thread(target=pump, daemon=True, name=f"log-{svc.name}").start()
        self._wait_healthy(svc, timeout_s, progress)

    def log_path(self, name: str) -> Path:
        assert self.log_dir is not None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self.log_dir / f"{name}.log"

    def _wait_healthy(self, svc: Service, timeout_s: float, progress: Callable[[str], None] | None) -> None:
        deadline = time.monotonic() + timeout_s
        last_note = time.monotonic()
        while True:
            assert svc.proc is not None
            if svc.proc.poll() is not None:
                raise StartupError(
                    f"{svc.name} exited with code {svc.proc.returncode}:\n" + "\n".join(svc.tail)
                )
            if self._healthy(svc):
                return
            if time.monotonic() > deadline:
                raise StartupError(
                    f"{svc.name} was not healthy after {timeout_s:.0f}s:\n" + "\n".join(svc.tail)
                )
            if progress and time.monotonic() - last_note > 10:
                last_note = time.monotonic()
                progress(f"  … still waiting for {svc.name} ({int(deadline - time.monotonic())}s left)")
            time.sleep(0.3)

    @staticmethod
    def _healthy(svc: Service) -> bool:
        if svc.ready_log and not svc._ready_seen.is_set():
            return False
        if svc.health_url:
            try:
                with urllib.request.urlopen(svc.health_url, timeout=2) as resp:
                    return bool(200 <= resp.status < 500)
            except urllib.error.HTTPError as exc:
                return exc.code < 500
            except OSError:
                return False
        return True

    def stop_one(self, svc: Service, grace_s: float = 8.0) -> None:
        """Stop one service's whole process group (SIGTERM, then SIGKILL after ``grace_s``)."""
        if svc.proc is None:
            return
        sig = signal.SIGTERM if grace_s > 0 else signal.SIGKILL
        with contextlib.suppress(ProcessLookupError):
            os.killpg(svc.proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            svc.proc.wait(max(0.1, grace_s))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(svc.proc.pid, signal.SIGKILL)
        if svc in self.services:
            self.services.remove(svc)

    def stop(self, grace_s: float = 8.0) -> None:
        """SIGTERM every group (newest first), then SIGKILL whatever is left after ``grace_s``."""
        for svc in reversed(self.services):
            if svc.proc and svc.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(svc.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for svc in reversed(self.services):
            if svc.proc is None:
                continue
            with contextlib.suppress(subprocess.TimeoutExpired):
                svc.proc.wait(max(0.1, deadline - time.monotonic()))
            # The group may hold grandchildren even after the leader exited.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(svc.proc.pid, signal.SIGKILL)

    def first_exited(self) -> Service | None:
        for svc in self.services:
            if svc.proc and svc.proc.poll() is not None:
                return svc
        return None
