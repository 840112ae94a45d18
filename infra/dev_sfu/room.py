"""Rooms: membership, participant updates, track fan-out and data relay. Rooms never share state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from livekit.protocol import models, rtc
from livekit.protocol.room import RoomConfiguration

from . import ids
from .media import MediaOptions
from .participant import Participant, PublishedTrack

if TYPE_CHECKING:
    from .agents import AgentDispatcher
    from .webhooks import WebhookSender

logger = logging.getLogger("dev_sfu")


class RoomFull(Exception):
    """The room already holds max_participants non-agent participants (livekit-server:
    ErrMaxParticipantsExceeded; the client gets a LeaveRequest with JOIN_FAILURE)."""


class Room:
    def __init__(self, name: str, manager: RoomManager, empty_timeout: int, departure_timeout: float) -> None:
        self.name = name
        self.sid = ids.room_sid()
        self.created_at = time.time()
        self.metadata = ""
        self.empty_timeout = empty_timeout
        self.departure_timeout = departure_timeout
        # 0 = unlimited. Agents (and other "dependent" participants) are not counted, as in livekit-server.
        self.max_participants = 0
        self.participants: dict[str, Participant] = {}
        self.dispatched_agents: set[str] = set()
        self.closed = False
        self.ever_joined = False
        self._manager = manager
        self._close_timer: asyncio.TimerHandle | None = None

    @property
    def media(self) -> MediaOptions:
        return self._manager.media

    @property
    def max_tracks_per_participant(self) -> int:
        return self._manager.max_tracks_per_participant

    def apply_config(self, config: RoomConfiguration | None) -> None:
        """A join token's roomConfig, as livekit-server's room allocator applies it: non-zero values win."""
        if config is None:
            return
        if config.empty_timeout > 0:
            self.empty_timeout = config.empty_timeout
        if config.departure_timeout > 0:
            self.departure_timeout = float(config.departure_timeout)
        if config.max_participants > 0:
            self.max_participants = config.max_participants

    def check_capacity(self, identity: str, is_agent: bool) -> None:
        """Refuse a non-agent join beyond max_participants. A participant rejoining with its own identity
        replaces its old session (DUPLICATE_IDENTITY), so it does not count against itself."""
        if is_agent or self.max_participants <= 0:
            return
        present = sum(1 for p in self.participants.values() if not p.is_agent and p.identity != identity)
        if present >= self.max_participants:
            raise RoomFull(f"room {self.name} already has its {self.max_participants} participant(s)")

    def info(self) -> models.Room:
        return models.Room(
            sid=self.sid,
            name=self.name,
            empty_timeout=self.empty_timeout,
            departure_timeout=int(self.departure_timeout),
            creation_time=int(self.created_at),
            creation_time_ms=int(self.created_at * 1000),
            metadata=self.metadata,
            max_participants=self.max_participants,
            num_participants=sum(1 for p in self.participants.values() if not p.is_agent),
            num_publishers=sum(1 for p in self.participants.values() if p.tracks),
        )

    def visible(self, exclude: Participant | None = None) -> list[Participant]:
        return [p for p in self.participants.values() if p is not exclude and not p.hidden]

    def others(self, me: Participant) -> list[Participant]:
        return [p for p in self.participants.values() if p is not me]

    def has_humans(self) -> bool:
        return any(not p.is_agent for p in self.participants.values())

    def find_track(self, track_sid: str) -> tuple[Participant, PublishedTrack] | None:
        for p in self.participants.values():
            if track_sid in p.tracks:
                return p, p.tracks[track_sid]
        return None

    # ----- membership ---------------------------------------------------------------------------

    async def add_participant(self, p: Participant) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        old = self.participants.get(p.identity)
        if old is not None:
            await self.remove_participant(old, models.DisconnectReason.DUPLICATE_IDENTITY)
        self.participants[p.identity] = p
        if not p.is_agent:
            self.ever_joined = True
        others = [o.info() for o in self.visible(exclude=p)]
        p.send(
            rtc.SignalResponse(
                join=rtc.JoinResponse(
                    room=self.info(),
                    participant=p.info(),
                    other_participants=others,
                    server_version=self._manager.server_info.version,
                    server_info=self._manager.server_info,
                    subscriber_primary=True,
                    fast_publish=True,
                    ping_interval=5,
                    ping_timeout=15,
                )
            )
        )
        if p.auto_subscribe:
            for other in self.others(p):
                for track in other.tracks.values():
                    p.subscribe(other, track)
        # The subscriber offer carries the data channels the SDKs wait for, tracks or not.
        p.request_offer()
        self._broadcast_update(p)
        logger.info(
            "join     room=%s %s kind=%s participants=%d",
            self.name,
            p,
            "agent" if p.is_agent else "standard",
            len(self.participants),
        )
        self._manager.webhooks.emit("participant_joined", room=self.info(), participant=p.info())

    async def remove_participant(self, p: Participant, reason: int, notify: bool = False) -> None:
        if self.participants.get(p.identity) is not p:
            await p.close()
            return
        del self.participants[p.identity]
        leave = None
        if notify or reason not in (
            models.DisconnectReason.CLIENT_INITIATED,
            models.DisconnectReason.SIGNAL_CLOSE,
        ):
            leave = rtc.LeaveRequest(
                can_reconnect=False,
                reason=reason,  # type: ignore[arg-type]
                action=rtc.LeaveRequest.Action.DISCONNECT,
            )
        for track_sid in p.tracks:
            for other in self.others(p):
                other.unsubscribe(track_sid)
        await p.close(leave=leave)
        p.state = models.ParticipantInfo.State.DISCONNECTED
        p.bump()
        if not p.hidden:
            for other in self.others(p):
                for track_sid in p.tracks:
                    other.send(
                        rtc.SignalResponse(
                            track_unpublished=rtc.TrackUnpublishedResponse(track_sid=track_sid)
                        )
                    )
                info = p.info()
                info.disconnect_reason = reason  # type: ignore[assignment]
                other.send(rtc.SignalResponse(update=rtc.ParticipantUpdate(participants=[info])))
        logger.info(
            "leave    room=%s %s reason=%s participants=%d",
            self.name,
            p,
            models.DisconnectReason.Name(reason),
            len(self.participants),
        )
        # As livekit-server: the webhook says why the participant left (a crash is not a hang-up).
        left = p.info()
        left.disconnect_reason = reason  # type: ignore[assignment]
        self._manager.webhooks.emit("participant_left", room=self.info(), participant=left)
        for callback in self._manager.on_participant_left:
            callback(self, p)
        if not self.has_humans() and not self.closed:
            self._schedule_close()

    def _schedule_close(self) -> None:
        if self._close_timer is not None:
            return

        def _fire() -> None:
            self._close_timer = None
            if not self.has_humans():
                self._manager.spawn(self._manager.close_room(self, models.DisconnectReason.ROOM_CLOSED))

        self._close_timer = asyncio.get_running_loop().call_later(self.departure_timeout, _fire)

    async def close(self, reason: int) -> None:
        self.closed = True
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        for p in list(self.participants.values()):
            await self.remove_participant(p, reason, notify=True)

    # ----- updates ------------------------------------------------------------------------------

    def set_metadata(self, metadata: str) -> None:
        """As livekit-server: every participant gets a room_update with the new metadata."""
        self.metadata = metadata
        update = rtc.SignalResponse(room_update=rtc.RoomUpdate(room=self.info()))
        for p in self.participants.values():
            p.send(update)

    def _broadcast_update(self, p: Participant) -> None:
        if p.hidden:
            return
        update = rtc.SignalResponse(update=rtc.ParticipantUpdate(participants=[p.info()]))
        for other in self.others(p):
            other.send(update)

    def on_participant_active(self, p: Participant) -> None:
        self._broadcast_update(p)

    def on_participant_updated(self, p: Participant) -> None:
        # livekit-server echoes the update to the participant itself as well.
        update = rtc.SignalResponse(update=rtc.ParticipantUpdate(participants=[p.info()]))
        p.send(update)
        if not p.hidden:
            for other in self.others(p):
                other.send(update)

    def on_track_published(self, p: Participant, track: PublishedTrack) -> None:
        # The update that announces a track must reach subscribers before the offer that carries it.
        self._broadcast_update(p)
        self._manager.webhooks.emit(
            "track_published", room=self.info(), participant=p.info(), track=track.info
        )
        for other in self.others(p):
            if other.auto_subscribe:
                other.subscribe(p, track)

    async def unpublish(self, p: Participant, track_sid: str) -> None:
        track = p.tracks.pop(track_sid, None)
        if track is None:
            return
        for other in self.others(p):
            other.unsubscribe(track_sid)
        await track.relay.close()
        p.bump()
        logger.info("unpublish room=%s %s track=%s", self.name, p, track_sid)
        unpublished = rtc.SignalResponse(track_unpublished=rtc.TrackUnpublishedResponse(track_sid=track_sid))
        p.send(unpublished)
        if not p.hidden:
            for other in self.others(p):
                other.send(unpublished)
        self._broadcast_update(p)
        self._manager.webhooks.emit(
            "track_unpublished", room=self.info(), participant=p.info(), track=track.info
        )

    def on_speaking(self, p: Participant, active: bool, level: float) -> None:
        if p.hidden:
            return
        msg = rtc.SignalResponse(
            speakers_changed=rtc.SpeakersChanged(
                speakers=[models.SpeakerInfo(sid=p.sid, level=level, active=active)]
            )
        )
        for member in self.participants.values():
            member.send(msg)

    def on_track_muted(self, p: Participant, track_sid: str, muted: bool) -> None:
        track = p.tracks.get(track_sid)
        if track is None:
            return
        track.info.muted = muted
        p.bump()
        self._broadcast_update(p)

    # ----- data ---------------------------------------------------------------------------------

    def relay_data(self, sender: Participant, raw: bytes, *, reliable: bool) -> None:
        if not sender.permission.can_publish_data:
            return
        packet = models.DataPacket()
        try:
            packet.ParseFromString(raw)
        except Exception:
            logger.debug("%s: undecodable data packet dropped", sender)
            return
        # As livekit-server: the sender's identity is stamped on every packet, except that an agent may
        # open a text stream on behalf of another participant (its transcription of the caller), which
        # keeps that identity and is marked generated. Nobody else can speak in another's name.
        on_behalf = (
            sender.is_agent
            and bool(packet.participant_identity)
            and packet.participant_identity != sender.identity
            and packet.HasField("stream_header")
            and packet.stream_header.HasField("text_header")
        )
        if on_behalf:
            packet.stream_header.text_header.generated = True
        else:
            packet.participant_identity = sender.identity
        if not packet.participant_sid:
            packet.participant_sid = sender.sid
        destinations = set(packet.destination_identities)
        if packet.HasField("user"):
            packet.user.participant_identity = sender.identity
            packet.user.participant_sid = sender.sid
            destinations.update(packet.user.destination_identities)
        data = packet.SerializeToString()
        for other in self.others(sender):
            if destinations and other.identity not in destinations:
                continue
            other.send_data(data, reliable=reliable)


class RoomManager:
    def __init__(
        self,
        webhooks: WebhookSender,
        server_info: models.ServerInfo,
        departure_timeout: float,
        max_tracks_per_participant: int = 20,
    ) -> None:
        self.rooms: dict[str, Room] = {}
        self.max_tracks_per_participant = max_tracks_per_participant
        self.webhooks = webhooks
        self.server_info = server_info
        self.departure_timeout = departure_timeout
        self.dispatcher: AgentDispatcher | None = None
        self.media = MediaOptions()
        self.on_room_closed: list[Callable[[Room], None]] = []
        self.on_participant_left: list[Callable[[Room, Participant], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def get(self, name: str) -> Room | None:
        return self.rooms.get(name)

    def get_or_create(
        self, name: str, empty_timeout: int = 300, config: RoomConfiguration | None = None
    ) -> Room:
        room = self.rooms.get(name)
        if room is None:
            room = Room(name, self, empty_timeout=empty_timeout, departure_timeout=self.departure_timeout)
            room.apply_config(config)
            self.rooms[name] = room
            logger.info(
                "room     %s created (%s) max_participants=%d empty_timeout=%ds departure_timeout=%gs",
                name,
                room.sid,
                room.max_participants,
                room.empty_timeout,
                room.departure_timeout,
            )
            asyncio.get_running_loop().call_later(room.empty_timeout, self._close_if_never_joined, room)
            self.webhooks.emit("room_started", room=room.info())
        else:
            room.apply_config(config)
        return room

    def _close_if_never_joined(self, room: Room) -> None:
        if not room.closed and not room.has_humans() and not room.ever_joined:
            self.spawn(self.close_room(room, models.DisconnectReason.ROOM_CLOSED))

    async def close_room(self, room: Room, reason: int) -> None:
        if self.rooms.get(room.name) is not room or room.closed:
            return
        await room.close(reason)
        self.rooms.pop(room.name, None)
        for callback in self.on_room_closed:
            with contextlib.suppress(Exception):
                callback(room)
        logger.info("room     %s closed (%s)", room.name, models.DisconnectReason.Name(reason))
        self.webhooks.emit("room_finished", room=room.info())

    async def close_all(self) -> None:
        for room in list(self.rooms.values()):
            await self.close_room(room, models.DisconnectReason.SERVER_SHUTDOWN)
