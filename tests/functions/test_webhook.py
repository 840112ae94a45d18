"""POST /livekit/webhook: verification (401 on anything forged), session updates, idempotency."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from functions.settings import get_settings
from tests.functions.helpers import SETTINGS, post_webhook, webhook_auth, webhook_body
from tests.functions.lambda_events import invoke
from tests.support.operator import Operator


def room_name() -> str:
    return str(invoke("POST", "/token", body=json.dumps({"name": "w"})).json()["room"])


def session(room: str, operator: Operator) -> dict:
    reply = invoke("GET", f"/sessions/{room}", headers=operator.headers())
    assert reply.status == 200, reply.text
    return reply.json()


def deliver(kind: str, room: str, identity: str = "", **kw: object) -> dict:
    body = webhook_body(kind, room, identity, **kw)  # type: ignore[arg-type]
    reply = post_webhook(body, webhook_auth(body))
    assert reply.status == 200, reply.text
    return reply.json()


def test_room_lifecycle_updates_the_session(operator: Operator) -> None:
    room = room_name()
    t0 = datetime.now(UTC).replace(microsecond=0)
    assert deliver("room_started", room, created_at=t0) == {
        "event": "room_started",
        "room": room,
        "applied": True,
    }
    assert session(room, operator)["status"] == "active"
    deliver("participant_joined", room, "web-alice-1", created_at=t0)
    deliver("participant_joined", room, "agent-AJ_1", created_at=t0)
    deliver("participant_left", room, "web-alice-1", created_at=t0 + timedelta(seconds=30))
    deliver("room_finished", room, created_at=t0 + timedelta(seconds=61))
    s = session(room, operator)
    assert s["status"] == "finished"
    assert s["participants"] == ["agent-AJ_1", "web-alice-1"]
    assert s["duration_s"] == 61.0


def test_unhandled_events_are_acknowledged_without_changes(operator: Operator) -> None:
    room = room_name()
    assert deliver("track_published", room, "web-x")["applied"] is False
    assert session(room, operator)["status"] == "created"


def test_redelivery_is_processed_once(operator: Operator) -> None:
    room = room_name()
    deliver("participant_joined", room, "web-first", id_="EV_redelivered01")
    # Same event id, different content: the stored result is replayed, nothing is applied again.
    deliver("participant_joined", room, "web-second", id_="EV_redelivered01")
    assert session(room, operator)["participants"] == ["web-first"]
    table = boto3.resource("dynamodb").Table(get_settings().idempotency_table)
    assert table.scan()["Count"] >= 1


@pytest.mark.parametrize(
    "case", ["missing", "garbage", "wrong_secret", "foreign_key", "expired", "hash_mismatch", "bearer_wrong"]
)
def test_forged_webhooks_are_401(case: str, operator: Operator) -> None:
    room = room_name()
    body = webhook_body("room_finished", room)
    auth: str | None = {
        "missing": None,
        "garbage": "not-a-jwt",
        "wrong_secret": webhook_auth(body, secret="attacker-secret"),
        "foreign_key": webhook_auth(body, api_key="otherkey"),
        "expired": webhook_auth(body, ttl_s=-3600),
        "hash_mismatch": webhook_auth(body.replace("room_finished", "room_started")),
        "bearer_wrong": "Bearer " + webhook_auth(body, secret="x" * 32),
    }[case]
    reply = post_webhook(body, auth)
    assert reply.status == 401, reply.text
    assert reply.json()["error"] == "invalid_webhook"
    assert session(room, operator)["status"] == "created"


def test_bearer_prefix_is_accepted() -> None:
    room = room_name()
    body = webhook_body("room_started", room)
    assert post_webhook(body, "Bearer " + webhook_auth(body)).status == 200


@pytest.mark.parametrize("body", ["{not json", '{"event": 5}', "[]"])
def test_signed_but_malformed_bodies_are_400(body: str) -> None:
    reply = post_webhook(body, webhook_auth(body))
    assert reply.status == 400, reply.text
    assert reply.json()["error"] == "bad_webhook_body"


def test_unsafe_room_names_are_ignored() -> None:
    body = webhook_body("room_started", "bad room/../x")
    reply = post_webhook(body, webhook_auth(body))
    assert reply.status == 200 and reply.json()["applied"] is False


def test_settings_key_is_used() -> None:
    assert SETTINGS.livekit_api_key == get_settings().livekit_api_key
