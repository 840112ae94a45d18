"""The worker's side of the local model server: is it there, and (for ``call``) start one if not.

A worker whose configuration uses the local server refuses to start when it cannot be reached or
does not serve the configured models: one line naming the setting, instead of errors mid-call.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlparse

import httpx

from agent_worker.settings import WorkerSettings

READY_LINE = "model server ready at "  # printed by python -m infra.model_server


def check_local_server(settings: WorkerSettings, timeout_s: float = 5.0) -> str | None:
    """None when the server answers with every configured model, else the reason as one line."""
    url = settings.local_model_url.rstrip("/")
    try:
        resp = httpx.get(
            f"{url}/models",
            headers={"Authorization": f"Bearer {settings.local_model_api_key.get_secret_value()}"},
            timeout=timeout_s,
        )
    except httpx.HTTPError:
        return (
            f"LOCAL_MODEL_URL: no model server answers at {url} "
            "(start one with: python -m infra.model_server, or ./scripts/run.sh)"
        )
    if resp.status_code in (401, 403):
        return f"LOCAL_MODEL_API_KEY: the model server at {url} rejected the key"
    if resp.status_code != 200:
        return f"LOCAL_MODEL_URL: {url}/models answered HTTP {resp.status_code}"
    try:
        served = {m["id"] for m in resp.json()["data"]}
    except (ValueError, KeyError, TypeError):
        return f"LOCAL_MODEL_URL: {url}/models did not answer with an OpenAI model list"
    wanted = {
        "LOCAL_STT_MODEL": settings.local_stt_model,
        "LOCAL_LLM_MODEL": settings.local_llm_model,
        "LOCAL_TTS_MODEL": settings.local_tts_model,
    }
    for env, model in wanted.items():
        if model not in served:
            return f"{env}: {model!r} is not served by {url} (it serves: {', '.join(sorted(served))})"
    return None


def _is_loopback_url(url: str) -> bool:
    host = urlparse(url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1")


@contextlib.contextmanager
def local_server_for(
    settings: WorkerSettings, progress: Callable[[str], None], ready_timeout_s: float = 600.0
) -> Iterator[WorkerSettings]:
    """Yield settings pointing at a running model server: the configured one if it answers, else
    (loopback URLs only) one started here on a free port and stopped afterwards."""
    problem = check_local_server(settings)
    if problem is None:
        yield settings
        return
    if not problem.startswith("LOCAL_MODEL_URL: no model server") or not _is_loopback_url(
        settings.local_model_url
    ):
        raise LocalServerError(problem)
    progress("no model server running: starting one (python -m infra.model_server) …")
    env = dict(os.environ, MODEL_SERVER_API_KEY=settings.local_model_api_key.get_secret_value())
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.model_server", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        url = _wait_ready(proc, progress, ready_timeout_s)
        yield settings.model_copy(update={"local_model_url": url})
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


class LocalServerError(RuntimeError):
    pass


def _wait_ready(proc: subprocess.Popen[str], progress: Callable[[str], None], timeout_s: float) -> str:
    assert proc.stdout is not None
    found: list[str] = []
    tail: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            if line.startswith(READY_LINE):
                found.append(line.removeprefix(READY_LINE).strip())
                return
            tail.append(line)
            progress(f"  {line}")

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout_s
    while not found:
        if proc.poll() is not None:
            raise LocalServerError("the model server exited while starting:\n" + "\n".join(tail[-20:]))
        if time.monotonic() > deadline:
            raise LocalServerError(f"the model server was not ready after {timeout_s:.0f}s")
        time.sleep(0.1)
    # keep draining its output so it never blocks on a full pipe
    threading.Thread(target=lambda: [None for _ in proc.stdout or ()], daemon=True).start()
    return found[0]
