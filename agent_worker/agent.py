"""The voice agent: livekit-agents' ``Agent`` with a persona and bounded memory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable
from typing import Any

from livekit.agents import Agent, ModelSettings, UserInputTranscribedEvent, llm
from livekit.agents.voice import SpeechHandle

from agent_worker.echoes import without_echoes
from agent_worker.memory import bounded_context
from agent_worker.persona import REPLY_GRAMMAR, REPLY_LANGUAGE_HINT, Persona, language_of
from agent_worker.phrase_cache import PhraseCache
from agent_worker.settings import Language
from agent_worker.transcript_turns import TranscriptTurnDetector

logger = logging.getLogger("voicecall.agent")


class VoiceAgent(Agent):
    def __init__(
        self,
        *,
        persona: Persona,
        language: Language,
        memory_turns: int,
        greet: bool,
        prefill: bool = False,
        reply_grammar: bool = False,
        dry_multiplier: float = 0.0,
        seed: int | None = None,
        opening: str | None = None,
        phrases: PhraseCache | None = None,
        turn_detector: TranscriptTurnDetector | None = None,
    ) -> None:
        """``prefill``: have the LLM server read the instructions (and greeting) while the call starts,
        for servers that cache prompt prefixes (the local llama.cpp): the first reply then waits only
        for the caller's words, not for ~150 tokens of instructions. ``reply_grammar``: send each
        request a grammar holding the reply to the script of the caller's language (llama.cpp servers
        only: OpenAI refuses unknown fields). ``dry_multiplier``: > 0, each request samples with
        llama.cpp's DRY penalty (``dry_sampling``; llama.cpp servers only). ``seed``: the sampling seed
        of every reply (OpenAI's ``seed``; llama.cpp takes it too), for reproducible tests and benchmarks.
        ``opening``: what to say first instead of the persona's greeting (a call taken over after its
        agent was lost goes on). ``phrases``: where fixed phrases (the greeting) are replayed from
        instead of synthesised. ``turn_detector``: the transcript detector on the same server, which
        reads the caller's words before each reply does."""
        super().__init__(instructions=persona.instructions(language))
        self._persona = persona
        self._language: Language = language
        self._memory_turns = memory_turns
        self._greet = greet
        self._opening = opening
        self.phrases = phrases
        self._prefill = prefill
        self._reply_grammar = reply_grammar
        self._dry = dry_sampling(dry_multiplier) if dry_multiplier > 0 else {}
        self._seed = seed
        self._turn_detector = turn_detector
        self._background: set[asyncio.Task[None]] = set()
        self._warming: asyncio.Task[None] | None = None

    @property
    def prefills(self) -> bool:
        """Whether the LLM server reads the instructions when the call starts (``prefill``)."""
        return self._prefill

    async def on_enter(self) -> None:
        # A fixed greeting skips the LLM, so the caller hears the agent as soon as it joins.
        greeting = self._opening or self._persona.greeting(self._language)
        if self._greet:
            self.say_phrase(greeting, allow_interruptions=True)
        if self._prefill and self.session.llm is not None:
            ctx = self.chat_ctx.copy()
            if self._greet:
                ctx.add_message(role="assistant", content=greeting)
            self._warm(ctx)
            # While the caller speaks, read their words so far too: at the end of the turn the server
            # then evaluates only what the last interim transcript did not have. The transcript turn
            # detector does that itself (its question is this prompt up to the caller's words).
            if self._turn_detector is None:
                self.session.on("user_input_transcribed", self._on_transcribed)

    def say_phrase(self, text: str, allow_interruptions: bool = True) -> SpeechHandle:
        """A fixed phrase: from the phrase cache when there is one."""
        if self.phrases is not None:
            return self.phrases.say(self.session, text, allow_interruptions=allow_interruptions)
        return self.session.say(text, allow_interruptions=allow_interruptions)

    def _warm(self, ctx: llm.ChatContext) -> None:
        task = asyncio.create_task(warm_prompt(self.session.llm, self._for_llm(ctx)))
        self._warming = task
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _on_transcribed(self, ev: UserInputTranscribedEvent) -> None:
        if ev.is_final or self.session.agent_state != "listening":
            return  # the final transcript starts the reply itself; a busy agent keeps its slot
        if self._warming is not None and not self._warming.done():
            return  # one at a time: the server is still reading the previous words
        self._warm(with_partial_turn(self.chat_ctx, ev.transcript))

    def _for_llm(self, chat_ctx: llm.ChatContext) -> llm.ChatContext:
        return prepared_context(chat_ctx, memory_turns=self._memory_turns, language=self._language)

    async def llm_node(
        self,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        model_settings: ModelSettings,
    ) -> AsyncIterable[Any]:
        if self._turn_detector is not None:
            await self._turn_detector.read_first(chat_ctx)
        ctx = self._for_llm(chat_ctx)
        model = self.session.llm
        extra: dict[str, Any] = {}
        body: dict[str, Any] = dict(self._dry)
        if self._reply_grammar:
            # the grammar for the language of the caller's last message
            body["grammar"] = REPLY_GRAMMAR[reply_language(chat_ctx, self._language)]
        if body:
            extra["extra_body"] = body
        if self._seed is not None:
            extra["seed"] = self._seed
        if not extra or not isinstance(model, llm.LLM):
            async for chunk in Agent.default.llm_node(self, ctx, tools, model_settings):
                yield chunk
            return
        # Agent.default.llm_node, with the extra request fields
        async with model.chat(
            chat_ctx=ctx,
            tools=tools,
            tool_choice=model_settings.tool_choice,
            conn_options=self.session.conn_options.llm_conn_options,
            extra_kwargs=extra,
        ) as stream:
            async for chunk in stream:
                yield chunk


async def warm_prompt(model: llm.LLM | Any, chat_ctx: llm.ChatContext) -> None:
    """Start a completion of ``chat_ctx`` and drop it at its first token: the server has then read
    (and cached) the whole prompt. Best effort: a failure here only costs the saving."""
    if not isinstance(model, llm.LLM):
        return  # a realtime model keeps its own context
    try:
        async with model.chat(chat_ctx=chat_ctx) as stream:
            async for chunk in stream:
                if chunk.delta is not None and chunk.delta.content:
                    break
    except Exception as exc:
        logger.debug("prompt warm-up failed: %s", exc)


def prepared_context(chat_ctx: llm.ChatContext, *, memory_turns: int, language: Language) -> llm.ChatContext:
    """What a reply's request holds: the memory window without echoed exchanges, each user message
    with its language hint."""
    return with_reply_language(without_echoes(bounded_context(chat_ctx, memory_turns)), language)


def with_partial_turn(chat_ctx: llm.ChatContext, words: str) -> llm.ChatContext:
    """The context as the reply will see it if the caller's turn ends with ``words``."""
    ctx = chat_ctx.copy()
    if words.strip():
        ctx.add_message(role="user", content=words.strip())
    return ctx


def reply_language(chat_ctx: llm.ChatContext, fallback: Language) -> Language:
    """The language to reply in: that of the caller's last message with letters in it."""
    said = [i.text_content for i in chat_ctx.items if i.type == "message" and i.role == "user"]
    return next((lang for text in reversed(said) if (lang := language_of(text or "")) is not None), fallback)


# How far back llama.cpp's DRY sampler looks: the whole context of any call (its own "-1" is refused by the
# server's request validation; a window longer than the context is the context).
DRY_WINDOW = 8192


def dry_sampling(multiplier: float) -> dict[str, Any]:
    """llama.cpp's DRY ("don't repeat yourself") sampler: a token that would make a run of more than two
    tokens already in the context longer is penalised, more the longer the run (llama.cpp's suggested
    base 1.75). Without it the 1.5B model copies: after a misheard question answered by repeating it, it
    repeated every question after; after one "Sorry, I can't check that", it opened every answer so
    (docs/offline-models.md, replies)."""
    return {
        "dry_multiplier": multiplier,
        "dry_base": 1.75,
        "dry_allowed_length": 2,
        "dry_penalty_last_n": DRY_WINDOW,
    }


def with_hint(words: str, language: Language) -> str:
    """A caller's message as a reply's request sends it: the reply-language hint, then the words."""
    return REPLY_LANGUAGE_HINT[language] + words


def with_reply_language(chat_ctx: llm.ChatContext, instructions_language: Language) -> llm.ChatContext:
    """A copy where each user message carries a short hint naming the language to reply in: its own.
    Instructions alone do not hold a small model: after a few English turns it answers Mandarin in
    English. The hint depends only on that message's words, so earlier turns are sent exactly as
    before and a server's prompt cache still covers them. ``instructions_language`` is the fallback
    for a message with no letters at all."""
    items: list[llm.ChatItem] = []
    for item in chat_ctx.items:
        if item.type == "message" and item.role == "user" and item.text_content:
            language = language_of(item.text_content) or instructions_language
            # one text part: servers render a list of parts differently from a plain string
            item = item.model_copy(update={"content": [with_hint(item.text_content, language)]})
        items.append(item)
    return llm.ChatContext(items=items)
