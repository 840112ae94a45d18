from __future__ import annotations

import asyncio
import urllib.request

import pytest

from infra.dev_sfu import DevSfuSettings, dev_sfu_process
from infra.dev_sfu.runner import free_port

from .helpers import eventually, joined


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEV_SFU_PORT", "17999")
    monkeypatch.setenv("LIVEKIT_API_KEY", "k1")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "s1")
    monkeypatch.setenv("LIVEKIT_WEBHOOK_URL", "http://127.0.0.1:1/hook")
    settings = DevSfuSettings()
    assert (settings.port, settings.api_key, settings.api_secret) == (17999, "k1", "s1")
    assert settings.webhook_url == "http://127.0.0.1:1/hook"
    assert DevSfuSettings(port=5).port == 5  # flags win over the environment


async def test_cli_serves_health_and_rooms_and_stops_cleanly() -> None:
    port = free_port()
    with dev_sfu_process(port=port) as (url, proc):
        assert url == f"ws://127.0.0.1:{port}"
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/").read())
        assert body == b"OK"
        async with joined(url, "cli-room", "a"), joined(url, "cli-room", "b") as b:
            await eventually(lambda: "a" in b.remote_participants, 5, "a to appear")
        proc.terminate()
        assert await asyncio.to_thread(proc.wait, 10) == 0
