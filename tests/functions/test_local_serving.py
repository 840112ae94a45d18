"""The handlers served over real HTTP by serverless-offline from serverless.yml, against moto and the
local OpenID Connect issuer.

serverless-offline applies no JWT authorizer unless started with --ignoreJWTSignature, and even then it
never verifies a signature: the operator routes are protected locally by the functions' own check, which
must refuse exactly what serverless.yml's local stage declares (its resolved config is read here).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from livekit.api import TokenVerifier

from functions.operator_auth import operator_access
from infra.local_aws import LocalAws
from infra.local_aws.serving import serverless_offline
from infra.local_aws.tables import ensure_node_modules, osls
from infra.local_oidc import LocalOidc
from tests.functions.helpers import SETTINGS, signed, webhook_auth, webhook_body
from tests.support.operator import OTHER_CLIENT, Operator, SigningKey

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def functions_url(
    local_aws: LocalAws, operator_issuer: LocalOidc, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    ensure_node_modules(ROOT)
    log = tmp_path_factory.mktemp("offline") / "serverless-offline.log"
    with serverless_offline(local_aws.url, log, timeout_s=90) as url:
        yield url


def test_token_events_and_session_over_http(functions_url: str, operator: Operator) -> None:
    with httpx.Client(base_url=functions_url, timeout=30) as http:
        issued = http.post("/token", json={"name": "Offline", "language": "zh"})
        assert issued.status_code == 200, issued.text
        room = issued.json()["room"]
        claims = TokenVerifier(SETTINGS.livekit_api_key, SETTINGS.livekit_api_secret).verify(
            issued.json()["token"]
        )
        assert claims.video is not None and claims.video.room == room

        now = datetime.now(UTC).isoformat()
        body = json.dumps(
            {
                "events": [
                    {
                        "type": "transcript",
                        "event_id": uuid.uuid4().hex,
                        "ts": now,
                        "role": "user",
                        "text": "你好",
                    },
                ]
            },
            ensure_ascii=False,
        ).encode()
        headers = signed(f"/sessions/{room}/events", body)
        stored = http.post(f"/sessions/{room}/events", content=body, headers=headers)
        assert stored.status_code == 200 and stored.json()["stored"] == 1, stored.text
        again = http.post(f"/sessions/{room}/events", content=body, headers=headers)
        assert again.json()["duplicates"] == 1
        forged = http.post(
            f"/sessions/{room}/events", content=body.replace("你好".encode(), b"hi"), headers=headers
        )
        assert forged.status_code == 401

        hook = webhook_body("room_started", room)
        assert (
            http.post(
                "/livekit/webhook",
                content=hook,
                headers={"authorization": webhook_auth(hook), "content-type": "application/webhook+json"},
            ).status_code
            == 200
        )
        assert (
            http.post(
                "/livekit/webhook",
                content=hook,
                headers={"authorization": webhook_auth(hook, secret="forged-secret-forged")},
            ).status_code
            == 401
        )

        auth = operator.headers()
        session = http.get(f"/sessions/{room}", headers=auth).json()
        assert session["status"] == "active" and [t["text"] for t in session["transcript"]] == ["你好"]
        listed = http.get("/sessions", headers=auth).json()
        assert room in {s["session_id"] for s in listed["items"]}
        assert http.get("/analytics", headers=auth).status_code == 200


def test_errors_and_cors_over_http(functions_url: str) -> None:
    with httpx.Client(base_url=functions_url, timeout=30) as http:
        missing = http.get("/no/such/route")
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        bad = http.post("/token", content=b"{oops", headers={"content-type": "application/json"})
        assert bad.status_code == 400 and bad.json()["error"] == "malformed_json"
        preflight = http.options(
            "/token", headers={"Origin": "http://127.0.0.1:5173", "Access-Control-Request-Method": "POST"}
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] in ("*", "http://127.0.0.1:5173")
        assert http.get("/openapi.json").json()["info"]["title"] == "voicecall functions API"


def cors_preflight(http: httpx.Client, path: str, method: str, headers: str) -> httpx.Response:
    """The browser's preflight from the web app's dev origin."""
    return http.options(
        path,
        headers={
            "Origin": "http://127.0.0.1:5173",
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


def test_a_caller_owns_their_call_over_http(functions_url: str) -> None:
    """Issue 10 #2 over real HTTP: someone's room id opens nothing without that call's key; the key
    opens only its own call (same identity, no second dispatch) and its transcript, and is no operator
    credential."""
    with httpx.Client(base_url=functions_url, timeout=30) as http:
        victim = http.post("/token", json={"name": "Victim"}).json()
        mallory = http.post("/token", json={"name": "Mallory"}).json()
        room = victim["room"]
        for body, status in [
            ({"name": "Voicecall Agent", "room": room}, 401),
            ({"name": "Voicecall Agent", "room": room, "call_key": mallory["call_key"]}, 403),
        ]:
            refused = http.post("/token", json=body)
            assert refused.status_code == status and "token" not in refused.json(), refused.text
        rejoin = http.post("/token", json={"name": "Victim", "room": room, "call_key": victim["call_key"]})
        assert rejoin.status_code == 200 and rejoin.json()["identity"] == victim["identity"]
        claims = TokenVerifier(SETTINGS.livekit_api_key, SETTINGS.livekit_api_secret).verify(
            rejoin.json()["token"]
        )
        assert claims.room_config is not None and not claims.room_config.agents

        own = http.get(f"/calls/{room}/transcript", headers={"X-Call-Key": victim["call_key"]})
        assert own.status_code == 200 and own.json()["transcript"] == [], own.text
        other = http.get(f"/calls/{room}/transcript", headers={"X-Call-Key": mallory["call_key"]})
        assert other.status_code == 403 and other.json()["error"] == "call_key_invalid"
        assert http.get(f"/calls/{room}/transcript").status_code == 401
        assert http.get(f"/sessions/{room}", headers={"X-Call-Key": victim["call_key"]}).status_code == 401
        preflight = cors_preflight(http, f"/calls/{room}/transcript", "GET", "x-call-key")
        assert preflight.status_code == 204
        assert "x-call-key" in preflight.headers.get("access-control-allow-headers", "").lower()

        unsigned = http.post(f"/sessions/{room}/claim", json={"job_id": "AJ_1", "agent_identity": "agent-1"})
        assert unsigned.status_code == 401
        body = json.dumps({"job_id": "AJ_1", "agent_identity": "agent-1"}).encode()
        headers = signed(f"/sessions/{room}/claim", body)
        assert http.post(f"/sessions/{room}/claim", content=body, headers=headers).status_code == 200
        body2 = json.dumps({"job_id": "AJ_2", "agent_identity": "agent-2"}).encode()
        headers2 = signed(f"/sessions/{room}/claim", body2)
        second = http.post(f"/sessions/{room}/claim", content=body2, headers=headers2)
        assert second.status_code == 409 and second.json()["error"] == "session_claimed"


def test_assistants_over_http(functions_url: str, operator: Operator) -> None:
    """An operator creates and edits an assistant from the web app's origin; a call uses it; the worker
    reads the call's version signed; the stale editor gets the conflict."""
    body = {
        "name": "Offline assistant",
        "instructions": {"en": "You help with bookings."},
        "greeting": {"en": "Hello, bookings."},
        "languages": ["en"],
    }
    auth = operator.headers()
    with httpx.Client(base_url=functions_url, timeout=30) as http:
        preflight = cors_preflight(
            http, "/assistants/asst-0123456789ab", "PUT", "authorization,content-type,idempotency-key"
        )
        assert preflight.status_code == 204
        assert "PUT" in preflight.headers.get("access-control-allow-methods", "").upper()
        assert "idempotency-key" in preflight.headers.get("access-control-allow-headers", "").lower()

        created = http.post("/assistants", json=body, headers={**auth, "Idempotency-Key": uuid.uuid4().hex})
        assert created.status_code == 201, created.text
        aid = created.json()["assistant_id"]
        call = http.post("/token", json={"name": "Offline", "assistant_id": aid}).json()
        assert (call["assistant_id"], call["assistant_version"]) == (aid, 1)
        edit = {**body, "name": "Edited", "base_version": 1}
        saved = http.put(f"/assistants/{aid}", json=edit, headers=auth)
        assert saved.status_code == 200 and saved.json()["version"] == 2, saved.text
        stale = http.put(f"/assistants/{aid}", json={**body, "base_version": 1}, headers=auth)
        assert stale.status_code == 409 and stale.json()["detail"]["latest_version"] == 2

        path = f"/agent/assistants/{aid}/versions/{call['assistant_version']}"
        assert http.get(path).status_code == 401
        version = http.get(path, headers=signed(path, b"", method="GET"))
        assert version.status_code == 200 and version.json()["name"] == "Offline assistant", version.text

        archived = http.delete(f"/assistants/{aid}", headers=auth)
        assert archived.status_code == 200 and archived.json()["archived"] is True
        refused = http.post("/token", json={"name": "Offline", "assistant_id": aid})
        assert refused.status_code == 409 and refused.json()["error"] == "assistant_archived"
        assert http.delete("/assistants/default", headers=auth).status_code == 409


# ---------- operator access over HTTP ----------


@pytest.fixture(scope="module")
def local_stage(operator_issuer: LocalOidc) -> dict[str, Any]:
    """serverless.yml resolved for the local stage with this environment: what serverless-offline serves."""
    assert os.environ["OPERATOR_ISSUER"] == operator_issuer.issuer
    out = osls(["print", "--stage", "local", "--region", "us-east-1", "--format", "json"], ROOT)
    config: dict[str, Any] = json.loads(out[out.index("{") :])
    return config


def declared_routes(config: dict[str, Any]) -> dict[str, list[str] | None]:
    """'METHOD /path' -> the authorizer scopes of the route (None: no authorizer)."""
    routes: dict[str, list[str] | None] = {}
    for function in config["functions"].values():
        for event in function.get("events", []):
            http_event = event.get("httpApi")
            if isinstance(http_event, dict):
                authorizer = http_event.get("authorizer")
                key = f"{http_event['method'].upper()} {http_event['path']}"
                routes[key] = list(authorizer["scopes"]) if authorizer else None
    return routes


def concrete(path: str) -> str:
    """A path that routes (ids of nothing that exists: operators get a 404 past authentication)."""
    for param, value in (("{session_id}", "call-0123456789ab"), ("{assistant_id}", "asst-0123456789ab")):
        path = path.replace(param, value)
    return path.replace("{version}", "1")


def test_the_local_stage_declares_what_the_functions_enforce(local_stage: dict[str, Any]) -> None:
    authorizer = local_stage["provider"]["httpApi"]["authorizers"][operator_access().authorizer]
    env = local_stage["provider"]["environment"]
    assert authorizer["issuerUrl"] == env["OPERATOR_ISSUER"] == os.environ["OPERATOR_ISSUER"]
    audience = authorizer["audience"]
    assert (audience if isinstance(audience, list) else [audience]) == [env["OPERATOR_AUDIENCE"]]
    assert authorizer["identitySource"] == operator_access().identity_source
    protected = {k: v for k, v in declared_routes(local_stage).items() if v is not None}
    prefix = env["OPERATOR_SCOPE_PREFIX"]
    assert protected == {k: operator_access().required_scopes(k, prefix) for k in operator_access().routes}


def test_serverless_offline_refuses_exactly_what_the_local_stage_declares(
    functions_url: str, local_stage: dict[str, Any], operator: Operator
) -> None:
    full = operator.headers()
    with httpx.Client(base_url=functions_url, timeout=30) as http:
        for key, scopes in declared_routes(local_stage).items():
            method, path = key.split(" ", 1)
            if key == "*":
                continue
            anonymous = http.request(method, concrete(path))
            if scopes is None:
                assert anonymous.json().get("error") not in ("unauthorized", "invalid_token"), key
                continue
            assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthorized", key
            assert anonymous.headers["www-authenticate"].startswith("Bearer")
            other = [s.name for s in operator_access().scopes.values() if s.name not in scopes]
            lacking = http.request(
                method, concrete(path), headers=operator.headers(f"openid {' '.join(other)}")
            )
            assert lacking.status_code == 403 and lacking.json()["error"] == "insufficient_scope", key
            allowed = http.request(method, concrete(path), headers=full)
            # 422: a POST or PUT sent without its body; authentication was passed all the same.
            expected = (200, 404, 422) if method in ("POST", "PUT") else (200, 404)
            assert allowed.status_code in expected, (key, allowed.text)
            if allowed.headers.get("content-type", "").startswith("application/json"):  # not an export
                denied = ("unauthorized", "invalid_token", "insufficient_scope")
                assert allowed.json().get("error") not in denied, key


def test_bad_tokens_over_http_are_401_with_json(
    functions_url: str, operator: Operator, signing_key: SigningKey
) -> None:
    now = int(time.time())
    forged_claims = operator.claims()
    header, payload, _ = operator.token().split(".")
    _, _, other_signature = operator.token(scope="openid sessions:read").split(".")
    cases = {
        "expired": signing_key.mint(operator.claims(exp=now - 1)),
        "wrong issuer": signing_key.mint(operator.claims(iss="https://login.example.com")),
        "wrong audience": operator.token(client_id=OTHER_CLIENT),
        "bad signature": f"{header}.{payload}.{other_signature}",
        "foreign kid": signing_key.mint(forged_claims, kid="another-key"),
    }
    with httpx.Client(base_url=functions_url, timeout=30) as http:
        for name, token in cases.items():
            reply = http.get("/sessions", headers={"authorization": f"Bearer {token}"})
            assert reply.status_code == 401, (name, reply.text)
            assert reply.json()["error"] == "invalid_token", (name, reply.text)
        assert http.get("/sessions", headers=operator.headers()).status_code == 200


def test_abuse_over_http_is_refused(functions_url: str) -> None:
    """Last in this module: it spends 127.0.0.1's calls for this minute."""
    with httpx.Client(base_url=functions_url, timeout=30) as http:
        deep = http.post("/token", content=b"[" * 50_000, headers={"content-type": "application/json"})
        assert deep.status_code == 400 and deep.json()["error"] == "json_too_deep", deep.text
        # Another session's batch, replayed: bound to the path it was signed for.
        a = http.post("/token", json={"name": "A"}).json()["room"]
        b = http.post("/token", json={"name": "B"}).json()["room"]
        body = json.dumps({"events": []}).encode()
        headers = signed(f"/sessions/{a}/events", body)
        assert http.post(f"/sessions/{b}/events", content=body, headers=headers).status_code == 401
        statuses = [http.post("/token", json={"name": "burst"}).status_code for _ in range(60)]
        assert 429 in statuses and statuses.count(200) <= SETTINGS.calls_per_ip, statuses
        limited = http.post("/token", json={"name": "burst"})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
