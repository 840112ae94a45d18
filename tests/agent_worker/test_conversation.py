"""A long conversation with the offline LLM: over a dozen turns, alternating Mandarin and English, the
agent keeps answering in the caller's language, briefly, without reading the question back.

Text turns through the real ``AgentSession`` and ``VoiceAgent`` (livekit-agents' ``session.run``), the
worker's own LLM stage (livekit-plugins-openai) and the local model server over HTTP, with the memory
window and reply-language handling of a real call.
"""

from __future__ import annotations

import re

import pytest
from livekit.agents import AgentSession
from livekit.agents.voice.run_result import ChatMessageEvent

from agent_worker.providers import build_llm
from agent_worker.session import build_agent
from agent_worker.settings import WorkerSettings
from tests.support.model_server import ModelServer

pytestmark = pytest.mark.slow

QUESTIONS = [
    ("zh", "你好，我想问几个问题。"),
    ("en", "Can you help me rebook my flight to Tuesday?"),
    ("zh", "我最近总是睡不好，应该怎么办？"),
    ("en", "What's the weather like today?"),
    ("zh", "长城有多长？"),
    ("en", "How do I boil an egg?"),
    ("zh", "给我讲个简短的笑话吧。"),
    ("en", "Can you recommend a good book for the weekend?"),
    ("zh", "感冒了应该多喝水吗？"),
    ("en", "How long does it take to learn to swim?"),
    ("zh", "现在几点了？"),
    ("en", "Thank you, that was helpful. What should I cook tonight?"),
    ("zh", "好的，谢谢你，再见。"),
]
HAN = re.compile(r"[\u4e00-\u9fff]")
SENTENCE_END = re.compile(r"[。！？!?]+|\.(?=\s|$)")


def _units(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+|[\u4e00-\u9fff]", text.lower())


def parroted(question: str, reply: str) -> bool:
    """The reply is mostly the question said back (the 0.5B model's habit: 现在几点了？ → 现在几点了？)."""
    q, r = _units(question), _units(reply)
    if not q or not r:
        return False
    q_set = set(q)
    echoed = sum(1 for u in r if u in q_set) / len(r)
    return echoed > 0.7 or "".join(r).startswith("".join(q))


async def test_a_dozen_turns_stay_in_language_brief_and_unparroted(model_server: ModelServer) -> None:
    settings = WorkerSettings(  # type: ignore[call-arg]
        _env_file=None, local_model_url=model_server.url, local_model_api_key=model_server.api_key
    )
    agent = build_agent(settings, "zh", None, greet=False)
    replies: list[tuple[str, str, str]] = []
    async with AgentSession(llm=build_llm(settings, "conversation-test")) as session:
        await session.start(agent)
        for lang, question in QUESTIONS:
            result = await session.run(user_input=question)
            texts = [
                ev.item.text_content or ""
                for ev in result.events
                if isinstance(ev, ChatMessageEvent) and ev.item.role == "assistant"
            ]
            replies.append((lang, question, " ".join(texts).strip()))
    report = "\n".join(f"{lang} {q} -> {r}" for lang, q, r in replies)
    assert len(replies) == len(QUESTIONS) and all(r for _, _, r in replies), report
    wrong_language = [(q, r) for lang, q, r in replies if bool(HAN.search(r)) != (lang == "zh")]
    assert not wrong_language, report
    echoes = [(q, r) for _, q, r in replies if parroted(q, r)]
    assert not echoes, report
    long = [r for _, _, r in replies if len(SENTENCE_END.findall(r)) > 3]
    assert not long, report


def test_the_parrot_check_catches_an_echo() -> None:
    assert parroted("现在几点了？", "现在几点了？")
    assert parroted("Can you help me rebook my flight?", "Can you help me rebook my flight? Sure.")
    assert not parroted("现在几点了？", "抱歉，我查不到时间，请看一下手机。")
    assert not parroted("How do I boil an egg?", "Put the egg in boiling water for about nine minutes.")
