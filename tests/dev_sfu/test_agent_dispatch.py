from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from livekit import rtc

from infra.dev_sfu import DevSfu, run_dev_sfu
from infra.dev_sfu.runner import free_port

from .helpers import API_KEY, API_SECRET, background, collect_audio, dominant_frequency, eventually, joined

AGENT = Path(__file__).with_name("minimal_agent.py")
AGENT_NAME = "test-agent"
METADATA = json.dumps({"language": "en", "persona": "default"})


@contextlib.contextmanager
def agent_worker(url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(
        os.environ,
        LIVEKIT_URL=url,
        LIVEKIT_API_KEY=API_KEY,
        LIVEKIT_API_SECRET=API_SECRET,
        TEST_AGENT_NAME=AGENT_NAME,
    )
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(AGENT)], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        except BaseException:
            # The worker's own log says why a dispatch or a job went wrong.
            print(log.read_text(errors="replace")[-6000:])
            raise
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def registered(sfu: DevSfu) -> bool:
    return any(w.agent_name == AGENT_NAME for w in sfu.dispatcher.workers.values())


async def _call_agent(sfu: DevSfu, room_name: str) -> None:
    """Join with a dispatching token; the agent must join, speak (tone) and send a transcript."""
    async with joined(sfu.url, room_name, "caller", agents=[(AGENT_NAME, METADATA)]) as caller:
        loop = asyncio.get_running_loop()
        agent_track: asyncio.Future[rtc.Track] = loop.create_future()
        transcripts: asyncio.Queue[str] = asyncio.Queue()

        @caller.on("track_subscribed")
        def _on_track(track: rtc.Track, pub: object, p: rtc.RemoteParticipant) -> None:
            if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT and not agent_track.done():
                agent_track.set_result(track)

        def _on_text(reader: rtc.TextStreamReader, identity: str) -> None:
            async def _read() -> None:
                transcripts.put_nowait(await reader.read_all())

            background(_read())

        caller.register_text_stream_handler("lk.transcription", _on_text)
        track = await asyncio.wait_for(agent_track, 30)
        samples = await asyncio.wait_for(collect_audio(track, 1.5), 15)
        freq, rms = dominant_frequency(samples[len(samples) // 2 :])
        assert rms > 1000 and abs(freq - 660) < 10, (freq, rms)
        text = await asyncio.wait_for(transcripts.get(), 10)
        assert text == f"hello caller, metadata={METADATA}"
        agents = [
            p
            for p in caller.remote_participants.values()
            if p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
        ]
        assert len(agents) == 1
        await eventually(
            lambda: agents[0].attributes.get("lk.agent.state") == "speaking", 5, "agent attribute"
        )
        assert agents[0].attributes.get("lk.agent.name") == AGENT_NAME
    # The caller left: the room closes, the agent is disconnected and its job ends.
    await eventually(lambda: room_name not in sfu.rooms.rooms, 10, "room to close")
    await eventually(lambda: not sfu.dispatcher.jobs, 20, "the job to end")


async def test_worker_is_dispatched_by_agent_name_and_job_ends_with_the_room(tmp_path: Path) -> None:
    # The caller is first: the dispatch waits until a worker registers, as livekit-server's does.
    async with (
        run_dev_sfu(port=0) as sfu,
        joined(sfu.url, "call-early", "early-caller", agents=[(AGENT_NAME, METADATA)]) as early,
    ):
        with agent_worker(sfu.url, tmp_path / "agent.log"):
            await eventually(lambda: registered(sfu), 30, "worker registration")
            await eventually(
                # Published means fully connected: leaving earlier races the agent's own connect,
                # which the Rust SDK only gives up after its 15 s peer-connection timeout.
                lambda: any(
                    p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT and p.track_publications
                    for p in early.remote_participants.values()
                ),
                20,
                "agent to join the early room and publish",
            )
            await early.disconnect()
            await eventually(lambda: not sfu.dispatcher.jobs, 20, "the early job to end")
            await _call_agent(sfu, "call-agent-1")


async def test_worker_registers_again_after_sfu_restart(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "agent.log"
    async with run_dev_sfu(port=port) as sfu:
        with agent_worker(sfu.url, log):
            await eventually(lambda: registered(sfu), 30, "worker registration")
            await sfu.stop()
            await asyncio.sleep(0.5)
            async with run_dev_sfu(port=port) as restarted:
                await eventually(lambda: registered(restarted), 30, "worker to register again")
                await _call_agent(restarted, "call-after-restart")


async def test_killed_worker_frees_the_room_and_a_new_worker_takes_new_calls(tmp_path: Path) -> None:
    async with (
        run_dev_sfu(port=0) as sfu,
        joined(sfu.url, "call-orphaned", "caller-1", agents=[(AGENT_NAME, METADATA)]) as first,
    ):
        with agent_worker(sfu.url, tmp_path / "agent-1.log") as proc:
            await eventually(
                lambda: any(p.track_publications for p in first.remote_participants.values()),
                30,
                "first agent to publish",
            )
            proc.kill()  # no goodbye: the SFU only sees the connections drop
            await eventually(lambda: not first.remote_participants, 20, "the dead agent to leave")
            await eventually(lambda: not registered(sfu), 10, "the dead worker to be dropped")
        with agent_worker(sfu.url, tmp_path / "agent-2.log"):
            await eventually(lambda: registered(sfu), 30, "the new worker registration")
            await _call_agent(sfu, "call-after-kill")
