"""Typed configuration of the functions, read from the environment (serverless.yml sets it per stage)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from functions.models.secret_policy import is_loopback_url


class FunctionsSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    livekit_url: str = "ws://127.0.0.1:7880"
    livekit_api_key: str = "devkey"
    # Secrets: taken from the environment unless SECRETS_SSM_PREFIX names an SSM path (read at run time,
    # see functions/secrets.py) — never baked into the package.
    livekit_api_secret: str = "secret"
    session_log_secret: str = "dev-session-log-secret"
    # The secret that signed the worker's requests until the last rotation: accepted besides the current
    # one until it is removed (SSM: "<prefix>/session-log-secret-previous"). Empty = none.
    session_log_secret_previous: str = ""
    access_code: str = Field(default="", description="Empty = /token is open (local development).")
    secrets_ssm_prefix: str = ""
    # Where boto3 sends AWS calls: set only for a local emulator (moto). Unset = real AWS, which with a
    # non-loopback LiveKit URL makes this a deployed stage: development or short secrets are refused.
    aws_endpoint_url: str = ""

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
    # Assistants defined by operators, every version kept (functions/store/assistants.py).
    assistants_table: str = "voicecall-local-assistants"
    data_retention_days: int = Field(default=90, ge=1, le=3650)
    # Call recordings (functions/store/recordings.py): the bucket, and how long a presigned URL lasts.
    recordings_bucket: str = "voicecall-local-recordings"
    recording_url_ttl_s: int = Field(default=900, ge=60, le=43_200)

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # JSON deeper than this is refused (400) before anything parses it; our bodies nest 4 levels at most.
    max_json_depth: int = Field(default=32, ge=4, le=512)
    replay_window_s: int = Field(default=300, ge=10, le=3600)
    # Session-log events are accepted for a call that has ended for this long (the worker's last batch,
    # its spool after a short API outage), then refused with 409 (docs/security.md).
    session_log_grace_s: int = Field(default=600, ge=0, le=86_400)
    # A session_ended's duration may exceed the session's real age (now - created_at) by this much only.
    duration_slack_s: float = Field(default=5.0, ge=0, le=300)

    # Abuse limits per client (docs/security.md), counted in the rate-limits table (atomic counters with
    # a TTL) over fixed windows of rate_limit_window_s; beyond a limit: 429 with Retry-After.
    rate_limits_table: str = "voicecall-local-rate-limits"
    rate_limit_window_s: int = Field(default=60, ge=1, le=86_400)
    # Every POST /token from one source IP (new calls, rejoins and refusals alike).
    token_requests_per_ip: int = Field(default=30, ge=1, le=1_000_000)
    # New calls — each dispatches an agent — from one source IP.
    calls_per_ip: int = Field(default=10, ge=1, le=1_000_000)
    # Rejoins of one call (its caller identity, proven by the call key).
    rejoins_per_identity: int = Field(default=10, ge=1, le=1_000_000)
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

    # The assistant editor's voice preview (POST /voice-preview) speaks through an OpenAI-compatible
    # speech endpoint: OpenAI, the local model server, a speaches server. Empty URL = no preview (404).
    preview_tts_url: str = ""
    preview_tts_model: str = "tts-1"
    preview_tts_voice: str = Field(default="alloy", description="when the assistant names no voice")
    # Secret: SSM "<prefix>/preview-tts-api-key" when SECRETS_SSM_PREFIX is set.
    preview_tts_api_key: str = ""
    preview_tts_timeout_s: float = Field(default=20.0, gt=0, le=60)

    @property
    def all_endpoints_local(self) -> bool:
        """True only on a developer's machine: LiveKit on loopback and AWS an emulator on loopback. Real
        AWS (no endpoint override) or a reachable LiveKit makes development secrets unacceptable."""
        return is_loopback_url(self.livekit_url) and is_loopback_url(self.aws_endpoint_url)


@lru_cache(maxsize=1)
def get_settings() -> FunctionsSettings:
    return FunctionsSettings()
