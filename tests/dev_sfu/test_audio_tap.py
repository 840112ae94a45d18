"""The relay's tap in aiortc's receiver: timestamps, forwarding, decode mode, and its media trace."""

from __future__ import annotations

from pathlib import Path

from aiortc import RTCCertificate, RTCDtlsTransport, RTCIceGatherer, RTCIceTransport, RTCRtpReceiver
from aiortc.rtp import RtpPacket

from infra.dev_sfu.audio_tap import AudioTap, RtpClock, install_tap
from infra.dev_sfu.media_trace import MediaTrace


def _packet(seq: int, ts: int, level: int | None = None) -> RtpPacket:
    p = RtpPacket(payload_type=111, sequence_number=seq, timestamp=ts, payload=b"\xfc\x01\x02")
    p.extensions.audio_level = None if level is None else (True, level)
    p._data = p.payload  # type: ignore[attr-defined]  # what the receiver's depayloader sets
    return p


def test_rtp_clock_counts_across_wraparound_and_reordering() -> None:
    clock = RtpClock()
    start = (1 << 32) - 960
    assert [clock.count(t) for t in (start, 0, 960, 0, 1920)] == [0, 960, 1920, 960, 2880]


def test_forwarding_tap_hands_over_every_packet_and_decodes_nothing() -> None:
    got: list[tuple[int, int]] = []
    tap = AudioTap("TR_x", lambda packet, key: got.append((packet.sequence_number, key)), None)
    results = [tap.add(_packet(seq, 1000 + 960 * i)) for i, seq in enumerate((7, 8, 9))]
    assert got == [(7, 0), (8, 960), (9, 1920)]  # at once, not when the next packet arrives
    assert results == [(False, None)] * 3


def test_decode_mode_tap_releases_a_packet_when_the_next_one_arrives() -> None:
    tap = AudioTap("TR_x", None, None)
    assert tap.add(_packet(1, 0)) == (False, None)
    _, frame = tap.add(_packet(2, 960))
    assert frame is not None and frame.timestamp == 0  # aiortc's own buffer, without prefetch


def test_trace_lines_carry_key_level_and_time(tmp_path: Path) -> None:
    trace = MediaTrace(tmp_path / "trace.txt")
    tap = AudioTap("TR_x", lambda packet, key: trace.packet_out("TR_x", "PA_y", key), trace)
    tap.add(_packet(1, 500, level=9))
    tap.add(_packet(2, 1460))
    trace.close()
    lines = [line.split() for line in (tmp_path / "trace.txt").read_text().splitlines()]
    assert [line[:4] for line in lines] == [
        ["in", "TR_x", "0", "9"],
        ["out", "TR_x", "PA_y", "0"],
        ["in", "TR_x", "960", "-"],
        ["out", "TR_x", "PA_y", "960"],
    ]
    assert int(lines[0][4]) <= int(lines[1][4]) <= int(lines[2][4])


async def test_install_tap_takes_the_audio_receivers_buffer_slot() -> None:
    dtls = RTCDtlsTransport(RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()])
    audio, video = RTCRtpReceiver("audio", dtls), RTCRtpReceiver("video", dtls)
    tap = install_tap(audio, "TR_a", lambda p, k: None, None)
    assert tap is not None and audio._RTCRtpReceiver__jitter_buffer is tap  # type: ignore[attr-defined]
    assert install_tap(video, "TR_v", lambda p, k: None, None) is None
