"""Set a room's metadata (or delete the room) through the LiveKit server API, as the functions do when the
call's agent drops mid-call (functions/livekit_rooms.py `set_call_state`, `delete_room`).

Usage: python web/e2e/room_state.py --url ws://127.0.0.1:7880 --room call-x --metadata '{"voicecall": ...}'
       python web/e2e/room_state.py --url ws://127.0.0.1:7880 --room call-x --delete
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from livekit import api
from livekit.protocol.room import DeleteRoomRequest, UpdateRoomMetadataRequest


async def run(args: argparse.Namespace) -> int:
    async with api.LiveKitAPI(args.url, args.api_key, args.api_secret) as client:
        if args.delete:
            await client.room.delete_room(DeleteRoomRequest(room=args.room))
            print(f"room-state: deleted {args.room}", flush=True)
        else:
            await client.room.update_room_metadata(
                UpdateRoomMetadataRequest(room=args.room, metadata=args.metadata)
            )
            print(f"room-state: {args.room} metadata {args.metadata}", flush=True)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True)
    p.add_argument("--room", required=True)
    p.add_argument("--api-key", default="devkey")
    p.add_argument("--api-secret", default="secret")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--metadata")
    group.add_argument("--delete", action="store_true")
    return asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
