"""Metadata the token carries to the agent (``roomConfig.agents[].metadata``): one definition, both sides."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from functions.models.assistant import ASSISTANT_ID_PATTERN, DEFAULT_ASSISTANT_ID, MAX_VERSION


class AgentDispatchMetadata(BaseModel):
    model_config = ConfigDict(extra="ignore")

    language: Literal["zh", "en"] = "en"
    persona: str = Field("default", pattern=r"^[a-z0-9_-]{1,32}$")
    # The caller's identity (POST /token chose it): the agent links to this participant only.
    caller: str | None = Field(default=None, min_length=1, max_length=128)
    # The assistant and the version of it this call runs (POST /token read its latest). The worker reads
    # that version with the signed GET /agent/assistants/{id}/versions/{version}. None: no stored version
    # to read (a token issued before assistants existed).
    assistant_id: str = Field(DEFAULT_ASSISTANT_ID, pattern=ASSISTANT_ID_PATTERN)
    assistant_version: int | None = Field(default=None, ge=1, le=MAX_VERSION)

    @classmethod
    def parse_lenient(
        cls, raw: str | None, default_language: Literal["zh", "en"] = "en"
    ) -> AgentDispatchMetadata:
        """A malformed value must not end a call: fall back to defaults."""
        try:
            data = json.loads(raw) if raw else {}
            if not isinstance(data, dict):
                data = {}
            data.setdefault("language", default_language)
            return cls.model_validate(data)
        except (ValueError, ValidationError):
            return cls(language=default_language)
