"""A participant who is not the call's agent and pretends to be, for the call page's browser test.

It joins the room as a standard participant named "Voicecall Agent" (on a server that lets it in: the
test's stand-in API mints a token without max_participants, so the page's own filter is what is
tested) and, until the caller leaves, keeps injecting what issue 10 #2 found the page showing as the
agent's: transcription text streams (in its own name and claiming to be the agent or the caller) and
``voicecall.metrics`` packets.

Usage: python web/e2e/intruder.py --url ws://127.0.0.1:7880 --room call-x --agent agent-fake
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from livekit import api, rtc

TOPIC_TRANSCRIPTION = "lk.transcription"
TOPIC_METRICS = "voicecall.metrics"
INJECTED = "INJECTED by the intruder"


def log(msg: str) -> None:
    print(f"intruder: {msg}", flush=True)


async def run(args: argparse.Namespace) -> int:
    token = (
        api.AccessToken(args.api_key, args.api_secret)
        .with_identity(args.identity)
        .with_name("Voicecall Agent")
        .with_grants(api.VideoGrants(room_join=True, room=args.room, can_publish_data=True))
        .to_jwt()
    )
    room = rtc.Room()
    deadline = time.monotonic() + args.timeout
    log(f"waiting for room {args.room}")
    while True:
        try:
            await room.connect(args.url, token)
            break
        except rtc.ConnectError:
            if time.monotonic() > deadline:
                raise TimeoutError("could not join") from None
            await asyncio.sleep(0.5)
            room = rtc.Room()
    lp = room.local_participant
    log(f"joined {args.room} as {lp.identity}")

    def caller() -> str | None:
        return next((i for i in room.remote_participants if i.startswith(args.caller_prefix)), None)

    while caller() is None:
        if time.monotonic() > deadline:
            raise TimeoutError("no caller")
        await asyncio.sleep(0.2)
    victim = caller()
    log(f"caller {victim} is here")
    n = 0
    while caller() is not None and time.monotonic() < deadline:
        n += 1
        for claimed in (None, args.agent, victim):
            writer = await lp.stream_text(
                topic=TOPIC_TRANSCRIPTION,
                attributes={
                    "lk.segment_id": f"SG_injected_{n}_{claimed}",
                    "lk.transcription_final": "true",
                },
                sender_identity=claimed,
            )
            await writer.write(f"{INJECTED} #{n} as {claimed or 'itself'}")
            await writer.aclose()
        metrics = {
            "type": "turn_metrics",
            "event_id": f"injected-{n:04d}",
            "turn": 90 + n % 9,
            "voice_to_voice": 0.001,
        }
        await lp.publish_data(json.dumps(metrics), reliable=True, topic=TOPIC_METRICS)
        if n == 1 or n % 10 == 0:
            log(f"injected {n} rounds")
        await asyncio.sleep(0.5)
    await room.disconnect()
    log(f"done after {n} rounds")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--room", required=True)
    p.add_argument("--agent", required=True, help="the agent's identity, to claim it")
    p.add_argument("--caller-prefix", default="web-")
    p.add_argument("--api-key", default="devkey")
    p.add_argument("--api-secret", default="secret")
    p.add_argument("--identity", default="web-mallory-1")
    p.add_argument("--timeout", type=float, default=120.0)
    args = p.parse_args()
    try:
        return asyncio.run(run(args))
    except TimeoutError as exc:
        log(f"timeout: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
