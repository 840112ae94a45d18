"""Development defaults fail closed (issue 10 #5) and malformed input stays a 4xx (issue 10 #10)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from functions.models.secret_policy import secret_problem
from functions.settings import get_settings
from tests.functions.helpers import post_events, post_webhook, started, webhook_auth, webhook_body
from tests.functions.lambda_events import invoke

PRODUCTION_LIVEKIT = "wss://voicecall.livekit.cloud"
STRONG = "a-real-secret-of-at-least-32-bytes-" + "x" * 8


def new_call() -> str:
    reply = invoke("POST", "/token", body=json.dumps({"name": "caller"}))
    assert reply.status == 200, reply.text
    return str(reply.json()["room"])


@pytest.fixture
def production_livekit(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("LIVEKIT_URL", PRODUCTION_LIVEKIT)
    get_settings.cache_clear()
    return monkeypatch


def test_no_token_is_signed_with_development_secrets(production_livekit: pytest.MonkeyPatch) -> None:
    reply = invoke("POST", "/token", body=json.dumps({"name": "caller"}))
    assert reply.status == 500
    assert reply.json()["error"] == "server_misconfigured"
    assert reply.json()["detail"]["setting"] == "LIVEKIT_API_KEY"
    assert "devkey" not in reply.text  # names the setting, never its value
    production_livekit.setenv("LIVEKIT_API_KEY", "APIprodkey")
    get_settings.cache_clear()
    reply = invoke("POST", "/token", body=json.dumps({"name": "caller"}))
    assert reply.status == 500 and reply.json()["detail"] == {
        "setting": "LIVEKIT_API_SECRET",
        "problem": "development_secret",
        "message": (
            "LIVEKIT_API_SECRET is a development default, only allowed when every endpoint is loopback"
        ),
    }
    production_livekit.setenv("LIVEKIT_API_SECRET", "short-but-not-dev")
    get_settings.cache_clear()
    reply = invoke("POST", "/token", body=json.dumps({"name": "caller"}))
    assert reply.status == 500 and reply.json()["detail"]["problem"] == "short_secret"
    production_livekit.setenv("LIVEKIT_API_SECRET", STRONG)
    get_settings.cache_clear()
    assert invoke("POST", "/token", body=json.dumps({"name": "caller"})).status == 200


def test_session_logs_signed_with_the_dev_secret_are_refused(production_livekit: pytest.MonkeyPatch) -> None:
    production_livekit.setenv("LIVEKIT_API_KEY", "APIprodkey")
    production_livekit.setenv("LIVEKIT_API_SECRET", STRONG)
    get_settings.cache_clear()
    room = new_call()
    dev = get_settings().session_log_secret
    reply = post_events(room, [started(room, datetime.now(UTC))], secret=dev)
    assert reply.status == 500 and reply.json()["detail"]["setting"] == "SESSION_LOG_SECRET"


def test_an_empty_secret_is_never_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # Even on loopback: an HMAC with an empty key proves nothing.
    room = new_call()
    monkeypatch.setenv("SESSION_LOG_SECRET", "")
    get_settings.cache_clear()
    reply = post_events(room, [started(room, datetime.now(UTC))], secret="")
    assert reply.status == 500 and reply.json()["detail"]["problem"] == "empty_secret"


def test_a_forged_webhook_with_the_dev_key_is_refused_in_production(
    production_livekit: pytest.MonkeyPatch,
) -> None:
    body = webhook_body("room_finished", "call-" + "1" * 12)
    reply = post_webhook(body, webhook_auth(body))
    assert reply.status == 500 and reply.json()["error"] == "server_misconfigured"


@pytest.mark.parametrize(
    ("value", "local", "problem"),
    [
        ("", True, "empty"),
        ("secret", True, None),
        ("secret", False, "development"),
        ("x" * 31, False, "shorter"),
        ("x" * 32, False, None),
    ],
)
def test_the_secret_rule(value: str, local: bool, problem: str | None) -> None:
    found = secret_problem(value, local=local)
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize("body", ["[" * 50_000, '{"a":' * 40 + "1" + "}" * 40, "[" * 33 + "]" * 33])
def test_deeply_nested_json_is_400(body: str) -> None:
    reply = invoke("POST", "/token", body=body)
    assert reply.status == 400 and reply.json()["error"] == "json_too_deep", reply.text


def test_brackets_inside_strings_do_not_count() -> None:
    reply = invoke("POST", "/token", body=json.dumps({"name": "[" * 60 + '"\\' + "{" * 60}))
    assert reply.status == 422, reply.text  # too long a name: validation answers, not the depth check
