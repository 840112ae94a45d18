"""Abuse limits per client: fixed-window counters in DynamoDB (the rate-limits table in serverless.yml).

One item per (limit, client, window): ``ADD hits :1`` is atomic, so concurrent Lambdas count every request
exactly once; ``expires_at`` lets DynamoDB's TTL delete old windows (TTL deletes within about 48 h, and
a window's key names its start, so an undeleted old item is never counted again). A request over the
limit raises RateLimited with the seconds until the window ends (the Retry-After header).

Fixed windows let a client send up to twice the limit around a window boundary; the stage throttles in
front (and, for production, a WAF rate-based rule at the edge) bound the total anyway.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from functions.errors import RateLimited
from functions.observability import logger, metrics, tracer
from functions.settings import get_settings
from functions.store.tables import dynamodb

# A window's item outlives the window by this much (clock skew between Lambdas, TTL being lazy).
_TTL_MARGIN_S = 300


def rate_limits_table() -> Any:
    return dynamodb().Table(get_settings().rate_limits_table)


def client_key(value: str) -> str:
    """Clients are keyed by a hash: IPs and identities are personal data and need not sit in the table."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


@tracer.capture_method(capture_response=False)
def hit(limit: str, client: str, max_hits: int, now: float | None = None) -> int:
    """Count one request of ``client`` against ``limit``; returns the count in this window, or raises
    RateLimited when it is over ``max_hits``."""
    window_s = get_settings().rate_limit_window_s
    current = time.time() if now is None else now
    window = int(current // window_s)
    response = rate_limits_table().update_item(
        Key={"limit_key": f"{limit}#{client_key(client)}#{window}"},
        UpdateExpression="ADD #hits :one SET #exp = if_not_exists(#exp, :exp)",
        ExpressionAttributeNames={"#hits": "hits", "#exp": "expires_at"},
        ExpressionAttributeValues={":one": 1, ":exp": (window + 1) * window_s + _TTL_MARGIN_S},
        ReturnValues="UPDATED_NEW",
    )
    hits = int(response["Attributes"]["hits"])
    if hits > max_hits:
        retry_after = max(1, int((window + 1) * window_s - current + 0.999))
        metrics.add_metric(name="RateLimited", unit="Count", value=1)
        if hits == max_hits + 1:  # one log line per client and window, not one per refused request
            logger.warning(
                "rate limit reached", extra={"limit": limit, "max": max_hits, "window_s": window_s}
            )
        raise RateLimited(limit, retry_after)
    return hits
