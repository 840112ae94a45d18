"""The post-call summary: when a call ends, the configured LLM writes two sentences and tags about it for
operators (topic, outcome, the caller's sentiment), held to a JSON schema (``response_format``: OpenAI's
structured outputs; llama.cpp turns the same schema into a grammar)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from livekit.agents import llm
from pydantic import ValidationError

from agent_worker.settings import Language
from functions.models.call_summary import CallSummaryFields, summary_json_schema
from functions.models.session_log import TranscriptItem

logger = logging.getLogger("voicecall.summary")

# The transcript's end is kept when a long call would not fit a small model's context.
MAX_TRANSCRIPT_CHARS = 6000

INSTRUCTIONS: dict[Language, str] = {
    "en": (
        "You write notes for the operators of a voice assistant. Read the phone call below and answer "
        "with JSON only: summary (two short sentences in English: what the caller wanted and what they "
        "were told), topic (one to three lower-case English words), outcome (resolved: the caller got "
        "what they asked for; referred: they were told where to get it; unresolved: they were not "
        "helped; abandoned: the call ended before any request) and sentiment (the caller's mood)."
    ),
    "zh": (
        "你为语音助手的运营人员写通话记录。阅读下面的电话内容，只用 JSON 回答：summary（用两句简短的中文"
        "说明来电者想要什么、得到了什么答复），topic（一到三个小写英文单词），outcome（resolved：得到了"
        "想要的；referred：被告知去哪里办；unresolved：没有得到帮助；abandoned：没提出请求就结束了）和 "
        "sentiment（来电者的情绪）。"
    ),
}
_SPEAKER = {"user": "caller", "agent": "agent"}


def transcript_text(items: Sequence[TranscriptItem]) -> str:
    lines = [f"{_SPEAKER[i.role]}: {i.text}" for i in items if i.text.strip()]
    text = "\n".join(lines)
    return text[-MAX_TRANSCRIPT_CHARS:]


def worth_summarising(items: Sequence[TranscriptItem]) -> bool:
    """A call in which the caller said nothing has nothing to summarise."""
    return any(i.role == "user" and i.text.strip() for i in items)


def summary_request(items: Sequence[TranscriptItem], language: Language) -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content=INSTRUCTIONS[language])
    ctx.add_message(role="user", content=transcript_text(items))
    return ctx


RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "call_summary", "schema": summary_json_schema(), "strict": True},
}


async def summarise(
    model: llm.LLM, items: Sequence[TranscriptItem], language: Language, timeout_s: float
) -> CallSummaryFields | None:
    """The summary, or None (nothing said, no answer in time, or an answer that is not the schema's:
    the call's log is complete without it)."""
    if not worth_summarising(items):
        return None
    try:
        answer = await asyncio.wait_for(_complete(model, summary_request(items, language)), timeout_s)
        return CallSummaryFields.model_validate_json(answer)
    except TimeoutError:
        logger.warning("no call summary: the LLM took longer than %.0f s", timeout_s)
    except ValidationError as exc:
        logger.warning("no call summary: the answer is not the schema's (%s)", exc.errors()[0]["msg"])
    except Exception as exc:  # an LLM failure at the end of a call must not hide the call's end
        logger.warning("no call summary: %s", exc)
    return None


async def _complete(model: llm.LLM, ctx: llm.ChatContext) -> str:
    parts: list[str] = []
    async with model.chat(chat_ctx=ctx, extra_kwargs={"response_format": RESPONSE_FORMAT}) as stream:
        async for chunk in stream:
            if chunk.delta is not None and chunk.delta.content:
                parts.append(chunk.delta.content)
    return "".join(parts)
