"""What every route needs: the shared engines, the API-key check, the served model names."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from infra.model_server.engines import Engines
from infra.model_server.errors import APIError


def engines_of(request: Request) -> Engines:
    engines: Engines = request.app.state.engines
    return engines


EnginesDep = Annotated[Engines, Depends(engines_of)]


def require_key(request: Request) -> None:
    """``Authorization: Bearer <MODEL_SERVER_API_KEY>``, compared in constant time."""
    expected = engines_of(request).settings.api_key.get_secret_value().encode()
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise APIError(401, "Incorrect or missing API key (Authorization: Bearer …)", code="invalid_api_key")


def model_ids(engines: Engines) -> dict[str, str]:
    s = engines.settings
    return {"llm": engines.llm.model_id, "stt": s.stt_model_id, "tts": s.tts_model_id}


def check_model(requested: str, served: str, stage: str) -> None:
    if requested != served:
        raise APIError(
            404,
            f"The model {requested!r} does not exist here; this server's {stage} model is {served!r}",
            code="model_not_found",
            param="model",
        )
