"""GET /sessions (cursor pagination over days), GET /sessions/{id}, GET /analytics (math and filters)."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from functions.analytics import percentile
from functions.store.sessions import create_session
from tests.functions.helpers import iso, post_events, post_webhook, started, turn, webhook_auth, webhook_body
from tests.functions.lambda_events import invoke
from tests.support.operator import Operator


@pytest.fixture
def today() -> datetime:
    """Noon of the day the test runs in (the day /token stamps a session with).

    Read per test, not at import: a run that crossed midnight stamped its sessions with a day the
    test's query did not cover. Within seconds of midnight, wait for the new day.
    """
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    if (midnight - now).total_seconds() < 30:
        time.sleep((midnight - now).total_seconds() + 0.1)
        now = datetime.now(UTC)
    return now.replace(hour=12, minute=0, second=0, microsecond=0)


def start_room_on(room: str, day: datetime) -> None:
    # Sessions begin at POST /token (a webhook alone creates none): seed the row as of that day.
    assert create_session(room, day, {"language": "en"})
    body = webhook_body("room_started", room, created_at=day)
    reply = post_webhook(body, webhook_auth(body))
    assert reply.status == 200 and reply.json()["applied"] is True


def test_pagination_walks_every_session_once_newest_day_first(
    fresh_tables: None, operator: Operator, today: datetime
) -> None:
    rooms: dict[str, date] = {}
    for days_ago, count in ((0, 1), (1, 2), (2, 3), (4, 1)):
        for i in range(count):
            room = f"call-d{days_ago}n{i}0000000"
            start_room_on(room, today - timedelta(days=days_ago))
            rooms[room] = (today - timedelta(days=days_ago)).date()
    query = {
        "from": (today - timedelta(days=5)).date().isoformat(),
        "to": today.date().isoformat(),
        "limit": "2",
    }
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        page = invoke(
            "GET",
            "/sessions",
            query={**query, **({"cursor": cursor} if cursor else {})},
            headers=operator.headers(),
        )
        assert page.status == 200, page.text
        body = page.json()
        assert len(body["items"]) <= 2
        seen.extend(item["session_id"] for item in body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(rooms) and len(seen) == len(set(seen))
    days = [rooms[r] for r in seen]
    assert days == sorted(days, reverse=True)
    one_day = invoke(
        "GET", "/sessions", query={"from": query["to"], "to": query["to"]}, headers=operator.headers()
    ).json()
    assert [i["session_id"] for i in one_day["items"]] == ["call-d0n00000000"]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"from": "2026-02-30"}, 422),
        ({"from": "yesterday"}, 422),
        ({"from": "2026-11-10", "to": "2026-11-01"}, 400),
        ({"from": "2020-01-01", "to": "2026-01-01"}, 400),
        ({"limit": "0"}, 422),
        ({"limit": "101"}, 422),
        ({"limit": "ten"}, 422),
        ({"cursor": "!!!"}, 400),
        ({"cursor": "eyJkIjoiMTk5OS0wMS0wMSJ9"}, 400),  # a day outside the range
        ({"cursor": "e30"}, 400),  # {}
    ],
)
def test_bad_listing_queries_are_4xx(query: dict[str, str], status: int, operator: Operator) -> None:
    reply = invoke("GET", "/sessions", query=query, headers=operator.headers())
    assert reply.status == status, reply.text
    assert "error" in reply.json()


def test_unknown_session_is_404(operator: Operator) -> None:
    reply = invoke("GET", "/sessions/call-123456789abc", headers=operator.headers())
    assert reply.status == 404 and reply.json()["error"] == "session_not_found"
    assert invoke("GET", "/sessions/bad%20id", headers=operator.headers()).status in (404, 422)


def _session_with_turns(
    room: str,
    language: str,
    llm: str,
    voice_to_voice: list[float],
    day: datetime,
    interrupted: int = 0,
    errors: int = 0,
) -> None:
    token = invoke("POST", "/token", body=json.dumps({"name": "a", "language": language}))
    assert token.status == 200
    real_room = token.json()["room"]
    events = [started(real_room, day, language=language, stt="local", llm=llm, tts="local")]
    for i, v2v in enumerate(voice_to_voice):
        events.append(
            turn(
                i,
                day + timedelta(seconds=i),
                voice_to_voice=v2v,
                llm_ttft=v2v / 2,
                interrupted=i < interrupted,
            )
        )
    for i in range(errors):
        events.append(
            {
                "type": "error",
                "event_id": f"{real_room}-err-{i}",
                "ts": day.isoformat(),
                "stage": "llm",
                "message": "timeout",
            }
        )
    events.append(
        {
            "type": "session_ended",
            "event_id": f"{real_room}-end",
            "ts": day.isoformat(),
            # short: a duration is bounded by the session's real age (seconds here)
            "duration_s": len(voice_to_voice) * 0.2,
        }
    )
    assert post_events(real_room, events).status == 200


def test_analytics_math_filters_and_days(fresh_tables: None, operator: Operator, today: datetime) -> None:
    yesterday = today - timedelta(days=1)
    _session_with_turns("a", "en", "openai", [float(v) for v in range(1, 21)], today, interrupted=3, errors=1)
    _session_with_turns("b", "zh", "local", [0.5, 1.5], today, errors=2)
    _session_with_turns("c", "zh", "local", [9.0], yesterday)  # session created today, turn yesterday

    q = {"from": yesterday.date().isoformat(), "to": today.date().isoformat()}
    auth = operator.headers()
    report = invoke("GET", "/analytics", query=q, headers=auth).json()
    overall = report["overall"]
    all_v2v = [float(v) for v in range(1, 21)] + [0.5, 1.5, 9.0]
    assert overall["sessions"] == 3 and overall["finished_sessions"] == 3
    assert overall["turns"] == 23 and overall["interruptions"] == 3 and overall["errors"] == 3
    assert overall["duration_s_total"] == pytest.approx(4.6)
    v2v = overall["stages"]["voice_to_voice"]
    assert v2v["count"] == 23
    assert v2v["p50"] == percentile(all_v2v, 50) == 9.0
    assert v2v["p95"] == percentile(all_v2v, 95) == 19.0
    assert overall["stages"]["llm_ttft"]["p50"] == 4.5
    assert overall["stages"]["stt_duration"] == {"count": 0, "p50": None, "p95": None, "mean": None}
    by_day = {d["day"]: d for d in report["days"]}
    assert by_day[yesterday.date().isoformat()]["turns"] == 1
    assert by_day[today.date().isoformat()]["turns"] == 22
    assert by_day[today.date().isoformat()]["sessions"] == 3

    english = invoke("GET", "/analytics", query={**q, "lang": "en"}, headers=auth).json()["overall"]
    assert english["sessions"] == 1 and english["turns"] == 20 and english["errors"] == 1
    assert (
        english["stages"]["voice_to_voice"]["p50"] == 10.0
        and english["stages"]["voice_to_voice"]["p95"] == 19.0
    )
    local = invoke("GET", "/analytics", query={**q, "provider": "local", "lang": "zh"}, headers=auth).json()[
        "overall"
    ]
    assert local["sessions"] == 2 and local["turns"] == 3 and local["errors"] == 2
    nobody = invoke("GET", "/analytics", query={**q, "provider": "azure"}, headers=auth).json()["overall"]
    assert nobody["sessions"] == 0 and nobody["turns"] == 0


@pytest.mark.parametrize(
    "query",
    [
        {"lang": "fr"},
        {"provider": "bad provider!"},
        {"from": "x"},
        {"from": "2026-01-02", "to": "2026-01-01"},
    ],
)
def test_bad_analytics_queries_are_4xx(query: dict[str, str], operator: Operator) -> None:
    reply = invoke("GET", "/analytics", query=query, headers=operator.headers())
    assert 400 <= reply.status < 500 and "error" in reply.json()


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([float(v) for v in range(1, 101)], 95) == 95.0


def _summarised_call(language: str, summary: dict[str, str] | None, assistant_id: str | None = None) -> str:
    """A call started at /token (with the assistant), then ended and summarised by the worker."""
    body: dict[str, str] = {"name": "a", "language": language}
    if assistant_id:
        body["assistant_id"] = assistant_id
    token = invoke("POST", "/token", body=json.dumps(body))
    assert token.status == 200, token.text
    room, now = token.json()["room"], datetime.now(UTC)
    events = [
        started(room, now, language=language, llm="local"),
        {"type": "session_ended", "event_id": f"{room}-end", "ts": iso(now), "duration_s": 0.1},
    ]
    if summary:
        events.append({"type": "call_summary", "event_id": f"{room}-summary", "ts": iso(now), **summary})
    assert post_events(room, events).status == 200
    return room


def test_sessions_and_analytics_by_assistant_and_summary_tags(fresh_tables: None, operator: Operator) -> None:
    scope = "openid sessions:read analytics:read assistants:write"
    made = invoke(
        "POST",
        "/assistants",
        body=json.dumps(
            {
                "name": "Bookings",
                "instructions": {"en": "You take table bookings."},
                "greeting": {"en": "Bookings, hello."},
                "languages": ["en"],
            }
        ),
        headers={**operator.headers(scope), "content-type": "application/json"},
    )
    assert made.status == 201, made.text
    bookings = made.json()["assistant_id"]
    sleep = {"summary": "Sleep.", "topic": "sleep", "outcome": "resolved", "sentiment": "positive"}
    table = {"summary": "A table.", "topic": "booking", "outcome": "unresolved", "sentiment": "negative"}
    rooms = {
        "sleep_zh": _summarised_call("zh", sleep),
        "sleep_en": _summarised_call("en", {**sleep, "sentiment": "neutral"}),
        "table": _summarised_call("en", table, bookings),
        "silent": _summarised_call("en", None, bookings),  # summary off or not written (yet)
    }
    auth = operator.headers(scope)

    def listed(**query: str) -> set[str]:
        reply = invoke("GET", "/sessions", query=query, headers=auth)
        assert reply.status == 200, reply.text
        return {item["session_id"] for item in reply.json()["items"]}

    assert listed() == set(rooms.values())
    assert listed(topic="Sleep") == {rooms["sleep_zh"], rooms["sleep_en"]}  # topics are lower case
    assert listed(topic="sleep", sentiment="neutral") == {rooms["sleep_en"]}
    assert listed(outcome="unresolved") == {rooms["table"]}
    assert listed(assistant=bookings) == {rooms["table"], rooms["silent"]}
    assert listed(assistant="default", lang="zh") == {rooms["sleep_zh"]}
    # a small page with a filter still walks to the end of the range: nothing matching is skipped
    page = invoke("GET", "/sessions", query={"assistant": "default", "limit": "1"}, headers=auth).json()
    rest = invoke(
        "GET", "/sessions", query={"assistant": "default", "cursor": page["next_cursor"]}, headers=auth
    ).json()
    assert {i["session_id"] for i in page["items"] + rest["items"]} == {rooms["sleep_zh"], rooms["sleep_en"]}

    report = invoke("GET", "/analytics", headers=auth).json()
    assert report["tags"] == {
        "assistant": {"default": 2, bookings: 2},
        "topic": {"sleep": 2, "booking": 1, "none": 1},
        "outcome": {"resolved": 2, "unresolved": 1, "none": 1},
        "sentiment": {"positive": 1, "neutral": 1, "negative": 1, "none": 1},
    }
    only = invoke("GET", "/analytics", query={"assistant": bookings}, headers=auth).json()
    assert only["overall"]["sessions"] == 2 and only["tags"]["outcome"] == {"unresolved": 1, "none": 1}
    for bad in ({"outcome": "great"}, {"sentiment": "x"}, {"assistant": "asst-nothex"}, {"topic": "x" * 41}):
        assert invoke("GET", "/sessions", query=bad, headers=auth).status == 422, bad
        assert invoke("GET", "/analytics", query=bad, headers=auth).status == 422, bad
