"""Which sessions a listing or a report covers: by language, provider, assistant and the post-call tags.
One definition for GET /sessions and GET /analytics (their query parameters are in routes/query_params)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict

from functions.models.call_summary import Outcome, Sentiment


class SessionFilter(BaseModel):
    """Every given criterion must hold; a session without a summary matches no tag criterion."""

    model_config = ConfigDict(frozen=True)

    lang: str | None = None
    provider: str | None = None
    assistant_id: str | None = None
    topic: str | None = None
    outcome: Outcome | None = None
    sentiment: Sentiment | None = None

    @property
    def is_empty(self) -> bool:
        return all(value is None for value in self.model_dump().values())

    def matches(self, session: dict[str, Any] | None) -> bool:
        if session is None:
            return self.is_empty
        if self.lang is not None and session.get("language") != self.lang:
            return False
        if self.provider is not None and self.provider not in (session.get("providers") or {}).values():
            return False
        if self.assistant_id is not None and session.get("assistant_id") != self.assistant_id:
            return False
        summary = session.get("summary") or {}
        # topics are stored lower case (CallSummaryFields); an operator may type them otherwise
        if self.topic is not None and summary.get("topic") != self.topic.strip().lower():
            return False
        if self.outcome is not None and summary.get("outcome") != self.outcome:
            return False
        return self.sentiment is None or summary.get("sentiment") == self.sentiment


def tag_counts(sessions: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Sessions per assistant and per summary tag; calls not (yet) summarised count as ``none``."""
    kinds = ("assistant", "topic", "outcome", "sentiment")
    counts: dict[str, Counter[str]] = {key: Counter() for key in kinds}
    for session in sessions:
        counts["assistant"][str(session.get("assistant_id") or "none")] += 1
        summary = session.get("summary") or {}
        for tag in ("topic", "outcome", "sentiment"):
            counts[tag][str(summary.get(tag) or "none")] += 1
    return {key: dict(counter.most_common()) for key, counter in counts.items()}
