"""The reply's text on its way to the voice (agent_worker/spoken_text.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agent_worker.spoken_text import filter_markdown_streaming


async def streamed(chunks: list[str]) -> AsyncIterator[str]:
    for chunk in chunks:
        yield chunk


async def filtered(chunks: list[str]) -> list[str]:
    return [out async for out in filter_markdown_streaming(streamed(chunks))]


async def test_a_mandarin_reply_passes_token_by_token_with_its_marks_dropped() -> None:
    tokens = ["你", "可以", "**", "尝试", "**", "调整", "你的", "睡眠", "，", "比如", "`早睡`", "。"]
    out = await filtered(tokens)
    # one piece out for every token in: the clause cutter sees where each one ended
    assert len(out) == len(tokens)
    assert "".join(out) == "你可以尝试调整你的睡眠，比如早睡。"


async def test_the_first_words_decide_even_after_leading_marks_or_digits() -> None:
    assert "".join(await filtered(["- ", "**", "好的", "**", "，", "没问题", "。"])) == "好的，没问题。"
    out = await filtered(["10", "分钟", "左右", "就", "可以", "了", "。"])
    assert out == ["10分钟", "左右", "就", "可以", "了", "。"]


async def test_other_replies_go_through_livekit_agents_filter() -> None:
    out = await filtered(["Sure", ", ", "**boil**", " it for ", "[six minutes](http://x.y)", "."])
    assert "".join(out) == "Sure, boil it for six minutes."
    # it holds text back to a word's end: no piece ends inside a word
    assert len(out) < 6
