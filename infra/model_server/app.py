"""The HTTP app: OpenAI's ``/v1`` routes over the shared engines, behind one API key."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from infra.model_server.api_audio import router as audio_router
from infra.model_server.api_chat import router as chat_router
from infra.model_server.deps import EnginesDep, model_ids, require_key
from infra.model_server.engines import Engines
from infra.model_server.errors import install_error_handlers
from infra.model_server.protocol import ModelCard, ModelList


def create_app(engines: Engines) -> FastAPI:
    app = FastAPI(
        title="voicecall local model server",
        description="Offline STT, LLM and TTS behind the OpenAI API (see docs/offline-models.md).",
        version="1.0",
    )
    app.state.engines = engines
    install_error_handlers(app)

    @app.get("/health", include_in_schema=False)
    async def health(engines: EnginesDep) -> dict[str, object]:
        # No key needed: probes (k8s, the run command) check liveness; nothing private is said.
        return {"status": "ok", "models": model_ids(engines)}

    @app.get("/v1/models", dependencies=[Depends(require_key)])
    async def models(engines: EnginesDep) -> ModelList:
        return ModelList(data=[ModelCard(id=i) for i in model_ids(engines).values()])

    app.include_router(chat_router, prefix="/v1", dependencies=[Depends(require_key)])
    app.include_router(audio_router, prefix="/v1", dependencies=[Depends(require_key)])
    return app
