"""The routes the agent worker calls, signed with SESSION_LOG_SECRET (functions/models/signing.py, v2):
one list, and the pre-check every Lambda serving one of them runs before routing and validation.

The signature covers the method, the path as sent (so the session or assistant it names) and the raw body
(empty for a GET), so a signed request cannot be replayed to another route, session or version. During a
secret rotation SESSION_LOG_SECRET_PREVIOUS is accepted too.
"""

from __future__ import annotations

import re
from typing import Any

from functions import secrets as runtime_secrets
from functions.api import candidate_paths, raw_error
from functions.models.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, verify
from functions.observability import logger, metrics
from functions.settings import get_settings

# (method, path) of every signed route; a trailing slash routes the same, so it is signed the same.
SIGNED_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("POST", re.compile(r"^/sessions/[^/]+/events/*$")),
    ("POST", re.compile(r"^/sessions/[^/]+/claim/*$")),
    # Where the call's recording goes (a presigned S3 PUT).
    ("POST", re.compile(r"^/sessions/[^/]+/recording/*$")),
    # The assistant version a call was dispatched with: the worker reads it before the greeting.
    ("GET", re.compile(r"^/agent/assistants/[^/]+/versions/[^/]+/*$")),
)


def is_signed(method: str, paths: list[str]) -> bool:
    """True when a request with this method and any of these paths (every form the resolver may route
    it by, e.g. with and without a stage prefix) is for a signed route."""
    return any(method.upper() == m and any(rx.match(p) for p in paths) for m, rx in SIGNED_ROUTES)


def _header(event: dict[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def verify_signature(event: dict[str, Any], body: bytes) -> dict[str, Any] | None:
    """Pre-check for the worker's routes: 401 unless signed (v2: method, path, body) with
    SESSION_LOG_SECRET — or, during a rotation, SESSION_LOG_SECRET_PREVIOUS — inside the window."""
    method = str((event.get("requestContext") or {}).get("http", {}).get("method", ""))
    if not is_signed(method, candidate_paths(event)):
        return None
    secrets = runtime_secrets.session_log_secrets()  # Misconfigured -> 500, before anything is accepted
    try:
        used = verify(
            secrets,
            _header(event, TIMESTAMP_HEADER),
            _header(event, SIGNATURE_HEADER),
            method,
            str(event.get("rawPath") or ""),  # what the worker sent, and signed
            body,
            window_s=get_settings().replay_window_s,
        )
    except SignatureError as exc:
        metrics.add_metric(name="SignatureRejected", unit="Count", value=1)
        logger.warning("worker request signature rejected", extra={"reason": str(exc)})
        return raw_error(401, "invalid_signature", str(exc))
    if used:
        metrics.add_metric(name="SignedWithPreviousSecret", unit="Count", value=1)
    return None
