"""GET /openapi.json: the OpenAPI document Powertools generates from every route."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import Router

router = Router()


@router.get("/openapi.json", include_in_schema=False)
def openapi_json() -> dict[str, Any]:
    from functions.app import openapi_document  # the full app includes this router

    return openapi_document()
