"""Fail closed on secrets: one rule for every component (functions, worker, dev SFU, stack).

- An empty secret is never accepted (an HMAC or JWT with an empty key proves nothing).
- Outside loopback — a component that listens on, or sends its secret to, an address another machine can
  reach — a development default or a secret shorter than 32 bytes is refused as well.
- Development secrets therefore go only with local endpoints: a production LiveKit URL with
  ``devkey``/``secret`` is refused.

Pure stdlib: the Lambda package and every other component import it. Messages name the setting and the
kind of problem, never the value.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlparse

MIN_SECRET_BYTES = 32

# Every development default shipped in this repository (README, serverless.yml's local/ci stages).
DEV_API_KEY = "devkey"
DEV_SECRETS = frozenset(
    {
        "secret",
        "devkey",
        "dev-session-log-secret",
        "dev-model-server-key",
        "replace-me",
    }
)


def is_loopback_host(host: str | None) -> bool:
    """Only addresses no other machine can reach; names other than localhost are not trusted."""
    if not host:
        return False
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str | None) -> bool:
    if not url:
        return False
    try:
        return is_loopback_host(urlparse(url).hostname)
    except ValueError:
        return False


def secret_problem(value: str | None, *, local: bool) -> str | None:
    """None when ``value`` may be used; else what is wrong with it (no value in the text)."""
    if not value:
        return "empty"
    if local:
        return None
    if value in DEV_SECRETS:
        return "a development default, only allowed when every endpoint is loopback"
    if len(value.encode()) < MIN_SECRET_BYTES:
        return f"shorter than {MIN_SECRET_BYTES} bytes, only allowed when every endpoint is loopback"
    return None


def api_key_problem(value: str | None, *, local: bool) -> str | None:
    """A LiveKit API key is no secret, but the development one means the development secret."""
    if not value:
        return "empty"
    if not local and value == DEV_API_KEY:
        return "the development key, only allowed when every endpoint is loopback"
    return None


def problem_code(problem: str) -> str:
    """A stable, machine-readable name for the kind of misconfiguration."""
    if problem == "empty":
        return "empty_secret"
    if problem.startswith("shorter"):
        return "short_secret"
    return "development_secret"
