"""GET /sessions/{id} (summary, transcript, per-turn latency) and GET /sessions (a page by day)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from pydantic import BaseModel, ConfigDict, ValidationError

from functions.analytics import session_duration
from functions.errors import ApiError, error_responses
from functions.models.api import (
    RecordingInfo,
    RecordingLink,
    SessionDeleted,
    SessionDetail,
    SessionError,
    SessionPage,
    SessionSummary,
    TranscriptEntry,
    TurnLatency,
)
from functions.observability import logger, metrics
from functions.operator_auth import openapi_security
from functions.routes.query_params import (
    AssistantParam,
    FromDay,
    LangParam,
    OutcomeParam,
    SentimentParam,
    SessionIdPath,
    ToDay,
    TopicParam,
    resolve_range,
)
from functions.session_filter import SessionFilter
from functions.settings import get_settings
from functions.store import recordings
from functions.store.events import delete_session_events, session_events
from functions.store.sessions import delete_session_row, get_session, query_day

router = Router()


def summary_fields(item: dict[str, Any]) -> dict[str, Any]:
    status = "finished" if item.get("ended_at") else "active" if item.get("started_at") else "created"
    return {
        "session_id": item["session_id"],
        "status": status,
        "created_at": item["created_at"],
        "started_at": item.get("started_at"),
        "ended_at": item.get("ended_at"),
        "duration_s": session_duration(item),
        "end_reason": item.get("end_reason"),
        "language": item.get("language"),
        "persona": item.get("persona"),
        "assistant_id": item.get("assistant_id"),
        "assistant_version": item.get("assistant_version"),
        "assistant_ran": item.get("assistant_ran"),
        "recording": item.get("recording_stored"),
        "summary": item.get("summary"),
        "providers": item.get("providers") or {},
        "participants": sorted(item.get("participants") or []),
    }


def _session_or_404(session_id: str) -> dict[str, Any]:
    item = get_session(session_id)
    if item is None:
        raise ApiError(404, "session_not_found", f"no session {session_id!r}")
    return item


def read_transcript(session_id: str) -> list[TranscriptEntry]:
    return [
        TranscriptEntry.model_validate(e) for e in session_events(session_id) if e.get("type") == "transcript"
    ]


@router.get(
    "/sessions/<session_id>",
    summary="One session with its transcript, per-turn latencies and errors",
    responses=error_responses(401, 403, 404, 422, 503),
    security=openapi_security("GET /sessions/{session_id}"),
)
def get_one(session_id: SessionIdPath) -> SessionDetail:
    item = _session_or_404(session_id)
    detail = SessionDetail(**summary_fields(item))
    for event in session_events(session_id):
        kind = event.get("type")
        if kind == "transcript":
            detail.transcript.append(TranscriptEntry.model_validate(event))
        elif kind == "turn_metrics":
            detail.turns.append(TurnLatency.model_validate(event))
        elif kind == "error":
            detail.errors.append(SessionError.model_validate(event))
    detail.turns.sort(key=lambda t: t.turn)
    return detail


@router.delete(
    "/sessions/<session_id>",
    summary="Delete a finished session: its row, transcript, metrics and recording",
    description="409 `session_active` while the call runs. A retry after a failure deletes what is left.",
    responses=error_responses(401, 403, 404, 409, 422, 503),
    security=openapi_security("DELETE /sessions/{session_id}"),
)
def delete_one(
    session_id: SessionIdPath,
) -> SessionDeleted:
    item = _session_or_404(session_id)
    if item.get("started_at") and not item.get("ended_at"):
        raise ApiError(409, "session_active", "the call is still running: delete it once it has ended")
    # the recording and the events first: the row goes last, so a failed attempt can be retried
    recordings.delete(session_id)
    events = delete_session_events(session_id)
    delete_session_row(session_id)
    metrics.add_metric(name="SessionsDeleted", unit="Count", value=1)
    logger.info("session deleted", extra={"session_id": session_id, "events": events})
    return SessionDeleted(
        session_id=session_id, events_deleted=events, recording_deleted=bool(item.get("recording_stored"))
    )


@router.get(
    "/sessions/<session_id>/recording",
    summary="A short-lived link to the session's recording (Ogg/Opus; caller left, agent right)",
    responses=error_responses(401, 403, 404, 422, 503),
    security=openapi_security("GET /sessions/{session_id}/recording"),
)
def get_recording(
    session_id: SessionIdPath,
) -> RecordingLink:
    item = _session_or_404(session_id)
    stored = item.get("recording_stored")
    if not stored:
        detail = "this call was not recorded, or its recording is not uploaded yet"
        raise ApiError(404, "no_recording", detail)
    return RecordingLink(
        **RecordingInfo.model_validate(stored).model_dump(),
        url=recordings.download_url(session_id),
        expires_in=get_settings().recording_url_ttl_s,
    )


class _Cursor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    d: date
    k: dict[str, str] | None = None


def encode_cursor(day: date, key: dict[str, Any] | None) -> str:
    raw = _Cursor(d=day, k=key).model_dump_json(exclude_none=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, start: date, end: date) -> _Cursor:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parsed = _Cursor.model_validate(json.loads(raw))
    except (binascii.Error, ValueError, ValidationError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_cursor", "cursor is not one this API issued") from exc
    if not start <= parsed.d <= end:
        raise ApiError(400, "bad_cursor", "cursor does not belong to this date range")
    if parsed.k is not None and set(parsed.k) != {"session_id", "start_day", "created_at"}:
        raise ApiError(400, "bad_cursor", "cursor is not one this API issued")
    return parsed


def sessions_page(
    start: date,
    end: date,
    cursor: str | None,
    limit: int,
    keep: Callable[[dict[str, Any]], bool] = lambda _item: True,
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to ``limit`` session items created between ``start`` and ``end`` (UTC days) for which ``keep``
    holds, newest first, from ``cursor`` on; and the cursor of the next page (None: this was the last)."""
    day, key = end, None
    if cursor:
        parsed = decode_cursor(cursor, start, end)
        day, key = parsed.d, parsed.k
    items: list[dict[str, Any]] = []
    while day >= start:
        page, last_key = query_day(day.isoformat(), limit=limit - len(items), start_key=key)
        items.extend(filter(keep, page))
        if last_key:
            if len(items) >= limit:
                return items, encode_cursor(day, last_key)
            key = last_key
            continue
        day, key = day - timedelta(days=1), None
        if len(items) >= limit:
            return items, encode_cursor(day, None) if day >= start else None
    return items, None


@router.get(
    "/sessions",
    summary="Sessions created between two days (UTC), newest first, cursor-paginated",
    description="Filters: language, assistant, and the post-call summary's topic, outcome and sentiment.",
    responses=error_responses(400, 401, 403, 422, 503),
    security=openapi_security("GET /sessions"),
)
def list_sessions(
    from_day: FromDay = None,
    to_day: ToDay = None,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    lang: LangParam = None,
    assistant_id: AssistantParam = None,
    topic: TopicParam = None,
    outcome: OutcomeParam = None,
    sentiment: SentimentParam = None,
) -> SessionPage:
    start, end = resolve_range(from_day, to_day)
    wanted = SessionFilter(
        lang=lang, assistant_id=assistant_id, topic=topic, outcome=outcome, sentiment=sentiment
    )
    items, next_cursor = sessions_page(start, end, cursor, limit, wanted.matches)
    return SessionPage(items=[SessionSummary(**summary_fields(i)) for i in items], next_cursor=next_cursor)
