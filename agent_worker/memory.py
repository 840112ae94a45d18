"""Conversation memory: the LLM sees its instructions plus the most recent user turns and what followed.

The window is trimmed in blocks, not one turn at a time: dropping the oldest turn on every turn would
change the prompt right after the instructions each time, and a server with prompt caching (llama.cpp,
vLLM) would re-read the whole history on every turn. Cutting half a window at once keeps the prefix
identical for the following turns, so only the new words are read.
"""

from __future__ import annotations

from livekit.agents import llm

_PINNED_ROLES = ("system", "developer")


def kept_turns(total: int, max_turns: int) -> int:
    """How many of ``total`` user turns to keep: all up to ``max_turns``; beyond it, the oldest are
    dropped in blocks of half the window, so the kept count runs from ``max_turns - block + 1`` up to
    ``max_turns`` and the first kept turn changes only once per block."""
    if total <= max_turns:
        return total
    block = max(1, max_turns // 2)
    dropped = -(-(total - max_turns) // block) * block  # ceil to a whole number of blocks
    return total - dropped


def bounded_context(chat_ctx: llm.ChatContext, max_turns: int) -> llm.ChatContext:
    """A copy of ``chat_ctx`` holding only the kept user turns (and the replies/tool calls after).

    System/developer instructions are always kept. Cutting at a user message keeps tool calls paired
    with their outputs, which providers require.
    """
    items = chat_ctx.items
    user_positions = [i for i, it in enumerate(items) if it.type == "message" and it.role == "user"]
    keep = kept_turns(len(user_positions), max_turns)
    if keep == len(user_positions):
        return chat_ctx
    cut = user_positions[-keep]
    pinned = [it for it in items[:cut] if it.type == "message" and it.role in _PINNED_ROLES]
    return llm.ChatContext(items=[*pinned, *items[cut:]])
