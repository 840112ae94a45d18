"""The whole API in one resolver: used for the OpenAPI document, the catch-all Lambda (unknown routes
get a JSON 404) and in-process tests. Deployed functions each resolve only their own router."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from functions.api import build_resolver
from functions.operator_auth import SECURITY_SCHEME, operator_access
from functions.routes import (
    analytics,
    assistants,
    calls,
    export,
    livekit_webhook,
    openapi_doc,
    session_events,
    sessions,
    token,
    voice_preview,
)
from functions.signed_routes import verify_signature

TITLE = "voicecall functions API"
VERSION = "0.1.0"
ROUTERS = (
    token.router,
    session_events.router,
    sessions.router,
    export.router,
    calls.router,
    analytics.router,
    assistants.router,
    voice_preview.router,
    livekit_webhook.router,
    openapi_doc.router,
)
PRE_CHECKS = (verify_signature,)


def build_app() -> APIGatewayHttpResolver:
    return build_resolver(ROUTERS)


def operator_security_scheme() -> HTTPBearer:
    access = operator_access()
    scopes = "; ".join(f"`{s.name}`: {s.description}" for s in access.scopes.values())
    return HTTPBearer(
        bearerFormat="JWT",
        description=(
            "An OAuth 2.0 access token (JWT) for the operator web app, from the stage's OpenID Connect "
            "issuer: its Cognito user pool (hosted UI, authorization code + PKCE) unless the stage names "
            "another issuer. Checked by API Gateway's JWT authorizer and again by the functions: "
            "signature (issuer JWKS), iss, aud/client_id, exp and the route's scope. Scopes: "
            f"{scopes}. With Cognito each scope is prefixed by the resource server "
            "(`voicecall/sessions:read`). See docs/security.md."
        ),
    )


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        build_app().get_openapi_json_schema(
            title=TITLE,
            version=VERSION,
            description=(
                "Token issuance, signed session logs, analytics, assistants and LiveKit webhooks. "
                "Operator routes (sessions, analytics, assistants) need an operator's bearer token."
            ),
            security_schemes={SECURITY_SCHEME: operator_security_scheme()},
        )
    )
    return schema
