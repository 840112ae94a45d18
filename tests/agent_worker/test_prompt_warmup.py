"""Prompt warm-up on the local model server: the caller's words so far, read while they speak, leave only
the rest of the turn for the reply to evaluate (agent_worker/agent.py ``_on_transcribed``)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from livekit.agents import llm
from livekit.plugins import openai

from agent_worker.agent import warm_prompt, with_partial_turn, with_reply_language
from agent_worker.persona import get_persona
from tests.support.model_server import ModelServer

pytestmark = pytest.mark.slow

PARTIAL = "我最近总是睡不好，晚上躺在床上"
FINAL = "我最近总是睡不好，晚上躺在床上翻来覆去，应该怎么办"


def call_context() -> llm.ChatContext:
    persona = get_persona("default")
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content=persona.instructions("zh"))
    ctx.add_message(role="assistant", content=persona.greeting("zh"))
    return ctx


def evaluated_prompt_tokens(server: ModelServer, key: str, ctx: llm.ChatContext) -> int:
    """How many prompt tokens llama.cpp evaluated (not found in the slot's cache) for ``ctx``."""
    messages, _ = with_reply_language(ctx, "zh").to_provider_format("openai")
    body: dict[str, Any] = {
        "model": "qwen2.5-1.5b",
        "messages": messages,
        "stream": True,
        "max_tokens": 1,
        "prompt_cache_key": key,
    }
    timings: dict[str, Any] = {}
    headers = {"authorization": f"Bearer {server.api_key}"}
    with httpx.stream("POST", f"{server.url}/chat/completions", json=body, headers=headers, timeout=120) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                timings = json.loads(line[6:]).get("timings") or timings
    assert "prompt_n" in timings, "the server reports llama.cpp's timings on the last chunk"
    return int(timings["prompt_n"])


async def test_the_words_so_far_are_read_before_the_turn_ends(model_server: ModelServer) -> None:
    model = openai.LLM(
        model="qwen2.5-1.5b", base_url=model_server.url, api_key=model_server.api_key, prompt_cache_key="warm"
    )
    cold = openai.LLM(
        model="qwen2.5-1.5b", base_url=model_server.url, api_key=model_server.api_key, prompt_cache_key="cold"
    )
    ctx = call_context()
    # Both calls have read their instructions and greeting (the warm-up at call start) ...
    await warm_prompt(cold, with_reply_language(ctx, "zh"))
    await warm_prompt(model, with_reply_language(ctx, "zh"))
    # ... and one of them also the caller's words so far (an interim transcript).
    await warm_prompt(model, with_reply_language(with_partial_turn(ctx, PARTIAL), "zh"))
    final = with_partial_turn(ctx, FINAL)
    after_interim = evaluated_prompt_tokens(model_server, "warm", final)
    without = evaluated_prompt_tokens(model_server, "cold", final)
    assert after_interim + 5 <= without, (after_interim, without)


def test_a_partial_turn_is_the_reply_context_with_the_words_so_far() -> None:
    ctx = call_context()
    partial = with_partial_turn(ctx, "  你好  ")
    assert [i.role for i in partial.items] == ["system", "assistant", "user"]  # type: ignore[union-attr]
    assert partial.items[-1].text_content == "你好"  # type: ignore[union-attr]
    assert len(ctx.items) == 2, "the agent's own context is not touched"
    assert len(with_partial_turn(ctx, "   ").items) == 2
