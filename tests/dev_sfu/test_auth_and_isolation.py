from __future__ import annotations

import asyncio
import datetime

import aiohttp
import pytest
from livekit import api, rtc

from infra.dev_sfu import DevSfu

from .helpers import API_KEY, collect_audio, dominant_frequency, joined, publish_sine, token


@pytest.mark.parametrize(
    ("label", "make_token"),
    [
        ("garbage", lambda: "not-a-jwt"),
        ("wrong secret", lambda: token("r1", "mallory", secret="not-the-secret")),
        ("expired", lambda: token("r1", "late", ttl=datetime.timedelta(minutes=-5))),
        (
            "no join grant",
            lambda: (
                api.AccessToken(API_KEY, "secret")
                .with_identity("x")
                .with_grants(api.VideoGrants(room_list=True))
                .to_jwt()
            ),
        ),
    ],
)
async def test_bad_tokens_are_refused_before_upgrade(sfu: DevSfu, label: str, make_token) -> None:
    bad = make_token()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{sfu.http_url}/rtc", params={"access_token": bad}) as resp:
            assert resp.status == 401, label
        async with http.get(f"{sfu.http_url}/rtc", headers={"Authorization": f"Bearer {bad}"}) as resp:
            assert resp.status == 401, label
    room = rtc.Room()
    with pytest.raises(rtc.ConnectError):
        await room.connect(sfu.url, bad)
    assert not sfu.rooms.rooms, "a refused join must not create a room"


async def test_validate_and_v1_paths(sfu: DevSfu) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{sfu.http_url}/") as resp:
            assert resp.status == 200 and await resp.text() == "OK"
        async with http.get(f"{sfu.http_url}/rtc/v1/validate") as resp:
            assert resp.status == 404
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
        good = token("r1", "ok")
        async with http.get(f"{sfu.http_url}/rtc/validate", params={"access_token": good}) as resp:
            assert resp.status == 200
        async with http.get(f"{sfu.http_url}/rtc/validate", params={"access_token": "x"}) as resp:
            assert resp.status == 401


async def test_two_rooms_are_isolated(sfu: DevSfu) -> None:
    async with (
        joined(sfu.url, "room-a", "a1") as a1,
        joined(sfu.url, "room-a", "a2") as a2,
        joined(sfu.url, "room-b", "b1") as b1,
        joined(sfu.url, "room-b", "b2") as b2,
    ):
        tracks: dict[str, asyncio.Future[rtc.Track]] = {}
        for name, room in (("a2", a2), ("b2", b2)):
            fut: asyncio.Future[rtc.Track] = asyncio.get_running_loop().create_future()
            tracks[name] = fut

            def _on_track(track: rtc.Track, pub: object, p: rtc.RemoteParticipant, fut=fut) -> None:
                if not fut.done():
                    fut.set_result(track)

            room.on("track_subscribed", _on_track)
        data_b: list[bytes] = []
        b2.on("data_received", lambda pkt: data_b.append(pkt.data))

        stop = asyncio.Event()
        senders = [
            asyncio.create_task(publish_sine(a1, 440.0, stop)),
            asyncio.create_task(publish_sine(b1, 1000.0, stop)),
        ]
        try:
            sa, sb = await asyncio.wait_for(
                asyncio.gather(
                    collect_audio(await tracks["a2"], 1.5),
                    collect_audio(await tracks["b2"], 1.5),
                ),
                20,
            )
            await a1.local_participant.publish_data(b"secret-of-a")
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            await asyncio.gather(*senders)
        fa, _ = dominant_frequency(sa[len(sa) // 2 :])
        fb, _ = dominant_frequency(sb[len(sb) // 2 :])
        assert abs(fa - 440) < 10 and abs(fb - 1000) < 10
        assert set(a2.remote_participants) == {"a1"}
        assert set(b2.remote_participants) == {"b1"}
        assert data_b == []


async def test_token_for_one_room_lands_only_in_that_room(sfu: DevSfu) -> None:
    async with joined(sfu.url, "room-b", "b1") as b1, joined(sfu.url, "room-a", "intruder") as intruder:
        await asyncio.sleep(0.5)
        assert intruder.name == "room-a"
        assert "intruder" not in b1.remote_participants
        assert set(sfu.rooms.rooms["room-b"].participants) == {"b1"}
