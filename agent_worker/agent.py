"""The voice agent: livekit-agents' ``Agent`` with a persona and bounded memory."""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

from livekit.agents import Agent, ModelSettings, llm

from agent_worker.memory import bounded_context
from agent_worker.persona import Persona
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
        bounded = bounded_context(chat_ctx, self._memory_turns)
        async for chunk in Agent.default.llm_node(self, bounded, tools, model_settings):
            yield chunk
