"""GET /export/sessions: sessions with transcripts for a date range as JSON Lines and CSV, paged."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.routes import export
from functions.store.sessions import create_session
from tests.functions.helpers import event_id, iso, post_events, started
from tests.functions.lambda_events import Reply, invoke
from tests.support.operator import Operator

TODAY = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
TRICKY = '=HYPERLINK("http://evil.example","click"), "quoted"\nand a new line'


def line(ts: datetime, role: str, text: str, turn: int | None = None) -> dict[str, Any]:
    event = {"type": "transcript", "event_id": event_id(), "ts": iso(ts), "role": role, "text": text}
    return event | ({"turn": turn} if turn else {})


def seed() -> dict[str, list[str]]:
    """Three calls over three days: their transcripts as stored."""
    calls = {
        "call-export-a0000000": (0, ["你好，我想问几个问题。", "好的，请问。"]),
        "call-export-b0000000": (1, [TRICKY, "Sorry, I can't check that."]),
        "call-export-c0000000": (2, []),
    }
    for room, (days_ago, texts) in calls.items():
        day = TODAY - timedelta(days=days_ago)
        assert create_session(room, day, {"language": "zh" if days_ago == 0 else "en"})
        events = [started(room, day, language="zh" if days_ago == 0 else "en")] + [
            line(day + timedelta(seconds=i + 1), ("user", "agent")[i % 2], t, i // 2 + 1)
            for i, t in enumerate(texts)
        ]
        reply = post_events(room, events)
        assert reply.status == 200, reply.text
    return {room: texts for room, (_d, texts) in calls.items()}


def export_all(operator: Operator, fmt: str, limit: int) -> list[Reply]:
    query = {"from": (TODAY - timedelta(days=3)).date().isoformat(), "to": TODAY.date().isoformat()}
    pages: list[Reply] = []
    cursor = None
    for _ in range(10):
        extra = {"cursor": cursor} if cursor else {}
        reply = invoke(
            "GET",
            "/export/sessions",
            query={**query, "format": fmt, "limit": str(limit), **extra},
            headers=operator.headers(),
        )
        assert reply.status == 200, reply.text
        pages.append(reply)
        cursor = reply.headers.get("x-next-cursor")
        if not cursor:
            return pages
    raise AssertionError("the export never ended")


def test_jsonl_pages_hold_every_session_once_with_its_transcript(
    fresh_tables: None, operator: Operator
) -> None:
    calls = seed()
    pages = export_all(operator, "jsonl", limit=2)
    assert len(pages) == 2 and pages[0].headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in pages[0].headers["content-disposition"]
    records = [json.loads(row) for page in pages for row in page.text.splitlines()]
    assert [r["session_id"] for r in records] == list(calls)  # newest first, each once
    for record in records:
        assert [t["text"] for t in record["transcript"]] == calls[record["session_id"]]
    assert records[0]["language"] == "zh" and records[0]["transcript"][1]["role"] == "agent"


def test_csv_is_one_row_per_line_and_never_a_formula(fresh_tables: None, operator: Operator) -> None:
    calls = seed()
    pages = export_all(operator, "csv", limit=1)
    # a page per session (the range's last day, with none, may end the export with an empty page)
    assert sum(1 for p in pages if p.text) == 3 and pages[0].headers["content-type"].startswith("text/csv")
    rows = [r for page in pages for r in csv.reader(io.StringIO(page.text))]
    header, body = rows[0], rows[1:]
    assert header == [*export.SESSION_COLUMNS, *export.LINE_COLUMNS]
    assert header not in body, "the header is on the first page only"
    col = {name: i for i, name in enumerate(header)}
    texts = [(r[col["session_id"]], r[col["text"]]) for r in body]
    assert texts == [
        ("call-export-a0000000", "你好，我想问几个问题。"),
        ("call-export-a0000000", "好的，请问。"),
        ("call-export-b0000000", "'" + TRICKY),  # a spreadsheet shows it, never runs it
        ("call-export-b0000000", "Sorry, I can't check that."),
        ("call-export-c0000000", ""),  # a call without lines still has its row
    ]
    assert [r[col["line"]] for r in body] == ["1", "2", "1", "2", ""]
    assert sum(len(t) for t in calls.values()) == 4


def test_a_page_over_the_size_limit_ends_early_and_loses_nothing(
    fresh_tables: None, operator: Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = seed()
    monkeypatch.setattr(export, "MAX_PAGE_BYTES", 10)  # every session is over it
    pages = export_all(operator, "jsonl", limit=100)
    assert [len(p.text.splitlines()) for p in pages] == [1, 1, 1]
    assert [json.loads(p.text)["session_id"] for p in pages] == list(calls)


@pytest.mark.parametrize(
    ("query", "status"),
    [({"format": "xlsx"}, 422), ({"limit": "0"}, 422), ({"from": "2026-11-10", "to": "2026-11-01"}, 400)],
)
def test_bad_export_queries_are_4xx(query: dict[str, str], status: int, operator: Operator) -> None:
    reply = invoke("GET", "/export/sessions", query=query, headers=operator.headers())
    assert reply.status == status, reply.text
    assert reply.json()["error"]


def test_the_export_is_for_operators_with_sessions_read(operator: Operator) -> None:
    assert invoke("GET", "/export/sessions").status == 401
    reply = invoke("GET", "/export/sessions", headers=operator.headers(scope="openid analytics:read"))
    assert reply.status == 403, reply.text
