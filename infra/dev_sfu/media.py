"""Fan-out of one published track to many subscribers, packet by packet, without buffering.

Audio is forwarded: the publisher's Opus packets go to every subscriber's RTCRtpSender as they arrive
(see ``audio_tap``), with the source's RTP timestamps (so DTX pauses stay pauses for the receivers'
jitter buffers). In decode mode (``DEV_SFU_AUDIO_RELAY=decode``, or an aiortc without the tap's hook)
aiortc's decoded audio is re-encoded to Opus once per track instead, keeping the same timestamps.
Video is always decoded by aiortc and encoded per subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from aiortc.codecs.opus import OpusDecoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RtpPacket

from .audio_tap import install_tap, level_dbov
from .media_trace import MediaTrace

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


@dataclass(frozen=True)
class MediaOptions:
    """How the SFU relays media (from its settings); shared by every room."""

    forward_audio: bool = True
    trace: MediaTrace | None = None


class SubscribedTrack(MediaStreamTrack):
    """What one subscriber's RTCRtpSender reads: packets pushed by the relay, newest kept."""

    def __init__(
        self, kind: str, track_sid: str, subscriber: str = "", trace: MediaTrace | None = None
    ) -> None:
        super().__init__()
        self.kind = kind
        # The track id becomes the SDP msid track id, which SDKs read as the track sid.
        self._id = track_sid
        self._subscriber = subscriber
        self._trace = trace
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
        if self._trace is not None and isinstance(frame, av.Packet) and frame.pts is not None:
            # the sender packs and sends it without yielding: this is the packet's departure
            self._trace.packet_out(self._id, self._subscriber, int(frame.pts))
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
        self.feed_rms(float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0)

    def feed_rms(self, rms: float) -> None:
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
    """Reads a publisher's track once and hands every packet (or frame) to each subscriber at once."""

    def __init__(
        self,
        source: MediaStreamTrack,
        track_sid: str,
        on_speaking: Callable[[bool, float], None] | None = None,
        *,
        receiver: RTCRtpReceiver | None = None,
        options: MediaOptions | None = None,
    ) -> None:
        options = options or MediaOptions()
        self.source = source
        self.track_sid = track_sid
        self._trace = options.trace
        self._outputs: set[SubscribedTrack] = set()
        self._activity = SpeechActivity(on_speaking) if on_speaking and source.kind == "audio" else None
        tap = None
        if receiver is not None and source.kind == "audio":
            sink = self._forward if options.forward_audio else None
            tap = install_tap(receiver, track_sid, sink, options.trace)
        self.forwarding = tap is not None and options.forward_audio
        self._packetizer = OpusPacketizer() if source.kind == "audio" and not self.forwarding else None
        self._level_decoder: OpusDecoder | None = None
        self._task = asyncio.create_task(self._pump(), name=f"relay_{track_sid}")
        self.frames = 0

    def subscribe(self, subscriber: str = "") -> SubscribedTrack:
        out = SubscribedTrack(self.source.kind, self.track_sid, subscriber, self._trace)
        self._outputs.add(out)
        return out

    def unsubscribe(self, out: SubscribedTrack) -> None:
        if out in self._outputs:
            self._outputs.discard(out)
            out.end()

    def _forward(self, packet: RtpPacket, key: int) -> None:
        """Called by the tap for each arriving packet, in the receiver's own task."""
        self.frames += 1
        if self._activity is not None:
            self._activity.feed_rms(self._rms(packet))
        if not packet.payload or not self._outputs:
            return
        out = av.Packet(packet.payload)
        out.pts = key
        out.time_base = _TIME_BASE
        for track in self._outputs:
            track.push(out)

    def _rms(self, packet: RtpPacket) -> float:
        level = level_dbov(packet)
        if level is not None:
            return float(10 ** (-level / 20))
        # A publisher without the audio-level extension: decode for the level alone.
        if self._level_decoder is None:
            self._level_decoder = OpusDecoder()
        try:
            frames = self._level_decoder.decode(JitterFrame(packet.payload, packet.timestamp))
        except av.FFmpegError:
            return 0.0
        samples = [
            f.to_ndarray().astype(np.float32) / 32768.0 for f in frames if isinstance(f, av.AudioFrame)
        ]
        joined = np.concatenate([s.ravel() for s in samples]) if samples else np.zeros(0, np.float32)
        return float(np.sqrt(np.mean(joined * joined))) if joined.size else 0.0

    async def _pump(self) -> None:
        try:
            while True:
                # When forwarding, aiortc decodes nothing and recv() only reports the track's end.
                frame = await self.source.recv()
                if self.forwarding:
                    continue
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
