"""A long conversation with the offline LLM: over a dozen turns, alternating Mandarin and English, the
agent keeps answering in the caller's language, briefly, without reading the question back, and answers
what it can (an apology only where live data is asked for).

Text turns through the real ``AgentSession`` and ``VoiceAgent`` (livekit-agents' ``session.run``), the
worker's own LLM stage (livekit-plugins-openai) and the local model server over HTTP, with the memory
window and reply-language handling of a real call.
"""

from __future__ import annotations

import re

import pytest
from livekit.agents import AgentSession
from livekit.agents.voice.run_result import ChatMessageEvent

from agent_worker.echoes import parroted
from agent_worker.persona import REPLY_GRAMMAR
from agent_worker.providers import build_llm
from agent_worker.session import build_agent
from agent_worker.settings import WorkerSettings
from benchmarks.conversation_bench import refused, sentence_count
from tests.conftest import FakeOpenAIHandle
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
# What it cannot know: "I can't look that up" is right here, and wrong for every other question.
LIVE_DATA = {"Can you help me rebook my flight to Tuesday?", "What's the weather like today?", "现在几点了？"}
HAN = re.compile(r"[\u4e00-\u9fff]")


# One sampled path through each conversation, the same on every run: at the worker's temperature the
# 1.5B model's rare echo or list (docs/benchmarks.md measures how rare, over many replies) would make these
# tests fail at random; a seed keeps them a regression check of the prompt, grammar and memory handling.
SEED = 1


async def test_a_dozen_turns_stay_in_language_brief_unparroted_and_answered(
    model_server: ModelServer,
) -> None:
    settings = WorkerSettings(  # type: ignore[call-arg]
        _env_file=None,
        local_model_url=model_server.url,
        local_model_api_key=model_server.api_key,
        llm_seed=SEED,
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
    refusals = [(q, r) for _, q, r in replies if refused(q, r, LIVE_DATA)]
    assert not refusals, report
    long = [r for _, _, r in replies if sentence_count(r) > 3]
    assert not long, report


@pytest.mark.parametrize("provider", ["openai", "local"])
async def test_the_seed_goes_with_every_reply_request_and_llama_cpps_fields_only_locally(
    fake_openai: FakeOpenAIHandle, provider: str
) -> None:
    settings = WorkerSettings(  # type: ignore[call-arg]
        _env_file=None,
        llm_provider=provider,
        openai_api_key="sk-test",
        openai_base_url=fake_openai.base_url,
        local_model_url=fake_openai.base_url,
        local_model_api_key="k",
        llm_seed=SEED,
    )
    agent = build_agent(settings, "en", None, greet=False)
    async with AgentSession(llm=build_llm(settings, "seed-test")) as session:
        await session.start(agent)
        await session.run(user_input="Hello there.")
    options = fake_openai.stats()["last_chat_options"]
    assert options["seed"] == SEED
    llama_cpp = {k: v for k, v in options.items() if k == "grammar" or k.startswith("dry_")}
    if provider == "openai":
        assert llama_cpp == {}  # OpenAI refuses fields it does not know
    else:
        assert llama_cpp["grammar"] == REPLY_GRAMMAR["en"]
        assert llama_cpp["dry_multiplier"] == settings.llm_dry_multiplier > 0
        assert llama_cpp["dry_allowed_length"] == 2 and llama_cpp["dry_penalty_last_n"] >= 4096


def test_the_parrot_check_catches_an_echo() -> None:
    assert parroted("现在几点了？", "现在几点了？")
    assert parroted("Can you help me rebook my flight?", "Can you help me rebook my flight? Sure.")
    assert not parroted("现在几点了？", "抱歉，我查不到时间，请看一下手机。")
    assert parroted("坐飞机可以带充电宝吗？", "可以的，坐飞机可以带充电宝。")  # restating the question
    assert not parroted("好的，谢谢你，再见。", "再见！")  # a goodbye: two of the question's ten characters
    assert not parroted("How do I boil an egg?", "Put the egg in boiling water for about nine minutes.")


async def test_the_reply_grammar_holds_language_and_length(model_server: ModelServer) -> None:
    """What the reply-language hint and the instructions alone lose on the 1.5B model: an English
    question after a run of Mandarin turns, and a question that invites a long answer."""
    settings = WorkerSettings(  # type: ignore[call-arg]
        _env_file=None,
        local_model_url=model_server.url,
        local_model_api_key=model_server.api_key,
        llm_seed=SEED,
    )
    assert settings.llm_reply_grammar
    agent = build_agent(settings, "zh", None, greet=False)
    history = agent.chat_ctx.copy()
    for question, answer in [
        ("长城有多长？", "长城全长两万多公里。"),
        ("北京冬天冷吗？", "很冷，常常零下十度。"),
        ("给我讲个笑话吧。", "为什么海是咸的？因为鱼总是在里面哭。"),
    ]:
        history.add_message(role="user", content=question)
        history.add_message(role="assistant", content=answer)
    await agent.update_chat_ctx(history)
    async with AgentSession(llm=build_llm(settings, "grammar-test")) as session:
        await session.start(agent)
        replies = []
        for question in (
            "What should I pack for a trip to Beijing?",
            "好的，那我应该几月去？",
            "Tell me seven interesting facts about the moon, one sentence each.",
        ):
            result = await session.run(user_input=question)
            replies.append(
                " ".join(
                    ev.item.text_content or ""
                    for ev in result.events
                    if isinstance(ev, ChatMessageEvent) and ev.item.role == "assistant"
                )
            )
    assert replies[0].strip() and not HAN.search(replies[0]), replies
    assert HAN.match(replies[1].strip()), replies
    assert all(1 <= sentence_count(r) <= 3 for r in replies), replies


def test_the_reply_language_is_that_of_the_last_words_with_letters() -> None:
    from livekit.agents import llm

    from agent_worker.agent import reply_language

    ctx = llm.ChatContext()
    assert reply_language(ctx, "zh") == "zh"
    ctx.add_message(role="user", content="How are you?")
    ctx.add_message(role="assistant", content="我很好。")
    assert reply_language(ctx, "zh") == "en"
    ctx.add_message(role="user", content="123 ...")
    assert reply_language(ctx, "zh") == "en"
    ctx.add_message(role="user", content="我买了iPhone 15")
    assert reply_language(ctx, "en") == "zh"
