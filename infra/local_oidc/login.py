"""An operator signing in the way the web app does — authorization code flow with PKCE (S256) through
the issuer's login page — over real HTTP, for tests and scripts. Returns the token endpoint's answer."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

ACCESS_FILE = Path(__file__).resolve().parents[2] / "functions" / "operator_access.json"
# Every operator scope, from the file the functions and the issuer read: a new scope needs no edit here.
_OPERATOR_SCOPES = [s["name"] for s in json.loads(ACCESS_FILE.read_text())["scopes"].values()]
DEFAULT_SCOPE = " ".join(["openid", "email", "profile", *_OPERATOR_SCOPES])


class SignInError(RuntimeError):
    pass


class _FormAction(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form" and self.action is None:
            self.action = dict(attrs).get("action")


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def sign_in(
    issuer: str,
    client_id: str,
    redirect_uri: str,
    username: str,
    password: str,
    scope: str = DEFAULT_SCOPE,
    max_steps: int = 12,
) -> dict[str, Any]:
    with httpx.Client(timeout=15, follow_redirects=False) as http:
        meta = http.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration").raise_for_status().json()
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        response = http.get(
            meta["authorization_endpoint"],
            params={
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "scope": scope,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        posted = False
        for _ in range(max_steps):
            location = response.headers.get("location")
            if response.is_redirect and location:
                target = urljoin(str(response.url), location)
                if target.startswith(redirect_uri):
                    query = parse_qs(urlsplit(target).query)
                    if "error" in query:
                        raise SignInError(f"authorization error: {query}")
                    if query.get("state") != [state]:
                        raise SignInError("state mismatch")
                    code = query["code"][0]
                    break
                response = http.get(target)
                continue
            if response.status_code in (200, 401) and "<form" in response.text:
                if posted:
                    raise SignInError(f"sign-in refused ({response.status_code})")
                form = _FormAction()
                form.feed(response.text)
                if not form.action:
                    raise SignInError("login page without a form")
                response = http.post(
                    urljoin(str(response.url), form.action), data={"username": username, "password": password}
                )
                posted = True
                continue
            raise SignInError(
                f"unexpected answer {response.status_code} at {response.url}: {response.text[:300]}"
            )
        else:
            raise SignInError("too many steps")
        token = http.post(
            meta["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": client_id,
                "code_verifier": verifier,
            },
        )
        if token.status_code != 200:
            raise SignInError(f"token endpoint {token.status_code}: {token.text[:300]}")
        answer: dict[str, Any] = token.json()
        return answer
