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
    token_ttl_s: int = Field(default=600, ge=60, le=900)  # least privilege in time: at most 15 minutes

    sessions_table: str = "voicecall-local-sessions"
    events_table: str = "voicecall-local-session-events"
    idempotency_table: str = "voicecall-local-idempotency"
    data_retention_days: int = Field(default=90, ge=1, le=3650)

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    replay_window_s: int = Field(default=300, ge=10, le=3600)
    max_range_days: int = Field(default=92, ge=1, le=366)

    metrics_namespace: str = Field(default="voicecall", validation_alias="POWERTOOLS_METRICS_NAMESPACE")


@lru_cache(maxsize=1)
def get_settings() -> FunctionsSettings:
    return FunctionsSettings()
