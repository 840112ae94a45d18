"""Offline LLM (packaged Qwen2.5-Coder-0.5B-Instruct on llama.cpp), used as the AgentSession uses it."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
from livekit.agents.llm import ChatContext

from agent_worker.providers.local import LocalLLM
from agent_worker.providers.local.models import LocalModelError

pytestmark = pytest.mark.slow

SYSTEM = (
    "You are a friendly voice assistant on a phone call. Reply in one or two short spoken sentences, "
    "in the language the caller uses."
)
CJK = re.compile(r"[\u4e00-\u9fff]")


def context(question: str) -> ChatContext:
    ctx = ChatContext.empty()
    ctx.add_message(role="system", content=SYSTEM)
    ctx.add_message(role="user", content=question)
    return ctx


@pytest.fixture(scope="module")
def local_llm() -> LocalLLM:
    return LocalLLM(max_tokens=60, temperature=0.2)


async def collect(llm: LocalLLM, ctx: ChatContext) -> tuple[list[str], list[float], int | None]:
    pieces: list[str] = []
    stamps: list[float] = []
    completion_tokens = None
    async with llm.chat(chat_ctx=ctx) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                pieces.append(chunk.delta.content)
                stamps.append(time.perf_counter())
            if chunk.usage:
                completion_tokens = chunk.usage.completion_tokens
    return pieces, stamps, completion_tokens


async def test_streams_english_reply(local_llm: LocalLLM) -> None:
    pieces, stamps, tokens = await collect(local_llm, context("What is a good name for a cat?"))
    reply = "".join(pieces)
    assert len(pieces) >= 3, reply  # token by token, not one block at the end
    assert stamps[-1] - stamps[0] > 0.02
    assert not CJK.search(reply), reply
    assert re.search(r"[A-Za-z]{2,}", reply)
    assert tokens == len(pieces)


async def test_streams_mandarin_reply(local_llm: LocalLLM) -> None:
    pieces, _, _ = await collect(local_llm, context("今天天气怎么样？"))
    reply = "".join(pieces)
    assert len(pieces) >= 2, reply
    cjk = len(CJK.findall(reply))
    assert cjk >= 3 and cjk >= len(re.findall(r"[A-Za-z]", reply)), reply


async def test_reply_length_is_bounded() -> None:
    short = LocalLLM(max_tokens=6, temperature=0.2)
    pieces, _, tokens = await collect(short, context("Tell me a long story about a dragon and a knight."))
    assert tokens is not None and tokens <= 6
    assert len(pieces) <= 6


async def test_generation_does_not_block_the_event_loop(local_llm: LocalLLM) -> None:
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await collect(local_llm, context("Name three colours."))
    done.set()
    await task
    assert max(gaps) < 0.25, max(gaps)


async def test_interrupted_stream_frees_the_model_at_once(local_llm: LocalLLM) -> None:
    stream = local_llm.chat(chat_ctx=context("Write a very long story about the sea, at least 300 words."))
    got = 0
    async for chunk in stream:
        if chunk.delta and chunk.delta.content:
            got += 1
            if got == 3:
                break
    t0 = time.perf_counter()
    await stream.aclose()
    # the generation thread must stop at its next token and release the model for the next turn
    _, lock = local_llm.load()
    assert await asyncio.to_thread(lock.acquire, True, 2.0), "generation thread still holds the model"
    lock.release()
    assert time.perf_counter() - t0 < 2.0
    pieces, _, _ = await collect(local_llm, context("Say hello."))
    assert pieces


def test_missing_model_path_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(LocalModelError, match="LOCAL_LLM_MODEL"):
        LocalLLM(model_path=str(tmp_path / "missing.gguf"))
