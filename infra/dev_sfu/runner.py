"""Start the development SFU from tests or tools: in-process (`run_dev_sfu`) or as a subprocess."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from .server import DevSfu
from .settings import DevSfuSettings

_REPO_ROOT = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def run_dev_sfu(
    port: int = 0,
    *,
    api_key: str = "devkey",
    api_secret: str = "secret",
    webhook_url: str = "",
    **overrides: Any,
) -> AsyncIterator[DevSfu]:
    """Run an SFU in this event loop. `sfu.url` is the LIVEKIT_URL (ws://127.0.0.1:PORT)."""
    settings = DevSfuSettings(
        port=port, api_key=api_key, api_secret=api_secret, webhook_url=webhook_url, **overrides
    )
    sfu = DevSfu(settings)
    await sfu.start()
    try:
        yield sfu
    finally:
        await sfu.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, timeout: float = 15.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} not healthy after {timeout}s")
        time.sleep(0.1)


@contextlib.contextmanager
def dev_sfu_process(
    port: int = 0,
    *,
    api_key: str = "devkey",
    api_secret: str = "secret",
    webhook_url: str = "",
    log_file: Path | None = None,
    audio_relay: str | None = None,
    media_trace: Path | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run `python -m infra.dev_sfu` as a child process; yields (ws url, process).

    `audio_relay` ("forward"/"decode") and `media_trace` default to the SFU's settings; the trace
    file is complete once the context has exited (the SFU writes it out when it stops)."""
    port = port or free_port()
    extra: list[str] = []
    if audio_relay:
        extra += ["--audio-relay", audio_relay]
    if media_trace:
        extra += ["--media-trace", str(media_trace)]
    env = dict(os.environ, PYTHONPATH=str(_REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.dev_sfu",
            "--port",
            str(port),
            "--api-key",
            api_key,
            "--api-secret",
            api_secret,
            "--webhook-url",
            webhook_url,
            *extra,
        ],
        env=env,
        cwd=_REPO_ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/")
        yield f"ws://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log_file:
            out.close()  # type: ignore[union-attr]
