"""GET /export/sessions: the sessions of a date range with their transcripts, as JSON Lines or CSV.

One page per request, newest first, as GET /sessions pages (the same cursor); the next page's cursor is in
the ``X-Next-Cursor`` header, absent on the last page. A Lambda response is at most 6 MB, so a page also
ends early once its body passes ``MAX_PAGE_BYTES``. JSON Lines: one session per line (its summary and
transcript); CSV: one row per transcript line (a session without any, one row with empty line fields).
Cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR) are quoted with a
leading apostrophe (OWASP, CSV injection): transcripts are what callers said.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from functions.errors import error_responses
from functions.models.api import SessionExport
from functions.observability import logger, metrics
from functions.operator_auth import openapi_security
from functions.routes.query_params import resolve_range
from functions.routes.sessions import encode_cursor, read_transcript, sessions_page, summary_fields

router = Router()

MAX_PAGE_BYTES = 4 * 1024 * 1024
CONTENT_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
SESSION_COLUMNS = (
    "session_id",
    "status",
    "created_at",
    "started_at",
    "ended_at",
    "duration_s",
    "end_reason",
    "language",
    "persona",
)
LINE_COLUMNS = ("line", "ts", "role", "turn", "interrupted", "text")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    text = "" if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_rows(session: SessionExport) -> list[list[str]]:
    head = [_cell(getattr(session, c)) for c in SESSION_COLUMNS]
    if not session.transcript:
        return [head + [""] * len(LINE_COLUMNS)]
    return [
        head + [_cell(v) for v in (i, line.ts, line.role, line.turn, line.interrupted, line.text)]
        for i, line in enumerate(session.transcript, start=1)
    ]


def _rendered(session: SessionExport, fmt: Literal["jsonl", "csv"]) -> str:
    if fmt == "jsonl":
        return session.model_dump_json() + "\n"
    return _csv_text(csv_rows(session))


def _csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


@router.get(
    "/export/sessions",
    summary="Sessions with transcripts for a date range (UTC) as JSON Lines or CSV, a page per request",
    description="The next page's cursor is in the X-Next-Cursor response header (absent on the last page).",
    responses={
        **error_responses(400, 401, 403, 422, 503),
        200: {
            "description": "One page: JSON Lines (a session per line) or CSV (a row per transcript line)",
            "content": {media: {"schema": {"type": "string"}} for media in CONTENT_TYPES.values()},
        },
    },
    security=openapi_security("GET /export/sessions"),
)
def export_sessions(
    from_day: Annotated[date | None, Query(alias="from", description="First day (UTC), YYYY-MM-DD")] = None,
    to_day: Annotated[date | None, Query(alias="to", description="Last day (UTC), YYYY-MM-DD")] = None,
    fmt: Annotated[Literal["jsonl", "csv"], Query(alias="format")] = "jsonl",
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
) -> Response[str]:
    start, end = resolve_range(from_day, to_day)
    items, next_cursor = sessions_page(start, end, cursor, limit)
    # the CSV header on the first page only: the pages of one export join into one file
    parts = [_csv_text([[*SESSION_COLUMNS, *LINE_COLUMNS]])] if fmt == "csv" and cursor is None else []
    size = exported = 0
    for item in items:
        session = SessionExport(**summary_fields(item), transcript=read_transcript(item["session_id"]))
        parts.append(_rendered(session, fmt))
        size, exported = size + len(parts[-1]), exported + 1
        if size > MAX_PAGE_BYTES and exported < len(items):
            # the rest of this page on the next request: it starts after this session (a DynamoDB
            # exclusive start key, as GET /sessions cursors are)
            next_cursor = encode_cursor(
                date.fromisoformat(item["start_day"]),
                {k: item[k] for k in ("session_id", "start_day", "created_at")},
            )
            break
    headers: dict[str, str] = {
        "Content-Disposition": f'attachment; filename="sessions-{start}-{end}.{fmt}"',
        "Cache-Control": "no-store",
    }
    if next_cursor:
        headers["X-Next-Cursor"] = next_cursor
    metrics.add_metric(name="SessionsExported", unit="Count", value=exported)
    logger.info("sessions exported", extra={"sessions": exported, "format": fmt, "more": bool(next_cursor)})
    content_type = f"{CONTENT_TYPES[fmt]}; charset=utf-8"
    return Response(status_code=200, content_type=content_type, body="".join(parts), headers=headers)
