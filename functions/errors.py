"""Client errors as exceptions: routes raise ApiError, functions/api.py turns it into a JSON 4xx."""

from __future__ import annotations

from typing import Any, cast

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from functions.models.api import ErrorBody


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: Any = None) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail


class Misconfigured(Exception):
    """The deployment's own configuration is unusable (a development, empty or short secret outside
    loopback): a 500 naming the setting and the kind of problem, never a value, and nothing served."""

    def __init__(self, setting: str, problem: str, code: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem
        self.code = code

    @property
    def body_detail(self) -> dict[str, str]:
        return {"setting": self.setting, "problem": self.code, "message": f"{self.setting} is {self.problem}"}


class RateLimited(Exception):
    """A client went over one of its limits: 429 with Retry-After (seconds)."""

    def __init__(self, limit: str, retry_after_s: int) -> None:
        super().__init__(f"{limit}: retry after {retry_after_s}s")
        self.limit = limit
        self.retry_after_s = retry_after_s


def error_responses(*statuses: int, success: int = 200) -> dict[int, OpenAPIResponse]:
    """OpenAPI `responses=` entries for the error statuses a route can return (and its success status,
    e.g. 201 for a route declared with ``status_code=201``)."""
    descriptions = {
        400: "Bad request",
        401: "Missing or invalid credentials or signature",
        403: "Refused: the credentials do not grant this (an operator token without the route's scope, "
        "a call key for another call)",
        404: "Not found",
        409: "Conflict",
        413: "Body too large",
        415: "Body is not JSON",
        422: "Validation error",
        429: "Too many requests from this client: wait Retry-After seconds",
        500: "Server misconfigured or unexpected error (JSON, no internals)",
        502: "A service this route relies on failed or could not be reached",
        503: "Operator sign-in unavailable (issuer not configured or unreachable)",
    }
    # Success without "content": Powertools fills it in from the route's return annotation.
    responses: dict[int, Any] = {success: {"description": "Created" if success == 201 else "Success"}}
    responses.update(
        {
            status: {
                "description": descriptions.get(status, "Error"),
                "content": {"application/json": {"model": ErrorBody}},
            }
            for status in statuses
        }
    )
    return cast(dict[int, OpenAPIResponse], responses)
