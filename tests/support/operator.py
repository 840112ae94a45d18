"""Operator sign-in for tests: real authorization-code + PKCE flows through the local issuer
(infra/local_oidc), tokens cached until shortly before they expire, and a test signing key whose private
half lets tests mint the tokens a real issuer would never issue (expired, foreign issuer...)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from infra.local_oidc import LocalOidc, LocalOidcSettings, sign_in
from infra.local_oidc.login import DEFAULT_SCOPE
from infra.stack.settings import StackSettings

# A second client registered in the test issuer: its tokens are for another audience.
OTHER_CLIENT = "voicecall-other"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey
    jwks_file: Path

    @classmethod
    def create(cls, directory: Path) -> SigningKey:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        kid = f"test-{uuid.uuid4().hex[:8]}"
        jwk = json.loads(RSAAlgorithm.to_jwk(private))
        jwk.update(kid=kid, alg="RS256", use="sig")
        path = directory / "issuer-jwks.json"
        path.write_text(json.dumps({"keys": [jwk]}))
        return cls(kid, private, path)

    def mint(self, claims: dict[str, Any], kid: str | None = None, alg: str = "RS256") -> str:
        return jwt.encode(claims, self.private, algorithm=alg, headers={"kid": kid or self.kid})


@dataclass
class Operator:
    """The seeded operator of a running local issuer."""

    oidc: LocalOidc
    _cache: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)

    def token(self, scope: str = DEFAULT_SCOPE, client_id: str | None = None) -> str:
        client = client_id or self.oidc.client_id
        cached = self._cache.get((client, scope))
        if cached and cached[1] - time.time() > 60:
            return cached[0]
        answer = sign_in(
            self.oidc.issuer, client, self.oidc.redirect_uri, self.oidc.username, self.oidc.password, scope
        )
        token = str(answer["access_token"])
        self._cache[(client, scope)] = (token, time.time() + float(answer["expires_in"]))
        return token

    def headers(self, scope: str = DEFAULT_SCOPE, client_id: str | None = None) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(scope, client_id)}"}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Claims shaped like the local issuer's access tokens (for minting variants)."""
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": self.oidc.issuer,
            "sub": "local-test-operator",
            "aud": self.oidc.client_id,
            "client_id": self.oidc.client_id,
            "scope": "sessions:read analytics:read",
            "iat": now,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
        }
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not None}


def stack_operator(
    settings: StackSettings, password: str = "stack-operator-password"
) -> tuple[dict[str, str], Operator]:
    """For a stack started with tests/support/stack.py including "oidc": the environment every service
    needs (pass it as ``running(..., env=...)``) and the seeded operator of that issuer."""
    oidc_defaults = LocalOidcSettings()
    issuer = f"http://{settings.host}:{settings.oidc_port}"
    env = {
        "OPERATOR_ISSUER": issuer,
        "OPERATOR_AUDIENCE": oidc_defaults.client_id,
        "OPERATOR_CLIENT_ID": oidc_defaults.client_id,
        "LOCAL_OIDC_OPERATOR_PASSWORD": password,
    }
    oidc = LocalOidc(
        issuer, oidc_defaults.client_id, oidc_defaults.operator_username, password, f"{settings.web_url}/"
    )
    return env, Operator(oidc)
