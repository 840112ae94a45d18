"""One participant's signalling connection and its two peer connections (classic LiveKit mode).

Publisher PC: the client offers, the SFU answers. Subscriber PC: the SFU offers (with the `_reliable`,
`_lossy` and `_data_track` data channels the SDKs wait for) and renegotiates once per added track,
one offer at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import SessionDescription as ParsedSdp
from aiortc.sdp import candidate_from_sdp
from livekit.protocol import models, rtc

from . import ids
from .auth import JoinGrant
from .media import SubscribedTrack, TrackRelay

if TYPE_CHECKING:
    from .room import Room

logger = logging.getLogger("dev_sfu")

_OFFER_ANSWER_TIMEOUT = 15.0
_MAX_PENDING_DATA = 256
# Grant names (livekit protocol auth: sourceToString) -> TrackSource.
_SOURCES = {
    "camera": models.TrackSource.CAMERA,
    "microphone": models.TrackSource.MICROPHONE,
    "screen_share": models.TrackSource.SCREEN_SHARE,
    "screen_share_audio": models.TrackSource.SCREEN_SHARE_AUDIO,
}
_SOURCE_NAMES = frozenset(models.TrackSource.values())


@dataclass
class PublishedTrack:
    info: models.TrackInfo
    relay: TrackRelay

    @property
    def sid(self) -> str:
        return self.info.sid


@dataclass
class Subscription:
    output: SubscribedTrack
    relay: TrackRelay
    transceiver: RTCRtpTransceiver


@dataclass
class _PendingTrack:
    cid: str
    info: models.TrackInfo


@dataclass
class _DataChannelOut:
    channel: RTCDataChannel
    pending: list[bytes] = field(default_factory=list)


def _kind_of(track_type: int) -> str:
    return "video" if track_type == models.TrackType.VIDEO else "audio"


class Participant:
    def __init__(
        self,
        room: Room,
        grant: JoinGrant,
        ws: web.WebSocketResponse,
        *,
        auto_subscribe: bool,
        protocol: int,
    ) -> None:
        claims = grant.claims
        video = claims.video
        assert video is not None
        self.room = room
        self.ws = ws
        self.sid = ids.participant_sid()
        self.identity = grant.identity
        self.name = claims.name or ""
        self.metadata = claims.metadata or ""
        self.attributes: dict[str, str] = dict(claims.attributes or {})
        self.is_agent = claims.kind == "agent" or bool(video.agent)
        self.kind = (
            models.ParticipantInfo.Kind.AGENT if self.is_agent else models.ParticipantInfo.Kind.STANDARD
        )
        self.hidden = bool(video.hidden)
        # livekit's VideoGrant.GetCanPublishSource: no list = every source; otherwise only those named.
        self.publish_sources = frozenset(
            _SOURCES[name] for name in (video.can_publish_sources or []) if name in _SOURCES
        )
        self.permission = models.ParticipantPermission(
            can_subscribe=video.can_subscribe,
            can_publish=video.can_publish,
            can_publish_data=video.can_publish_data,
            can_publish_sources=sorted(self.publish_sources),
            can_update_metadata=bool(video.can_update_own_metadata),
            hidden=self.hidden,
            agent=bool(video.agent),
        )
        self._restrict_sources = bool(video.can_publish_sources)
        self.room_config = claims.room_config
        self.auto_subscribe = auto_subscribe
        self.protocol = protocol
        self.joined_at = time.time()
        self.state: int = models.ParticipantInfo.State.JOINED
        self.version = 1
        self.tracks: dict[str, PublishedTrack] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.closed = False

        self._pending_tracks: list[_PendingTrack] = []
        self._outbox: asyncio.Queue[rtc.SignalResponse | None] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write_signal(), name=f"signal_out_{self.sid}")
        self._tasks: set[asyncio.Task[Any]] = set()

        config = RTCConfiguration(iceServers=[])
        self.publisher = RTCPeerConnection(configuration=config)
        self.subscriber = RTCPeerConnection(configuration=config)
        self._pending_candidates: dict[int, list[dict[str, Any]]] = {
            rtc.SignalTarget.PUBLISHER: [],
            rtc.SignalTarget.SUBSCRIBER: [],
        }
        self._data_out: dict[str, _DataChannelOut] = {}
        self._offer_id = 0
        self._needs_offer = False
        self._negotiating = False
        self._answer_received = asyncio.Event()
        self._setup_peer_connections()

    # ----- descriptions -------------------------------------------------------------------------

    def info(self) -> models.ParticipantInfo:
        return models.ParticipantInfo(
            sid=self.sid,
            identity=self.identity,
            name=self.name,
            state=self.state,  # type: ignore[arg-type]
            tracks=[t.info for t in self.tracks.values()],
            metadata=self.metadata,
            joined_at=int(self.joined_at),
            joined_at_ms=int(self.joined_at * 1000),
            version=self.version,
            permission=self.permission,
            is_publisher=bool(self.tracks),
            kind=self.kind,
            attributes=self.attributes,
        )

    def bump(self) -> None:
        self.version += 1

    def __repr__(self) -> str:
        return f"{self.identity}({self.sid})"

    # ----- signalling I/O -----------------------------------------------------------------------

    def send(self, msg: rtc.SignalResponse) -> None:
        if not self.closed:
            self._outbox.put_nowait(msg)

    async def _write_signal(self) -> None:
        while True:
            msg = await self._outbox.get()
            if msg is None:
                return
            try:
                await self.ws.send_bytes(msg.SerializeToString())
            except (ConnectionError, RuntimeError):
                return

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

        def _log_failure(t: asyncio.Task[Any]) -> None:
            if not t.cancelled() and t.exception() is not None:
                logger.error("%s: %s failed: %r", self, name, t.exception())

        task.add_done_callback(_log_failure)

    async def handle(self, req: rtc.SignalRequest) -> None:
        which = req.WhichOneof("message")
        if which == "offer":
            await self._on_publisher_offer(req.offer)
        elif which == "answer":
            await self._on_subscriber_answer(req.answer)
        elif which == "trickle":
            await self._on_trickle(req.trickle)
        elif which == "add_track":
            self._on_add_track(req.add_track)
        elif which == "mute":
            self.room.on_track_muted(self, req.mute.sid, req.mute.muted)
        elif which == "subscription":
            self._on_update_subscription(req.subscription)
        elif which == "update_metadata":
            self._on_update_metadata(req.update_metadata)
        elif which == "ping":
            self.send(rtc.SignalResponse(pong=int(time.time() * 1000)))
        elif which == "ping_req":
            self.send(
                rtc.SignalResponse(
                    pong_resp=rtc.Pong(
                        last_ping_timestamp=req.ping_req.timestamp, timestamp=int(time.time() * 1000)
                    )
                )
            )
        elif which == "leave":
            raise _LeaveRequested
        else:
            logger.debug("%s: ignoring %s", self, which)

    # ----- publisher ----------------------------------------------------------------------------

    def _setup_peer_connections(self) -> None:
        @self.publisher.on("track")
        def _on_track(track: MediaStreamTrack) -> None:
            self._on_remote_track(track)

        @self.publisher.on("datachannel")
        def _on_datachannel(channel: RTCDataChannel) -> None:
            reliable = channel.label != "_lossy"

            @channel.on("message")
            def _on_message(message: bytes | str) -> None:
                if isinstance(message, bytes):
                    self.room.relay_data(self, message, reliable=reliable)

        @self.subscriber.on("connectionstatechange")
        async def _on_sub_state() -> None:
            state = self.subscriber.connectionState
            if state == "connected" and self.state != models.ParticipantInfo.State.ACTIVE:
                self.state = models.ParticipantInfo.State.ACTIVE
                self.bump()
                self.room.on_participant_active(self)
            elif state == "failed" and not self.closed:
                logger.warning("%s: subscriber connection failed", self)
                await self.room.remove_participant(self, models.DisconnectReason.CONNECTION_TIMEOUT)

        for label, opts in (
            ("_reliable", {"ordered": True}),
            ("_lossy", {"ordered": False, "maxRetransmits": 0}),
            ("_data_track", {"ordered": False, "maxRetransmits": 0}),
        ):
            channel = self.subscriber.createDataChannel(label, **opts)
            out = _DataChannelOut(channel)
            self._data_out[label] = out

            def _flush(out: _DataChannelOut = out) -> None:
                for data in out.pending:
                    out.channel.send(data)
                out.pending.clear()

            channel.on("open", _flush)

    def can_publish_source(self, source: int) -> bool:
        if not self.permission.can_publish:
            return False
        return not self._restrict_sources or source in self.publish_sources

    def _refuse_track(self, req: rtc.AddTrackRequest, reason: int, message: str) -> None:
        logger.info("refused  add_track room=%s %s cid=%s: %s", self.room.name, self, req.cid, message)
        self.send(
            rtc.SignalResponse(
                request_response=rtc.RequestResponse(
                    reason=reason,  # type: ignore[arg-type]
                    message=message,
                    add_track=req,
                )
            )
        )

    def _on_add_track(self, req: rtc.AddTrackRequest) -> None:
        # As livekit-server's ParticipantImpl.AddTrack: the grant's sources first, then the limits.
        if not self.can_publish_source(req.source):
            source = models.TrackSource.Name(req.source) if req.source in _SOURCE_NAMES else str(req.source)
            self._refuse_track(
                req, rtc.RequestResponse.Reason.NOT_ALLOWED, f"no permission to publish a {source} track"
            )
            return
        if req.type not in (models.TrackType.AUDIO, models.TrackType.VIDEO):
            self._refuse_track(req, rtc.RequestResponse.Reason.UNSUPPORTED_TYPE, "unsupported track type")
            return
        cap = self.room.max_tracks_per_participant
        if len(self.tracks) + len(self._pending_tracks) >= cap:
            self._refuse_track(
                req, rtc.RequestResponse.Reason.LIMIT_EXCEEDED, f"at most {cap} tracks per participant"
            )
            return
        info = models.TrackInfo(
            sid=ids.track_sid(),
            type=req.type,
            name=req.name,
            muted=req.muted,
            source=req.source,
            disable_dtx=req.disable_dtx,
            stereo=req.stereo,
            disable_red=True,
            mime_type="audio/opus" if req.type == models.TrackType.AUDIO else "",
            stream=req.stream,
            audio_features=req.audio_features,
            version=models.TimedVersion(unix_micro=int(time.time() * 1e6)),
        )
        self._pending_tracks.append(_PendingTrack(cid=req.cid, info=info))
        self.send(rtc.SignalResponse(track_published=rtc.TrackPublishedResponse(cid=req.cid, track=info)))

    def _on_remote_track(self, track: MediaStreamTrack) -> None:
        # JS's cid equals the msid track id; the Rust SDK's does not: take the first pending track of
        # the same kind, as livekit-server does.
        pending = next((p for p in self._pending_tracks if p.cid == track.id), None)
        if pending is None:
            pending = next((p for p in self._pending_tracks if _kind_of(p.info.type) == track.kind), None)
        if pending is None:
            # Media without an accepted AddTrackRequest (a refused camera, one past the cap) is dropped.
            logger.warning("%s: %s track without AddTrackRequest ignored", self, track.kind)
            return
        self._pending_tracks.remove(pending)
        receiver = None
        for transceiver in self.publisher.getTransceivers():
            if transceiver.receiver.track is track:
                pending.info.mid = transceiver.mid or ""
                receiver = transceiver.receiver
        # Runs inside setRemoteDescription, before any RTP can arrive: the relay's tap sees every packet.
        relay = TrackRelay(
            track, pending.info.sid, on_speaking=self._on_speaking, receiver=receiver, options=self.room.media
        )
        published = PublishedTrack(info=pending.info, relay=relay)
        self.tracks[published.sid] = published
        self.bump()
        logger.info(
            "publish  room=%s %s track=%s kind=%s name=%r",
            self.room.name,
            self,
            published.sid,
            track.kind,
            pending.info.name,
        )
        self.room.on_track_published(self, published)

    def _on_speaking(self, active: bool, level: float) -> None:
        if not self.closed:
            self.room.on_speaking(self, active, level)

    async def _on_publisher_offer(self, offer: rtc.SessionDescription) -> None:
        await self.publisher.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        self._unpublish_stopped_tracks(offer.sdp)
        await self._apply_pending_candidates(rtc.SignalTarget.PUBLISHER)
        answer = await self.publisher.createAnswer()
        await self.publisher.setLocalDescription(answer)
        local = self.publisher.localDescription
        self.send(
            rtc.SignalResponse(answer=rtc.SessionDescription(type="answer", sdp=local.sdp, id=offer.id))
        )

    def _unpublish_stopped_tracks(self, sdp: str) -> None:
        """Clients unpublish by removing the sender and renegotiating: the track's m-line stops sending."""
        try:
            parsed = ParsedSdp.parse(sdp)
        except Exception:
            return
        stopped = {
            m.rtp.muxId
            for m in parsed.media
            if m.kind in ("audio", "video") and (m.port == 0 or m.direction in ("inactive", "recvonly"))
        }
        for track in list(self.tracks.values()):
            if track.info.mid and track.info.mid in stopped:
                self._spawn(self.room.unpublish(self, track.sid), "unpublish")

    # ----- subscriber ---------------------------------------------------------------------------

    def request_offer(self) -> None:
        """Ask for a subscriber (re)negotiation; offers never overlap."""
        self._needs_offer = True
        if not self._negotiating and not self.closed:
            self._negotiating = True
            self._spawn(self._negotiate(), "subscriber_negotiation")

    async def _negotiate(self) -> None:
        try:
            while self._needs_offer and not self.closed:
                self._needs_offer = False
                offer = await self.subscriber.createOffer()
                await self.subscriber.setLocalDescription(offer)
                self._offer_id += 1
                self._answer_received.clear()
                local = self.subscriber.localDescription
                self.send(
                    rtc.SignalResponse(
                        offer=rtc.SessionDescription(type="offer", sdp=local.sdp, id=self._offer_id)
                    )
                )
                try:
                    await asyncio.wait_for(self._answer_received.wait(), _OFFER_ANSWER_TIMEOUT)
                except TimeoutError:
                    logger.warning("%s: no answer to subscriber offer %d", self, self._offer_id)
                    return
        finally:
            self._negotiating = False

    async def _on_subscriber_answer(self, answer: rtc.SessionDescription) -> None:
        if self.subscriber.signalingState != "have-local-offer":
            logger.debug("%s: unexpected subscriber answer ignored", self)
            return
        await self.subscriber.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))
        await self._apply_pending_candidates(rtc.SignalTarget.SUBSCRIBER)
        self._answer_received.set()

    def subscribe(self, publisher: Participant, track: PublishedTrack) -> None:
        if self.closed or track.sid in self.subscriptions or not self.permission.can_subscribe:
            return
        output = track.relay.subscribe(self.sid)
        transceiver = self.subscriber.addTransceiver(output, direction="sendonly")
        # Both SDKs split the stream id on "|" into participant sid and track sid.
        transceiver.sender._stream_id = f"{publisher.sid}|{track.sid}"
        self.subscriptions[track.sid] = Subscription(
            output=output, relay=track.relay, transceiver=transceiver
        )
        self.request_offer()
        # Publishers wait for this before sending (livekit-agents' audio output awaits
        # LocalTrackPublication.wait_for_subscription), as livekit-server tells them.
        publisher.send(rtc.SignalResponse(track_subscribed=rtc.TrackSubscribed(track_sid=track.sid)))

    def unsubscribe(self, track_sid: str) -> None:
        sub = self.subscriptions.pop(track_sid, None)
        if sub is None:
            return
        sub.relay.unsubscribe(sub.output)
        # aiortc cannot remove a transceiver; it stays, silent, until the participant leaves.
        sub.transceiver.sender.replaceTrack(None)

    def _on_update_subscription(self, req: rtc.UpdateSubscription) -> None:
        sids = list(req.track_sids) + [s for pt in req.participant_tracks for s in pt.track_sids]
        for sid in sids:
            if req.subscribe:
                found = self.room.find_track(sid)
                if found is not None and found[0] is not self:
                    self.subscribe(*found)
            else:
                self.unsubscribe(sid)

    # ----- data ---------------------------------------------------------------------------------

    def send_data(self, data: bytes, *, reliable: bool) -> None:
        out = self._data_out["_reliable" if reliable else "_lossy"]
        if out.channel.readyState == "open":
            out.channel.send(data)
        elif out.channel.readyState == "connecting" and len(out.pending) < _MAX_PENDING_DATA:
            out.pending.append(data)

    # ----- metadata -----------------------------------------------------------------------------

    def _on_update_metadata(self, req: rtc.UpdateParticipantMetadata) -> None:
        if not self.permission.can_update_metadata:
            if req.request_id:
                self.send(
                    rtc.SignalResponse(
                        request_response=rtc.RequestResponse(
                            request_id=req.request_id,
                            reason=rtc.RequestResponse.Reason.NOT_ALLOWED,
                            message="does not have permission to update own metadata",
                        )
                    )
                )
            return
        if req.name:
            self.name = req.name
        if req.metadata:
            self.metadata = req.metadata
        for key, value in req.attributes.items():
            if value:
                self.attributes[key] = value
            else:
                self.attributes.pop(key, None)
        self.bump()
        if req.request_id:
            self.send(
                rtc.SignalResponse(
                    request_response=rtc.RequestResponse(
                        request_id=req.request_id, reason=rtc.RequestResponse.Reason.OK
                    )
                )
            )
        self.room.on_participant_updated(self)

    # ----- ICE ----------------------------------------------------------------------------------

    async def _on_trickle(self, req: rtc.TrickleRequest) -> None:
        try:
            init = json.loads(req.candidateInit)
        except ValueError:
            return
        target = req.target
        pc = self.publisher if target == rtc.SignalTarget.PUBLISHER else self.subscriber
        if pc.remoteDescription is None:
            self._pending_candidates[target].append(init)
            return
        await self._add_candidate(pc, init)

    async def _apply_pending_candidates(self, target: int) -> None:
        pc = self.publisher if target == rtc.SignalTarget.PUBLISHER else self.subscriber
        pending, self._pending_candidates[target] = self._pending_candidates[target], []
        for init in pending:
            await self._add_candidate(pc, init)

    async def _add_candidate(self, pc: RTCPeerConnection, init: dict[str, Any]) -> None:
        line = str(init.get("candidate") or "")
        if not line:
            return  # end of candidates
        try:
            candidate = candidate_from_sdp(line.split(":", 1)[1] if line.startswith("candidate:") else line)
        except (IndexError, ValueError):
            logger.debug("%s: unparsable candidate %r", self, line)
            return
        candidate.sdpMid = init.get("sdpMid")
        candidate.sdpMLineIndex = init.get("sdpMLineIndex")
        if candidate.sdpMid is None and candidate.sdpMLineIndex is None:
            candidate.sdpMLineIndex = 0
        try:
            await pc.addIceCandidate(candidate)
        except Exception as exc:  # aiortc raises plain exceptions for unknown mids
            logger.debug("%s: candidate rejected: %s", self, exc)

    # ----- teardown -----------------------------------------------------------------------------

    async def close(self, leave: rtc.LeaveRequest | None = None) -> None:
        if self.closed:
            return
        if leave is not None:
            self.send(rtc.SignalResponse(leave=leave))
        self.closed = True
        self._outbox.put_nowait(None)
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self._writer, 2.0)
        for sid in list(self.subscriptions):
            self.unsubscribe(sid)
        for track in self.tracks.values():
            await track.relay.close()
        for task in list(self._tasks):
            task.cancel()
        await self.publisher.close()
        await self.subscriber.close()
        if not self.ws.closed:
            await self.ws.close()


class _LeaveRequested(Exception):
    """The client sent LeaveRequest."""


LeaveRequested = _LeaveRequested
