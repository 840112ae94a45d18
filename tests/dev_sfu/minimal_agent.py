"""A minimal livekit-agents worker for the dev SFU tests (run as a subprocess).

Env: LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET, TEST_AGENT_NAME. The job joins, publishes a
660 Hz tone, says the dispatch metadata on the lk.transcription text stream, sets an attribute, and
keeps playing until the room goes away.
"""

from __future__ import annotations

import asyncio
import logging
import os

import numpy as np
from livekit import rtc
from livekit.agents import AgentServer, JobContext, JobExecutorType

TONE_HZ = 660.0


async def entrypoint(ctx: JobContext) -> None:
    await ctx.connect()
    source = rtc.AudioSource(48000, 1)
    track = rtc.LocalAudioTrack.create_audio_track("agent-voice", source)
    await ctx.room.local_participant.publish_track(
        track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    )
    caller = await ctx.wait_for_participant()
    await ctx.room.local_participant.set_attributes({"lk.agent.state": "speaking"})
    await ctx.room.local_participant.send_text(
        f"hello {caller.identity}, metadata={ctx.job.metadata}", topic="lk.transcription"
    )
    n, t0 = 480, 0
    while ctx.room.isconnected():
        t = (np.arange(n) + t0) / 48000
        t0 += n
        samples = (0.4 * 32767 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.int16)
        await source.capture_frame(rtc.AudioFrame(samples.tobytes(), 48000, 1, n))


async def main() -> None:
    server = AgentServer(
        job_executor_type=JobExecutorType.THREAD,
        num_idle_processes=0,
        host="127.0.0.1",
        port=0,
        max_retry=100,
    )
    server.rtc_session(entrypoint, agent_name=os.environ.get("TEST_AGENT_NAME", "test-agent"))
    await server.run(devmode=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main())
