"""Building blocks shared by every Lambda: the resolver with our error mapping, and the Lambda entry
point with logging (correlation id = API Gateway request id), EMF metrics, tracing and the body limit.

Error policy: every client mistake becomes a 4xx JSON ``{"error": code, "detail": ...}``; an unexpected
failure becomes a 500 JSON without internals (the stack trace goes to the log only).

Operator routes (functions/operator_access.json) are authenticated in every function, before anything
else looks at the request, as API Gateway's JWT authorizer does in front of them
(functions/operator_auth.py).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions import operator_auth
from functions.errors import ApiError, Misconfigured, RateLimited
from functions.observability import logger, metrics, tracer
from functions.operator_auth import Operator, OperatorAuthError
from functions.settings import get_settings

# A pre-check sees the raw API Gateway event before routing/validation (e.g. size and signature) and
# returns a ready response to stop the request, or None to let it through.
PreCheck = Callable[[dict[str, Any], bytes], dict[str, Any] | None]


def json_response(
    status: int, error: str, detail: Any = None, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"error": error, "detail": detail},
        headers=headers,
    )


def raw_error(
    status: int, error: str, detail: Any = None, extra_headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """An API Gateway (payload v2) response built without the resolver, for pre-checks."""
    headers = {"Content-Type": content_types.APPLICATION_JSON, **(extra_headers or {})}
    correlation_id = logger.get_correlation_id()
    if correlation_id:
        headers["X-Correlation-Id"] = correlation_id
    return {
        "statusCode": status,
        "headers": headers,
        "body": json.dumps({"error": error, "detail": detail}),
        "isBase64Encoded": False,
    }


def misconfigured_error(exc: Misconfigured) -> dict[str, Any]:
    metrics.add_metric(name="Misconfigured", unit="Count", value=1)
    return raw_error(500, "server_misconfigured", exc.body_detail)


def rate_limited_error(exc: RateLimited) -> dict[str, Any]:
    return raw_error(
        429,
        "rate_limited",
        {"limit": exc.limit, "retry_after_s": exc.retry_after_s},
        {"Retry-After": str(exc.retry_after_s)},
    )


def raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body, validate=True)
    return body.encode() if isinstance(body, str) else b""


def _correlation_header(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    response = next_middleware(app)
    correlation_id = logger.get_correlation_id()
    if correlation_id:
        response.headers["X-Correlation-Id"] = correlation_id
    return response


# ---------- operator access ----------

_OPERATOR = "operator"


def _header(event: dict[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def candidate_paths(event: dict[str, Any]) -> list[str]:
    """Every path the resolver may route this event by (it strips a leading "/{stage}")."""
    context = event.get("requestContext") or {}
    paths = {event.get("rawPath") or "", (context.get("http") or {}).get("path") or ""}
    stage = context.get("stage") or ""
    if stage and stage != "$default":
        paths |= {p[len(stage) + 1 :] or "/" for p in list(paths) if p.startswith(f"/{stage}")}
    return [p for p in paths if p]


def _authenticate(route_key: str, authorization: str | None) -> Operator:
    try:
        operator = operator_auth.authenticate(authorization, route_key)
    except OperatorAuthError as exc:
        metrics.add_metric(name="OperatorAuthRejected", unit="Count", value=1)
        logger.warning(
            "operator access refused", extra={"route": route_key, "status": exc.status, "reason": exc.detail}
        )
        raise
    logger.info(
        "operator access",
        extra={"route": route_key, "operator": operator.subject, "operator_name": operator.username},
    )
    return operator


def operator_pre_check(event: dict[str, Any]) -> tuple[Operator | None, dict[str, Any] | None]:
    """Before validation and routing, as API Gateway's authorizer: (operator, None) or (None, response)."""
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method") or ""
    route_key = operator_auth.route_key_for(str(method), candidate_paths(event))
    if route_key is None:
        return None, None
    try:
        return _authenticate(route_key, _header(event, "authorization")), None
    except OperatorAuthError as exc:
        return None, raw_error(exc.status, exc.error, exc.detail, exc.headers)
    except Exception:  # fail closed, and as JSON: never let the request through or a stack trace out
        logger.exception("operator access check failed")
        metrics.add_metric(name="UnhandledErrors", unit="Count", value=1)
        return None, raw_error(500, "internal_error", "unexpected server error; see logs by correlation id")


def _operator_guard(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """Backstop inside the resolver: a matched operator route runs only for an operator holding its scope,
    whatever path form led the resolver there."""
    try:
        route_path = app.request.route
    except RuntimeError:  # no route matched (404)
        return next_middleware(app)
    route_key = f"{app.current_event.http_method.upper()} {route_path}"
    if route_key in operator_auth.operator_access().routes:
        operator: Operator | None = app.context.get(_OPERATOR)
        if operator is None:
            operator = _authenticate(route_key, app.current_event.headers.get("authorization"))
        else:
            operator_auth.require_scopes(operator, route_key, operator_auth.stage_auth())
    return next_middleware(app)


def build_resolver(routers: Iterable[Router]) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)
    for router in routers:
        app.include_router(router)
    # include_router copies the routers' current context, which is another resolver's while that one
    # is mid-request (functions/app.py builds the full app inside GET /openapi.json): start clean, so
    # that app.request (the operator guard's route) can never be a stale one.
    app.clear_context()
    app.use(middlewares=[_correlation_header, _operator_guard])

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        # loc/type/msg only: enough to fix the request, no echo of the input or of internals.
        errors = exc.errors()
        detail = [{"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": e.get("msg")} for e in errors]
        if any(e.get("type") == "json_invalid" for e in errors):
            return json_response(400, "malformed_json", detail)
        return json_response(422, "validation_error", detail)

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(exc: RequestUnsupportedContentType) -> Response:
        return json_response(415, "unsupported_media_type", "send the body as application/json")

    @app.exception_handler(OperatorAuthError)
    def _operator_auth_error(exc: OperatorAuthError) -> Response:
        return json_response(exc.status, exc.error, exc.detail, exc.headers)

    @app.exception_handler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return json_response(exc.status, exc.error, exc.detail)

    @app.exception_handler(Misconfigured)
    def _misconfigured(exc: Misconfigured) -> Response:
        metrics.add_metric(name="Misconfigured", unit="Count", value=1)
        return json_response(500, "server_misconfigured", exc.body_detail)

    @app.exception_handler(RateLimited)
    def _rate_limited(exc: RateLimited) -> Response:
        return json_response(
            429,
            "rate_limited",
            {"limit": exc.limit, "retry_after_s": exc.retry_after_s},
            {"Retry-After": str(exc.retry_after_s)},
        )

    @app.not_found
    def _not_found(exc: NotFoundError) -> Response:
        return json_response(
            404, "not_found", f"no route for {app.current_event.http_method} {app.current_event.path}"
        )

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        logger.exception("unhandled error")
        metrics.add_metric(name="UnhandledErrors", unit="Count", value=1)
        return json_response(500, "internal_error", "unexpected server error; see logs by correlation id")

    return app


def check_body(event: dict[str, Any]) -> tuple[bytes | None, dict[str, Any] | None]:
    """Size limit and encoding, before anything parses the body."""
    limit = get_settings().max_body_bytes
    encoded = event.get("body") or ""
    # Base64 is 4/3 of the payload: reject obviously huge bodies before decoding them.
    if isinstance(encoded, str) and len(encoded) > limit * 4 // 3 + 4:
        return None, raw_error(413, "body_too_large", f"request body exceeds {limit} bytes")
    try:
        body = raw_body(event)
    except (binascii.Error, ValueError):
        return None, raw_error(400, "bad_body", "body is not valid base64")
    if len(body) > limit:
        return None, raw_error(413, "body_too_large", f"request body exceeds {limit} bytes")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return None, raw_error(400, "bad_body", "body must be UTF-8 JSON")
    content_type = _content_type(event)
    if body and content_type and not _is_json(content_type):
        return None, raw_error(415, "unsupported_media_type", "send the body as application/json")
    depth = get_settings().max_json_depth
    if body and json_depth_exceeds(body, depth):
        return None, raw_error(400, "json_too_deep", f"JSON nests deeper than {depth} levels")
    return body, None


# Only the characters that matter for nesting: brackets, and the quote and backslash of strings.
_STRUCTURE = re.compile(rb'[\[\]{}"\\]')


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """True when the JSON text nests deeper than ``limit`` (brackets inside strings do not count).

    Linear and iterative: Python's json module recurses per level, so ``[`` × 50 000 would end in a
    RecursionError (a 500) before validation could answer.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    in_string = False
    skip_to = -1
    for match in _STRUCTURE.finditer(body):
        at = match.start()
        if at < skip_to:
            continue
        char = body[at : at + 1]
        if in_string:
            if char == b"\\":
                skip_to = at + 2  # the escaped character, whatever it is
            elif char == b'"':
                in_string = False
        elif char == b'"':
            in_string = True
        elif char in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth = max(0, depth - 1)
    return False


def _content_type(event: dict[str, Any]) -> str:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == "content-type":
            return str(value).split(";", 1)[0].strip().lower()
    return ""


def _is_json(content_type: str) -> bool:
    # LiveKit posts webhooks as application/webhook+json.
    return content_type == "application/json" or content_type.endswith("+json")


def make_handler(
    app: APIGatewayHttpResolver, pre_checks: Iterable[PreCheck] = ()
) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    checks = list(pre_checks)

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        metrics.add_metric(name="Requests", unit="Count", value=1)
        operator, refused = operator_pre_check(event)
        if refused is not None:
            return refused
        try:
            body, rejection = check_body(event)
            if rejection is not None or body is None:
                return rejection or raw_error(400, "bad_body", None)
            if event.get("isBase64Encoded"):
                # Hand the resolver plain text: its JSON parsing then never meets undecodable input.
                event = {**event, "body": body.decode("utf-8"), "isBase64Encoded": False}
            for check in checks:
                stop = check(event, body)
                if stop is not None:
                    return stop
        except Misconfigured as exc:
            return misconfigured_error(exc)
        except RateLimited as exc:
            return rate_limited_error(exc)
        except Exception:  # a pre-check's own failure: JSON, like every other error, never a bare 502
            logger.exception("pre-check failed")
            metrics.add_metric(name="UnhandledErrors", unit="Count", value=1)
            return raw_error(500, "internal_error", "unexpected server error; see logs by correlation id")
        if operator is not None:
            app.append_context(**{_OPERATOR: operator})
        return app.resolve(event, context)

    return handler
