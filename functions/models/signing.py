"""HMAC-SHA256 request signing for the worker -> API routes (session log, agent claim).

Scheme ``v2``: the signature covers the timestamp, the HTTP method, the request path (which names the
session) and the body::

    v2=<hex HMAC-SHA256(secret, "v2\\n{timestamp}\\n{METHOD}\\n{path}\\n" + body)>

so a captured request cannot be replayed after the window, nor its body altered, nor sent to another
session or route: the session id is part of what was signed. ``v1`` (timestamp and body only) is refused.

During a secret rotation the verifier accepts the current and the previous secret. Pure stdlib: the
worker and the Lambda both import it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

SIGNATURE_HEADER = "x-signature"
TIMESTAMP_HEADER = "x-signature-timestamp"
SCHEME = "v2"
DEFAULT_REPLAY_WINDOW_S = 300


def canonical_request(timestamp: int, method: str, path: str, body: bytes) -> bytes:
    """What is signed. ``path`` is the request path exactly as sent (no query string)."""
    if "\n" in path or "\n" in method:
        raise ValueError("method and path must not contain newlines")
    return f"{SCHEME}\n{timestamp}\n{method.upper()}\n{path}\n".encode() + body


def sign(secret: str, timestamp: int, method: str, path: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), canonical_request(timestamp, method, path, body), hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def signed_headers(
    secret: str, body: bytes, *, method: str, path: str, now: float | None = None
) -> dict[str, str]:
    ts = int(now if now is not None else time.time())
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(secret, ts, method, path, body)}


class SignatureError(ValueError):
    """The request's signature is missing, malformed, stale or wrong (map to 401)."""


def verify(
    secrets: Sequence[str],
    timestamp_header: str | None,
    signature_header: str | None,
    method: str,
    path: str,
    body: bytes,
    now: float | None = None,
    window_s: int = DEFAULT_REPLAY_WINDOW_S,
) -> int:
    """Raises SignatureError unless one of ``secrets`` signed this request; returns that secret's index
    (0 = current, 1 = previous: the caller can count who still signs with the old one)."""
    if not timestamp_header or not signature_header:
        raise SignatureError("missing signature headers")
    if not signature_header.startswith(f"{SCHEME}="):
        raise SignatureError(f"unsupported signature scheme: sign method, path and body ({SCHEME}=...)")
    try:
        ts = int(timestamp_header)
    except ValueError as exc:
        raise SignatureError("malformed signature timestamp") from exc
    current = now if now is not None else time.time()
    if abs(current - ts) > window_s:
        raise SignatureError("signature timestamp outside the replay window")
    if "\n" in path or "\n" in method:
        raise SignatureError("malformed request path")
    matched = -1
    for index, secret in enumerate(secrets):
        # Every secret is compared (no early exit): the timing does not tell which one matched.
        if secret and hmac.compare_digest(sign(secret, ts, method, path, body), signature_header):
            matched = index if matched < 0 else matched
    if matched < 0:
        raise SignatureError("signature mismatch")
    return matched
