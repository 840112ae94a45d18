"""Delivery of the session log to the functions API: batched, signed, retried, spooled, flushed.

Nothing is lost: a batch that cannot be delivered (API down, 5xx, timeout) is appended to a spool file
and re-sent later (on the next session start, periodically, or by ``python -m agent_worker flush-spool``).
Nothing is duplicated: every event has a stable id and the API stores each id once, so re-sending a
batch that did arrive (but whose answer was lost) is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydantic import TypeAdapter, ValidationError

from functions.models.session_log import MAX_BATCH_EVENTS, EventBatch, SessionEvent
from functions.models.signing import signed_headers

logger = logging.getLogger("voicecall.telemetry")

_event_adapter: TypeAdapter[SessionEvent] = TypeAdapter(SessionEvent)
_RETRY_DELAYS_S = (0.2, 0.5, 1.0)
_PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 413, 415, 422})
MAX_BATCH_BYTES = 512 * 1024  # well under the API's 1 MiB body limit


def new_event_id() -> str:
    return uuid.uuid4().hex


def now_utc() -> datetime:
    return datetime.now(UTC)


class DeliveryError(Exception):
    """The API could not be reached or answered 5xx/429: keep the batch and try later."""


class RejectedError(Exception):
    """The API refused the batch as invalid: retrying cannot help (kept in a dead-letter file)."""


class SessionLogSender:
    """Sends one batch for one session over HTTP; no state beyond the HTTP client."""

    def __init__(
        self, api_url: str, secret: str, client: httpx.AsyncClient | None = None, timeout_s: float = 5.0
    ) -> None:
        self._api_url = api_url.rstrip("/")
        self._secret = secret
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._owns_client = client is None

    async def send(self, session_id: str, events: Sequence[SessionEvent]) -> None:
        body = EventBatch(events=list(events)).model_dump_json().encode()
        headers = {"content-type": "application/json", **signed_headers(self._secret, body)}
        url = f"{self._api_url}/sessions/{session_id}/events"
        last: Exception | None = None
        for attempt, delay in enumerate((0.0, *_RETRY_DELAYS_S)):
            if delay:
                await asyncio.sleep(delay)
            if attempt:
                # Re-sign: the timestamp is part of the signature and the window is finite.
                headers.update(signed_headers(self._secret, body))
            try:
                resp = await self._client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                last = exc
                continue
            if resp.status_code < 300:
                if _acknowledged(resp, len(events)):
                    return
                # A 2xx that is not our API's answer (a proxy page, a local emulator's error) is no receipt.
                last = DeliveryError(f"HTTP {resp.status_code} without an acknowledgement")
                continue
            if resp.status_code in _PERMANENT_STATUSES:
                raise RejectedError(f"{resp.status_code}: {resp.text[:300]}")
            last = DeliveryError(f"HTTP {resp.status_code}")
        raise DeliveryError(str(last))

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


class Spool:
    """Undelivered events on local disk, one JSON line per event, one file per session."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def append(self, session_id: str, events: Sequence[SessionEvent]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{_safe(session_id)}.jsonl"
        with path.open("a", encoding="utf-8") as fh:
            for ev in events:
                fh.write(
                    json.dumps(
                        {"session_id": session_id, "event": ev.model_dump(mode="json")}, ensure_ascii=False
                    )
                    + "\n"
                )
            fh.flush()
            os.fsync(fh.fileno())

    def dead_letter(self, session_id: str, events: Sequence[SessionEvent], reason: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / "rejected.jsonl").open("a", encoding="utf-8") as fh:
            for ev in events:
                fh.write(
                    json.dumps(
                        {"session_id": session_id, "reason": reason, "event": ev.model_dump(mode="json")},
                        ensure_ascii=False,
                    )
                    + "\n"
                )

    def claim(self) -> list[Path]:
        """Atomically take the spool files, so two processes never re-send the same file at once."""
        if not self.dir.is_dir():
            return []
        claimed = []
        for path in sorted(self.dir.glob("*.jsonl")):
            if path.name == "rejected.jsonl":
                continue
            target = path.with_suffix(f".sending-{os.getpid()}-{uuid.uuid4().hex[:6]}")
            with contextlib.suppress(FileNotFoundError):
                path.rename(target)
                claimed.append(target)
        return claimed

    @staticmethod
    def read(path: Path) -> dict[str, list[SessionEvent]]:
        by_session: dict[str, list[SessionEvent]] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                ev = _event_adapter.validate_python(row["event"])
            except (ValueError, KeyError, ValidationError):
                logger.warning("skipping an unreadable spool line in %s", path.name)
                continue
            by_session.setdefault(row["session_id"], []).append(ev)
        return by_session


def _acknowledged(resp: httpx.Response, count: int) -> bool:
    try:
        body = resp.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("received") == count


def _safe(session_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in session_id)[:128]


def _chunks(events: Sequence[SessionEvent]) -> list[Sequence[SessionEvent]]:
    """Batches within the API's count and body-size limits (long Chinese text is 3 bytes a character)."""
    out: list[Sequence[SessionEvent]] = []
    current: list[SessionEvent] = []
    size = 0
    for ev in events:
        n = len(ev.model_dump_json().encode())
        if current and (len(current) >= MAX_BATCH_EVENTS or size + n > MAX_BATCH_BYTES):
            out.append(current)
            current, size = [], 0
        current.append(ev)
        size += n
    if current:
        out.append(current)
    return out


async def deliver_or_spool(
    sender: SessionLogSender, spool: Spool, session_id: str, events: Sequence[SessionEvent]
) -> bool:
    """Send in API-sized chunks; whatever fails goes to the spool. True when all were delivered."""
    ok = True
    for chunk in _chunks(events):
        try:
            await sender.send(session_id, chunk)
        except RejectedError as exc:
            logger.error("session log rejected for %s: %s", session_id, exc)
            spool.dead_letter(session_id, chunk, str(exc))
        except DeliveryError as exc:
            logger.warning(
                "session log undeliverable for %s (%s); spooled %d events", session_id, exc, len(chunk)
            )
            spool.append(session_id, chunk)
            ok = False
    return ok


async def resend_spooled(sender: SessionLogSender, spool: Spool) -> int:
    """Re-send every spooled event; returns how many were delivered. Failures stay spooled."""
    delivered = 0
    for path in spool.claim():
        for session_id, events in Spool.read(path).items():
            if await deliver_or_spool(sender, spool, session_id, events):
                delivered += len(events)
        path.unlink(missing_ok=True)
    return delivered


class SessionLog:
    """The per-call buffer: ``record`` never blocks the voice loop; a background task ships batches."""

    def __init__(
        self,
        session_id: str,
        sender: SessionLogSender | None,
        spool: Spool,
        batch_size: int = 20,
        flush_interval_s: float = 1.0,
    ) -> None:
        self.session_id = session_id
        self._sender = sender
        self._spool = spool
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._pending: list[SessionEvent] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def record(self, event: SessionEvent) -> None:
        if self._closed:
            logger.warning("event recorded after close; spooling %s", event.type)
            self._spool.append(self.session_id, [event])
            return
        self._pending.append(event)
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="session-log")

    async def _run(self) -> None:
        if self._sender is not None:
            # A previous run's leftovers go first, so the API sees sessions roughly in order.
            with contextlib.suppress(Exception):
                await resend_spooled(self._sender, self._spool)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            self._wake.clear()
            await self._flush_pending()
            if self._closed:
                return

    async def _flush_pending(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        if self._sender is None:
            self._spool.append(self.session_id, batch)
            return
        await deliver_or_spool(self._sender, self._spool, self.session_id, batch)

    async def aclose(self) -> None:
        """Flush everything; called on session end and on worker shutdown."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            # Not cancelled: a batch in flight must finish (delivered or spooled), never vanish.
            await self._task
        await self._flush_pending()
        if self._sender is not None:
            await self._sender.aclose()
