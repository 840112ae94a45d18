"""Offline LLM: a GGUF instruct model on llama.cpp (llama-cpp-python), streamed token by token.

The chat template comes from the GGUF's own metadata. Generation runs in a worker thread and hands
each token to the event loop as it is produced; when the stream is closed (the caller interrupted the
agent) a flag stops the thread at the next token, so the CPU is free for the next turn at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, llm
from livekit.agents.llm import ChatChunk, ChatContext, ChoiceDelta, CompletionUsage, Tool, ToolChoice
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import aio

from agent_worker.providers.local import models


@dataclass(frozen=True)
class _Options:
    max_tokens: int
    temperature: float
    top_p: float
    repeat_penalty: float


def to_messages(chat_ctx: ChatContext) -> list[dict[str, str]]:
    """Plain role/content messages for a chat template (small models' templates expect at most one
    system message, first): system and developer texts before the conversation form the leading
    system message; one that comes later (a per-turn hint such as the reply language) is appended to
    the user turn before it. The leading system message therefore stays the same from turn to turn,
    so llama.cpp reuses the evaluated prompt prefix (instructions and history) instead of evaluating
    it all again. Tool items and non-text content are left out (the local model has no tools)."""
    system: list[str] = []
    turns: list[dict[str, str]] = []
    for item in chat_ctx.items:
        if item.type != "message":
            continue
        text = item.text_content
        if not text:
            continue
        if item.role in ("system", "developer"):
            if turns and turns[-1]["role"] == "user":
                turns[-1]["content"] += "\n\n" + text
            else:
                system.append(text)
        elif turns and turns[-1]["role"] == item.role:
            turns[-1]["content"] += "\n" + text  # templates want user/assistant to alternate
        else:
            turns.append({"role": item.role, "content": text})
    return ([{"role": "system", "content": "\n\n".join(system)}] if system else []) + turns


class LocalLLM(llm.LLM):
    def __init__(
        self,
        *,
        model_path: str | None = None,
        max_tokens: int = 120,
        temperature: float = 0.6,
        top_p: float = 0.9,
        repeat_penalty: float = 1.1,
        threads: int = 2,
        n_ctx: int = 4096,
    ) -> None:
        """``model_path``: any GGUF chat model (None = the packaged Qwen2.5-Coder-0.5B-Instruct)."""
        super().__init__()
        if max_tokens < 1:
            raise ValueError("max_tokens must be positive")
        if model_path is not None and not Path(model_path).is_file():
            raise models.LocalModelError(f"LOCAL_LLM_MODEL: {model_path!r} is not a GGUF file")
        self._model_path = model_path
        self._threads = threads
        self._n_ctx = n_ctx
        self._opts = _Options(
            max_tokens=max_tokens, temperature=temperature, top_p=top_p, repeat_penalty=repeat_penalty
        )

    @property
    def model(self) -> str:
        return Path(self._model_path).name if self._model_path else models.QWEN_GGUF_NAME

    @property
    def provider(self) -> str:
        return "local"

    def load(self) -> Any:
        """Load (once per process) and return the llama.cpp model and its lock."""
        return models.load_llama(self._model_path, self._threads, self._n_ctx)

    async def _prewarm_impl(self) -> None:
        await asyncio.to_thread(self._warm_up)

    def _warm_up(self) -> None:
        llama, lock = self.load()
        with lock:  # one token: pages the weights in and builds llama.cpp's compute graph
            llama.create_chat_completion(messages=[{"role": "user", "content": "hi"}], max_tokens=1)

    def chat(
        self,
        *,
        chat_ctx: ChatContext,
        tools: list[Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> LocalLLMStream:
        return LocalLLMStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class LocalLLMStream(llm.LLMStream):
    def __init__(
        self, llm_: LocalLLM, *, chat_ctx: ChatContext, tools: list[Tool], conn_options: APIConnectOptions
    ) -> None:
        super().__init__(llm_, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._local = llm_

    def _generate(self, messages: list[dict[str, str]], stop: threading.Event, emit: Any) -> tuple[int, int]:
        llama, lock = self._local.load()
        opts = self._local._opts
        completion = 0
        with lock:
            stream: Iterator[Any] = llama.create_chat_completion(
                messages=messages,
                max_tokens=opts.max_tokens,
                temperature=opts.temperature,
                top_p=opts.top_p,
                repeat_penalty=opts.repeat_penalty,
                stream=True,
            )
            try:
                for chunk in stream:
                    if stop.is_set():
                        break
                    content = chunk["choices"][0]["delta"].get("content")
                    if content:
                        completion += 1
                        emit(content)
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
            prompt = max(int(llama.n_tokens) - completion, 0)
        return prompt, completion

    async def _run(self) -> None:
        request_id = f"local-{uuid.uuid4().hex[:12]}"
        messages = to_messages(self._chat_ctx)
        loop = asyncio.get_running_loop()
        stop = threading.Event()

        def deliver(chunk: ChatChunk) -> None:
            if stop.is_set():
                return  # interrupted: tokens still in flight from the thread are dropped
            with contextlib.suppress(aio.ChanClosed):
                self._event_ch.send_nowait(chunk)

        def emit(text: str) -> None:  # runs in the generation thread
            chunk = ChatChunk(id=request_id, delta=ChoiceDelta(role="assistant", content=text))
            loop.call_soon_threadsafe(deliver, chunk)

        worker = asyncio.ensure_future(asyncio.to_thread(self._generate, messages, stop, emit))
        # after an interruption nobody awaits the thread's result: retrieve it so nothing is logged
        worker.add_done_callback(lambda f: f.cancelled() or f.exception())
        try:
            prompt_tokens, completion_tokens = await asyncio.shield(worker)
        except asyncio.CancelledError:
            stop.set()  # the thread ends at its next token and releases the model
            raise
        # let the tokens queued by call_soon_threadsafe reach the channel before the usage chunk
        await asyncio.sleep(0)
        self._event_ch.send_nowait(
            ChatChunk(
                id=request_id,
                usage=CompletionUsage(
                    completion_tokens=completion_tokens,
                    prompt_tokens=prompt_tokens,
                    total_tokens=prompt_tokens + completion_tokens,
                ),
            )
        )
