"""A WSGI face for the Lambda handlers so HTTP tools (schemathesis) can drive them in-process.

Each request becomes an API Gateway payload-2.0 event routed like serverless.yml does. The worker's routes
(session log, claim, assistant version: functions/signed_routes.py) are signed the way the worker signs
them, so fuzzing reaches validation and storage, not only the 401.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, quote

from functions.models.signing import signed_headers
from functions.settings import get_settings
from functions.signed_routes import is_signed
from tests.functions.lambda_events import FakeContext, http_event, route

_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    429: "Too Many Requests",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
}


def lambda_wsgi_app(sign_session_logs: bool = True) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = quote(
            environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace"),
            safe="/:@!$&'()*+,;=-._~",
        )
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        if sign_session_logs and is_signed(method, [path]):
            headers.update(signed_headers(get_settings().session_log_secret, body, method=method, path=path))
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        event = http_event(method, path, headers=headers, query=query or None)
        event["rawQueryString"] = environ.get("QUERY_STRING", "")
        if body:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
        result = route(method, path)(event, FakeContext())
        out = result.get("body") or ""
        raw = base64.b64decode(out) if result.get("isBase64Encoded") else out.encode()
        status = int(result["statusCode"])
        start_response(
            f"{status} {_REASONS.get(status, 'Status')}", list((result.get("headers") or {}).items())
        )
        return [raw]

    return app
