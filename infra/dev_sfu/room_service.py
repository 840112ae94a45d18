"""The few server-API (Twirp) calls a dev stack needs: rooms, participants, explicit agent dispatch."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from google.protobuf.json_format import MessageToJson, Parse
from google.protobuf.message import Message
from livekit.api import TokenVerifier
from livekit.protocol import agent_dispatch, models, room

from . import auth
from .room import RoomManager

logger = logging.getLogger("dev_sfu")

_Handler = Callable[[Any], Awaitable[Message]]


class RoomServiceApi:
    def __init__(self, rooms: RoomManager, verifier: TokenVerifier) -> None:
        self._rooms = rooms
        self._verifier = verifier
        # method -> (request type, handler, the grant it needs: livekit-server's Ensure*Permission)
        self._methods: dict[str, tuple[type[Message], _Handler, auth.Requirement]] = {
            "ListRooms": (room.ListRoomsRequest, self._list_rooms, "list"),
            "DeleteRoom": (room.DeleteRoomRequest, self._delete_room, "create"),
            "ListParticipants": (room.ListParticipantsRequest, self._list_participants, "admin"),
            "RemoveParticipant": (room.RoomParticipantIdentity, self._remove_participant, "admin"),
            "CreateRoom": (room.CreateRoomRequest, self._create_room, "create"),
            "UpdateRoomMetadata": (room.UpdateRoomMetadataRequest, self._update_room_metadata, "admin"),
            "CreateDispatch": (agent_dispatch.CreateAgentDispatchRequest, self._create_dispatch, "admin"),
        }

    def register(self, app: web.Application) -> None:
        app.router.add_post("/twirp/livekit.RoomService/{method}", self._serve)
        app.router.add_post("/twirp/livekit.AgentDispatchService/{method}", self._serve)

    async def _serve(self, request: web.Request) -> web.Response:
        method = self._methods.get(request.match_info["method"])
        if method is None:
            return _twirp_error(404, "bad_route", "method not supported by the dev SFU")
        try:
            claims = auth.verify_admin(self._verifier, auth.token_from_request(request))
        except auth.TokenRejected as exc:
            return _twirp_error(401, "unauthenticated", str(exc))
        req_type, handler, requirement = method
        body = await request.read()
        is_json = request.content_type == "application/json"
        req = req_type()
        try:
            if is_json:
                Parse(body.decode() or "{}", req, ignore_unknown_fields=True)
            else:
                req.ParseFromString(body)
        except Exception:
            return _twirp_error(400, "malformed", "request body does not decode")
        try:
            auth.require(claims, requirement, getattr(req, "room", ""))
        except auth.PermissionDenied as exc:
            logger.info("refused  %s: %s", request.match_info["method"], exc)
            return _twirp_error(401, "unauthenticated", str(exc))
        try:
            resp = await handler(req)
        except LookupError as exc:
            return _twirp_error(404, "not_found", str(exc))
        if is_json:
            return web.Response(text=MessageToJson(resp), content_type="application/json")
        return web.Response(body=resp.SerializeToString(), content_type="application/protobuf")

    async def _list_rooms(self, req: room.ListRoomsRequest) -> Message:
        names = set(req.names)
        return room.ListRoomsResponse(
            rooms=[r.info() for r in self._rooms.rooms.values() if not names or r.name in names]
        )

    async def _create_room(self, req: room.CreateRoomRequest) -> Message:
        created = self._rooms.get_or_create(req.name, empty_timeout=req.empty_timeout or 300)
        if req.metadata:
            created.metadata = req.metadata
        return created.info()

    async def _create_dispatch(self, req: agent_dispatch.CreateAgentDispatchRequest) -> Message:
        if self._rooms.dispatcher is None:
            raise LookupError("agent dispatch is not available")
        target = self._rooms.get_or_create(req.room)
        dispatch_id = self._rooms.dispatcher.dispatch(target, req.agent_name, req.metadata)
        return agent_dispatch.AgentDispatch(
            id=dispatch_id, agent_name=req.agent_name, room=req.room, metadata=req.metadata
        )

    async def _update_room_metadata(self, req: room.UpdateRoomMetadataRequest) -> Message:
        target = self._rooms.get(req.room)
        if target is None:
            raise LookupError("room not found")
        target.set_metadata(req.metadata)
        return target.info()

    async def _delete_room(self, req: room.DeleteRoomRequest) -> Message:
        target = self._rooms.get(req.room)
        if target is not None:
            await self._rooms.close_room(target, models.DisconnectReason.ROOM_DELETED)
        return room.DeleteRoomResponse()

    async def _list_participants(self, req: room.ListParticipantsRequest) -> Message:
        target = self._rooms.get(req.room)
        if target is None:
            raise LookupError("room not found")
        return room.ListParticipantsResponse(participants=[p.info() for p in target.participants.values()])

    async def _remove_participant(self, req: room.RoomParticipantIdentity) -> Message:
        target = self._rooms.get(req.room)
        p = target.participants.get(req.identity) if target is not None else None
        if target is None or p is None:
            raise LookupError("participant not found")
        await target.remove_participant(p, models.DisconnectReason.PARTICIPANT_REMOVED, notify=True)
        return room.RemoveParticipantResponse()


def _twirp_error(status: int, code: str, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)
