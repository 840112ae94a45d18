"""Echoed exchanges are left out of what the model reads next (agent_worker/echoes.py)."""

from __future__ import annotations

from livekit.agents import llm

from agent_worker.agent import prepared_context
from agent_worker.echoes import without_echoes


def conversation(*turns: tuple[str, str]) -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content="You are Echo.")
    for question, answer in turns:
        ctx.add_message(role="user", content=question)
        ctx.add_message(role="assistant", content=answer)
    return ctx


def texts(ctx: llm.ChatContext) -> list[str]:
    return [it.text_content or "" for it in ctx.items if it.type == "message"]


def test_an_exchange_whose_reply_said_the_question_back_is_left_out() -> None:
    ctx = conversation(
        ("Hi, can you hear me?", "Yes, I can hear you."),
        ("你好,我想问一下你饭怎么住比较好吃。", "你好，我想问一下，饭怎么住比较好吃？"),
        ("What should I cook tonight?", "How about a quick stir-fry?"),
    )
    ctx.add_message(role="user", content="我最近总是睡不好。")
    assert texts(without_echoes(ctx)) == [
        "You are Echo.",
        "Hi, can you hear me?",
        "Yes, I can hear you.",
        "What should I cook tonight?",
        "How about a quick stir-fry?",
        "我最近总是睡不好。",
    ]


def test_a_context_before_the_callers_first_words_is_kept() -> None:
    ctx = conversation()
    ctx.add_message(role="assistant", content="Hi, I'm Echo. How can I help?")
    assert without_echoes(ctx) is ctx


def test_answers_and_the_turn_in_progress_stay() -> None:
    ctx = conversation(("现在几点了？", "抱歉，我查不到时间。"), ("好的，谢谢你，再见。", "再见！"))
    ctx.add_message(role="user", content="How do I boil an egg?")  # not answered yet: no reply to judge
    assert without_echoes(ctx) is ctx


def test_a_replys_request_holds_no_echo() -> None:
    ctx = conversation(("What should I cook for dinner tonight?", "What should I cook tonight?"))
    ctx.add_message(role="user", content="How long should I boil an egg?")
    sent = texts(prepared_context(ctx, memory_turns=10, language="en"))
    assert sent == ["You are Echo.", "(Answer in English.) How long should I boil an egg?"]
