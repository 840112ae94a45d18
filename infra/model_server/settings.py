"""The model server's configuration: one typed object read from the environment (prefix MODEL_SERVER_).

The server holds the offline models once per machine and serves them over the OpenAI API, so every
call's worker stays a light I/O process. Outside loopback it refuses a development or short API key.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from functions.models.secret_policy import MIN_SECRET_BYTES, is_loopback_host, secret_problem
from infra.model_server.stt import ZhScript

DEV_API_KEY = "dev-model-server-key"
MIN_KEY_BYTES = MIN_SECRET_BYTES
Language = Literal["zh", "en"]


def is_loopback(host: str) -> bool:
    return is_loopback_host(host)


class ModelServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODEL_SERVER_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8100, ge=0, le=65535, description="0 = any free port (printed at start)")
    api_key: SecretStr = SecretStr(DEV_API_KEY)

    # Speech recognition: Whisper on CTranslate2 (None = the packaged Whisper base)
    stt_model: str | None = Field(None, description="a CTranslate2 Whisper directory")
    stt_model_id: str = "whisper-base"
    stt_threads: int = Field(2, ge=1, le=64)
    stt_languages: list[Language] = Field(
        default_factory=lambda: list[Language](["zh", "en"]), description="languages detection chooses among"
    )
    stt_zh_script: ZhScript = Field("simplified", description="Mandarin transcripts in this script (OpenCC)")

    # Language model: llama.cpp (xllamacpp); a packaged model's name or a GGUF file
    llm_model: str = "qwen2.5-1.5b"
    llm_model_id: str | None = Field(None, description="the id clients ask for; default: llm_model")
    llm_draft_model: str | None = Field(None, description="a smaller GGUF for speculative decoding")
    # The context is shared by the slots (2048 tokens each). Three slots: three calls' conversations,
    # each call's turn-detector questions on its own slot (they are its prompt up to the caller's words).
    llm_context: int = Field(6144, ge=512, le=131072)
    llm_parallel: int = Field(3, ge=1, le=16, description="concurrent generations (slots)")
    # One generation thread keeps tokens flowing when the other core is busy (measured).
    llm_threads: int = Field(1, ge=1, le=64)
    llm_batch_threads: int = Field(2, ge=1, le=64)
    # When a call's memory drops its oldest turns, the turns it keeps are found in the slot's cache and
    # shifted into place instead of being read again (chunks of at least this many tokens; 0 = off).
    llm_cache_reuse: int = Field(32, ge=0, le=4096)

    # Speech synthesis: the voice "auto" resolves to one of these by the text's script
    tts_model_id: str = "local-tts"
    voice_zh: str = "zh-baker"
    voice_en: str = "en-joe"

    max_upload_mb: int = Field(25, ge=1, le=200)
    max_speech_chars: int = Field(4096, ge=1, le=100_000)

    @field_validator("stt_languages", mode="before")
    @classmethod
    def _split_languages(cls, value: object) -> object:
        if isinstance(value, str) and not value.startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _fail_closed(self) -> ModelServerSettings:
        # functions/models/secret_policy.py: the rule every component follows
        local = is_loopback(self.host)
        problem = secret_problem(self.api_key.get_secret_value(), local=local)
        if problem is not None:
            where = "" if local else " (not loopback: MODEL_SERVER_HOST)"
            raise ValueError(f"MODEL_SERVER_API_KEY: {problem}{where}")
        return self

    @property
    def llm_id(self) -> str:
        if self.llm_model_id:
            return self.llm_model_id
        return self.llm_model.rsplit("/", 1)[-1].removesuffix(".gguf")


def config_error_line(exc: ValidationError) -> str:
    """One readable line per problem, naming the environment variable."""
    parts = []
    for err in exc.errors():
        loc = "_".join(str(p) for p in err["loc"]).upper()
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"MODEL_SERVER_{loc}: {msg}" if loc else msg)
    return "configuration error: " + "; ".join(parts)


@lru_cache(maxsize=1)
def get_settings() -> ModelServerSettings:
    return ModelServerSettings()
