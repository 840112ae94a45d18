"""Shared fixtures: espeak-ng speech and the OpenAI-protocol server."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.model_server import ModelServer, model_server_process
from tests.support.servers import LoopThread, loop_thread

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def pytest_configure(config: pytest.Config) -> None:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise pytest.UsageError(
                f"{tool} is required (apt-get install espeak-ng sox); run scripts/setup.sh"
            )


@dataclass
class FakeOpenAIHandle:
    base_url: str
    server: Any
    lt: LoopThread

    def control(self, **settings: Any) -> dict[str, Any]:
        r = httpx.post(self.base_url.removesuffix("/v1") + "/_control", json=settings, timeout=5)
        r.raise_for_status()
        return r.json()

    def stats(self) -> dict[str, Any]:
        return httpx.get(self.base_url.removesuffix("/v1") + "/_stats", timeout=5).json()


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIHandle]:
    from infra.fake_openai.server import serve

    with loop_thread() as lt:
        server, runner, url = lt.run(serve())
        try:
            yield FakeOpenAIHandle(url, server, lt)
        finally:
            lt.run(runner.cleanup())


def worker_env(**overrides: str) -> dict[str, str]:
    """Environment for a worker subprocess: offline, no telemetry unless asked, plus overrides."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_", "LIVEKIT_", "LOCAL_"))
    }
    env.update({"HF_HUB_OFFLINE": "1", "FUNCTIONS_API_URL": "", "PYTHONPATH": str(ROOT)})
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def model_server() -> Iterator[ModelServer]:
    """One local model server for the whole run: the models load once, as on a real machine."""
    with model_server_process(env={"MODEL_SERVER_MAX_UPLOAD_MB": "2"}) as server:
        yield server


def local_env(server: ModelServer, **overrides: str) -> dict[str, str]:
    """A worker subprocess's environment using the session's model server as its local provider."""
    return worker_env(**{**server.worker_env(), **overrides})


def as_sent(said: str) -> dict[str, str]:
    """A caller's words as the worker sends them to the LLM: with the reply-language hint."""
    from agent_worker.agent import with_hint
    from agent_worker.persona import language_of

    return {"role": "user", "content": with_hint(said, language_of(said) or "en")}
