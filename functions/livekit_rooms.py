"""The few LiveKit server-API calls the functions make (livekit-api: RoomService, AgentDispatchService).

Used by the webhook handler when a call's agent leaves mid-call: who is still in the room, a new agent
dispatch, the call's state for the page (room metadata, which only the server API can write), and ending
the call (deleting the room). Synchronous wrappers: a Lambda handler runs one request at a time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from livekit import api
from livekit.protocol.agent_dispatch import CreateAgentDispatchRequest
from livekit.protocol.models import ParticipantInfo
from livekit.protocol.room import DeleteRoomRequest, ListParticipantsRequest, UpdateRoomMetadataRequest

from functions import secrets as runtime_secrets
from functions.settings import get_settings

T = TypeVar("T")
_TIMEOUT_S = 5.0
# The room metadata key the page reads the call's state from ({"voicecall": {"agent": ...}}).
ROOM_STATE_KEY = "voicecall"


def _run(call: Callable[[api.LiveKitAPI], Awaitable[T]]) -> T:
    async def go() -> T:
        async with api.LiveKitAPI(
            get_settings().livekit_url,
            runtime_secrets.livekit_api_key(),
            runtime_secrets.livekit_api_secret(),
            timeout=aiohttp.ClientTimeout(total=_TIMEOUT_S),
        ) as client:
            return await call(client)

    return asyncio.run(go())


def participants(room: str) -> list[ParticipantInfo] | None:
    """Who is in the room now; None when the room does not exist (any more)."""

    async def call(client: api.LiveKitAPI) -> list[ParticipantInfo] | None:
        try:
            reply = await client.room.list_participants(ListParticipantsRequest(room=room))
        except api.TwirpError as exc:
            if exc.status == 404 or exc.code == "not_found":
                return None
            raise
        return list(reply.participants)

    return _run(call)


def dispatch_agent(room: str, agent_name: str, metadata: str) -> str:
    """A new explicit dispatch of our agent to the room; returns its id."""

    async def call(client: api.LiveKitAPI) -> str:
        created = await client.agent_dispatch.create_dispatch(
            CreateAgentDispatchRequest(room=room, agent_name=agent_name, metadata=metadata)
        )
        return str(created.id)

    return _run(call)


def room_state(**state: Any) -> str:
    return json.dumps({ROOM_STATE_KEY: state}, separators=(",", ":"))


def set_call_state(room: str, **state: Any) -> None:
    """What the caller's page shows about the call (the agent reconnecting, or gone and why)."""

    async def call(client: api.LiveKitAPI) -> None:
        await client.room.update_room_metadata(
            UpdateRoomMetadataRequest(room=room, metadata=room_state(**state))
        )

    _run(call)


def delete_room(room: str) -> None:
    async def call(client: api.LiveKitAPI) -> None:
        try:
            await client.room.delete_room(DeleteRoomRequest(room=room))
        except api.TwirpError as exc:
            if exc.status != 404 and exc.code != "not_found":
                raise

    _run(call)
