"""Fan-out of one published track to many subscribers, frame by frame, without buffering."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpreceiver import RTCRtpReceiver

logger = logging.getLogger("dev_sfu.media")

# A subscriber that falls behind loses its oldest frames instead of drifting into delay.
_MAX_QUEUED_FRAMES = 5


def shorten_audio_jitter_buffer(receiver: RTCRtpReceiver) -> None:
    """aiortc holds 4 extra audio packets (~80 ms) before decoding; loopback needs none.

    aiortc exposes no option for this, so the receiver's private buffer is swapped for one without
    prefetch. If a future aiortc renames it, nothing breaks: the default buffer stays.
    """
    attr = "_RTCRtpReceiver__jitter_buffer"
    if getattr(receiver, "_RTCRtpReceiver__kind", None) == "audio" and hasattr(receiver, attr):
        setattr(receiver, attr, JitterBuffer(capacity=16, prefetch=0))


class SubscribedTrack(MediaStreamTrack):
    """What one subscriber's RTCRtpSender reads: frames pushed by the relay, newest kept."""

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


class TrackRelay:
    """Reads a publisher's remote track once and hands every frame to each subscriber at once."""

    def __init__(self, source: MediaStreamTrack, track_sid: str) -> None:
        self.source = source
        self.track_sid = track_sid
        self._outputs: set[SubscribedTrack] = set()
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
                for out in self._outputs:
                    out.push(frame)
        except MediaStreamError:
            pass
        except Exception:
            logger.exception("relay of %s failed", self.track_sid)
        finally:
            for out in list(self._outputs):
                out.end()
            self._outputs.clear()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
