"""serverless-offline serving the functions from serverless.yml, on free ports, for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serverless_offline(aws_url: str, log_path: Path, timeout_s: float = 120) -> Iterator[str]:
    """Run infra/local_aws/serve_functions.sh against ``aws_url``; yields the API's base URL."""
    port, lambda_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": aws_url,
        "FUNCTIONS_PORT": str(port),
        "FUNCTIONS_LAMBDA_PORT": str(lambda_port),
    }
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(ROOT / "infra/local_aws/serve_functions.sh")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("serverless-offline did not start:\n" + log_path.read_text()[-3000:])
            try:
                httpx.get(f"{url}/openapi.json", timeout=30)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
