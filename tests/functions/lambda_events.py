"""Build API Gateway HTTP API (payload 2.0) events and call the Lambda handlers in-process,
routing by path the way API Gateway does with the routes of serverless.yml."""

from __future__ import annotations

import base64
import json
import random
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from functions.handlers import (
    analytics,
    api_docs,
    assistants,
    livekit_webhook,
    session_events,
    sessions,
    token,
)

# (method, path regex) -> handler, as in serverless.yml; anything else goes to the catch-all.
ROUTES = [
    ("POST", re.compile(r"^/token$"), token.handler),
    ("POST", re.compile(r"^/sessions/[^/]+/events$"), session_events.handler),
    ("POST", re.compile(r"^/sessions/[^/]+/claim$"), session_events.handler),
    ("GET", re.compile(r"^/calls/[^/]+/transcript$"), sessions.handler),
    ("GET", re.compile(r"^/sessions$"), sessions.handler),
    ("GET", re.compile(r"^/sessions/[^/]+$"), sessions.handler),
    ("GET", re.compile(r"^/export/sessions$"), sessions.handler),
    ("GET", re.compile(r"^/analytics$"), analytics.handler),
    ("GET", re.compile(r"^/assistants$"), assistants.handler),
    ("POST", re.compile(r"^/assistants$"), assistants.handler),
    ("GET", re.compile(r"^/assistants/[^/]+$"), assistants.handler),
    ("PUT", re.compile(r"^/assistants/[^/]+$"), assistants.handler),
    ("DELETE", re.compile(r"^/assistants/[^/]+$"), assistants.handler),
    ("POST", re.compile(r"^/assistants/[^/]+/restore$"), assistants.handler),
    ("GET", re.compile(r"^/assistants/[^/]+/versions$"), assistants.handler),
    ("GET", re.compile(r"^/assistants/[^/]+/versions/[^/]+$"), assistants.handler),
    ("GET", re.compile(r"^/agent/assistants/[^/]+/versions/[^/]+$"), assistants.handler),
    ("POST", re.compile(r"^/livekit/webhook$"), livekit_webhook.handler),
    ("GET", re.compile(r"^/openapi\.json$"), api_docs.handler),
]


@dataclass
class FakeContext:
    function_name: str = "voicecall-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:voicecall-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str
    content: bytes = b""  # the body as sent (a binary body's text is not meaningful)

    def json(self) -> Any:
        return json.loads(self.text)


def http_event(
    method: str,
    path: str,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    base64_body: bool = False,
    source_ip: str | None = None,
) -> dict[str, Any]:
    """``source_ip``: the client's address as API Gateway reports it; by default a random one from the
    benchmarking range 198.18.0.0/15, so tests are separate clients for the per-IP abuse limits unless
    they name an address."""
    raw = body.encode() if isinstance(body, str) else body
    ip = source_ip or f"198.{random.randint(18, 19)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": urlencode(query or {}),
        "headers": {k.lower(): v for k, v in (headers or {}).items()},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": ip,
                "userAgent": "pytest",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": "25/Nov/2026:17:00:00 +0000",
            "timeEpoch": 0,
        },
        "isBase64Encoded": base64_body,
    }
    if query:
        event["queryStringParameters"] = dict(query)
    if raw is not None:
        event["body"] = (
            base64.b64encode(raw).decode() if base64_body else raw.decode("utf-8", "surrogateescape")
        )
    return event


def route(method: str, path: str) -> Any:
    return next((h for m, rx, h in ROUTES if m == method and rx.match(path)), api_docs.handler)


def invoke(method: str, path: str, **kwargs: Any) -> Reply:
    event = http_event(method, path, **kwargs)
    result = route(method, path)(event, FakeContext())
    body = result.get("body") or ""
    content = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    text = content.decode("utf-8", "replace")
    return Reply(status=result["statusCode"], headers=headers, text=text, content=content)
