"""Unknown routes, body limits and encodings, correlation ids, and the OpenAPI document."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from functions.openapi import render
from functions.settings import get_settings
from tests.functions.lambda_events import FakeContext, http_event, invoke, route

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("GET", "/"),
        ("DELETE", "/token"),
        ("GET", "/token"),
        ("PUT", "/sessions/x"),
        ("GET", "/sessions/x/events"),
        ("POST", "/analytics"),
    ],
)
def test_unknown_routes_are_json_404(method: str, path: str) -> None:
    reply = invoke(method, path)
    assert reply.status == 404, reply.text
    assert reply.json()["error"] == "not_found"


def test_oversized_token_body_is_413() -> None:
    limit = get_settings().max_body_bytes
    reply = invoke("POST", "/token", body=json.dumps({"name": "x", "pad": "y" * limit}))
    assert reply.status == 413 and reply.json()["error"] == "body_too_large"


def test_base64_bodies_are_decoded_and_bad_base64_rejected() -> None:
    ok = invoke("POST", "/token", body=json.dumps({"name": "b64"}), base64_body=True)
    assert ok.status == 200, ok.text
    event = http_event("POST", "/token")
    event.update(body="***not base64***", isBase64Encoded=True)
    result = route("POST", "/token")(event, FakeContext())
    assert result["statusCode"] == 400 and json.loads(result["body"])["error"] == "bad_body"
    event.update(body=base64.b64encode(b"\xff\xfe{}").decode())
    assert route("POST", "/token")(event, FakeContext())["statusCode"] == 400


def test_responses_carry_the_correlation_id() -> None:
    reply = invoke("GET", "/openapi.json")
    assert reply.status == 200
    assert reply.headers.get("x-correlation-id")


def test_served_and_committed_openapi_match_the_code() -> None:
    served = invoke("GET", "/openapi.json").json()
    generated = json.loads(render())
    assert served == generated
    assert json.loads(DOC.read_text()) == generated, (
        "regenerate: python -m functions.openapi > docs/openapi.json"
    )
    paths = set(generated["paths"])
    assert paths == {
        "/token",
        "/sessions/{session_id}/events",
        "/sessions/{session_id}/claim",
        "/sessions/{session_id}/recording",
        "/calls/{session_id}/transcript",
        "/sessions/{session_id}",
        "/sessions",
        "/export/sessions",
        "/analytics",
        "/livekit/webhook",
        "/assistants",
        "/assistants/{assistant_id}",
        "/assistants/{assistant_id}/restore",
        "/assistants/{assistant_id}/versions",
        "/assistants/{assistant_id}/versions/{version}",
        "/agent/assistants/{assistant_id}/versions/{version}",
        "/voice-preview",
    }


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_non_json_bodies_are_415(content_type: str) -> None:
    reply = invoke("POST", "/token", body='{"name": "x"}', headers={"content-type": content_type})
    assert reply.status == 415 and reply.json()["error"] == "unsupported_media_type"
    assert reply.headers.get("x-correlation-id")


def test_json_with_charset_is_accepted() -> None:
    reply = invoke(
        "POST", "/token", body='{"name": "x"}', headers={"content-type": "application/json; charset=utf-8"}
    )
    assert reply.status == 200, reply.text
