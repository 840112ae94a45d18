"""End of turn from the caller's words: does a language model expect the sentence to stop here?

A caller who pauses mid-sentence ("If it rains tomorrow, … should we still go?") has said words that do
not end a sentence, and any language model knows it: after "If it rains tomorrow" the next token is
hardly ever a full stop or a question mark; after "should we still go to the park" it very likely is.
The detector asks an OpenAI-compatible ``/v1/completions`` endpoint (the local model server, vLLM,
llama.cpp) for the next token's log-probabilities after the transcript of the turn so far, and sums the
probability of the tokens that end a sentence (or the turn). Below the threshold, livekit-agents waits
MAX_ENDPOINTING_DELAY instead of MIN_ENDPOINTING_DELAY for the caller to go on.

Whisper puts a full stop after an unfinished half as readily as after a whole sentence, so the
transcript's own final punctuation is removed before asking. Measured in docs/benchmarks.md
(endpointing). It plugs into livekit-agents as a text turn detector (``predict_end_of_turn``), the role
LiveKit's own text models play; a failed request ends the turn as silence alone would.

Reading the words takes the model 0.1–0.5 s on two CPU cores, and the reply's prompt is read on the
same cores: the reply asks first (``read_first``), and every question about the same words is one request.
While the caller speaks, each interim transcript is asked about too (``follow``): the server keeps the
detector's slot, so at the end of the turn it reads only the words the last interim did not have.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import openai
from livekit.agents import AgentSession, ConversationItemAddedEvent, UserInputTranscribedEvent, llm
from livekit.agents.language import LanguageCode

logger = logging.getLogger("voicecall.turns")

# Qwen's chat template up to the caller's words: the model then predicts how the caller's message goes
# on, or that it ends (<|im_end|>). Another model family wants its own (TURN_PROMPT).
DEFAULT_PROMPT = "<|im_start|>user\n{text}"
# What may follow the last word of a finished sentence or turn, as the first characters of a token.
_ENDINGS = ("。", "？", "！", "?", "!", ".", "…")
_END_MARKERS = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "</s>")
_TRAILING_PUNCTUATION = re.compile(r"[\s。，、？！?!.,;；:：…]+$")
# The last user message is what is judged; very long turns are cut to their end (the prompt stays short).
_MAX_CHARS = 400
_REMEMBERED = 8


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
        prompt: str = DEFAULT_PROMPT,
        timeout_s: float = 2.0,
    ) -> None:
        if "{text}" not in prompt:
            raise ValueError("the turn prompt needs a {text} placeholder")
        self._client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0)
        self._model = model
        if not thresholds:
            raise ValueError("the turn detector needs a threshold for at least one language")
        self._thresholds = dict(thresholds)
        self._prompt = prompt
        self._timeout_s = timeout_s
        self.last: TurnPrediction | None = None
        # the answers about the turn's latest words (the caller's words at a pause are asked about
        # again when the turn goes on), and the request made last
        self._answers: OrderedDict[str, asyncio.Task[float]] = OrderedDict()
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
        return await asyncio.shield(self._task_for(text, timeout))

    def follow(self, session: AgentSession) -> None:
        """Ask about the caller's turn so far at each interim transcript, so the prompt cache holds the
        words before the turn ends. The turn so far is its final transcripts (livekit-agents joins
        them with a space) and the interim; a committed turn starts the next one empty. One request
        at a time: an interim heard while the detector reads is asked about when it is done, unless
        a newer one (or livekit-agents' own question) came first."""
        finals: list[str] = []
        waiting: list[str] = []  # the latest interim not asked about yet

        def ask_waiting(busy_with: asyncio.Task[float] | None) -> None:
            if busy_with is not self._newest or not waiting:
                return  # something newer was asked meanwhile
            self._task_for(waiting.pop())

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
            await asyncio.wait([self._task_for(text)], timeout=limit_s)

    def _task_for(self, text: str, timeout: float | None = None) -> asyncio.Task[float]:
        # asked more than once for the same words (livekit-agents at the VAD's end of speech and at the
        # transcript, the reply before its request, an interim that was already the whole turn): one
        # request
        task = self._answers.get(text)
        if task is None:
            # a request still reading earlier words (an interim) finishes first: then the server has
            # them cached and reads only the rest, instead of two requests sharing the cores
            task = asyncio.create_task(self._ask(text, timeout, after=self._newest))
            self._answers[text] = self._newest = task
            while len(self._answers) > _REMEMBERED:
                self._answers.popitem(last=False)
        return task

    def _busy(self) -> bool:
        return self._newest is not None and not self._newest.done()

    async def _ask(
        self,
        text: str,
        timeout: float | None = None,  # noqa: ASYNC109
        after: asyncio.Task[float] | None = None,
    ) -> float:
        started = time.perf_counter()
        if after is not None and not after.done():
            await asyncio.wait([after], timeout=timeout or self._timeout_s)
        try:
            reply = await self._client.completions.create(
                model=self._model,
                prompt=self._prompt.replace("{text}", text),
                max_tokens=1,
                temperature=0.0,
                logprobs=20,
                # one key for every turn request: the local server keeps them on a slot of their own,
                # away from the calls' cached conversations
                user="turn-detector",
                timeout=timeout or self._timeout_s,
            )
        except openai.OpenAIError as exc:
            # silence alone decides this turn; the call goes on
            logger.warning("turn detector: %s; ending the turn on silence", exc)
            return 1.0
        probability = end_probability(reply)
        seconds = time.perf_counter() - started
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


def end_probability(reply: openai.types.Completion) -> float:
    """The probability that the next token ends the sentence or the turn, from the top alternatives."""
    if not reply.choices or reply.choices[0].logprobs is None:
        return 1.0  # a server that gives no log-probabilities cannot hold a turn
    top = reply.choices[0].logprobs.top_logprobs or []
    if not top or not top[0]:
        return 1.0
    total = sum(
        math.exp(logprob)
        for token, logprob in top[0].items()
        if token.strip() in _END_MARKERS or token.strip().startswith(_ENDINGS)
    )
    return min(1.0, total)
