from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from livekit import api
from livekit.protocol.webhook import WebhookEvent

from infra.dev_sfu import run_dev_sfu
from infra.dev_sfu.runner import free_port

from .helpers import API_KEY, API_SECRET, eventually, joined


@pytest.fixture
async def webhook_sink() -> AsyncIterator[tuple[str, asyncio.Queue[WebhookEvent], list[str]]]:
    """A small receiver that accepts only events livekit.api.WebhookReceiver verifies."""
    receiver = api.WebhookReceiver(api.TokenVerifier(API_KEY, API_SECRET))
    events: asyncio.Queue[WebhookEvent] = asyncio.Queue()
    content_types: list[str] = []

    async def _hook(request: web.Request) -> web.Response:
        body = await request.text()
        content_types.append(request.headers.get("Content-Type", ""))
        try:
            event = receiver.receive(body, request.headers.get("Authorization", ""))
        except Exception:
            return web.Response(status=401)
        events.put_nowait(event)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/livekit/webhook", _hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/livekit/webhook", events, content_types
    finally:
        await runner.cleanup()


async def _next(events: asyncio.Queue[WebhookEvent]) -> WebhookEvent:
    return await asyncio.wait_for(events.get(), 10)


async def test_room_lifecycle_webhooks_are_signed_and_ordered(webhook_sink) -> None:
    url, events, content_types = webhook_sink
    async with run_dev_sfu(port=0, webhook_url=url) as sfu:
        async with joined(sfu.url, "call-hooks", "caller"):
            started = await _next(events)
            joined_ev = await _next(events)
        left = await _next(events)
        finished = await _next(events)
    assert [e.event for e in (started, joined_ev, left, finished)] == [
        "room_started",
        "participant_joined",
        "participant_left",
        "room_finished",
    ]
    assert {e.room.name for e in (started, joined_ev, left, finished)} == {"call-hooks"}
    assert joined_ev.participant.identity == "caller" and left.participant.identity == "caller"
    assert len({e.id for e in (started, joined_ev, left, finished)}) == 4
    assert set(content_types) == {"application/webhook+json"}


async def test_unreachable_webhook_endpoint_does_not_hurt_the_sfu() -> None:
    dead = f"http://127.0.0.1:{free_port()}/nowhere"
    async with (
        run_dev_sfu(port=0, webhook_url=dead, webhook_attempts=2) as sfu,
        joined(sfu.url, "call-dead-hooks", "a"),
        joined(sfu.url, "call-dead-hooks", "b") as b,
    ):
        await eventually(lambda: "a" in b.remote_participants, 5, "a to appear")
