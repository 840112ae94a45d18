from __future__ import annotations

import asyncio
import gc
import time

import numpy as np
from livekit import api, rtc

from infra.dev_sfu import DevSfu, dev_sfu_process

from .helpers import API_KEY, API_SECRET, SAMPLE_RATE, eventually, joined, publish_sine, token


async def test_unpublish_and_mute_reach_the_other_side(sfu: DevSfu) -> None:
    async with joined(sfu.url, "room-tracks", "pub") as pub, joined(sfu.url, "room-tracks", "sub") as sub:
        events: list[str] = []
        sub.on("track_subscribed", lambda *_: events.append("subscribed"))
        sub.on("track_muted", lambda *_: events.append("muted"))
        sub.on("track_unpublished", lambda *_: events.append("unpublished"))
        stop = asyncio.Event()
        sender = asyncio.create_task(publish_sine(pub, 300.0, stop))
        try:
            await eventually(lambda: "subscribed" in events, 10, "subscription")
            server_track = next(iter(sfu.rooms.rooms["room-tracks"].participants["pub"].tracks.values()))
            assert server_track.info.mid, "the published track's mid is known"
            publication = next(iter(pub.local_participant.track_publications.values()))
            publication.track.mute()  # type: ignore[union-attr]
            await eventually(lambda: "muted" in events, 5, "mute")
            await pub.local_participant.unpublish_track(publication.sid)
            await eventually(lambda: "unpublished" in events, 5, "unpublish")
        finally:
            stop.set()
            await sender
        assert not sfu.rooms.rooms["room-tracks"].participants["pub"].tracks


async def test_room_service_and_explicit_dispatch_api(sfu: DevSfu) -> None:
    async with api.LiveKitAPI(sfu.http_url, API_KEY, API_SECRET) as lk:
        async with joined(sfu.url, "room-api", "someone"), joined(sfu.url, "room-api", "other") as other:
            rooms = await lk.room.list_rooms(api.ListRoomsRequest())
            assert [r.name for r in rooms.rooms] == ["room-api"]
            listed = await lk.room.list_participants(api.ListParticipantsRequest(room="room-api"))
            assert sorted(p.identity for p in listed.participants) == ["other", "someone"]
            await lk.room.remove_participant(api.RoomParticipantIdentity(room="room-api", identity="someone"))
            await eventually(lambda: "someone" not in other.remote_participants, 5, "removal")
            dispatch = await lk.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(agent_name="nobody-registered", room="room-api", metadata="{}")
            )
            assert dispatch.id.startswith("AD_")
            # The call's state for the page travels as room metadata, to everyone in the room.
            changed: list[str] = []
            other.on("room_metadata_changed", lambda _old, new: changed.append(new))
            await lk.room.update_room_metadata(
                api.UpdateRoomMetadataRequest(
                    room="room-api", metadata='{"voicecall":{"agent":"reconnecting"}}'
                )
            )
            await eventually(lambda: bool(changed), 5, "room metadata update")
            assert changed == ['{"voicecall":{"agent":"reconnecting"}}'] and other.metadata == changed[0]
            await lk.room.delete_room(api.DeleteRoomRequest(room="room-api"))
            await eventually(
                lambda: other.connection_state == rtc.ConnectionState.CONN_DISCONNECTED, 5, "close"
            )
        assert not sfu.rooms.rooms


async def test_relay_forwards_without_buffering() -> None:
    """Tone bursts after silence arrive one by one, promptly, and the delay does not build up.

    The figure itself (median onset delay) belongs to the benchmarks (docs/benchmarks.md); here the
    bounds are loose enough for a loaded CI machine yet catch a relay that queues or drifts.

    The SFU runs in its own process here, as in the stack: sharing this test's event loop and GIL
    with two SDK clients would measure the test harness, not the relay.
    """
    with dev_sfu_process() as (url, _):
        # A full collection of this (test) process's heap pauses its SDK clients for 100-300 ms.
        gc.collect()
        gc.disable()
        try:
            await _measure_onset_delays(url)
        finally:
            gc.enable()


async def _measure_onset_delays(url: str) -> None:
    async with (
        joined(url, "room-latency", "talker") as talker,
        joined(url, "room-latency", "ear") as ear,
    ):
        subscribed: asyncio.Future[rtc.Track] = asyncio.get_running_loop().create_future()

        @ear.on("track_subscribed")
        def _on_track(track: rtc.Track, *_: object) -> None:
            if not subscribed.done():
                subscribed.set_result(track)

        source = rtc.AudioSource(SAMPLE_RATE, 1, queue_size_ms=50)
        track = rtc.LocalAudioTrack.create_audio_track("mic", source)
        await talker.local_participant.publish_track(
            track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        )
        sent: list[float] = []

        async def _talk() -> None:
            n = SAMPLE_RATE // 100
            for i in range(600):
                tone = (i // 50) % 2 == 1  # 0.5 s silence, 0.5 s tone
                if tone and i % 50 == 0:
                    sent.append(time.monotonic())
                t = (np.arange(n) + i * n) / SAMPLE_RATE
                loud = (0.5 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
                samples = loud if tone else np.zeros(n, np.int16)
                await source.capture_frame(rtc.AudioFrame(samples.tobytes(), SAMPLE_RATE, 1, n))

        talking = asyncio.create_task(_talk())
        remote = await asyncio.wait_for(subscribed, 10)
        stream = rtc.AudioStream(remote, sample_rate=SAMPLE_RATE, num_channels=1)
        onsets: list[float] = []
        was_loud = False
        async for event in stream:
            x = np.frombuffer(event.frame.data, np.int16).astype(np.float64)
            loud_now = bool(np.sqrt(np.mean(x**2)) > 3000)
            if loud_now and not was_loud:
                onsets.append(time.monotonic())
            was_loud = loud_now
            if talking.done():
                break
        await stream.aclose()
        delays = [min(o - s for s in sent if s <= o) for o in onsets if any(s <= o for s in sent)]
        assert len(delays) >= 4, delays
        median_ms = 1000 * float(np.median(delays[1:]))
        print(f"onset delays through the dev SFU (ms): {[round(d * 1000) for d in delays]}")
        assert median_ms < 1500, f"median onset delay {median_ms:.0f} ms"
        assert delays[-1] - min(delays[1:]) < 0.5, f"delay builds up: {delays}"


async def test_manual_subscription_and_active_speakers(sfu: DevSfu) -> None:
    """auto_subscribe off (livekit-agents' AUDIO_ONLY mode) subscribes by UpdateSubscription."""
    async with joined(sfu.url, "room-manual", "voice") as voice:
        listener = rtc.Room()
        await listener.connect(
            sfu.url, token("room-manual", "listener"), options=rtc.RoomOptions(auto_subscribe=False)
        )
        try:
            speakers: list[list[str]] = []
            subscribed: list[str] = []
            listener.on("active_speakers_changed", lambda ps: speakers.append([p.identity for p in ps]))
            listener.on("track_subscribed", lambda t, pub, p: subscribed.append(p.identity))

            published: list[rtc.RemoteTrackPublication] = []
            listener.on("track_published", lambda pub, p: published.append(pub))

            stop = asyncio.Event()
            sender = asyncio.create_task(publish_sine(voice, 500.0, stop))
            try:
                await eventually(lambda: bool(published), 10, "track announcement")
                await asyncio.sleep(0.7)
                assert subscribed == [], "auto_subscribe=0 must not subscribe by itself"
                published[0].set_subscribed(True)
                await eventually(lambda: subscribed == ["voice"], 10, "manual subscription")
                await eventually(lambda: ["voice"] in speakers, 5, "voice to be an active speaker")
            finally:
                stop.set()
                await sender
            await eventually(lambda: speakers[-1] == [], 5, "voice to stop speaking")
        finally:
            await listener.disconnect()
