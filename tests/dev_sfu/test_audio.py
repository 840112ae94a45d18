from __future__ import annotations

import asyncio

from livekit import rtc

from infra.dev_sfu import DevSfu

from .helpers import collect_audio, dominant_frequency, joined, publish_sine


async def test_audio_flows_between_two_participants(sfu: DevSfu) -> None:
    async with joined(sfu.url, "room-audio", "alice") as alice, joined(sfu.url, "room-audio", "bob") as bob:
        subscribed: asyncio.Future[rtc.Track] = asyncio.get_running_loop().create_future()

        @bob.on("track_subscribed")
        def _on_track(track: rtc.Track, pub: rtc.RemoteTrackPublication, p: rtc.RemoteParticipant) -> None:
            if p.identity == "alice" and not subscribed.done():
                subscribed.set_result(track)

        stop = asyncio.Event()
        sender = asyncio.create_task(publish_sine(alice, 440.0, stop))
        try:
            track = await asyncio.wait_for(subscribed, 15)
            samples = await asyncio.wait_for(collect_audio(track, 2.0), 15)
        finally:
            stop.set()
            await sender
        tail = samples[len(samples) // 2 :]
        freq, rms = dominant_frequency(tail)
        assert rms > 1000, f"no energy received (rms={rms:.0f})"
        assert abs(freq - 440.0) < 10, f"dominant frequency {freq:.1f} Hz"
