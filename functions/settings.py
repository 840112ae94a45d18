"""Typed configuration of the functions, read from the environment (serverless.yml sets it per stage)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FunctionsSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    livekit_url: str = "ws://127.0.0.1:7880"
    livekit_api_key: str = "devkey"
    # Secrets: taken from the environment unless SECRETS_SSM_PREFIX names an SSM path (read at run time,
    # see functions/secrets.py) — never baked into the package.
    livekit_api_secret: str = "secret"
    session_log_secret: str = "dev-session-log-secret"
    access_code: str = Field(default="", description="Empty = /token is open (local development).")
    secrets_ssm_prefix: str = ""

    agent_name: str = "voicecall-agent"
    default_persona: str = "default"
    # Least privilege in time: the token only has to cover the join (LiveKit refreshes a connected
    # participant's token itself), so a leaked or replayed one is useless soon after (docs/security.md).
    token_ttl_s: int = Field(default=60, ge=30, le=900)
    # The room of a call (LiveKit RoomConfiguration in the token; livekit-server and the dev SFU enforce it).
    # max_participants counts non-agent participants only (livekit-server: agents are "dependent"), so 1
    # is the caller; the dispatched agent joins on top.
    room_max_participants: int = Field(default=1, ge=1, le=10)
    # Seconds the room stays open after the caller left (a reconnect window), and for a room nobody joined.
    room_departure_timeout_s: int = Field(default=20, ge=1, le=3600)
    room_empty_timeout_s: int = Field(default=60, ge=1, le=3600)

    sessions_table: str = "voicecall-local-sessions"
    events_table: str = "voicecall-local-session-events"
    idempotency_table: str = "voicecall-local-idempotency"
    data_retention_days: int = Field(default=90, ge=1, le=3650)

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    replay_window_s: int = Field(default=300, ge=10, le=3600)
    max_range_days: int = Field(default=92, ge=1, le=366)

    metrics_namespace: str = Field(default="voicecall", validation_alias="POWERTOOLS_METRICS_NAMESPACE")

    # Operator access (docs/security.md): the OpenID Connect issuer and audience of the API Gateway JWT
    # authorizer, set by serverless.yml from the same stage params as the authorizer itself. Empty or
    # unusable values make the operator routes refuse every request (fail closed).
    operator_issuer: str = ""
    operator_audience: str = ""
    # Prepended to every scope name of functions/operator_access.json (Cognito: "<resource server>/").
    operator_scope_prefix: str = ""
    operator_jwks_ttl_s: int = Field(default=600, ge=30, le=86_400)


@lru_cache(maxsize=1)
def get_settings() -> FunctionsSettings:
    return FunctionsSettings()
