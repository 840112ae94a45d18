"""End of turn from the caller's words: does a language model expect the sentence to stop here?

A caller who pauses mid-sentence ("If it rains tomorrow, … should we still go?") has said words that do
not end a sentence, and any language model knows it: after "If it rains tomorrow" the next token is
hardly ever a full stop or a question mark; after "should we still go to the park" it very likely is.
The detector asks an OpenAI-compatible server for the next token's log-probabilities after the turn so
far, in the call's own conversation, exactly as the reply will send it (instructions, memory, earlier
turns), the caller's message left open: vLLM's ``continue_final_message``, which the local model server
speaks too. It sums the probability of the tokens that end a sentence (or the turn). Below the
threshold, livekit-agents waits MAX_ENDPOINTING_DELAY instead of MIN_ENDPOINTING_DELAY for the caller to
go on. Asked on the conversation's own slot (its ``prompt_cache_key``), the question reads the words
into the prompt cache the reply then starts from: at the end of the turn the reply reads only the end of
the caller's message and the assistant's prompt (about 10 tokens instead of 25-35). The conversation
also makes the model a better judge: a question to a voice assistant is expected to end.

Whisper puts a full stop after an unfinished half as readily as after a whole sentence, so the
transcript's own final punctuation is removed before asking. Measured in docs/benchmarks.md
(endpointing). It plugs into livekit-agents as a text turn detector (``predict_end_of_turn``), the role
LiveKit's own text models play; a failed request ends the turn as silence alone would.

Reading the words takes the model 0.1–0.5 s on two CPU cores, and the reply's prompt is read on the
same slot: the reply asks first (``read_first``), and every question about the same words is one request.
While the caller speaks, each interim transcript is asked about too (``follow``), so at the end of the
turn the server reads only the words the last interim did not have.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import openai
from livekit.agents import (
    AgentSession,
    AgentStateChangedEvent,
    ConversationItemAddedEvent,
    UserInputTranscribedEvent,
    llm,
)
from livekit.agents.language import LanguageCode

logger = logging.getLogger("voicecall.turns")

# vLLM's request fields for "go on with the final message" (the local model server takes them too)
_CONTINUE = {"continue_final_message": True, "add_generation_prompt": False}
# What may follow the last word of a finished sentence or turn, as the first characters of a token.
_ENDINGS = ("。", "？", "！", "?", "!", ".", "…")
_END_MARKERS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>")
_TRAILING_PUNCTUATION = re.compile(r"[\s。，、？！?!.,;；:：…]+$")
# The last user message is what is judged; very long turns are cut to their end (the prompt stays short).
_MAX_CHARS = 400
_REMEMBERED = 8
_WARM_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class TurnPrediction:
    text: str
    probability: float
    seconds: float


class TranscriptTurnDetector:
    """livekit-agents' text turn-detector protocol (``voice.turn._TurnDetector``) over ``/v1/completions``."""

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str,
        model: str,
        thresholds: Mapping[str, float],
        conversation: str = "turn-detector",
        prepare: Callable[[llm.ChatContext], llm.ChatContext] = lambda ctx: ctx,
        timeout_s: float = 2.0,
    ) -> None:
        """``conversation``: the call's prompt-cache key, the one its replies use. ``prepare``: what the
        agent does to its chat context before a reply (memory window, language hints), so the question
        is the reply's prompt up to the caller's words."""
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0)
        self._model = model
        if not thresholds:
            raise ValueError("the turn detector needs a threshold for at least one language")
        self._thresholds = dict(thresholds)
        self._conversation = conversation
        self._prepare = prepare
        self._timeout_s = timeout_s
        self.last: TurnPrediction | None = None
        # the answers about the turn's latest words (the caller's words at a pause are asked about
        # again when the turn goes on), and the request made last
        self._answers: OrderedDict[tuple[int, str], asyncio.Task[float]] = OrderedDict()
        self._newest: asyncio.Task[float] | None = None

    @property
    def model(self) -> str:
        return self._model

    @property
    def provider(self) -> str:
        return "voicecall-transcript"

    async def unlikely_threshold(self, language: LanguageCode | None) -> float | None:
        return self.threshold_for(language)

    def threshold_for(self, language: str | None) -> float:
        """The threshold for a transcript's language (its base code: "en-US" is "en"); a language with
        none of its own gets the lowest, which ends turns soonest, as silence alone would."""
        lowest = min(self._thresholds.values())
        return self._thresholds.get(LanguageCode(language).language, lowest) if language else lowest

    async def supports_language(self, language: LanguageCode | None) -> bool:
        return True

    async def predict_end_of_turn(
        self,
        chat_ctx: llm.ChatContext,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (livekit-agents' protocol names it)
    ) -> float:
        text = normalized(last_user_text(chat_ctx))
        if not text:
            return 1.0
        return await asyncio.shield(self._task_for(chat_ctx, text, timeout))

    def follow(
        self, session: AgentSession, history: Callable[[], llm.ChatContext], warm: bool = False
    ) -> None:
        """Ask about the caller's turn so far at each interim transcript, so the prompt cache holds the
        words before the turn ends. The turn so far is its final transcripts (livekit-agents joins
        them with a space) and the interim; a committed turn starts the next one empty. One request
        at a time: an interim heard while the detector reads is asked about when it is done, unless
        a newer one (or livekit-agents' own question) came first. ``history``: the agent's chat context
        (the turn not in it yet). ``warm``: read the instructions when the agent starts (where the
        replies do not, e.g. from another server)."""
        finals: list[str] = []
        started: list[bool] = []
        waiting: list[str] = []  # the latest interim not asked about yet

        def ask_waiting(busy_with: asyncio.Task[float] | None) -> None:
            if busy_with is not self._newest or not waiting:
                return  # something newer was asked meanwhile
            text = waiting.pop()
            ctx = history().copy()
            ctx.add_message(role="user", content=text)
            self._task_for(ctx, text)

        def on_transcribed(ev: UserInputTranscribedEvent) -> None:
            if ev.is_final:
                finals.append(ev.transcript.strip())
                waiting.clear()
                return
            text = normalized(" ".join([*finals, ev.transcript.strip()]))
            if not text or session.agent_state == "speaking":
                return
            waiting[:] = [text]
            busy_with = self._newest if self._busy() else None
            if busy_with is None:
                ask_waiting(self._newest)
            else:
                busy_with.add_done_callback(lambda _t: ask_waiting(busy_with))

        def on_item(ev: ConversationItemAddedEvent) -> None:
            if ev.item.type == "message" and ev.item.role == "user":
                finals.clear()
                waiting.clear()

        def on_state(_ev: AgentStateChangedEvent) -> None:
            if warm and not started:  # the agent's first state: its instructions are in its context
                started.append(True)
                self.warm(history())

        session.on("agent_state_changed", on_state)
        session.on("user_input_transcribed", on_transcribed)
        session.on("conversation_item_added", on_item)

    async def read_first(self, chat_ctx: llm.ChatContext, limit_s: float = 1.0) -> None:
        """Wait (at most ``limit_s``) for the answer about the caller's words in ``chat_ctx``, asking
        if nobody has. The reply calls this before its own request: on a CPU server two requests read
        at once share the cores, so the turn decision (which the reply's audio waits for) would come
        only as late as the reply's first token; read first, it is there in ~0.2 s, and the reply's
        prompt is read just as fast afterwards."""
        text = normalized(last_user_text(chat_ctx))
        if text:
            await asyncio.wait([self._task_for(chat_ctx, text)], timeout=limit_s)

    def question(self, chat_ctx: llm.ChatContext, text: str) -> list[dict[str, Any]]:
        """The messages asked about: the reply's, up to the caller's last message, whose content is
        ``text`` (the words without their final punctuation), prepared as the reply's are (its language
        hint goes before the words), so the shapes match to the byte."""
        items = list(chat_ctx.items)
        if items and items[-1].type == "message" and items[-1].role == "user":
            items.pop()
        items.append(llm.ChatMessage(role="user", content=[text]))
        messages, _ = self._prepare(llm.ChatContext(items=items)).to_provider_format("openai")
        return messages

    def _task_for(
        self, chat_ctx: llm.ChatContext, text: str, timeout: float | None = None
    ) -> asyncio.Task[float]:
        # asked more than once for the same words in the same turn (livekit-agents at the VAD's end of
        # speech and at the transcript, the reply before its request, an interim that was already the
        # whole turn): one request
        messages = self.question(chat_ctx, text)
        key = (len(messages), text)
        task = self._answers.get(key)
        if task is None:
            # a request still reading earlier words (an interim) finishes first: then the server has
            # them cached and reads only the rest, instead of two requests sharing the cores
            task = asyncio.create_task(self._ask(messages, timeout, after=self._newest))
            self._answers[key] = self._newest = task
            while len(self._answers) > _REMEMBERED:
                self._answers.popitem(last=False)
        return task

    def _busy(self) -> bool:
        return self._newest is not None and not self._newest.done()

    def warm(self, history: llm.ChatContext) -> None:
        """Have the server read the conversation so far (at the call's start: the instructions) into
        the call's slot, where no reply request did: the first question then reads only the caller's
        words, not ~140 tokens of instructions (3 s on two cores, beyond the question's timeout)."""
        messages, _ = self._prepare(history).to_provider_format("openai")
        if not messages or not isinstance(messages[-1].get("content"), str) or not messages[-1]["content"]:
            return
        self._newest = asyncio.create_task(
            self._ask(messages, _WARM_TIMEOUT_S, after=self._newest, warming=True)
        )

    async def _ask(
        self,
        messages: list[dict[str, Any]],
        timeout: float | None = None,  # noqa: ASYNC109
        after: asyncio.Task[float] | None = None,
        warming: bool = False,
    ) -> float:
        started = time.perf_counter()
        text = str(messages[-1]["content"])
        if after is not None and not after.done():
            await asyncio.wait([after], timeout=timeout or self._timeout_s)
        try:
            reply = await self._client.chat.completions.create(
                model=self._model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=1,
                temperature=0.0,
                logprobs=True,
                top_logprobs=20,
                # the call's slot and prompt cache: the reply starts from what this reads
                prompt_cache_key=self._conversation,
                extra_body=_CONTINUE,
                timeout=timeout or self._timeout_s,
            )
        except openai.OpenAIError as exc:
            # silence alone decides this turn; the call goes on
            logger.warning("turn detector: %s; ending the turn on silence", exc)
            return 1.0
        probability = end_probability(reply)
        seconds = time.perf_counter() - started
        if warming:
            logger.debug("turn detector: read the conversation in %.0f ms", seconds * 1000)
            return probability
        self.last = TurnPrediction(text, probability, seconds)
        logger.debug(
            "turn detector: p(end)=%.3f in %.0f ms after %r", probability, seconds * 1000, text[-60:]
        )
        return probability


def last_user_text(chat_ctx: llm.ChatContext) -> str:
    """The caller's turn so far: the last user message."""
    for item in reversed(chat_ctx.items):
        if item.type == "message" and item.role == "user":
            return (item.text_content or "").strip()
    return ""


def normalized(said: str) -> str:
    """What the model is asked about: the words, spaces collapsed, without final punctuation."""
    text = _TRAILING_PUNCTUATION.sub("", re.sub(r"\s+", " ", said).strip())
    return text[-_MAX_CHARS:]


def end_probability(reply: openai.types.chat.ChatCompletion) -> float:
    """The probability that the next token ends the sentence or the turn, from the top alternatives."""
    if not reply.choices or reply.choices[0].logprobs is None:
        return 1.0  # a server that gives no log-probabilities cannot hold a turn
    content = reply.choices[0].logprobs.content or []
    if not content or not content[0].top_logprobs:
        return 1.0
    total = sum(
        math.exp(alt.logprob)
        for alt in content[0].top_logprobs
        if alt.token.strip() in _END_MARKERS or alt.token.strip().startswith(_ENDINGS)
    )
    return min(1.0, total)
