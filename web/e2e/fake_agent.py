"""A scripted stand-in for the agent worker, for browser tests that run without the real worker.

It joins a room on a LiveKit-protocol server as an agent participant and behaves, on the wire, as
livekit-agents does: `lk.agent.state` attribute, transcription text streams on `lk.transcription`
(the caller's words as interim then final segments attributed to the caller's track, the reply as a
delta stream closed with lk.transcription_final=true), the reply spoken as audio on its microphone track,
and one `voicecall.metrics` packet per turn. It "hears" the caller only when real audio energy arrives
from the browser's microphone track, so the test also proves the uplink works.

Usage: python web/e2e/fake_agent.py --url ws://127.0.0.1:7880 --room call-x --reply-wav reply.wav \
           --heard "hello there" --reply "Hi! Paris is the capital of France."
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
import wave
from array import array

from livekit import api, rtc

SAMPLE_RATE = 48_000
FRAME = SAMPLE_RATE // 100  # 10 ms
TOPIC_TRANSCRIPTION = "lk.transcription"
TOPIC_METRICS = "voicecall.metrics"


def log(msg: str) -> None:
    print(f"fake-agent: {msg}", flush=True)


def load_pcm(path: str) -> array:
    with wave.open(path, "rb") as w:
        if w.getframerate() != SAMPLE_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise SystemExit(f"{path}: need 48 kHz mono 16-bit")
        pcm = array("h")
        pcm.frombytes(w.readframes(w.getnframes()))
        return pcm


async def speak(source: rtc.AudioSource, pcm: array) -> None:
    for start in range(0, len(pcm), FRAME):
        chunk = pcm[start : start + FRAME]
        if len(chunk) < FRAME:
            chunk.extend([0] * (FRAME - len(chunk)))
        await source.capture_frame(rtc.AudioFrame(chunk.tobytes(), SAMPLE_RATE, 1, FRAME))


async def wait_for_speech(track: rtc.Track, threshold: float, within_s: float) -> float:
    """Return the RMS of the first loud 10 ms frame from the caller's track; every 5 s, say how many
    frames came and how loud (so a failed run shows whether audio arrived at all)."""
    stream = rtc.AudioStream(track, sample_rate=SAMPLE_RATE, num_channels=1)
    frames, loudest = 0, 0.0

    async def _heard() -> float:
        nonlocal frames, loudest
        async for event in stream:
            samples = array("h")
            samples.frombytes(bytes(event.frame.data))
            frames += 1
            if samples:
                rms = math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768
                loudest = max(loudest, rms)
                if rms > threshold:
                    return rms
        raise TimeoutError("caller track ended")

    listening = asyncio.ensure_future(_heard())
    deadline = time.monotonic() + within_s
    try:
        while not listening.done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no speech from the caller ({frames} frames, loudest rms {loudest:.4f})")
            await asyncio.wait([listening], timeout=5.0)
            if not listening.done():
                log(f"listening: {frames} frames so far, loudest rms {loudest:.4f}")
        return listening.result()
    finally:
        listening.cancel()
        await stream.aclose()


async def run(args: argparse.Namespace) -> int:
    token = (
        api.AccessToken(args.api_key, args.api_secret)
        .with_identity(args.identity)
        .with_name("Assistant")
        .with_kind("agent")
        .with_grants(
            api.VideoGrants(
                room_join=True,
                room=args.room,
                agent=True,
                can_publish_data=True,
                # lk.agent.state is a participant attribute: the SFU only accepts it with this grant.
                can_update_own_metadata=True,
            )
        )
        .to_jwt()
    )
    room = rtc.Room()
    loop = asyncio.get_running_loop()
    caller: asyncio.Future[tuple[rtc.RemoteParticipant, rtc.Track]] = loop.create_future()

    def _on_track(
        track: rtc.Track, _pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO and not caller.done():
            caller.set_result((participant, track))

    left = asyncio.Event()
    room.on("participant_disconnected", lambda _p: left.set())
    room.on("track_subscribed", _on_track)

    # Like a dispatched agent, join only once the caller has opened the room (the SFU refuses agents
    # in rooms that do not exist).
    deadline = time.monotonic() + args.timeout
    log(f"waiting for room {args.room}")
    while True:
        try:
            await room.connect(args.url, token)
            break
        except rtc.ConnectError:
            if time.monotonic() > deadline:
                raise TimeoutError("room never opened") from None
            await asyncio.sleep(0.5)
            room = rtc.Room()
            room.on("track_subscribed", _on_track)
            room.on("participant_disconnected", lambda _p: left.set())
    lp = room.local_participant
    log(f"joined {args.room} as {lp.identity}")
    await lp.set_attributes({"lk.agent.state": "initializing"})
    source = rtc.AudioSource(SAMPLE_RATE, 1)
    track = rtc.LocalAudioTrack.create_audio_track("agent-voice", source)
    pub = await lp.publish_track(track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE))
    await lp.set_attributes({"lk.agent.state": "listening"})

    participant, caller_track = await asyncio.wait_for(caller, args.timeout)
    log(f"caller {participant.identity} track {caller_track.sid}")
    rms = await wait_for_speech(caller_track, args.threshold, args.timeout)
    log(f"heard the caller (rms {rms:.3f})")

    reply_pcm = load_pcm(args.reply_wav)
    words = args.heard.split()
    t_user_end = time.monotonic()
    # The caller's words: interim segments, then the final one (a new stream each time, same segment id).
    for i in range(1, len(words) + 1):
        final = i == len(words)
        attrs = {
            "lk.segment_id": "SG_user1",
            "lk.transcribed_track_id": caller_track.sid,
            "lk.transcription_final": "true" if final else "false",
        }
        writer = await lp.stream_text(
            topic=TOPIC_TRANSCRIPTION, attributes=attrs, sender_identity=participant.identity
        )
        await writer.write(" ".join(words[:i]))
        await writer.aclose()
        await asyncio.sleep(0.15)

    await lp.set_attributes({"lk.agent.state": "thinking"})
    await asyncio.sleep(0.4)
    await lp.set_attributes({"lk.agent.state": "speaking"})
    writer = await lp.stream_text(
        topic=TOPIC_TRANSCRIPTION,
        attributes={
            "lk.segment_id": "SG_agent1",
            "lk.transcribed_track_id": pub.sid,
            "lk.transcription_final": "false",
        },
        sender_identity=lp.identity,
    )
    v2v = time.monotonic() - t_user_end
    speaking = asyncio.create_task(speak(source, reply_pcm))
    reply_words = args.reply.split()
    per_word = (len(reply_pcm) / SAMPLE_RATE) / max(1, len(reply_words))
    for n, word in enumerate(reply_words):
        await writer.write(("" if n == 0 else " ") + word)
        await asyncio.sleep(per_word)
    await speaking
    await writer.aclose(attributes={"lk.transcription_final": "true", "lk.transcribed_track_id": pub.sid})
    metrics = {
        "type": "turn_metrics",
        "event_id": f"{args.room}-turn-0001",
        "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "turn": 1,
        "end_of_utterance_delay": 0.35,
        "stt_duration": 0.12,
        "llm_ttft": 0.21,
        "tts_ttfb": 0.09,
        "voice_to_voice": round(v2v, 3),
        "interrupted": False,
    }
    await lp.publish_data(json.dumps(metrics), reliable=True, topic=TOPIC_METRICS)
    await lp.set_attributes({"lk.agent.state": "listening"})
    log("turn done")

    # Keep a little audio flowing (silence) until the caller leaves, so the track stays live.
    silence = array("h", [0] * FRAME)
    deadline = time.monotonic() + args.timeout
    while not left.is_set() and time.monotonic() < deadline:
        await source.capture_frame(rtc.AudioFrame(silence.tobytes(), SAMPLE_RATE, 1, FRAME))
    await room.disconnect()
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--room", required=True)
    p.add_argument("--api-key", default="devkey")
    p.add_argument("--api-secret", default="secret")
    p.add_argument("--identity", default="agent-fake")
    p.add_argument("--reply-wav", required=True)
    p.add_argument("--heard", required=True, help="what the caller is 'transcribed' as")
    p.add_argument("--reply", required=True)
    p.add_argument("--threshold", type=float, default=0.02)
    p.add_argument("--timeout", type=float, default=90.0)
    args = p.parse_args()
    try:
        return asyncio.run(run(args))
    except TimeoutError as exc:
        log(f"timeout: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
