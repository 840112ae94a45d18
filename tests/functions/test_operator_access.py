"""Operator routes in-process: the functions' own JWT check (functions/operator_auth.py) with tokens from
the real local issuer (authorization code + PKCE) and, for what no honest issuer issues, tokens minted
with the issuer's own signing key or with a foreign one."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from functions import operator_auth
from functions.api import build_resolver
from functions.handlers import api_docs
from functions.operator_auth import operator_access
from functions.routes import analytics, sessions
from functions.settings import get_settings
from tests.functions.lambda_events import FakeContext, Reply, http_event, invoke
from tests.support.operator import OTHER_CLIENT, Operator, SigningKey

OPERATOR_ROUTES = [
    ("GET", "/sessions"),
    ("GET", "/sessions/call-0123456789ab"),
    ("GET", "/export/sessions"),
    ("GET", "/analytics"),
    ("GET", "/assistants"),
    ("POST", "/assistants"),
    ("GET", "/assistants/asst-0123456789ab"),
    ("PUT", "/assistants/asst-0123456789ab"),
    ("DELETE", "/assistants/asst-0123456789ab"),
    ("POST", "/assistants/asst-0123456789ab/restore"),
    ("GET", "/assistants/asst-0123456789ab/versions"),
    ("GET", "/assistants/asst-0123456789ab/versions/1"),
]


def get(path: str, authorization: str | None = None, **kwargs: Any) -> Reply:
    headers = {"authorization": authorization} if authorization is not None else {}
    return invoke("GET", path, headers=headers, **kwargs)


def assert_refused(reply: Reply, status: int, error: str, detail_has: str = "") -> None:
    assert reply.status == status, reply.text
    body = reply.json()
    assert body["error"] == error, body
    assert detail_has in body["detail"], body
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.headers["www-authenticate"].startswith("Bearer"), reply.headers


def test_the_definition_names_exactly_the_operator_routes() -> None:
    access = operator_access()
    assert access.routes == {
        "GET /sessions": ["sessionsRead"],
        "GET /sessions/{session_id}": ["sessionsRead"],
        "GET /sessions/{session_id}/recording": ["sessionsRead"],
        "DELETE /sessions/{session_id}": ["sessionsDelete"],
        "GET /export/sessions": ["sessionsRead"],
        "GET /analytics": ["analyticsRead"],
        "GET /assistants": ["assistantsRead"],
        "POST /assistants": ["assistantsWrite"],
        "GET /assistants/{assistant_id}": ["assistantsRead"],
        "PUT /assistants/{assistant_id}": ["assistantsWrite"],
        "DELETE /assistants/{assistant_id}": ["assistantsWrite"],
        "POST /assistants/{assistant_id}/restore": ["assistantsWrite"],
        "GET /assistants/{assistant_id}/versions": ["assistantsRead"],
        "GET /assistants/{assistant_id}/versions/{version}": ["assistantsRead"],
        "POST /voice-preview": ["assistantsWrite"],
    }
    assert [s.name for s in access.scopes.values()] == [
        "sessions:read",
        "analytics:read",
        "assistants:read",
        "assistants:write",
        "sessions:delete",
    ]
    # The worker's signed route is no operator route: it takes the session-log signature instead.
    assert operator_auth.route_key_for("GET", ["/agent/assistants/default/versions/1"]) is None


@pytest.mark.parametrize(("method", "path"), OPERATOR_ROUTES)
def test_anonymous_requests_are_401(method: str, path: str) -> None:
    assert_refused(invoke(method, path), 401, "unauthorized", "Bearer")


@pytest.mark.parametrize(("method", "path"), OPERATOR_ROUTES)
def test_the_operator_token_opens_every_operator_route(method: str, path: str, operator: Operator) -> None:
    reply = invoke(method, path, headers=operator.headers())
    # 404: the session or assistant does not exist; 422: no body was sent. Either way we got in.
    assert reply.status in (200, 404, 422), reply.text
    if reply.status == 404:
        assert reply.json()["error"] in ("session_not_found", "assistant_not_found")
    if reply.status == 422:
        assert method in ("POST", "PUT") and reply.json()["error"] == "validation_error", reply.text


def test_a_bare_token_without_the_bearer_word_is_accepted_like_api_gateway(operator: Operator) -> None:
    assert get("/sessions", operator.token()).status == 200


def test_authentication_comes_before_validation() -> None:
    """As behind API Gateway: an anonymous caller learns nothing about the parameters."""
    assert_refused(get("/sessions", query={"limit": "ten"}), 401, "unauthorized")


def test_other_clients_tokens_are_for_another_audience(operator: Operator) -> None:
    assert_refused(
        get("/sessions", f"Bearer {operator.token(client_id=OTHER_CLIENT)}"), 401, "invalid_token", "audience"
    )


def test_a_missing_scope_is_403_naming_the_scope(operator: Operator) -> None:
    sessions_only = operator.token(scope="openid sessions:read")
    assert get("/sessions", f"Bearer {sessions_only}").status == 200
    reply = get("/analytics", f"Bearer {sessions_only}")
    assert_refused(reply, 403, "insufficient_scope", "analytics:read")
    assert 'scope="analytics:read"' in reply.headers["www-authenticate"]
    analytics_only = operator.token(scope="openid analytics:read")
    assert get("/analytics", f"Bearer {analytics_only}").status == 200
    assert_refused(get("/sessions", f"Bearer {analytics_only}"), 403, "insufficient_scope", "sessions:read")


def test_the_id_token_is_no_access_token(operator: Operator) -> None:
    from infra.local_oidc import sign_in

    oidc = operator.oidc
    answer = sign_in(oidc.issuer, oidc.client_id, oidc.redirect_uri, oidc.username, oidc.password)
    assert_refused(get("/sessions", f"Bearer {answer['id_token']}"), 403, "insufficient_scope")


NOW = 2_000_000_000  # a placeholder instant the test shifts to the real time


def _foreign_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    ("name", "overrides", "detail"),
    [
        # times relative to when the test runs (NOW), not to when it was collected
        ("expired", {"exp": NOW - 5}, "expired"),
        ("not yet valid", {"nbf": NOW + 300}, "not valid yet"),
        ("issued in the future", {"iat": NOW + 300}, "not valid yet"),
        ("wrong issuer", {"iss": "http://127.0.0.1:1"}, "another issuer"),
        ("wrong audience", {"aud": "someone-else"}, "another audience"),
        ("audience list without ours", {"aud": ["a", "b"]}, "another audience"),
        ("no aud, foreign client_id", {"aud": None, "client_id": "someone-else"}, "another client"),
        ("no exp", {"exp": None}, "'exp'"),
        ("no sub", {"sub": None}, "'sub'"),
        ("an ID token (Cognito)", {"token_use": "id"}, "ID token"),
    ],
)
def test_tokens_signed_by_the_issuer_with_bad_claims_are_401(
    name: str, overrides: dict[str, Any], detail: str, operator: Operator, signing_key: SigningKey
) -> None:
    now = int(time.time())
    claims = {k: now + (v - NOW) if isinstance(v, int) else v for k, v in overrides.items()}
    token = signing_key.mint(operator.claims(**claims))
    assert_refused(get("/sessions", f"Bearer {token}"), 401, "invalid_token", detail)


def test_cognito_shaped_access_tokens_pass_on_client_id(operator: Operator, signing_key: SigningKey) -> None:
    """Cognito access tokens have no aud: API Gateway then matches client_id against the audience."""
    token = signing_key.mint(operator.claims(aud=None, token_use="access"))
    assert get("/sessions", f"Bearer {token}").status == 200
    assert (
        get(
            "/sessions", f"Bearer {signing_key.mint(operator.claims(aud=['x', operator.oidc.client_id]))}"
        ).status
        == 200
    )


def test_bad_signatures_are_401(operator: Operator, signing_key: SigningKey) -> None:
    # Another key under the issuer's kid.
    foreign = jwt.encode(
        operator.claims(), _foreign_key(), algorithm="RS256", headers={"kid": signing_key.kid}
    )
    assert_refused(get("/sessions", f"Bearer {foreign}"), 401, "invalid_token", "signature")
    # A real token whose claims were edited.
    header, payload, signature = operator.token(scope="openid sessions:read").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "sessions:read analytics:read"
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    assert_refused(
        get("/analytics", f"Bearer {header}.{edited}.{signature}"), 401, "invalid_token", "signature"
    )
    # An unknown key id.
    unknown = signing_key.mint(operator.claims(), kid="not-a-key-of-the-issuer")
    assert_refused(get("/sessions", f"Bearer {unknown}"), 401, "invalid_token", "not signed by a key")


def test_algorithm_tricks_are_401(operator: Operator, signing_key: SigningKey) -> None:
    unsigned = jwt.encode(operator.claims(), None, algorithm="none", headers={"kid": signing_key.kid})
    assert_refused(get("/sessions", f"Bearer {unsigned}"), 401, "invalid_token", "RS256")
    public_pem = signing_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # HS256 keyed with the issuer's public key (the classic confusion attack).
    header = base64.urlsafe_b64encode(
        json.dumps({"alg": "HS256", "typ": "JWT", "kid": signing_key.kid}).encode()
    ).decode()
    body = base64.urlsafe_b64encode(json.dumps(operator.claims()).encode()).decode()
    import hashlib
    import hmac

    signing_input = f"{header.rstrip('=')}.{body.rstrip('=')}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    confused = f"{signing_input}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"
    assert_refused(get("/sessions", f"Bearer {confused}"), 401, "invalid_token", "RS256")
    no_kid = jwt.encode(operator.claims(), signing_key.private, algorithm="RS256")
    assert_refused(get("/sessions", f"Bearer {no_kid}"), 401, "invalid_token", "kid")


@pytest.mark.parametrize(
    "authorization",
    ["Basic b3BlcmF0b3I6cHc=", "Bearer", "Bearer not-a-jwt", "Bearer a.b.c", "Bearer " + "a" * 9000 + ".b.c"],
)
def test_malformed_credentials_are_401(authorization: str) -> None:
    reply = get("/sessions", authorization)
    assert reply.status == 401, reply.text
    assert reply.json()["error"] in ("unauthorized", "invalid_token")


def test_every_function_checks_operator_routes(operator: Operator) -> None:
    """Even the catch-all function (all routers) and a stage-prefixed path get the same check."""
    anonymous = api_docs.handler(http_event("GET", "/sessions"), FakeContext())
    assert anonymous["statusCode"] == 401 and json.loads(anonymous["body"])["error"] == "unauthorized"
    event = http_event("GET", "/local/analytics")
    event["requestContext"]["stage"] = "local"
    event["requestContext"]["http"]["path"] = "/local/analytics"
    assert api_docs.handler(event, FakeContext())["statusCode"] == 401
    event["headers"] = operator.headers()
    assert api_docs.handler(event, FakeContext())["statusCode"] == 200


def test_the_resolver_itself_refuses_without_the_pre_check(operator: Operator) -> None:
    """Backstop: a matched operator route never runs unauthenticated, whatever led there — also for a
    resolver built after GET /openapi.json built one mid-request (Powertools copies router context)."""
    assert invoke("GET", "/openapi.json").status == 200
    app = build_resolver([sessions.router, analytics.router])
    result = app.resolve(http_event("GET", "/sessions"), FakeContext())
    assert result["statusCode"] == 401 and json.loads(result["body"])["error"] == "unauthorized"
    limited = http_event(
        "GET", "/analytics", headers={"authorization": f"Bearer {operator.token('openid sessions:read')}"}
    )
    assert app.resolve(limited, FakeContext())["statusCode"] == 403
    full = http_event("GET", "/analytics", headers=operator.headers())
    assert app.resolve(full, FakeContext())["statusCode"] == 200


def test_public_routes_need_no_operator_token() -> None:
    assert invoke("POST", "/token", body=json.dumps({"name": "anyone"})).status == 200
    assert invoke("GET", "/openapi.json").status == 200


@pytest.mark.parametrize(
    ("env", "why"),
    [
        ({"OPERATOR_ISSUER": ""}, "no issuer"),
        ({"OPERATOR_AUDIENCE": ""}, "no audience"),
        ({"OPERATOR_ISSUER": "http://issuer.example.com"}, "plain http off loopback"),
        (
            {"OPERATOR_ISSUER": "[object Object]"},
            "an unresolved intrinsic, as serverless-offline passes them",
        ),
        ({"OPERATOR_ISSUER": "http://127.0.0.1:1"}, "unreachable issuer"),
    ],
)
def test_missing_or_unusable_configuration_fails_closed(
    env: dict[str, str], why: str, monkeypatch: pytest.MonkeyPatch, operator: Operator
) -> None:
    token = operator.token()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    reply = get("/sessions", f"Bearer {token}")
    assert reply.status == 503, (why, reply.text)
    assert reply.json()["error"] == "operator_auth_unavailable"


def test_an_issuer_whose_discovery_names_another_issuer_is_refused(
    monkeypatch: pytest.MonkeyPatch, operator: Operator
) -> None:
    token = operator.token()
    monkeypatch.setenv("OPERATOR_ISSUER", operator.oidc.issuer + "/")
    get_settings.cache_clear()
    reply = get("/sessions", f"Bearer {token}")
    assert reply.status == 503 and "another issuer" in reply.json()["detail"], reply.text


def test_the_scope_prefix_is_applied(
    monkeypatch: pytest.MonkeyPatch, operator: Operator, signing_key: SigningKey
) -> None:
    """With Cognito the scopes arrive as '<resource server>/<name>' (OPERATOR_SCOPE_PREFIX)."""
    monkeypatch.setenv("OPERATOR_SCOPE_PREFIX", "voicecall/")
    get_settings.cache_clear()
    plain = signing_key.mint(operator.claims())
    assert_refused(get("/sessions", f"Bearer {plain}"), 403, "insufficient_scope", "voicecall/sessions:read")
    prefixed = signing_key.mint(operator.claims(scope="voicecall/sessions:read"))
    assert get("/sessions", f"Bearer {prefixed}").status == 200
