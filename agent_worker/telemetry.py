"""Delivery of the session log to the functions API: batched, signed, retried, spooled, flushed.

Nothing is lost: a batch that cannot be delivered (API down, 5xx, timeout) is appended to a spool file
and re-sent later: every TELEMETRY_SPOOL_FLUSH_INTERVAL seconds while the worker runs (``SpoolFlusher``,
started by the worker process), at the next session start, or by ``python -m agent_worker flush-spool``.
Nothing is duplicated: every event has a stable id and the API stores each id once, so re-sending a
batch that did arrive (but whose answer was lost) is harmless.

A 401/403 is not the batch's fault but the secret's (a rotation under way): the secret is read again
from its source (SESSION_LOG_SECRET_FILE or the environment) and the batch re-signed and re-sent; still
refused, it stays in the spool for the next flush — never dead-lettered, never counted as delivered. Only
a batch the API refuses as invalid (400, 404, 413, 422...) goes to the dead-letter file, ``rejected.jsonl``,
whose lines the worker's ``/metrics`` and ``/telemetry`` count.

Spool files are shared by the worker process and its job processes: appends and claims hold an exclusive
``flock`` on the file, and a claimed file (``*.sending-*``) whose claimer died is taken again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydantic import TypeAdapter, ValidationError

from functions.models.session_log import MAX_BATCH_EVENTS, EventBatch, SessionEvent
from functions.models.signing import signed_headers

logger = logging.getLogger("voicecall.telemetry")

_event_adapter: TypeAdapter[SessionEvent] = TypeAdapter(SessionEvent)
_RETRY_DELAYS_S = (0.2, 0.5, 1.0)
_PERMANENT_STATUSES = frozenset({400, 404, 413, 415, 422})
_AUTH_STATUSES = frozenset({401, 403})
MAX_BATCH_BYTES = 512 * 1024  # well under the API's 1 MiB body limit
DEAD_LETTER_FILE = "rejected.jsonl"

SecretLoader = Callable[[], str]


@dataclass
class TelemetryStats:
    """This process's delivery counters (the dead letters and the spool are counted on disk instead:
    every process of the worker writes them)."""

    delivered: int = 0
    spooled: int = 0
    dead_lettered: int = 0
    auth_refused: int = 0
    secret_reloads: int = 0
    flushes: int = 0


STATS = TelemetryStats()


def new_event_id() -> str:
    return uuid.uuid4().hex


def now_utc() -> datetime:
    return datetime.now(UTC)


class DeliveryError(Exception):
    """The API could not be reached or answered 5xx/429: keep the batch and try later."""


class RejectedError(Exception):
    """The API refused the batch as invalid: retrying cannot help (kept in a dead-letter file)."""


class UnauthorizedError(DeliveryError):
    """401/403 even after reloading the secret: kept in the spool until a secret the API accepts."""


class SessionLogSender:
    """Sends one batch for one session over HTTP. ``reload_secret``: reads the secret again from where
    it comes from (called once per batch after a 401/403)."""

    def __init__(
        self,
        api_url: str,
        secret: str,
        client: httpx.AsyncClient | None = None,
        timeout_s: float = 5.0,
        reload_secret: SecretLoader | None = None,
    ) -> None:
        self._api_url = api_url.rstrip("/")
        self._secret = secret
        self._reload = reload_secret
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._owns_client = client is None

    def reload_secret(self) -> bool:
        """Read the secret again; True when it changed."""
        if self._reload is None:
            return False
        try:
            fresh = self._reload()
        except Exception as exc:  # an unreadable file or invalid settings: keep what we have
            logger.error("session log secret could not be reloaded: %s", exc)
            return False
        STATS.secret_reloads += 1
        changed = bool(fresh) and fresh != self._secret
        if changed:
            self._secret = fresh
        return changed

    async def send(self, session_id: str, events: Sequence[SessionEvent]) -> None:
        body = EventBatch(events=list(events)).model_dump_json().encode()
        path = f"/sessions/{session_id}/events"
        url = self._api_url + path
        headers = {"content-type": "application/json", **self._signed(body, path)}
        last: Exception | None = None
        reloaded = False
        delays = [0.0, *_RETRY_DELAYS_S]
        attempt = 0
        while attempt < len(delays):
            if delays[attempt]:
                await asyncio.sleep(delays[attempt])
            if attempt:
                # Re-sign: the timestamp is part of the signature and the window is finite.
                headers.update(self._signed(body, path))
            attempt += 1
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
            if resp.status_code in _AUTH_STATUSES:
                if reloaded:
                    break
                # The secret may have been rotated since it was read: read it again, re-sign, re-send now.
                reloaded = True
                logger.warning("session log refused with HTTP %d: reloading the secret", resp.status_code)
                self.reload_secret()
                headers.update(self._signed(body, path))
                continue
            if resp.status_code in _PERMANENT_STATUSES:
                raise RejectedError(f"{resp.status_code}: {resp.text[:300]}")
            last = DeliveryError(f"HTTP {resp.status_code}")
        else:
            raise DeliveryError(str(last))
        STATS.auth_refused += 1
        raise UnauthorizedError(f"HTTP {resp.status_code} even after reloading the secret")

    def _signed(self, body: bytes, path: str) -> dict[str, str]:
        # The path is signed as the API sees it (its route): a batch is bound to its session.
        return signed_headers(self._secret, body, method="POST", path=path)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


class Spool:
    """Undelivered events on local disk, one JSON line per event, one file per session."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def append(self, session_id: str, events: Sequence[SessionEvent]) -> None:
        lines = "".join(
            json.dumps({"session_id": session_id, "event": ev.model_dump(mode="json")}, ensure_ascii=False)
            + "\n"
            for ev in events
        )
        self._append_locked(self.dir / f"{_safe(session_id)}.jsonl", lines)
        STATS.spooled += len(events)

    def dead_letter(self, session_id: str, events: Sequence[SessionEvent], reason: str) -> None:
        lines = "".join(
            json.dumps(
                {"session_id": session_id, "reason": reason, "event": ev.model_dump(mode="json")},
                ensure_ascii=False,
            )
            + "\n"
            for ev in events
        )
        self._append_locked(self.dir / DEAD_LETTER_FILE, lines)
        STATS.dead_lettered += len(events)

    def _append_locked(self, path: Path, text: str) -> None:
        """Append under an exclusive lock, to the file that is at ``path`` once the lock is held: a claim
        may rename it away meanwhile, and what is written then must go to the next file, not the claimed."""
        self.dir.mkdir(parents=True, exist_ok=True)
        while True:
            with path.open("a", encoding="utf-8") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                try:
                    if os.stat(path).st_ino != os.fstat(fh.fileno()).st_ino:
                        continue
                except FileNotFoundError:
                    continue
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
                return

    def dead_letter_count(self) -> int:
        return _count_lines(self.dir / DEAD_LETTER_FILE)

    def pending_count(self) -> int:
        """Events waiting in the spool (including files a flush is sending right now)."""
        if not self.dir.is_dir():
            return 0
        return sum(
            _count_lines(p)
            for p in self.dir.iterdir()
            if p.name != DEAD_LETTER_FILE and (p.suffix == ".jsonl" or ".sending-" in p.name)
        )

    @contextlib.contextmanager
    def claimed(self) -> Iterator[list[Path]]:
        """Take the spool files for sending, each locked until the block ends (two processes never send
        the same file at once). Files an earlier claimer left behind (it died mid-send) are taken too."""
        with contextlib.ExitStack() as stack:
            yield self._claim(stack)

    def _claim(self, stack: contextlib.ExitStack) -> list[Path]:
        if not self.dir.is_dir():
            return []
        claimed: list[Path] = []
        for path in sorted(self.dir.iterdir()):
            if path.name == DEAD_LETTER_FILE:
                continue
            if path.suffix == ".jsonl":
                target = path.with_suffix(f".sending-{os.getpid()}-{uuid.uuid4().hex[:6]}")
                try:
                    path.rename(target)
                except FileNotFoundError:
                    continue
                blocking = True  # an append under way finishes first
            elif ".sending-" in path.name:
                target, blocking = path, False  # only when its claimer no longer holds it
            else:
                continue
            try:
                fh = stack.enter_context(target.open("rb"))
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            if not target.exists():  # sent and removed by the claimer that held it
                continue
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


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(1 for line in fh if line.strip())
    except FileNotFoundError:
        return 0


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
) -> int:
    """Send in API-sized chunks; whatever fails goes to the spool, whatever the API refuses as invalid
    to the dead-letter file. Returns how many events the API acknowledged."""
    delivered = 0
    for chunk in _chunks(events):
        try:
            await sender.send(session_id, chunk)
        except RejectedError as exc:
            logger.error(
                "session log rejected for %s: %s; %d events dead-lettered (%d in total)",
                session_id,
                exc,
                len(chunk),
                spool.dead_letter_count() + len(chunk),
            )
            spool.dead_letter(session_id, chunk, str(exc))
        except UnauthorizedError as exc:
            logger.error(
                "session log refused for %s (%s); %d events stay spooled until a valid SESSION_LOG_SECRET",
                session_id,
                exc,
                len(chunk),
            )
            spool.append(session_id, chunk)
        except DeliveryError as exc:
            logger.warning(
                "session log undeliverable for %s (%s); spooled %d events", session_id, exc, len(chunk)
            )
            spool.append(session_id, chunk)
        else:
            delivered += len(chunk)
            STATS.delivered += len(chunk)
    return delivered


async def resend_spooled(sender: SessionLogSender, spool: Spool) -> int:
    """Re-send every spooled event; returns how many were delivered. Failures stay spooled."""
    delivered = 0
    with spool.claimed() as paths:
        for path in paths:
            for session_id, events in Spool.read(path).items():
                delivered += await deliver_or_spool(sender, spool, session_id, events)
            # Whatever was not delivered is in the spool again (or dead-lettered): this copy is done.
            path.unlink(missing_ok=True)
    return delivered


class SpoolFlusher:
    """Re-sends the spool every ``interval_s`` while the worker runs: an outage's events reach the API
    soon after it is back, not when the next call starts."""

    def __init__(self, sender: SessionLogSender, spool: Spool, interval_s: float) -> None:
        self.sender = sender
        self.spool = spool
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="telemetry-spool-flush")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                delivered = await resend_spooled(self.sender, self.spool)
            except Exception:
                logger.exception("spool flush failed")
                continue
            STATS.flushes += 1
            if delivered:
                logger.info("spool flush delivered %d events", delivered)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.sender.aclose()


def telemetry_status(spool: Spool) -> dict[str, int]:
    """What the worker's /telemetry and /metrics report."""
    return {
        "dead_letters": spool.dead_letter_count(),
        "spooled_events": spool.pending_count(),
        "delivered_by_flush": STATS.delivered,
        "auth_refused": STATS.auth_refused,
        "secret_reloads": STATS.secret_reloads,
        "flushes": STATS.flushes,
    }


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
