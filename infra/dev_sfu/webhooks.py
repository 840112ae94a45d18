"""Room lifecycle webhooks, signed as livekit-server signs them.

Body: protobuf-JSON `WebhookEvent`; header `Authorization: <JWT>` (no "Bearer") whose `sha256` claim is
the base64 SHA-256 of the body; `Content-Type: application/webhook+json`. Delivery is in order, retried
a few times, and never raises into the SFU.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import logging
import time

import aiohttp
from google.protobuf.json_format import MessageToJson
from livekit.api import AccessToken
from livekit.protocol import models
from livekit.protocol.webhook import WebhookEvent

from . import ids

logger = logging.getLogger("dev_sfu.webhooks")


def sign(body: str, api_key: str, api_secret: str) -> str:
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    return (
        AccessToken(api_key, api_secret).with_ttl(datetime.timedelta(minutes=5)).with_sha256(digest).to_jwt()
    )


class WebhookSender:
    def __init__(self, url: str, api_key: str, api_secret: str, attempts: int = 4) -> None:
        self._url = url
        self._api_key = api_key
        self._api_secret = api_secret
        self._attempts = attempts
        self._queue: asyncio.Queue[WebhookEvent | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._url)

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
            self._task = asyncio.create_task(self._deliver_all(), name="dev_sfu_webhooks")

    async def close(self, drain_timeout: float = 3.0) -> None:
        if self._task is not None:
            self._queue.put_nowait(None)
            try:
                await asyncio.wait_for(asyncio.shield(self._task), drain_timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def emit(
        self,
        event: str,
        room: models.Room | None = None,
        participant: models.ParticipantInfo | None = None,
        track: models.TrackInfo | None = None,
    ) -> None:
        if not self.enabled:
            return
        msg = WebhookEvent(event=event, id=ids.event_id(), created_at=int(time.time()))
        if room is not None:
            msg.room.CopyFrom(room)
        if participant is not None:
            msg.participant.CopyFrom(participant)
        if track is not None:
            msg.track.CopyFrom(track)
        self._queue.put_nowait(msg)

    async def _deliver_all(self) -> None:
        while True:
            msg = await self._queue.get()
            if msg is None:
                return
            await self._deliver(msg)

    async def _deliver(self, msg: WebhookEvent) -> None:
        assert self._session is not None
        body = MessageToJson(msg, indent=None)
        for attempt in range(1, self._attempts + 1):
            headers = {
                "Content-Type": "application/webhook+json",
                "Authorization": sign(body, self._api_key, self._api_secret),
            }
            try:
                async with self._session.post(self._url, data=body.encode(), headers=headers) as resp:
                    if resp.status < 300:
                        logger.debug("webhook %s delivered", msg.event)
                        return
                    problem = f"HTTP {resp.status}"
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            logger.warning(
                "webhook %s (room %s) to %s failed (attempt %d/%d): %s",
                msg.event,
                msg.room.name,
                self._url,
                attempt,
                self._attempts,
                problem,
            )
            if attempt < self._attempts:
                await asyncio.sleep(0.5 * 2 ** (attempt - 1))
        logger.error("webhook %s (room %s) dropped", msg.event, msg.room.name)
