from __future__ import annotations

import asyncio

from livekit import rtc

from infra.dev_sfu import DevSfu

from .helpers import background, eventually, joined

ROOM = "room-data"


async def _wait_participant(room: rtc.Room, identity: str) -> None:
    await eventually(lambda: identity in room.remote_participants, 5, f"{identity} to appear")


async def test_data_packets_reach_only_their_destinations(sfu: DevSfu) -> None:
    async with (
        joined(sfu.url, ROOM, "alice") as alice,
        joined(sfu.url, ROOM, "bob") as bob,
        joined(sfu.url, ROOM, "carol") as carol,
    ):
        got: dict[str, list[tuple[str, str, str]]] = {"bob": [], "carol": []}
        for name, room in (("bob", bob), ("carol", carol)):

            def _on_data(pkt: rtc.DataPacket, name: str = name) -> None:
                sender = pkt.participant.identity if pkt.participant else ""
                got[name].append((pkt.data.decode(), pkt.topic or "", sender))

            room.on("data_received", _on_data)
        await _wait_participant(alice, "carol")
        await alice.local_participant.publish_data(b"to-all", reliable=True, topic="t1")
        await alice.local_participant.publish_data(b"lossy-to-all", reliable=False, topic="t2")
        await alice.local_participant.publish_data(b"only-bob", destination_identities=["bob"], topic="t3")
        for _ in range(100):
            if len(got["bob"]) >= 3 and len(got["carol"]) >= 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # a misrouted packet would arrive by now
        assert sorted(got["bob"]) == sorted(
            [("to-all", "t1", "alice"), ("lossy-to-all", "t2", "alice"), ("only-bob", "t3", "alice")]
        )
        assert sorted(got["carol"]) == sorted([("to-all", "t1", "alice"), ("lossy-to-all", "t2", "alice")])


async def test_text_and_byte_streams_arrive(sfu: DevSfu) -> None:
    async with joined(sfu.url, ROOM, "agent-like") as sender, joined(sfu.url, ROOM, "listener") as listener:
        texts: asyncio.Queue[tuple[str, str, dict[str, str]]] = asyncio.Queue()
        blobs: asyncio.Queue[bytes] = asyncio.Queue()

        def _on_text(reader: rtc.TextStreamReader, identity: str) -> None:
            async def _read() -> None:
                texts.put_nowait((await reader.read_all(), identity, dict(reader.info.attributes or {})))

            background(_read())

        def _on_bytes(reader: rtc.ByteStreamReader, identity: str) -> None:
            async def _read() -> None:
                data = b"".join([chunk async for chunk in reader])
                blobs.put_nowait(data)

            background(_read())

        listener.register_text_stream_handler("lk.transcription", _on_text)
        listener.register_byte_stream_handler("files", _on_bytes)
        await _wait_participant(sender, "listener")
        long_text = "你好，世界。Hello world! " * 2000  # several chunks
        await sender.local_participant.send_text(
            long_text, topic="lk.transcription", attributes={"lk.transcription_final": "true"}
        )
        text, identity, attrs = await asyncio.wait_for(texts.get(), 10)
        assert text == long_text
        assert identity == "agent-like"
        assert attrs.get("lk.transcription_final") == "true"

        payload = bytes(range(256)) * 400
        await sender.local_participant.send_bytes(payload, topic="files", name="blob.bin")
        assert await asyncio.wait_for(blobs.get(), 10) == payload


async def test_rpc_round_trip(sfu: DevSfu) -> None:
    async with joined(sfu.url, ROOM, "caller") as caller, joined(sfu.url, ROOM, "callee") as callee:

        async def _reverse(data: rtc.RpcInvocationData) -> str:
            return f"{data.caller_identity}:{data.payload[::-1]}"

        callee.local_participant.register_rpc_method("reverse", _reverse)

        await _wait_participant(caller, "callee")
        result = await caller.local_participant.perform_rpc(
            destination_identity="callee", method="reverse", payload="abc", response_timeout=5
        )
        assert result == "caller:cba"


async def test_attributes_and_metadata_updates_are_broadcast(sfu: DevSfu) -> None:
    async with joined(sfu.url, ROOM, "speaker") as speaker, joined(sfu.url, ROOM, "viewer") as viewer:
        changed: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        metadata: asyncio.Queue[str] = asyncio.Queue()

        @viewer.on("participant_attributes_changed")
        def _on_attrs(changed_attrs: dict[str, str], p: rtc.Participant) -> None:
            if p.identity == "speaker":
                changed.put_nowait(dict(p.attributes))

        @viewer.on("participant_metadata_changed")
        def _on_md(p: rtc.Participant, old: str, new: str) -> None:
            if p.identity == "speaker":
                metadata.put_nowait(new)

        await _wait_participant(viewer, "speaker")
        await speaker.local_participant.set_attributes({"lk.agent.state": "thinking"})
        attrs = await asyncio.wait_for(changed.get(), 5)
        assert attrs["lk.agent.state"] == "thinking"
        await speaker.local_participant.set_metadata('{"persona": "default"}')
        assert await asyncio.wait_for(metadata.get(), 5) == '{"persona": "default"}'
