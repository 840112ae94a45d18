"""The OpenAI wire format the server accepts, validated at the edge (pydantic).

Only what the server does is modelled strictly (limits, enums); other OpenAI fields are accepted and
passed on to llama.cpp, which ignores what it does not know, so standard clients never break.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Role
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    messages: list[ChatMessage] = Field(min_length=1, max_length=1000)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(None, ge=1, le=32768)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    n: int = Field(1, ge=1, le=1, description="one choice per request")
    stop: str | list[str] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    # vLLM's fields: go on with the final message (e.g. the caller's words so far) instead of answering
    # it; the assistant's prompt is then left out
    add_generation_prompt: bool = True
    continue_final_message: bool = False

    @field_validator("continue_final_message")
    @classmethod
    def _continuation(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("add_generation_prompt", True):
            raise ValueError("needs add_generation_prompt: false")
        if value and info.data.get("stream"):
            raise ValueError("answered whole here: stream must be false")
        return value

    def for_engine(self) -> dict[str, Any]:
        """The request as llama.cpp's server takes it (it reads ``max_tokens``)."""
        body = self.model_dump(exclude_none=True)
        if "max_completion_tokens" in body:
            body["max_tokens"] = body.pop("max_completion_tokens")
        return body


class CompletionRequest(BaseModel):
    """OpenAI's (legacy) text completion: "what comes after these words"."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    prompt: str = Field(min_length=1, max_length=100_000)
    max_tokens: int = Field(16, ge=1, le=4096)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    logprobs: int | None = Field(None, ge=0, le=20, description="top tokens returned at each position")
    stop: str | list[str] | None = None
    stream: Literal[False] = Field(False, description="not streamed here")
    echo: Literal[False] = False
    n: int = Field(1, ge=1, le=1, description="one choice per request")

    def for_engine(self) -> dict[str, Any]:
        body = self.model_dump(exclude_none=True, exclude={"logprobs", "echo"})
        body["n_predict"] = body.pop("max_tokens")
        if self.logprobs:
            body["n_probs"] = self.logprobs
        return body


TranscriptionFormat = Literal["json", "text", "verbose_json"]


class SpeechRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=256)
    input: str = Field(min_length=1)
    voice: str = Field("auto", min_length=1, max_length=64)
    response_format: str = "pcm"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    # "sse" is answered with plain audio: OpenAI-compatible clients go by the Content-Type.
    stream_format: Literal["audio", "sse"] = "audio"
    instructions: str | None = None

    @field_validator("response_format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value not in ("pcm", "wav"):
            raise ValueError(f"{value!r} is not supported here; use pcm (16-bit mono 24 kHz) or wav")
        return value

    @field_validator("input")
    @classmethod
    def _speakable(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must contain text to speak")
        return value


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "voicecall-local"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class TranscriptionLanguage(BaseModel):
    code: str
    probability: float | None = None


class Transcription(BaseModel):
    text: str
    languages: list[TranscriptionLanguage]


class TranscriptionVerbose(BaseModel):
    task: Literal["transcribe"] = "transcribe"
    language: str
    duration: float
    text: str
    segments: list[dict[str, Any]] = Field(default_factory=list)
