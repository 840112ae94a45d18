"""Parameters the routes share: a session id in the path, and for GET /sessions and GET /analytics the date
range and the session filter."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from functions.errors import ApiError
from functions.models.assistant import ASSISTANT_ID_PATTERN
from functions.models.call_summary import MAX_TOPIC_CHARS, Outcome, Sentiment
from functions.models.session_log import SESSION_ID_PATTERN, Language
from functions.settings import get_settings

SessionIdPath = Annotated[str, Path(pattern=SESSION_ID_PATTERN, max_length=128)]
FromDay = Annotated[date | None, Query(alias="from", description="First day (UTC), YYYY-MM-DD")]
ToDay = Annotated[date | None, Query(alias="to", description="Last day (UTC), YYYY-MM-DD")]
LangParam = Annotated[Language | None, Query()]
ProviderParam = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
AssistantParam = Annotated[
    str | None, Query(alias="assistant", pattern=ASSISTANT_ID_PATTERN, description="Calls of this assistant")
]
TopicParam = Annotated[
    str | None, Query(min_length=1, max_length=MAX_TOPIC_CHARS, description="Summary topic (any case)")
]
OutcomeParam = Annotated[Outcome | None, Query(description="Summary outcome")]
SentimentParam = Annotated[Sentiment | None, Query(description="Summary sentiment")]

DEFAULT_RANGE_DAYS = 7
# Far from date.min/max so that day arithmetic never overflows.
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)


def resolve_range(from_day: date | None, to_day: date | None) -> tuple[date, date]:
    for given in (from_day, to_day):
        if given is not None and not EARLIEST <= given <= LATEST:
            raise ApiError(400, "bad_range", f"days must be between {EARLIEST} and {LATEST}")
    today = datetime.now(UTC).date()
    end = to_day or today
    start = from_day or end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if start > end:
        raise ApiError(400, "bad_range", "'from' must not be after 'to'")
    limit = get_settings().max_range_days
    if (end - start).days + 1 > limit:
        raise ApiError(400, "bad_range", f"at most {limit} days per request")
    return start, end
