"""What livekit-server refuses, the dev SFU refuses too (issue 10 #2, #3 and #10), with the real Python SDK:
a room's max_participants and timeouts from the join token, canPublishSources, a per-participant track
cap, room-scoped admin grants, token refresh, and development keys only on loopback."""

from __future__ import annotations

import asyncio
import datetime
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from livekit import api, rtc
from livekit.protocol import models
from livekit.protocol import rtc as rtc_proto
from livekit.rtc.participant import PublishTrackError
from pydantic import ValidationError

from infra.dev_sfu import DevSfu, DevSfuSettings, run_dev_sfu
from infra.dev_sfu.runner import free_port

from .helpers import API_KEY, API_SECRET, background, eventually, joined, publish_sine, token

ROOT = Path(__file__).resolve().parents[2]
CALL = api.RoomConfiguration(max_participants=1, departure_timeout=2, empty_timeout=30)


def _agent_token(room: str, identity: str = "agent-AJ_1") -> str:
    return token(room, identity, kind="agent", agent=True)


async def test_a_full_room_refuses_another_participant_but_not_the_agent_or_a_rejoin(sfu: DevSfu) -> None:
    """Issue 10 #2: a second person with a valid token for the call's room never gets in."""
    room = "call-full000001"
    caller_token = token(room, "web-caller-1", room_config=CALL)
    async with joined(sfu.url, room, "web-caller-1", room_config=CALL) as caller:
        assert sfu.rooms.rooms[room].max_participants == 1
        agent = rtc.Room()
        await agent.connect(sfu.url, _agent_token(room))  # agents are not counted (livekit-server)
        heard: list[bytes] = []
        caller.on("data_received", lambda pkt: heard.append(pkt.data))
        stop = asyncio.Event()
        talking = asyncio.create_task(publish_sine(caller, 440.0, stop))
        try:
            for label, tok in [
                ("another identity, same room config", token(room, "web-intruder-1", room_config=CALL)),
                ("a token without room config", token(room, "web-intruder-2")),
            ]:
                intruder = rtc.Room()
                with pytest.raises(rtc.ConnectError):
                    await intruder.connect(sfu.url, tok)
                assert "web-intruder-1" not in sfu.rooms.rooms[room].participants, label
            # The refusal comes as livekit-server sends it: a LeaveRequest (JOIN_FAILURE) as first message.
            first = await _first_signal(sfu, token(room, "web-intruder-3"))
            assert first.WhichOneof("message") == "leave"
            assert first.leave.reason == models.DisconnectReason.JOIN_FAILURE
            await asyncio.sleep(0.3)
            assert set(caller.remote_participants) == {"agent-AJ_1"}, "the caller sees only the agent"
            assert sorted(sfu.rooms.rooms[room].participants) == ["agent-AJ_1", "web-caller-1"]
            assert not heard
            # The caller's own identity may come back (a page reload): it replaces its old session.
            again = rtc.Room()
            await again.connect(sfu.url, caller_token)
            await eventually(
                lambda: sfu.rooms.rooms[room].participants["web-caller-1"].ws is not None, 5, "rejoin"
            )
            await again.disconnect()
        finally:
            stop.set()
            await talking
            await agent.disconnect()


async def _first_signal(sfu: DevSfu, tok: str) -> rtc_proto.SignalResponse:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{sfu.url}/rtc", params={"access_token": tok, "protocol": "16"}) as ws,
    ):
        msg = await asyncio.wait_for(ws.receive(), 5)
        resp = rtc_proto.SignalResponse()
        resp.ParseFromString(msg.data)
        return resp


async def test_the_token_room_config_sets_the_departure_timeout(sfu: DevSfu) -> None:
    room = "call-depart0001"
    async with joined(sfu.url, room, "web-caller-2", room_config=CALL):
        info = sfu.rooms.rooms[room].info()
        assert (info.max_participants, info.departure_timeout, info.empty_timeout) == (1, 2, 30)
    left = time.monotonic()
    await asyncio.sleep(0.8)
    assert room in sfu.rooms.rooms, "the room waits departure_timeout for the caller to come back"
    await eventually(lambda: room not in sfu.rooms.rooms, 10, "the room to close")
    assert time.monotonic() - left >= 1.9


async def test_a_microphone_only_token_cannot_publish_a_camera(sfu: DevSfu) -> None:
    """Issue 10 #10: canPublishSources is enforced; the microphone still works."""
    room = "call-sources001"
    async with (
        joined(sfu.url, room, "web-caller-3", can_publish_sources=["microphone"]) as caller,
        joined(sfu.url, room, "watcher") as watcher,
    ):
        seen: list[str] = []
        watcher.on("track_published", lambda pub, p: seen.append(pub.kind and rtc.TrackKind.Name(pub.kind)))
        video = rtc.LocalVideoTrack.create_video_track("camera", rtc.VideoSource(64, 64))
        with pytest.raises(PublishTrackError):
            await caller.local_participant.publish_track(
                video, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA)
            )
        assert not sfu.rooms.rooms[room].participants["web-caller-3"].tracks
        stop = asyncio.Event()
        talking = asyncio.create_task(publish_sine(caller, 300.0, stop))
        try:
            await eventually(lambda: "KIND_AUDIO" in seen, 10, "the microphone track")
        finally:
            stop.set()
            await talking
        tracks = sfu.rooms.rooms[room].participants["web-caller-3"].tracks.values()
        assert [t.info.source for t in tracks] == [models.TrackSource.MICROPHONE]
        assert seen == ["KIND_AUDIO"], "the watcher never saw a camera"


async def test_each_participant_has_a_track_cap() -> None:
    async with run_dev_sfu(port=0, max_tracks_per_participant=2) as sfu:
        room = "call-trackcap1"
        async with joined(sfu.url, room, "greedy") as greedy, joined(sfu.url, room, "watcher") as watcher:
            got: list[str] = []
            watcher.on("track_subscribed", lambda track, pub, p: got.append(pub.sid))
            published = []
            for i in range(2):
                track = rtc.LocalAudioTrack.create_audio_track(f"mic{i}", rtc.AudioSource(48000, 1))
                published.append(
                    await greedy.local_participant.publish_track(
                        track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
                    )
                )
            extra = rtc.LocalAudioTrack.create_audio_track("mic2", rtc.AudioSource(48000, 1))
            with pytest.raises(PublishTrackError):
                await greedy.local_participant.publish_track(
                    extra, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
                )
            await eventually(lambda: len(got) == 2, 10, "the two allowed tracks")
            await asyncio.sleep(0.3)
            assert sorted(got) == sorted(p.sid for p in published)
            assert len(sfu.rooms.rooms[room].participants["greedy"].tracks) == 2


async def _twirp(
    sfu: DevSfu, method: str, body: dict[str, Any], grants: api.VideoGrants
) -> aiohttp.ClientResponse:
    tok = api.AccessToken(API_KEY, API_SECRET).with_grants(grants).to_jwt()
    service = "AgentDispatchService" if method == "CreateDispatch" else "RoomService"
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{sfu.http_url}/twirp/livekit.{service}/{method}",
            data=json.dumps(body),
            headers={"Authorization": f"Bearer {tok}", "Content-Type": "application/json"},
        )
        await resp.read()
        return resp


async def test_room_admin_grants_are_scoped_to_their_room(sfu: DevSfu) -> None:
    """Issue 10 #10: a roomAdmin grant for room A cannot list, remove or dispatch in room B."""
    async with (
        joined(sfu.url, "call-room-a0001", "alice"),
        joined(sfu.url, "call-room-b0001", "bob") as bob,
    ):
        admin_a = api.VideoGrants(room_admin=True, room="call-room-a0001")
        refused = [
            ("ListParticipants", {"room": "call-room-b0001"}, admin_a),
            ("RemoveParticipant", {"room": "call-room-b0001", "identity": "bob"}, admin_a),
            ("CreateDispatch", {"room": "call-room-b0001", "agent_name": "x"}, admin_a),
            ("DeleteRoom", {"room": "call-room-b0001"}, admin_a),
            ("ListRooms", {}, admin_a),
            # roomAdmin without a room is no grant for every room
            (
                "RemoveParticipant",
                {"room": "call-room-b0001", "identity": "bob"},
                api.VideoGrants(room_admin=True),
            ),
            # listing rooms is not administering them
            (
                "RemoveParticipant",
                {"room": "call-room-b0001", "identity": "bob"},
                api.VideoGrants(room_list=True),
            ),
            ("DeleteRoom", {"room": "call-room-b0001"}, api.VideoGrants(room_list=True)),
        ]
        for method, body, grants in refused:
            resp = await _twirp(sfu, method, body, grants)
            assert resp.status == 401, (method, body, grants)
        assert "bob" in sfu.rooms.rooms["call-room-b0001"].participants
        assert bob.connection_state == rtc.ConnectionState.CONN_CONNECTED
        assert not sfu.dispatcher.jobs and not sfu.rooms.rooms["call-room-b0001"].dispatched_agents
        # Each grant for its own scope works.
        ok = await _twirp(sfu, "ListParticipants", {"room": "call-room-a0001"}, admin_a)
        assert ok.status == 200
        listed = await _twirp(sfu, "ListRooms", {}, api.VideoGrants(room_list=True))
        assert listed.status == 200
        removed = await _twirp(
            sfu,
            "RemoveParticipant",
            {"room": "call-room-b0001", "identity": "bob"},
            api.VideoGrants(room_admin=True, room="call-room-b0001"),
        )
        assert removed.status == 200
        await eventually(
            lambda: bob.connection_state == rtc.ConnectionState.CONN_DISCONNECTED, 5, "bob's removal"
        )


async def test_connected_participants_get_a_refreshed_token(sfu: DevSfu) -> None:
    """As livekit-server: a short join token is replaced by a fresh one right after the join."""
    room = "call-refresh001"
    short = token(room, "web-caller-4", ttl=datetime.timedelta(seconds=30), room_config=CALL)
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{sfu.url}/rtc", params={"access_token": short, "protocol": "16"}) as ws,
    ):
        refreshed = None
        for _ in range(10):
            msg = await asyncio.wait_for(ws.receive(), 5)
            resp = rtc_proto.SignalResponse()
            resp.ParseFromString(msg.data)
            if resp.WhichOneof("message") == "refresh_token":
                refreshed = resp.refresh_token
                break
        assert refreshed
        claims = api.TokenVerifier(API_KEY, API_SECRET).verify(refreshed)
        assert claims.identity == "web-caller-4" and claims.video is not None
        assert claims.video.room == room and claims.video.room_join
        assert claims.room_config is not None and claims.room_config.max_participants == 1
        exp = jwt.decode(refreshed, options={"verify_signature": False})["exp"]
        assert exp - time.time() > 500


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"host": "0.0.0.0"}, "DEV_SFU_HOST"),
        ({"host": "192.168.1.20"}, "DEV_SFU_HOST"),
        ({"host": "sfu.example.com"}, "DEV_SFU_HOST"),
        ({"ice_host": "10.0.0.5"}, "DEV_SFU_ICE_HOST"),
        ({"host": "0.0.0.0", "api_key": "prod-key-1"}, "DEV_SFU_HOST"),  # the dev secret alone is enough
    ],
)
def test_development_keys_are_refused_off_loopback(overrides: dict[str, str], setting: str) -> None:
    with pytest.raises(ValidationError, match=setting):
        DevSfuSettings(**overrides)


def test_own_keys_may_bind_anywhere_and_dev_keys_loopback() -> None:
    DevSfuSettings(host="0.0.0.0", api_key="k-0123", api_secret="a-secret-that-is-not-the-dev-one")
    DevSfuSettings(host="::1")
    DevSfuSettings(host="localhost", ice_host="127.0.0.2")


def test_the_cli_refuses_a_public_bind_with_dev_keys_in_one_line() -> None:
    port = free_port()
    proc = subprocess.run(
        [sys.executable, "-m", "infra.dev_sfu", "--host", "0.0.0.0", "--port", str(port)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    # one line naming the setting (functions/models/secret_policy.py's rule) and the public address's
    assert len(lines) == 1 and lines[0].startswith("configuration error: LIVEKIT_API_KEY: "), proc.stderr
    assert "(not loopback: DEV_SFU_HOST)" in lines[0], proc.stderr
    # Nothing listened on that port.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


async def test_only_an_agent_may_send_a_text_stream_in_the_callers_name(sfu: DevSfu) -> None:
    """As livekit-server: the sender's identity is stamped on data, except an agent's transcription of
    someone else (a text stream on their behalf); a standard participant cannot speak as the caller."""
    room = "call-onbehalf01"
    async with (
        joined(sfu.url, room, "web-caller-5") as caller,
        joined(sfu.url, room, "web-intruder-5") as intruder,
    ):
        agent = rtc.Room()
        await agent.connect(sfu.url, _agent_token(room, "agent-AJ_5"))
        got: list[tuple[str, str]] = []

        def on_stream(reader: rtc.TextStreamReader, identity: str) -> None:
            async def read() -> None:
                got.append((identity, await reader.read_all()))

            background(read())

        caller.register_text_stream_handler("lk.transcription", on_stream)
        try:
            await eventually(lambda: len(caller.remote_participants) == 2, 10, "both to join")
            forged = await intruder.local_participant.stream_text(
                topic="lk.transcription", sender_identity="agent-AJ_5"
            )
            await forged.write("forged as the agent")
            await forged.aclose()
            forged_user = await intruder.local_participant.stream_text(
                topic="lk.transcription", sender_identity="web-caller-5"
            )
            await forged_user.write("forged as the caller")
            await forged_user.aclose()
            real = await agent.local_participant.stream_text(
                topic="lk.transcription", sender_identity="web-caller-5"
            )
            await real.write("what the caller said")
            await real.aclose()
            await eventually(lambda: len(got) == 3, 10, "three streams")
        finally:
            await agent.disconnect()
        assert sorted(got) == sorted(
            [
                ("web-intruder-5", "forged as the agent"),
                ("web-intruder-5", "forged as the caller"),
                ("web-caller-5", "what the caller said"),
            ]
        )
