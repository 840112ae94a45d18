"""Settings of the local AWS stand-in (env prefix LOCAL_AWS_)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class LocalAwsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOCAL_AWS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 4566
    stage: str = "local"
    region: str = "us-east-1"
