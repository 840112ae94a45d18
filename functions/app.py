"""The whole API in one resolver: used for the OpenAPI document, the catch-all Lambda (unknown routes
get a JSON 404) and in-process tests. Deployed functions each resolve only their own router."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from functions.api import build_resolver
from functions.routes import analytics, livekit_webhook, openapi_doc, session_events, sessions, token

TITLE = "voicecall functions API"
VERSION = "0.1.0"
ROUTERS = (
    token.router,
    session_events.router,
    sessions.router,
    analytics.router,
    livekit_webhook.router,
    openapi_doc.router,
)
PRE_CHECKS = (session_events.verify_signature,)


def build_app() -> APIGatewayHttpResolver:
    return build_resolver(ROUTERS)


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        build_app().get_openapi_json_schema(
            title=TITLE,
            version=VERSION,
            description="Token issuance, signed session logs, analytics and LiveKit webhooks.",
        )
    )
    return schema
