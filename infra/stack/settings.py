"""Ports and switches of the local stack (env prefix STACK_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STACK_", extra="ignore")

    host: str = "127.0.0.1"
    sfu_port: int = Field(7880, ge=1, le=65535)
    functions_port: int = Field(3000, ge=1, le=65535)
    # serverless-offline's own Lambda invoke endpoint (it listens there too)
    functions_lambda_port: int = Field(3002, ge=1, le=65535)
    aws_port: int = Field(4566, ge=1, le=65535)
    web_port: int = Field(5173, ge=1, le=65535)
    worker_http_port: int = Field(8081, ge=1, le=65535)
    model_server_port: int = Field(8100, ge=1, le=65535)
    model_server_key: str = "dev-model-server-key"
    oidc_port: int = Field(9400, ge=1, le=65535)  # local operator issuer (infra/local_oidc)
    api_key: str = "devkey"
    api_secret: str = "secret"
    session_log_secret: str = "dev-session-log-secret"
    agent_name: str = "voicecall-agent"
    with_web: bool = True
    with_worker: bool = True
    startup_timeout_s: float = Field(240.0, gt=0)

    @property
    def livekit_url(self) -> str:
        return f"ws://{self.host}:{self.sfu_port}"

    @property
    def functions_url(self) -> str:
        return f"http://{self.host}:{self.functions_port}"

    @property
    def aws_url(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def model_server_url(self) -> str:
        return f"http://{self.host}:{self.model_server_port}/v1"

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.web_port}"
