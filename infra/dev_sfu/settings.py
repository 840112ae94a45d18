"""Typed settings of the development SFU (environment first, CLI flags override)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    # How long a worker has to answer an availability request (livekit-agents waits 7.5 s for assignment).
    availability_timeout: float = Field(default=5.0, gt=0)
    webhook_attempts: int = Field(default=4, ge=1)
