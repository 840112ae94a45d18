"""``POST /v1/chat/completions``: llama.cpp's own OpenAI handler, streamed as server-sent events (or,
with vLLM's ``continue_final_message``, the final message continued: the turn detector's question); and
``POST /v1/completions`` (text in, what follows out, with log-probabilities)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from infra.model_server.deps import EnginesDep, check_model
from infra.model_server.errors import APIError, error_body
from infra.model_server.protocol import ChatCompletionRequest, CompletionRequest

router = APIRouter()
_DONE = object()


def _engine_error(result: dict[str, Any]) -> APIError | None:
    err = result.get("error")
    if not err:
        return None
    message = err.get("message", str(err)) if isinstance(err, dict) else str(err)
    code = int(err.get("code", 400)) if isinstance(err, dict) and str(err.get("code", "")).isdigit() else 400
    return APIError(code if 400 <= code < 600 else 400, message, code="invalid_request")


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest, engines: EnginesDep
) -> JSONResponse | StreamingResponse:
    check_model(body.model, engines.llm.model_id, "language")
    payload = body.for_engine()
    loop = asyncio.get_running_loop()
    if not body.stream:
        answer = engines.llm.continue_final if body.continue_final_message else engines.llm.chat
        result = await loop.run_in_executor(engines.llm_pool, answer, payload)
        if (err := _engine_error(result)) is not None:
            raise err
        return JSONResponse(result)

    queue: asyncio.Queue[Any] = asyncio.Queue()
    stop = threading.Event()

    def on_chunk(chunk: dict[str, Any]) -> bool:  # in the generation thread
        loop.call_soon_threadsafe(queue.put_nowait, chunk)
        return stop.is_set()  # True makes llama.cpp stop and free the slot

    def generate() -> None:
        try:
            engines.llm.chat_stream(payload, on_chunk)
        except Exception as exc:  # reported in-stream: the 200 and the headers are already sent
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, _DONE)

    first = await _start(loop, engines.llm_pool, generate, queue)

    async def events() -> AsyncIterator[bytes]:
        try:
            item = first
            while item is not _DONE:
                if isinstance(item, Exception):
                    yield _sse(error_body(500, f"generation failed: {item}", "server_error"))
                elif isinstance(item, dict):
                    yield _sse(item)
                item = await queue.get()
            yield b"data: [DONE]\n\n"
        finally:
            stop.set()  # the client went away (or we finished): stop generating at the next token

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.post("/completions", response_model=None)
async def completions(body: CompletionRequest, engines: EnginesDep) -> JSONResponse:
    check_model(body.model, engines.llm.model_id, "language")
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(engines.llm_pool, engines.llm.complete, body.for_engine())
    if (err := _engine_error(result)) is not None:
        raise err
    return JSONResponse(result)


async def _start(loop: asyncio.AbstractEventLoop, pool: Any, generate: Any, queue: asyncio.Queue[Any]) -> Any:
    """Run the generation and wait for its first item, so a request llama.cpp rejects at once
    (e.g. a prompt longer than the context) is an HTTP error rather than a broken stream."""
    loop.run_in_executor(pool, generate)
    first = await queue.get()
    if isinstance(first, dict) and (err := _engine_error(first)) is not None:
        raise err
    return first


def _sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"
