"""Fan-out of one published track to many subscribers, packet by packet, without buffering.

aiortc hands us decoded audio. Each published track is re-encoded to Opus once, with the RTP
timestamps of the source kept (so DTX pauses stay pauses for the receivers' jitter buffers), and the
same packets go to every subscriber's RTCRtpSender, which sends pre-encoded packets as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import av
import numpy as np
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpreceiver import RTCRtpReceiver

logger = logging.getLogger("dev_sfu.media")

# A subscriber that falls behind loses its oldest frames instead of drifting into delay.
_MAX_QUEUED_FRAMES = 5
_OPUS_RATE = 48000
_OPUS_FRAME = 960
_TIME_BASE = fractions.Fraction(1, _OPUS_RATE)


class OpusPacketizer:
    """One Opus encoder per published track; packets carry the source frames' timestamps."""

    def __init__(self) -> None:
        self._codec: Any = av.CodecContext.create("libopus", "w")
        self._codec.bit_rate = 64000
        self._codec.format = "s16"
        self._codec.layout = "stereo"
        self._codec.sample_rate = _OPUS_RATE
        self._codec.time_base = _TIME_BASE
        self._codec.options = {"application": "voip"}
        self._resampler = av.AudioResampler(
            format="s16", layout="stereo", rate=_OPUS_RATE, frame_size=_OPUS_FRAME
        )
        self._pending_pts: deque[int] = deque()
        self._next_pts = 0

    def encode(self, frame: av.AudioFrame) -> list[av.Packet]:
        if (
            frame.format.name == "s16"
            and frame.layout.name == "stereo"
            and frame.sample_rate == _OPUS_RATE
            and frame.samples == _OPUS_FRAME
        ):
            frames = [frame]  # what aiortc's Opus decoder yields: no resampling needed
        else:
            frames = self._resampler.resample(frame)
        packets: list[av.Packet] = []
        for f in frames:
            pts = f.pts if f.pts is not None and f is frame else self._next_pts
            self._next_pts = pts + f.samples
            self._pending_pts.append(pts)
            f.pts = None  # libopus counts its own; ours are re-applied below
            for packet in self._codec.encode(f):
                packet.pts = self._pending_pts.popleft() if self._pending_pts else self._next_pts
                packet.time_base = _TIME_BASE
                packets.append(packet)
        return packets


def shorten_audio_jitter_buffer(receiver: RTCRtpReceiver) -> None:
    """aiortc holds 4 extra audio packets (~80 ms) before decoding; loopback needs none.

    aiortc exposes no option for this, so the receiver's private buffer is swapped for one without
    prefetch. If a future aiortc renames it, nothing breaks: the default buffer stays.
    """
    attr = "_RTCRtpReceiver__jitter_buffer"
    if getattr(receiver, "_RTCRtpReceiver__kind", None) == "audio" and hasattr(receiver, attr):
        setattr(receiver, attr, JitterBuffer(capacity=16, prefetch=0))


class SubscribedTrack(MediaStreamTrack):
    """What one subscriber's RTCRtpSender reads: packets pushed by the relay, newest kept."""

    def __init__(self, kind: str, track_sid: str) -> None:
        super().__init__()
        self.kind = kind
        # The track id becomes the SDP msid track id, which SDKs read as the track sid.
        self._id = track_sid
        self._queue: asyncio.Queue[Any] = asyncio.Queue()

    def push(self, frame: Any) -> None:
        if self._queue.qsize() >= _MAX_QUEUED_FRAMES:
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
        self._queue.put_nowait(frame)

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._queue.get()
        if frame is None:
            self.stop()
            raise MediaStreamError
        return frame

    def end(self) -> None:
        self._queue.put_nowait(None)


class SpeechActivity:
    """Speaking / not speaking from frame RMS, with hysteresis (for SpeakersChanged)."""

    START_RMS = 0.01  # about -40 dBFS
    STOP_RMS = 0.005
    HANG_FRAMES = 25  # 0.5 s of quiet at 20 ms frames ends a turn

    def __init__(self, on_change: Callable[[bool, float], None]) -> None:
        self._on_change = on_change
        self.active = False
        self.level = 0.0
        self._quiet = 0

    def feed(self, frame: Any) -> None:
        samples = frame.to_ndarray().astype(np.float32) / 32768.0
        rms = float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0
        self.level = max(rms, self.level * 0.8)
        if not self.active and rms > self.START_RMS:
            self.active = True
            self._quiet = 0
            self._on_change(True, min(1.0, self.level * 4))
        elif self.active:
            self._quiet = self._quiet + 1 if rms < self.STOP_RMS else 0
            if self._quiet >= self.HANG_FRAMES:
                self.stop()

    def stop(self) -> None:
        if self.active:
            self.active = False
            self._on_change(False, 0.0)


class TrackRelay:
    """Reads a publisher's remote track once and hands every frame to each subscriber at once."""

    def __init__(
        self,
        source: MediaStreamTrack,
        track_sid: str,
        on_speaking: Callable[[bool, float], None] | None = None,
    ) -> None:
        self.source = source
        self.track_sid = track_sid
        self._outputs: set[SubscribedTrack] = set()
        self._activity = SpeechActivity(on_speaking) if on_speaking and source.kind == "audio" else None
        self._packetizer = OpusPacketizer() if source.kind == "audio" else None
        self._task = asyncio.create_task(self._pump(), name=f"relay_{track_sid}")
        self.frames = 0

    def subscribe(self) -> SubscribedTrack:
        out = SubscribedTrack(self.source.kind, self.track_sid)
        self._outputs.add(out)
        return out

    def unsubscribe(self, out: SubscribedTrack) -> None:
        if out in self._outputs:
            self._outputs.discard(out)
            out.end()

    async def _pump(self) -> None:
        try:
            while True:
                frame = await self.source.recv()
                self.frames += 1
                if self._packetizer is None or not isinstance(frame, av.AudioFrame):
                    for out in self._outputs:
                        out.push(frame)
                elif self._outputs:
                    for packet in self._packetizer.encode(frame):
                        for out in self._outputs:
                            out.push(packet)
                if self._activity is not None:
                    self._activity.feed(frame)
        except MediaStreamError:
            pass
        except Exception:
            logger.exception("relay of %s failed", self.track_sid)
        finally:
            if self._activity is not None:
                self._activity.stop()
            for out in list(self._outputs):
                out.end()
            self._outputs.clear()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
