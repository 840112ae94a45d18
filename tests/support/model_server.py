"""One local model server process (``python -m infra.model_server``) for tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "model server ready at "
TEST_KEY = "test-model-server-key"


@dataclass
class ModelServer:
    url: str  # http://127.0.0.1:PORT/v1
    api_key: str
    proc: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.url.removesuffix("/v1")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def worker_env(self) -> dict[str, str]:
        """What a worker needs to use this server as its local provider."""
        return {"LOCAL_MODEL_URL": self.url, "LOCAL_MODEL_API_KEY": self.api_key}


@contextmanager
def model_server_process(
    env: dict[str, str] | None = None, timeout_s: float = 600.0, echo: bool = False
) -> Iterator[ModelServer]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "MODEL_SERVER_API_KEY": TEST_KEY, **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.model_server", "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    log: list[str] = []
    ready: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.append(line.rstrip("\n"))
            if echo:
                print(f"models | {line.rstrip()}", file=sys.stderr, flush=True)
            if line.startswith(READY_LINE):
                ready.append(line.removeprefix(READY_LINE).strip())

    threading.Thread(target=pump, daemon=True).start()
    try:
        deadline = time.monotonic() + timeout_s
        while not ready:
            if proc.poll() is not None:
                raise RuntimeError("model server exited while starting:\n" + "\n".join(log[-30:]))
            if time.monotonic() > deadline:
                raise RuntimeError("model server not ready in time:\n" + "\n".join(log[-30:]))
            time.sleep(0.1)
        yield ModelServer(ready[0], full_env["MODEL_SERVER_API_KEY"], proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
