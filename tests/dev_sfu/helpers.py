"""Shared helpers for the dev SFU tests: tokens, a sine publisher, a frequency probe."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import numpy as np
from livekit import api, rtc

API_KEY = "devkey"
API_SECRET = "secret"
SAMPLE_RATE = 48000


def token(
    room: str,
    identity: str,
    *,
    ttl: datetime.timedelta = datetime.timedelta(minutes=10),
    secret: str = API_SECRET,
    agents: list[tuple[str, str]] | None = None,
    room_config: api.RoomConfiguration | None = None,
    kind: str | None = None,
    **grants: object,
) -> str:
    video = api.VideoGrants(room_join=True, room=room, can_update_own_metadata=True, **grants)  # type: ignore[arg-type]
    tok = (
        api.AccessToken(API_KEY, secret)
        .with_identity(identity)
        .with_name(identity)
        .with_grants(video)
        .with_ttl(ttl)
    )
    if kind:
        tok = tok.with_kind(kind)  # type: ignore[arg-type]
    if agents or room_config is not None:
        config = room_config if room_config is not None else api.RoomConfiguration()
        for name, md in agents or []:
            config.agents.append(api.RoomAgentDispatch(agent_name=name, metadata=md))
        tok = tok.with_room_config(config)
    return tok.to_jwt()


@contextlib.asynccontextmanager
async def joined(url: str, room: str, identity: str, **kw: Any) -> AsyncIterator[rtc.Room]:
    r = rtc.Room()
    await r.connect(url, token(room, identity, **kw), options=rtc.RoomOptions(auto_subscribe=True))
    try:
        yield r
    finally:
        await r.disconnect()


async def publish_sine(room: rtc.Room, freq: float, stop: asyncio.Event, name: str = "mic") -> None:
    """Publish a sine tone in 10 ms frames, paced in real time, until `stop` is set."""
    source = rtc.AudioSource(SAMPLE_RATE, 1)
    track = rtc.LocalAudioTrack.create_audio_track(name, source)
    await room.local_participant.publish_track(
        track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    )
    n = SAMPLE_RATE // 100
    t0 = 0
    while not stop.is_set():
        t = (np.arange(n) + t0) / SAMPLE_RATE
        samples = (0.5 * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
        t0 += n
        frame = rtc.AudioFrame(samples.tobytes(), SAMPLE_RATE, 1, n)
        await source.capture_frame(frame)


async def collect_audio(track: rtc.Track, seconds: float) -> np.ndarray:
    """Collect `seconds` of mono 48 kHz audio from a remote track."""
    stream = rtc.AudioStream(track, sample_rate=SAMPLE_RATE, num_channels=1)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        async for event in stream:
            data = np.frombuffer(event.frame.data, dtype=np.int16)
            chunks.append(data)
            total += len(data)
            if total >= seconds * SAMPLE_RATE:
                break
    finally:
        await stream.aclose()
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


_background: set[asyncio.Task[Any]] = set()


def background(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine from an SDK callback, keeping a reference until it finishes."""
    task = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def eventually(predicate: Callable[[], bool], within: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def dominant_frequency(samples: np.ndarray) -> tuple[float, float]:
    """(peak frequency in Hz, RMS) of the signal."""
    x = samples.astype(np.float64)
    rms = float(np.sqrt(np.mean(x**2))) if len(x) else 0.0
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    return float(freqs[int(np.argmax(spectrum))]), rms
