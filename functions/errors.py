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


def error_responses(*statuses: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI `responses=` entries for the error statuses a route can return."""
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
        503: "Operator sign-in unavailable (issuer not configured or unreachable)",
    }
    # 200 without "content": Powertools fills it in from the route's return annotation.
    responses: dict[int, Any] = {200: {"description": "Success"}}
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
