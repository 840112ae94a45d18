"""HMAC-SHA256 request signing for the worker -> API session log.

The signature covers ``"{timestamp}.{body}"`` so that a captured request cannot be replayed after the
window, nor its body altered. Pure stdlib: the worker and the Lambda both import it.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "x-signature"
TIMESTAMP_HEADER = "x-signature-timestamp"
DEFAULT_REPLAY_WINDOW_S = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    ts = int(now if now is not None else time.time())
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: sign(secret, ts, body)}


class SignatureError(ValueError):
    """The request's signature is missing, malformed, stale or wrong (map to 401)."""


def verify(
    secret: str,
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    now: float | None = None,
    window_s: int = DEFAULT_REPLAY_WINDOW_S,
) -> None:
    if not timestamp_header or not signature_header:
        raise SignatureError("missing signature headers")
    try:
        ts = int(timestamp_header)
    except ValueError as exc:
        raise SignatureError("malformed signature timestamp") from exc
    current = now if now is not None else time.time()
    if abs(current - ts) > window_s:
        raise SignatureError("signature timestamp outside the replay window")
    if not hmac.compare_digest(sign(secret, ts, body), signature_header):
        raise SignatureError("signature mismatch")
