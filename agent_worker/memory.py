"""Conversation memory: the LLM sees its instructions plus the last N user turns and what followed."""

from __future__ import annotations

from livekit.agents import llm

_PINNED_ROLES = ("system", "developer")


def bounded_context(chat_ctx: llm.ChatContext, max_turns: int) -> llm.ChatContext:
    """A copy of ``chat_ctx`` holding only the last ``max_turns`` user turns (and replies/tool calls after).

    System/developer instructions are always kept. Cutting at a user message keeps tool calls paired
    with their outputs, which providers require.
    """
    items = chat_ctx.items
    user_positions = [i for i, it in enumerate(items) if it.type == "message" and it.role == "user"]
    if len(user_positions) <= max_turns:
        return chat_ctx
    cut = user_positions[-max_turns]
    pinned = [it for it in items[:cut] if it.type == "message" and it.role in _PINNED_ROLES]
    return llm.ChatContext(items=[*pinned, *items[cut:]])
