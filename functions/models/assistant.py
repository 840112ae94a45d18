"""Assistants defined without code: what an operator writes (AssistantSpec), what the API returns
(Assistant, a stored version of one). Pure pydantic: the worker image imports it to read the version a
call was dispatched with (GET /agent/assistants/{id}/versions/{version})."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from functions.models.session_log import Language

DEFAULT_ASSISTANT_ID = "default"
ASSISTANT_ID_PATTERN = r"^(default|asst-[0-9a-f]{12})$"
VOICE_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
LLM_MODEL_PATTERN = r"^[A-Za-z0-9_.:/-]{1,100}$"
# DynamoDB numbers hold 38 digits; a bound far above any real history keeps path and body values storable.
MAX_VERSION = 1_000_000_000

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
Instructions = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Greeting = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
VoiceId = Annotated[str, Field(pattern=VOICE_PATTERN)]


class AssistantSpec(BaseModel):
    """The body of POST /assistants (and, with base_version, of PUT): everything a call needs to know."""

    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="Shown to operators; 1-80 characters.")
    instructions: dict[Language, Instructions] = Field(
        description=(
            "Per language: the assistant's role and task (1-4000 characters). The worker appends its own "
            "rules for spoken replies."
        )
    )
    greeting: dict[Language, Greeting] = Field(description="Per language: what the agent says first.")
    languages: Annotated[list[Language], Field(min_length=1, max_length=2)] = Field(
        description="The languages a caller may choose; `instructions` and `greeting` need each of them."
    )
    language_mode: Literal["fixed", "bilingual"] = Field(
        default="bilingual",
        description="`fixed`: replies in the call's language; `bilingual`: in the language the caller uses.",
    )
    voices: dict[Language, VoiceId] = Field(
        default_factory=dict,
        description="Per language, a TTS voice id; none = the worker's default voice (`auto` locally).",
    )
    llm_model: Annotated[str, Field(pattern=LLM_MODEL_PATTERN)] | None = Field(
        default=None, description="None = the worker's configured model."
    )
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    idle_timeout_s: Annotated[int, Field(ge=10, le=900)] | None = Field(
        default=None, description="A silent caller hears the goodbye after this long; None = worker default."
    )
    max_call_s: Annotated[int, Field(ge=30, le=7200)] | None = Field(
        default=None, description="Longest call; None = worker default."
    )
    recording: bool = Field(default=False, description="The call page tells the caller the call is recorded.")

    @field_validator("name")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        if not value.isprintable():
            raise ValueError("name must not contain control characters")
        return value

    @field_validator("languages")
    @classmethod
    def _unique_languages(cls, value: list[Language]) -> list[Language]:
        if len(set(value)) != len(value):
            raise ValueError("languages must not list a language twice")
        return value

    @model_validator(mode="after")
    def _an_entry_per_language(self) -> AssistantSpec:
        offered = set(self.languages)
        for field, entries, required in (
            ("instructions", self.instructions, True),
            ("greeting", self.greeting, True),
            ("voices", self.voices, False),
        ):
            missing = [lang for lang in self.languages if lang not in entries] if required else []
            if missing:
                raise ValueError(f"{field} has no entry for {missing[0]!r}, a language in languages")
            # An entry no call can use is a mistake the editor should hear about, not data to keep.
            unused = sorted(set(entries) - offered)
            if unused:
                raise ValueError(f"{field} has an entry for {unused[0]!r}, which is not in languages")
        return self


class AssistantUpdate(AssistantSpec):
    """The body of PUT /assistants/{id}: the new content and the version the editor started from."""

    base_version: Annotated[int, Field(ge=1, le=MAX_VERSION)] = Field(
        description="The version the edit is based on; 409 `version_conflict` unless it is still the latest."
    )

    def spec(self) -> AssistantSpec:
        return AssistantSpec.model_validate(self.model_dump(exclude={"base_version"}))


class Assistant(AssistantSpec):
    """One version of an assistant, as the API returns it."""

    model_config = ConfigDict(extra="forbid")

    assistant_id: Annotated[str, Field(pattern=ASSISTANT_ID_PATTERN)]
    version: Annotated[int, Field(ge=1)]
    archived: bool = Field(description="The assistant's state now (the same for every version).")
    created_at: str = Field(description="When the assistant was created (ISO 8601, UTC).")
    updated_at: str = Field(description="When this version was saved (ISO 8601, UTC).")


class AssistantList(BaseModel):
    assistants: list[Assistant] = Field(description="The latest version of each assistant, sorted by name.")


class AssistantVersionSummary(BaseModel):
    version: int
    updated_at: str
    name: str


class AssistantVersions(BaseModel):
    versions: list[AssistantVersionSummary] = Field(description="Newest first.")
