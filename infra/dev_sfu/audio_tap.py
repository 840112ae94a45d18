"""Where the relay takes a publisher's audio from aiortc: in place of the receiver's jitter buffer.

aiortc's RTCRtpReceiver hands every depayloaded RTP packet to a private ``JitterBuffer`` and decodes
what it releases. That buffer releases an audio packet only once the next packet has arrived (it
needs a different timestamp to know a frame is complete), so decoding costs 20 ms per packet before
the Opus decoder, a decoder thread and the re-encoder's 6.5 ms look-ahead add theirs. An SFU needs
none of it: livekit-server forwards packets as they come and leaves reordering and loss to the
receivers' jitter buffers. ``AudioTap`` takes the buffer's place and either forwards each packet at
once (nothing then reaches aiortc's decoder) or, in decode mode, passes it to a buffer without
prefetch (aiortc's default holds 4 extra packets, ~80 ms).

aiortc has no public hook for this; if a future version renames the attribute, ``install_tap``
returns None and the relay decodes as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtp import RtpPacket

from .media_trace import MediaTrace

logger = logging.getLogger("dev_sfu.media")

_BUFFER_ATTR = "_RTCRtpReceiver__jitter_buffer"
_KIND_ATTR = "_RTCRtpReceiver__kind"

# A forwarded packet: the packet and its timestamp counted from the track's first packet.
PacketSink = Callable[[RtpPacket, int], None]


class RtpClock:
    """RTP timestamps as a count from the first packet, across 32-bit wrap-around.

    The same origin as aiortc's TimestampMapper gives decoded frames, so a packet keeps one key
    through either relay mode (the media trace matches arrivals and sends by it).
    """

    def __init__(self) -> None:
        self._last: int | None = None
        self._count = 0

    def count(self, timestamp: int) -> int:
        if self._last is not None:
            # signed 32-bit difference: wrap-around and a reordered packet both come out right
            self._count += ((timestamp - self._last + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
        self._last = timestamp
        return self._count


def level_dbov(packet: RtpPacket) -> int | None:
    """The RFC 6464 audio level the publisher put in the packet (0 = loudest, 127 = silence)."""
    level = packet.extensions.audio_level
    return None if level is None else int(level[1])


class AudioTap:
    """Duck-types aiortc's JitterBuffer (``capacity``, ``add``) for one audio receiver."""

    def __init__(self, track_sid: str, forward: PacketSink | None, trace: MediaTrace | None) -> None:
        self.track_sid = track_sid
        self.capacity = 16
        self._forward = forward
        self._trace = trace
        self._clock = RtpClock()
        self._buffer = None if forward else JitterBuffer(capacity=self.capacity, prefetch=0)

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        key = self._clock.count(packet.timestamp)
        if self._trace is not None:
            self._trace.packet_in(self.track_sid, key, level_dbov(packet))
        if self._buffer is not None:
            return self._buffer.add(packet)
        assert self._forward is not None
        try:
            self._forward(packet, key)
        except Exception:  # this runs in aiortc's DTLS receive loop: an error there ends the connection
            logger.exception("forwarding a packet of %s failed", self.track_sid)
        return False, None  # aiortc's decoder gets nothing: the track itself stays silent


def install_tap(
    receiver: RTCRtpReceiver, track_sid: str, forward: PacketSink | None, trace: MediaTrace | None
) -> AudioTap | None:
    """Put a tap in the audio receiver's buffer slot; None if this aiortc has no such slot."""
    if getattr(receiver, _KIND_ATTR, None) != "audio" or not hasattr(receiver, _BUFFER_ATTR):
        return None
    tap = AudioTap(track_sid, forward, trace)
    setattr(receiver, _BUFFER_ATTR, tap)
    return tap
