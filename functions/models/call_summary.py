"""A finished call in brief: what the LLM writes about it for operators (worker) and what is stored and
filtered on (API). One definition for both, and the JSON schema the LLM is held to."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Outcome = Literal["resolved", "referred", "unresolved", "abandoned"]
Sentiment = Literal["positive", "neutral", "negative"]
OUTCOMES: tuple[Outcome, ...] = ("resolved", "referred", "unresolved", "abandoned")
SENTIMENTS: tuple[Sentiment, ...] = ("positive", "neutral", "negative")
MAX_SUMMARY_CHARS = 600
MAX_TOPIC_CHARS = 40


class CallSummaryFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: Annotated[str, Field(min_length=1, max_length=MAX_SUMMARY_CHARS)]
    topic: Annotated[str, Field(min_length=1, max_length=MAX_TOPIC_CHARS)] = Field(
        description="one to three words, lower case: what the call was about"
    )
    outcome: Outcome = Field(
        description="resolved: the caller got what they asked for; referred: told where to get it; "
        "unresolved: not helped; abandoned: ended before a request was made"
    )
    sentiment: Sentiment = Field(description="the caller's mood")

    @field_validator("summary", "topic", mode="before")
    @classmethod
    def _clean(cls, value: object) -> object:
        return " ".join(value.split()) if isinstance(value, str) else value

    @field_validator("summary", mode="before")
    @classmethod
    def _bounded(cls, value: object) -> object:
        # The schema sent to the LLM has no maxLength (OpenAI's strict mode refuses it): cut here.
        return value[:MAX_SUMMARY_CHARS] if isinstance(value, str) else value

    @field_validator("topic", mode="before")
    @classmethod
    def _topic(cls, value: object) -> object:
        return value.lower().strip(" .。")[:MAX_TOPIC_CHARS] if isinstance(value, str) else value


def summary_json_schema() -> dict[str, Any]:
    """The schema an OpenAI-compatible server holds the LLM's answer to (``response_format``)."""
    return {
        "type": "object",
        "properties": {
            "summary": {"type": "string"},
            "topic": {"type": "string"},
            "outcome": {"type": "string", "enum": list(OUTCOMES)},
            "sentiment": {"type": "string", "enum": list(SENTIMENTS)},
        },
        "required": ["summary", "topic", "outcome", "sentiment"],
        "additionalProperties": False,
    }
