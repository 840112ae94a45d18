"""Typed settings of the development SFU (environment first, CLI flags override)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from functions.models.secret_policy import (
    api_key_problem,
    is_loopback_host,
    is_loopback_url,
    secret_problem,
)

# livekit-server's --dev key pair (and our defaults): anyone can sign tokens with them.
DEV_API_KEY = "devkey"
DEV_API_SECRET = "secret"


def is_loopback(host: str) -> bool:
    """Only addresses no other machine can reach; names other than localhost are not trusted."""
    return is_loopback_host(host)


class DevSfuSettings(BaseSettings):
    """Where the SFU listens, which key pair it trusts, and where webhooks go."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("DEV_SFU_HOST", "host"))
    port: int = Field(default=7880, ge=0, le=65535, validation_alias=AliasChoices("DEV_SFU_PORT", "port"))
    api_key: str = Field(default="devkey", validation_alias=AliasChoices("LIVEKIT_API_KEY", "api_key"))
    api_secret: str = Field(
        default="secret", validation_alias=AliasChoices("LIVEKIT_API_SECRET", "api_secret")
    )
    # Empty string disables webhooks.
    webhook_url: str = Field(
        default="http://127.0.0.1:3000/livekit/webhook",
        validation_alias=AliasChoices("LIVEKIT_WEBHOOK_URL", "webhook_url"),
    )
    # Seconds a room stays open once its last non-agent participant has left (livekit-server: 20 s).
    departure_timeout: float = Field(
        default=0.0, ge=0, validation_alias=AliasChoices("DEV_SFU_DEPARTURE_TIMEOUT", "departure_timeout")
    )
    # Address offered in ICE candidates; the SFU's UDP sockets bind here only.
    ice_host: str = Field(default="127.0.0.1", validation_alias=AliasChoices("DEV_SFU_ICE_HOST", "ice_host"))
    # How long a worker has to answer an availability request: livekit-server's AssignJobTimeout (10 s).
    # The worker's request handler may ask the functions API first (agent_worker/room_entry.py).
    availability_timeout: float = Field(default=10.0, gt=0)
    webhook_attempts: int = Field(default=4, ge=1)
    # "forward": publishers' Opus packets go to subscribers as they arrive (as livekit-server does);
    # "decode": aiortc decodes and the relay re-encodes once per track (slower; kept for comparison).
    audio_relay: Literal["forward", "decode"] = Field(
        default="forward", validation_alias=AliasChoices("DEV_SFU_AUDIO_RELAY", "audio_relay")
    )
    # A file for one line per relayed audio packet with its arrival and send times (benchmarks); "" = off.
    media_trace: str = Field(default="", validation_alias=AliasChoices("DEV_SFU_MEDIA_TRACE", "media_trace"))
    # livekit-server refuses more than 20 pending AddTrackRequests per participant; the dev SFU caps a
    # participant's tracks (published + pending) at this, answering LIMIT_EXCEEDED beyond it.
    max_tracks_per_participant: int = Field(
        default=20,
        ge=1,
        le=1000,
        validation_alias=AliasChoices("DEV_SFU_MAX_TRACKS_PER_PARTICIPANT", "max_tracks_per_participant"),
    )
    # As livekit-server: a connected participant gets a fresh token right after joining and then every
    # interval (valid for at least token_refresh_ttl), so a short-lived join token can still reconnect.
    token_refresh_interval: float = Field(default=300.0, gt=0)
    token_refresh_ttl: float = Field(default=600.0, gt=0)

    @property
    def public_endpoints(self) -> list[str]:
        """The settings that make this SFU reachable from, or send its secret to, another machine."""
        endpoints = [
            ("DEV_SFU_HOST", is_loopback(self.host)),
            ("DEV_SFU_ICE_HOST", is_loopback(self.ice_host)),
            ("LIVEKIT_WEBHOOK_URL", not self.webhook_url or is_loopback_url(self.webhook_url)),
        ]
        return [name for name, local in endpoints if not local]

    @model_validator(mode="after")
    def _fail_closed(self) -> DevSfuSettings:
        # The secret signs anything for anyone: a development, empty or short one is only acceptable
        # where no one else can connect (functions/models/secret_policy.py: one rule for every component).
        public = self.public_endpoints
        local = not public
        where = f" (not loopback: {', '.join(public)})" if public else ""
        problems = [
            f"{name}: {problem}{where}"
            for name, problem in (
                ("LIVEKIT_API_KEY", api_key_problem(self.api_key, local=local)),
                ("LIVEKIT_API_SECRET", secret_problem(self.api_secret, local=local)),
            )
            if problem is not None
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self
