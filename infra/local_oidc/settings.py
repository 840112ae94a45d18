"""Settings of the local issuer stand-in (env prefix LOCAL_OIDC_)."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER = Path(__file__).resolve().with_name("server.mjs")


class LocalOidcSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOCAL_OIDC_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(9400, ge=1, le=65535)
    # The web app's client id; serverless.yml's local stage expects it as the audience (OPERATOR_AUDIENCE).
    client_id: str = "voicecall-web"
    operator_username: str = "operator@voicecall.local"
    # A fresh password per start unless set; the run command prints it.
    operator_password: str = Field(default_factory=lambda: secrets.token_urlsafe(12), min_length=8)
    access_token_ttl_s: int = Field(900, ge=5, le=86_400)
    # Prepended to the scope names of functions/operator_access.json ("" = the local stage's prefix).
    scope_prefix: str = ""
    # A private JWKS to sign with (tests); otherwise a fresh RSA key per start.
    jwks_file: Path | None = None

    @property
    def issuer(self) -> str:
        return f"http://{self.host}:{self.port}"
