"""GET /analytics: counts and p50/p95 latency per stage, overall and per day.

Reads only index queries: sessions by start day (GSI by_start_day) and turn metrics / errors by kind and
day (sparse GSI by_kind_day). Sessions that started before the range but had turns in it are fetched by
key to apply the language/provider filter.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

from functions.analytics import period_stats
from functions.errors import error_responses
from functions.models.api import AnalyticsReport, DayStats
from functions.operator_auth import openapi_security
from functions.routes.query_params import (
    AssistantParam,
    FromDay,
    LangParam,
    OutcomeParam,
    ProviderParam,
    SentimentParam,
    ToDay,
    TopicParam,
    resolve_range,
)
from functions.session_filter import SessionFilter, tag_counts
from functions.store.events import events_of_day
from functions.store.sessions import all_of_day, get_sessions
from functions.store.tables import days_between

router = Router()


@router.get(
    "/analytics",
    summary="Session counts, durations, turns, interruptions, errors and p50/p95 per stage",
    description=(
        "Percentiles are nearest-rank over turns in the range; days are UTC. `tags` counts the range's "
        "sessions per assistant and per post-call summary tag."
    ),
    responses=error_responses(400, 401, 403, 422, 503),
    security=openapi_security("GET /analytics"),
)
def analytics(
    from_day: FromDay = None,
    to_day: ToDay = None,
    lang: LangParam = None,
    provider: ProviderParam = None,
    assistant_id: AssistantParam = None,
    topic: TopicParam = None,
    outcome: OutcomeParam = None,
    sentiment: SentimentParam = None,
) -> AnalyticsReport:
    start, end = resolve_range(from_day, to_day)
    wanted = SessionFilter(
        lang=lang,
        provider=provider,
        assistant_id=assistant_id,
        topic=topic,
        outcome=outcome,
        sentiment=sentiment,
    )
    days = [d.isoformat() for d in days_between(start, end)]
    sessions_by_day = {d: all_of_day(d) for d in days}
    turns_by_day = {d: events_of_day("turn_metrics", d) for d in days}
    errors_by_day = {d: events_of_day("error", d) for d in days}

    known: dict[str, dict[str, Any]] = {s["session_id"]: s for ss in sessions_by_day.values() for s in ss}
    referenced = {e["session_id"] for evs in (*turns_by_day.values(), *errors_by_day.values()) for e in evs}
    missing = sorted(referenced - known.keys())
    if missing and not wanted.is_empty:
        known.update(get_sessions(missing))

    def keep_session(s: dict[str, Any]) -> bool:
        return wanted.matches(s)

    def keep_event(e: dict[str, Any]) -> bool:
        return wanted.matches(known.get(e["session_id"]))

    per_day = []
    for d in days:
        stats = period_stats(
            filter(keep_session, sessions_by_day[d]),
            filter(keep_event, turns_by_day[d]),
            filter(keep_event, errors_by_day[d]),
        )
        per_day.append(DayStats(day=date.fromisoformat(d), **stats.model_dump()))
    sessions = [s for d in days for s in sessions_by_day[d] if keep_session(s)]
    overall = period_stats(
        sessions,
        [t for d in days for t in turns_by_day[d] if keep_event(t)],
        [e for d in days for e in errors_by_day[d] if keep_event(e)],
    )
    return AnalyticsReport(
        from_day=start,
        to_day=end,
        lang=lang,
        provider=provider,
        overall=overall,
        days=per_day,
        tags=tag_counts(sessions),
    )
