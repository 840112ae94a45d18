"""The post-call summary written by the local model: two sentences in the call's language and tags from
the schema; nothing to summarise, no request at all."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from livekit.plugins import openai

from agent_worker.call_summary import summarise
from agent_worker.persona import language_of
from functions.models.call_summary import OUTCOMES, SENTIMENTS
from functions.models.session_log import TranscriptItem
from tests.support.model_server import ModelServer
from tests.support.stack import free_port

pytestmark = pytest.mark.timeout(300)


def said(role: str, text: str) -> TranscriptItem:
    return TranscriptItem(event_id="summary-test", ts=datetime.now(UTC), role=role, text=text)  # type: ignore[arg-type]


CALLS = {
    "zh": [
        said("agent", "你好，我是小声。有什么可以帮你？"),
        said("user", "我最近总是睡不好，应该怎么办？"),
        said("agent", "可以试试每天固定时间睡觉，睡前少看手机。如果一直睡不好，建议去看医生。"),
        said("user", "好的，谢谢，再见。"),
        said("agent", "不客气，再见！"),
    ],
    "en": [
        said("agent", "Hi, I'm Echo. How can I help?"),
        said("user", "Can I bring a power bank on a plane?"),
        said("agent", "Yes, in your carry-on bag, not in checked luggage."),
        said("user", "Great, thanks. Bye."),
    ],
}


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_local_model_summarises_a_call(model_server: ModelServer, language: str) -> None:
    model = openai.LLM(
        model="qwen2.5-1.5b",
        base_url=model_server.url,
        api_key=model_server.api_key,
        max_completion_tokens=300,
        temperature=0.2,
    )
    summary = asyncio.run(summarise(model, CALLS[language], language, timeout_s=120))  # type: ignore[arg-type]
    assert summary is not None
    assert summary.outcome in OUTCOMES and summary.sentiment in SENTIMENTS and summary.topic
    assert language_of(summary.summary) == language, summary.summary
    keys = ("睡",) if language == "zh" else ("power bank", "plane", "flight", "carry")
    assert any(k in summary.summary.lower() for k in keys), summary.summary


def test_a_call_where_the_caller_said_nothing_asks_nothing() -> None:
    dead = openai.LLM(model="x", base_url=f"http://127.0.0.1:{free_port()}/v1", api_key="k")
    greeting_only = CALLS["en"][:1]
    assert asyncio.run(summarise(dead, greeting_only, "en", timeout_s=5)) is None
