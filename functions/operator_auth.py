"""Operator access: the bearer-JWT check of API Gateway's JWT authorizer, repeated inside the functions.

What is enforced comes from one place: ``functions/operator_access.json`` (which routes, which scopes) plus
the stage's issuer, audience and scope prefix (``OPERATOR_*`` environment, which serverless.yml fills from
the same values as the authorizer itself). In production API Gateway has already checked the token and
this is defence in depth; locally serverless-offline applies no JWT authorizer at all (its support is off
unless ``--ignoreJWTSignature``, and even then it never checks a signature), so this check is what
protects the local stack — the same rules, from the same definition.

The rules are those of API Gateway HTTP API JWT authorizers:
- the token is the Authorization header, with or without the ``Bearer`` prefix;
- its header names an RSA algorithm and a ``kid`` of the issuer's JWKS (``jwks_uri`` of the issuer's
  OpenID Connect discovery document); the signature verifies with that key;
- ``iss`` equals the issuer; ``exp`` is in the future; ``nbf`` and ``iat`` are not;
- ``aud`` contains the audience or, when there is no ``aud``, ``client_id`` equals it (Cognito);
- the token's ``scope`` (or ``scp``) holds at least one of the route's scopes, else 403.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from functions.errors import ApiError
from functions.models.secret_policy import is_loopback_host
from functions.observability import logger
from functions.settings import get_settings

ACCESS_FILE = Path(__file__).with_name("operator_access.json")
SECURITY_SCHEME = "operator"
# API Gateway's JWT authorizers verify RSA signatures only; never a symmetric or "none" algorithm.
ALGORITHMS = ("RS256", "RS384", "RS512")
MAX_TOKEN_CHARS = 8192
_HTTP_TIMEOUT_S = 3.0
_ROUTE_KEY = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) (/[A-Za-z0-9_.~{}/-]*)$")
_PARAM = re.compile(r"^\{[A-Za-z_][A-Za-z0-9_]*\}$")


class OperatorAuthError(ApiError):
    """401/403/503 with the RFC 6750 ``WWW-Authenticate`` challenge."""

    def __init__(self, status: int, error: str, detail: str, challenge: str | None = None) -> None:
        super().__init__(status, error, detail)
        self.challenge = challenge

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": self.challenge} if self.challenge else {}


def _invalid(detail: str) -> OperatorAuthError:
    return OperatorAuthError(401, "invalid_token", detail, 'Bearer error="invalid_token"')


def _unavailable(detail: str) -> OperatorAuthError:
    return OperatorAuthError(503, "operator_auth_unavailable", detail)


# ---------- the shared definition ----------


class ScopeDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # RFC 6749 scope-token characters
    name: str = Field(pattern=r"^[\x21\x23-\x5b\x5d-\x7e]+$")
    description: str


class OperatorAccess(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    comment: str = Field(default="", alias="$comment")
    authorizer: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9]*$")
    identity_source: str = Field(alias="identitySource")
    scopes: dict[str, ScopeDefinition]
    routes: dict[str, list[str]]

    @model_validator(mode="after")
    def _consistent(self) -> OperatorAccess:
        if self.identity_source != "$request.header.Authorization":
            raise ValueError("identitySource: only $request.header.Authorization is supported")
        for key, scope_keys in self.routes.items():
            if not _ROUTE_KEY.match(key):
                raise ValueError(f"route {key!r} is not 'METHOD /path'")
            unknown = set(scope_keys) - set(self.scopes)
            if not scope_keys or unknown:
                raise ValueError(f"route {key!r}: needs scopes from 'scopes', got {scope_keys}")
        return self

    def scope_names(self, route_key: str) -> list[str]:
        return [self.scopes[k].name for k in self.routes[route_key]]

    def required_scopes(self, route_key: str, prefix: str) -> list[str]:
        """The scopes as the issuer writes them into tokens (and as the authorizer lists them)."""
        return [prefix + name for name in self.scope_names(route_key)]


@lru_cache(maxsize=1)
def operator_access() -> OperatorAccess:
    return OperatorAccess.model_validate_json(ACCESS_FILE.read_text())


def openapi_security(route_key: str) -> list[dict[str, list[str]]]:
    """The route's OpenAPI security requirement (Powertools ``security=``); KeyError for other routes."""
    return [{SECURITY_SCHEME: operator_access().scope_names(route_key)}]


def _path_regex(template: str) -> re.Pattern[str]:
    parts = [r"[^/]+" if _PARAM.match(seg) else re.escape(seg) for seg in template.strip("/").split("/")]
    return re.compile("^/" + "/".join(parts) + "/*$")


@lru_cache(maxsize=1)
def _route_patterns() -> tuple[tuple[str, str, re.Pattern[str]], ...]:
    patterns = []
    for key in operator_access().routes:
        method, path = key.split(" ", 1)
        patterns.append((key, method, _path_regex(path)))
    return tuple(patterns)


def route_key_for(method: str, paths: list[str]) -> str | None:
    """The operator route a request is for, if any. ``paths`` are every form the path may be routed by."""
    for key, route_method, regex in _route_patterns():
        if method.upper() == route_method and any(regex.match(p) for p in paths):
            return key
    return None


# ---------- stage configuration ----------


@dataclass(frozen=True)
class StageAuth:
    issuer: str
    audience: str
    scope_prefix: str
    jwks_ttl_s: int


def url_problem(url: str, name: str) -> str | None:
    """Why ``url`` cannot be trusted as an issuer/JWKS location (https, or http on loopback only)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{name} is empty or not an http(s) URL"
    if parts.query or parts.fragment:
        return f"{name} must not have a query or fragment"
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        return f"{name} must use https (plain http only for a loopback issuer)"
    return None


def stage_auth() -> StageAuth:
    settings = get_settings()
    issuer, audience = settings.operator_issuer.strip(), settings.operator_audience.strip()
    problem = url_problem(issuer, "OPERATOR_ISSUER") or (None if audience else "OPERATOR_AUDIENCE is empty")
    if problem:
        logger.error("operator access is not configured: refusing", extra={"reason": problem})
        raise _unavailable("operator sign-in is not configured on this stage")
    return StageAuth(issuer, audience, settings.operator_scope_prefix, settings.operator_jwks_ttl_s)


# ---------- the issuer's keys ----------


def _get_json(url: str) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=_HTTP_TIMEOUT_S) as response:
        return json.loads(response.read(1_048_576))


class IssuerKeys:
    """The issuer's signing keys: discovery document -> ``jwks_uri`` -> PyJWT's cached JWKS client
    (which refetches for an unknown ``kid`` at most once per cooldown)."""

    def __init__(self, issuer: str, ttl_s: int) -> None:
        self.issuer = issuer
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._client: jwt.PyJWKClient | None = None
        self._discovered_at = 0.0

    def _discover(self) -> str:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            document = _get_json(url)
        except (OSError, ValueError) as exc:
            raise _unavailable("the sign-in issuer could not be reached") from exc
        if not isinstance(document, dict) or document.get("issuer") != self.issuer:
            raise _unavailable("the sign-in issuer's discovery document names another issuer")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or url_problem(jwks_uri, "jwks_uri"):
            raise _unavailable("the sign-in issuer's discovery document has no usable jwks_uri")
        return jwks_uri

    def client(self) -> jwt.PyJWKClient:
        with self._lock:
            stale = time.monotonic() - self._discovered_at > self.ttl_s
            if self._client is None or stale:
                try:
                    jwks_uri = self._discover()
                except OperatorAuthError:
                    if self._client is None:
                        raise
                    jwks_uri = self._client.uri  # keep serving from the last known keys
                if self._client is None or self._client.uri != jwks_uri:
                    self._client = jwt.PyJWKClient(jwks_uri, lifespan=self.ttl_s, timeout=_HTTP_TIMEOUT_S)
                self._discovered_at = time.monotonic()
            return self._client

    def signing_key(self, kid: str) -> jwt.PyJWK:
        try:
            return self.client().get_signing_key(kid)
        except jwt.PyJWKClientConnectionError as exc:
            raise _unavailable("the sign-in issuer's keys could not be fetched") from exc
        except jwt.PyJWKSetError as exc:
            raise _unavailable("the sign-in issuer publishes no usable keys") from exc
        except jwt.PyJWKClientError as exc:
            raise _invalid("the token is not signed by a key of the issuer") from exc


_keys_lock = threading.Lock()
_keys: dict[tuple[str, int], IssuerKeys] = {}


def issuer_keys(issuer: str, ttl_s: int) -> IssuerKeys:
    with _keys_lock:
        return _keys.setdefault((issuer, ttl_s), IssuerKeys(issuer, ttl_s))


# ---------- the check ----------


@dataclass(frozen=True)
class Operator:
    subject: str
    username: str | None
    client_id: str | None
    scopes: frozenset[str]


def bearer_token(authorization: str | None) -> str:
    value = (authorization or "").strip()
    if not value:
        raise OperatorAuthError(
            401, "unauthorized", "sign in: send 'Authorization: Bearer <access token>'", "Bearer"
        )
    scheme, _, rest = value.partition(" ")
    if rest:
        if scheme.lower() != "bearer":
            raise _invalid("use the Bearer authorization scheme")
        value = rest.strip()
    if len(value) > MAX_TOKEN_CHARS or value.count(".") != 2:
        raise _invalid("the bearer token is not a JWT")
    return value


def _token_scopes(claims: dict[str, Any]) -> frozenset[str]:
    raw = claims.get("scope", claims.get("scp"))
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list):
        return frozenset(s for s in raw if isinstance(s, str))
    return frozenset()


def verified_claims(token: str, stage: StageAuth) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as exc:
        raise _invalid("the bearer token is not a JWT") from exc
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        raise _invalid("the token must be signed with RS256, RS384 or RS512")
    if not isinstance(kid, str) or not kid:
        raise _invalid("the token header names no key (kid)")
    key = issuer_keys(stage.issuer, stage.jwks_ttl_s).signing_key(kid)
    if key.key_type != "RSA":
        raise _invalid("the token's key is not an RSA key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key.key,
            algorithms=[alg],
            issuer=stage.issuer,
            options={"require": ["exp", "iss", "sub"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError as exc:
        raise _invalid("the token has expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise _invalid("the token is not valid yet") from exc
    except jwt.InvalidIssuerError as exc:
        raise _invalid("the token is from another issuer") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise _invalid(f"the token has no '{exc.claim}' claim") from exc
    except jwt.InvalidSignatureError as exc:
        raise _invalid("the token's signature does not verify") from exc
    except jwt.InvalidTokenError as exc:
        raise _invalid("the token is malformed") from exc
    aud = claims.get("aud")
    if aud is not None:
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if stage.audience not in audiences:
            raise _invalid("the token is for another audience")
    elif claims.get("client_id") != stage.audience:
        raise _invalid("the token is for another client")
    if claims.get("token_use", "access") != "access":
        raise _invalid("send the access token, not the ID token")
    return claims


def operator_from(claims: dict[str, Any]) -> Operator:
    username = claims.get("username") or claims.get("email") or claims.get("cognito:username")
    client_id = claims.get("client_id")
    return Operator(
        subject=str(claims["sub"]),
        username=username if isinstance(username, str) else None,
        client_id=client_id if isinstance(client_id, str) else None,
        scopes=_token_scopes(claims),
    )


def require_scopes(operator: Operator, route_key: str, stage: StageAuth) -> None:
    required = operator_access().required_scopes(route_key, stage.scope_prefix)
    if not operator.scopes.intersection(required):
        scope = " ".join(required)
        raise OperatorAuthError(
            403,
            "insufficient_scope",
            f"this route requires the scope {scope}",
            f'Bearer error="insufficient_scope", scope="{scope}"',
        )


def authenticate(authorization: str | None, route_key: str) -> Operator:
    """The whole check for one request to an operator route; raises OperatorAuthError."""
    stage = stage_auth()
    operator = operator_from(verified_claims(bearer_token(authorization), stage))
    require_scopes(operator, route_key, stage)
    return operator
