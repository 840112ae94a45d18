"""Replies that said the caller's words back, and keeping them out of what the model reads next.

A 1.5B model that once answered by repeating the question ("你好，我想问一下，饭怎么住比较好吃？" to a
misheard "你饭怎么住比较好吃") takes that exchange in its context as the way to answer: in the latency
benchmark's calls every later reply of such a call said its question back too, DRY sampling
notwithstanding. An echoed exchange is therefore left out of the next requests (the caller heard it; the
model need not learn from it).
"""

from __future__ import annotations

import re
from collections import Counter

from livekit.agents import llm


def _units(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+|[\u4e00-\u9fff]", text.lower())


def parroted(question: str, reply: str) -> bool:
    """The reply is mostly the question said back: over 70 % of its words/characters are the
    question's and it holds at least half of the question's, or it begins with the question verbatim.
    ("再见！" to "好的，谢谢你，再见。" is a goodbye: 2 of the question's 10 characters.)"""
    q, r = _units(question), _units(reply)
    if not q or not r:
        return False
    q_set = set(q)
    echoed = sum(1 for u in r if u in q_set) / len(r)
    covered = len(q) - sum((Counter(q) - Counter(r)).values())
    return (echoed > 0.7 and covered / len(q) >= 0.5) or "".join(r).startswith("".join(q))


def without_echoes(chat_ctx: llm.ChatContext) -> llm.ChatContext:
    """A copy without the exchanges (a caller's message up to the next one) whose first reply said the
    message back; ``chat_ctx`` itself when there are none."""
    items = chat_ctx.items
    starts = [i for i, it in enumerate(items) if it.type == "message" and it.role == "user"]
    ends = [*starts[1:], len(items)] if starts else []
    drop: set[int] = set()
    for start, end in zip(starts, ends, strict=True):
        reply = next((it for it in items[start + 1 : end] if it.type == "message"), None)
        if reply is not None and reply.role == "assistant" and parroted(_text(items[start]), _text(reply)):
            drop.update(range(start, end))
    if not drop:
        return chat_ctx
    return llm.ChatContext(items=[it for j, it in enumerate(items) if j not in drop])


def _text(item: llm.ChatItem) -> str:
    return (item.text_content or "") if item.type == "message" else ""
