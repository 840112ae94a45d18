"""The HTTP + WebSocket front door: health, /rtc signalling, /agent workers, a few RoomService calls."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import WSMsgType, web
from livekit.api import AccessToken, TokenVerifier
from livekit.protocol import models, rtc

from . import auth, ice
from .agents import AgentDispatcher
from .media import MediaOptions
from .media_trace import MediaTrace
from .participant import LeaveRequested, Participant
from .room import RoomFull, RoomManager
from .room_service import RoomServiceApi
from .settings import DevSfuSettings
from .webhooks import WebhookSender

logger = logging.getLogger("dev_sfu")

SERVER_VERSION = "1.9.0-dev-sfu"
# Protocol version livekit-server 1.9 announces; clients speak their own (JS 17, Rust 16+).
SERVER_PROTOCOL = 16
# SDP offers with many tracks stay far below this; it only bounds a misbehaving client.
_MAX_SIGNAL_BYTES = 4 * 1024 * 1024


_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _cors(request: web.Request, handler: _Handler) -> web.StreamResponse:
    if request.method == "OPTIONS":
        resp: web.StreamResponse = web.Response(status=204)
        resp.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        resp.headers["Access-Control-Allow-Headers"] = "*"
    else:
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            resp = exc
    if not resp.prepared:
        resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


class DevSfu:
    """One SFU instance. `start()` binds the port; `url` is what clients pass as LIVEKIT_URL."""

    def __init__(self, settings: DevSfuSettings) -> None:
        self.settings = settings
        self.verifier = TokenVerifier(settings.api_key, settings.api_secret)
        self.webhooks = WebhookSender(
            settings.webhook_url, settings.api_key, settings.api_secret, attempts=settings.webhook_attempts
        )
        self.server_info = models.ServerInfo(
            edition=models.ServerInfo.Edition.Standard,
            version=SERVER_VERSION,
            protocol=SERVER_PROTOCOL,
            node_id="ND_devsfu",
            agent_protocol=1,
        )
        self.rooms = RoomManager(
            self.webhooks,
            self.server_info,
            settings.departure_timeout,
            max_tracks_per_participant=settings.max_tracks_per_participant,
        )
        self.dispatcher = AgentDispatcher(
            self.rooms, settings.api_key, settings.api_secret, settings.availability_timeout
        )
        self.rooms.dispatcher = self.dispatcher
        self.media_trace: MediaTrace | None = None
        self._runner: web.AppRunner | None = None
        self._connections: set[asyncio.Task[object]] = set()
        self.port = settings.port

    @property
    def url(self) -> str:
        return f"ws://{self.settings.host}:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_cors])
        app.router.add_get("/", self._health)
        app.router.add_get("/rtc", self._rtc)
        app.router.add_get("/rtc/validate", self._validate)
        app.router.add_route("*", "/rtc/v1", self._not_found)
        app.router.add_route("*", "/rtc/v1/{tail:.*}", self._not_found)
        app.router.add_get("/agent", self._agent)
        RoomServiceApi(self.rooms, self.verifier).register(app)
        return app

    async def start(self) -> None:
        ice.offer_only(self.settings.ice_host)
        if self.settings.media_trace:
            self.media_trace = MediaTrace(Path(self.settings.media_trace))
        self.rooms.media = MediaOptions(
            forward_audio=self.settings.audio_relay == "forward", trace=self.media_trace
        )
        self.webhooks.start()
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.host, self.settings.port))
        self.port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()
        logger.info(
            "dev SFU listening on %s (webhooks: %s, audio: %s)",
            self.url,
            self.settings.webhook_url or "off",
            self.settings.audio_relay,
        )

    async def stop(self) -> None:
        if self._runner is None:
            return
        # Stop listening first: a worker whose connection is closed below reconnects at once, and a
        # connection accepted now would be left waiting for a register response that never comes.
        for site in list(self._runner.sites):
            await site.stop()
        await self.rooms.close_all()
        await self.dispatcher.close()
        for task in list(self._connections):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.webhooks.close()
        if self.media_trace is not None:
            self.media_trace.close()
            self.media_trace = None
        logger.info("dev SFU stopped")

    # ----- handlers -----------------------------------------------------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def _not_found(self, request: web.Request) -> web.Response:
        # Current SDKs try the single-peer-connection path first and fall back to /rtc on 404.
        return web.Response(status=404, text="not found")

    def _check_join(self, request: web.Request) -> auth.JoinGrant:
        grant = auth.verify_join(self.verifier, auth.token_from_request(request))
        is_agent = grant.claims.kind == "agent" or bool(grant.claims.video and grant.claims.video.agent)
        # An agent whose room already closed must not reopen it and wait there forever.
        if is_agent and self.rooms.get(grant.room) is None:
            raise auth.TokenRejected("room is closed")
        return grant

    async def _validate(self, request: web.Request) -> web.Response:
        try:
            self._check_join(request)
        except auth.TokenRejected as exc:
            return web.Response(status=401, text=str(exc))
        return web.Response(text="success")

    async def _rtc(self, request: web.Request) -> web.StreamResponse:
        try:
            grant = self._check_join(request)
        except auth.TokenRejected as exc:
            logger.info("refused  /rtc: %s", exc)
            return web.Response(status=401, text=str(exc))
        if request.query.get("reconnect") == "1":
            # No session resumption: the SDKs then do a full reconnect.
            logger.info("refused  /rtc resume of %s in %s (not supported)", grant.identity, grant.room)
            return web.Response(status=404, text="session resumption not supported")
        ws = web.WebSocketResponse(max_msg_size=_MAX_SIGNAL_BYTES)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="expected a WebSocket upgrade")
        await ws.prepare(request)
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await self._run_participant(request, ws, grant)
        finally:
            if task is not None:
                self._connections.discard(task)
        return ws

    async def _refuse_join(self, ws: web.WebSocketResponse, grant: auth.JoinGrant, why: str) -> None:
        """As livekit-server when Room.Join fails: the first (and only) message is a LeaveRequest."""
        logger.info("refused  join room=%s identity=%s: %s", grant.room, grant.identity, why)
        leave = rtc.LeaveRequest(
            can_reconnect=False,
            reason=models.DisconnectReason.JOIN_FAILURE,
            action=rtc.LeaveRequest.Action.DISCONNECT,
        )
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_bytes(rtc.SignalResponse(leave=leave).SerializeToString())
        await ws.close()

    def _refreshed_token(self, grant: auth.JoinGrant) -> str:
        """livekit-server's RoomManager.refreshToken: the same grants, valid for at least the refresh TTL."""
        claims = grant.claims
        remaining = grant.expires_at - time.time()
        ttl = max(self.settings.token_refresh_ttl, remaining)
        token = (
            AccessToken(self.settings.api_key, self.settings.api_secret)
            .with_identity(grant.identity)
            .with_ttl(datetime.timedelta(seconds=ttl))
        )
        if claims.video is not None:
            token = token.with_grants(claims.video)
        if claims.name:
            token = token.with_name(claims.name)
        if claims.kind:
            token = token.with_kind(claims.kind)  # type: ignore[arg-type]
        if claims.metadata:
            token = token.with_metadata(claims.metadata)
        if claims.attributes:
            token = token.with_attributes(dict(claims.attributes))
        if claims.room_config is not None:
            token = token.with_room_config(claims.room_config)
        return token.to_jwt()

    async def _refresh_tokens(self, participant: Participant, grant: auth.JoinGrant) -> None:
        while not participant.closed:
            participant.send(rtc.SignalResponse(refresh_token=self._refreshed_token(grant)))
            await asyncio.sleep(self.settings.token_refresh_interval)

    async def _run_participant(
        self, request: web.Request, ws: web.WebSocketResponse, grant: auth.JoinGrant
    ) -> None:
        new_room = self.rooms.get(grant.room) is None
        room = self.rooms.get_or_create(grant.room, config=grant.claims.room_config)
        is_agent = grant.claims.kind == "agent" or bool(grant.claims.video and grant.claims.video.agent)
        try:
            room.check_capacity(grant.identity, is_agent)
        except RoomFull as exc:
            await self._refuse_join(ws, grant, str(exc))
            return
        try:
            protocol = int(request.query.get("protocol", "0"))
        except ValueError:
            protocol = 0
        participant = Participant(
            room,
            grant,
            ws,
            auto_subscribe=request.query.get("auto_subscribe", "1") not in ("0", "false"),
            protocol=protocol,
        )
        await room.add_participant(participant)
        refresher = asyncio.create_task(self._refresh_tokens(participant, grant), name="token_refresh")
        if not participant.is_agent:
            self.dispatcher.dispatch_for_join(room, grant.claims.room_config, new_room)
        reason: int = models.DisconnectReason.SIGNAL_CLOSE
        try:
            async for msg in ws:
                if msg.type != WSMsgType.BINARY:
                    continue
                req = rtc.SignalRequest()
                try:
                    req.ParseFromString(msg.data)
                except Exception:
                    continue
                if participant.closed:
                    break
                try:
                    await participant.handle(req)
                except LeaveRequested:
                    reason = models.DisconnectReason.CLIENT_INITIATED
                    break
                except Exception:
                    if participant.closed:  # removed while this request was in flight
                        break
                    logger.exception("%s: error handling %s", participant, req.WhichOneof("message"))
        except asyncio.CancelledError:
            reason = models.DisconnectReason.SERVER_SHUTDOWN
        finally:
            refresher.cancel()
            with contextlib.suppress(Exception):
                await room.remove_participant(participant, reason)

    async def _agent(self, request: web.Request) -> web.StreamResponse:
        try:
            auth.verify_agent_worker(self.verifier, auth.token_from_request(request))
        except auth.TokenRejected as exc:
            logger.info("refused  /agent: %s", exc)
            return web.Response(status=401, text=str(exc))
        ws = web.WebSocketResponse(max_msg_size=_MAX_SIGNAL_BYTES)
        await ws.prepare(request)
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await self.dispatcher.serve_worker(ws, public_url=f"ws://{request.host}")
        except asyncio.CancelledError:
            pass
        finally:
            if task is not None:
                self._connections.discard(task)
        return ws
