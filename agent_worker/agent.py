"""The voice agent: livekit-agents' ``Agent`` with a persona and bounded memory."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

from livekit.agents import Agent, ModelSettings, llm

from agent_worker.memory import bounded_context
from agent_worker.persona import REPLY_LANGUAGE_HINT, Persona, language_of
from agent_worker.settings import Language


class VoiceAgent(Agent):
    def __init__(self, *, persona: Persona, language: Language, memory_turns: int, greet: bool) -> None:
        super().__init__(instructions=persona.instructions(language))
        self._persona = persona
        self._language: Language = language
        self._memory_turns = memory_turns
        self._greet = greet

    async def on_enter(self) -> None:
        # A fixed greeting skips the LLM, so the caller hears the agent as soon as it joins.
        if self._greet:
            self.session.say(self._persona.greeting(self._language), allow_interruptions=True)

    async def llm_node(
        self,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        model_settings: ModelSettings,
    ) -> AsyncIterable[Any]:
        bounded = with_reply_language(bounded_context(chat_ctx, self._memory_turns), self._language)
        async for chunk in Agent.default.llm_node(self, bounded, tools, model_settings):
            yield chunk


def with_reply_language(chat_ctx: llm.ChatContext, default: Language) -> llm.ChatContext:
    """Append a one-line instruction naming the reply language: that of the caller's last words."""
    last_user = next(
        (it for it in reversed(chat_ctx.items) if it.type == "message" and it.role == "user"), None
    )
    if last_user is None:
        return chat_ctx
    language = language_of(last_user.text_content or "") or default
    hinted = chat_ctx.copy()
    hinted.add_message(role="system", content=REPLY_LANGUAGE_HINT[language])
    return hinted
