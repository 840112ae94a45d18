"""The transcript turn detector: the local model server's language model reads the caller's words and
says whether the sentence ends there. Real HTTP to the real model server (qwen2.5-1.5b); a live call
where a caller pauses mid-sentence, heard by the server's Whisper, is one turn."""

from __future__ import annotations

import logging
import math
import socket
import time
from functools import partial
from pathlib import Path
from typing import Any, cast

import openai
import pytest
from livekit.agents import AgentSession, ConversationItemAddedEvent, UserInputTranscribedEvent, llm

from agent_worker.agent import prepared_context
from agent_worker.persona import get_persona, language_of
from agent_worker.settings import WorkerSettings
from agent_worker.transcript_turns import (
    TranscriptTurnDetector,
    end_probability,
    last_user_text,
    normalized,
)
from tests.agent_worker.test_turn_taking import PAUSE_S, PAUSED, Lang, call, relative, settings_for, utterance
from tests.conftest import FakeOpenAIHandle
from tests.support.model_server import ModelServer

THRESHOLDS = {
    lang: WorkerSettings.model_fields[f"turn_transcript_threshold_{lang}"].default for lang in ("zh", "en")
}


def threshold(said: str) -> float:
    """The shipped threshold for the language the words are in."""
    return THRESHOLDS[language_of(said) or "en"]


def context(*said: str) -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="assistant", content="Hi, how can I help?")
    for text in said:
        ctx.add_message(role="user", content=text)
    return ctx


def call_context(*said: str) -> llm.ChatContext:
    """A call's chat context as the agent holds it: the default persona's instructions and greeting, in the
    language of the caller's words, then those words."""
    persona, lang = get_persona("default"), language_of(said[-1]) or "en"
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content=persona.instructions(lang))
    ctx.add_message(role="assistant", content=persona.greeting(lang))
    for text in said:
        ctx.add_message(role="user", content=text)
    return ctx


def detector(server: ModelServer, **kwargs: Any) -> TranscriptTurnDetector:
    return TranscriptTurnDetector(
        base_url=server.url, api_key=server.api_key, model="qwen2.5-1.5b", thresholds=THRESHOLDS, **kwargs
    )


def test_the_words_judged_are_the_last_user_message_without_its_final_punctuation() -> None:
    ctx = context("earlier turn.", "  如果明天下雨的话，  我们还去公园吗？ ")
    assert last_user_text(ctx) == "如果明天下雨的话，  我们还去公园吗？"
    assert normalized(last_user_text(ctx)) == "如果明天下雨的话， 我们还去公园吗"
    assert normalized("If it rains tomorrow...") == "If it rains tomorrow"
    assert last_user_text(llm.ChatContext()) == ""


def test_the_end_probability_sums_what_ends_a_sentence_among_the_alternatives() -> None:
    def reply(top: dict[str, float]) -> openai.types.chat.ChatCompletion:
        first = next(iter(top))
        alternatives = [{"token": t, "logprob": lp, "bytes": None} for t, lp in top.items()]
        return openai.types.chat.ChatCompletion.model_validate(
            {
                "id": "c",
                "object": "chat.completion",
                "created": 0,
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": first},
                        "finish_reason": "length",
                        "logprobs": {
                            "content": [
                                {
                                    "token": first,
                                    "logprob": top[first],
                                    "bytes": None,
                                    "top_logprobs": alternatives,
                                }
                            ]
                        },
                    }
                ],
            }
        )

    lp = math.log
    mixed = {"?": lp(0.5), ".\n": lp(0.2), " and": lp(0.2), "<|im_end|>": lp(0.05)}
    assert end_probability(reply(mixed)) == pytest.approx(0.75)
    assert end_probability(reply({"，": lp(0.6), "的": lp(0.3)})) == pytest.approx(0.0)
    assert end_probability(reply({"。": lp(0.9), "吗": lp(0.05)})) == pytest.approx(0.9)


async def test_an_unreachable_server_ends_the_turn_on_silence(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = TranscriptTurnDetector(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="k", model="m", thresholds=THRESHOLDS, timeout_s=2.0
    )
    with caplog.at_level(logging.WARNING, logger="voicecall.turns"):
        assert await d.predict_end_of_turn(context("If it rains tomorrow")) == 1.0
    assert "ending the turn on silence" in caplog.text


def test_the_threshold_is_the_transcripts_languages_and_the_lowest_for_any_other() -> None:
    d = TranscriptTurnDetector(base_url=None, api_key="k", model="m", thresholds={"zh": 0.05, "en": 0.35})
    assert d.threshold_for("en") == d.threshold_for("en-US") == d.threshold_for("english") == 0.35
    assert d.threshold_for("zh") == d.threshold_for("zh-CN") == 0.05
    assert d.threshold_for("fr") == d.threshold_for(None) == 0.05
    with pytest.raises(ValueError, match="threshold"):
        TranscriptTurnDetector(base_url=None, api_key="k", model="m", thresholds={})


def test_the_question_is_the_replys_prompt_up_to_the_callers_words() -> None:
    """What the server is asked is what the reply will send, the caller's message cut to its words:
    the reply then finds them in the prompt cache."""
    from agent_worker.agent import with_hint

    d = TranscriptTurnDetector(
        base_url=None,
        api_key="k",
        model="m",
        thresholds=THRESHOLDS,
        prepare=lambda ctx: prepared_context(ctx, memory_turns=10, language="en"),
    )
    ctx = context("Hello there.", "If it rains tomorrow, should we go?")
    reply, _ = prepared_context(ctx, memory_turns=10, language="en").to_provider_format("openai")
    asked = d.question(ctx, "If it rains tomorrow, should we go")
    assert asked[:-1] == reply[:-1]
    assert asked[-1] == {"role": "user", "content": with_hint("If it rains tomorrow, should we go", "en")}
    # the reply's own last message is those words and their final punctuation: the language hint
    # comes before them, so the reply has nothing more to read than the "?"
    assert reply[-1]["content"] == asked[-1]["content"] + "?"


def test_auto_uses_the_transcript_detector_where_the_local_server_answers() -> None:
    from agent_worker.session import turn_detector

    local = WorkerSettings(_env_file=None)  # type: ignore[call-arg]
    assert local.turn_detection == "auto" and local.turn_detector_kind == "transcript"
    assert isinstance(turn_detector(local), TranscriptTurnDetector)
    cloud = WorkerSettings(_env_file=None, llm_provider="openai", openai_api_key="k")  # type: ignore[call-arg]
    assert cloud.turn_detector_kind == "model"
    explicit = WorkerSettings(  # type: ignore[call-arg]
        _env_file=None,
        stt_provider="openai",
        llm_provider="openai",
        tts_provider="openai",
        openai_api_key="k",
        fallback_to_local=False,
        turn_detection="transcript",
    )
    assert explicit.uses_local_server(), "the transcript detector asks the local server"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("unfinished", "finished"),
    [
        ("如果明天下雨的话", "如果明天下雨的话，我们还去公园吗？"),
        ("我想给我妈妈", "我想给我妈妈买一份生日礼物。"),
        ("If it rains tomorrow", "If it rains tomorrow, should we still go to the park?"),
        ("I want to buy my mother", "I want to buy my mother a nice birthday present."),
    ],
)
async def test_unfinished_words_fall_below_the_threshold_and_a_sentence_above_it(
    model_server: ModelServer, unfinished: str, finished: str
) -> None:
    # Asked as a call asks: its persona, its replies' preparation (the thresholds were chosen on these; a
    # bare context scores a whole sentence lower). The first question reads the instructions: no time limit.
    lang = language_of(finished) or "en"
    prepare = partial(prepared_context, memory_turns=10, language=lang)
    d = detector(model_server, conversation=f"thresholds-{lang}", prepare=prepare, timeout_s=60.0)
    assert await d.predict_end_of_turn(call_context(unfinished)) < threshold(unfinished)
    assert await d.predict_end_of_turn(call_context(finished)) >= threshold(finished)


@pytest.mark.slow
async def test_the_reply_reads_first_and_the_same_words_are_asked_once(
    model_server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = detector(model_server)
    asked: list[str] = []
    real = d._ask

    async def spy(messages: list[Any], timeout: float | None = None, after: Any = None) -> float:  # noqa: ASYNC109
        asked.append(messages[-1]["content"])
        return await real(messages, timeout, after=after)

    monkeypatch.setattr(d, "_ask", spy)
    # The reply asks first (nobody has yet), with Whisper's full stop and all...
    await d.read_first(context("我的孩子最近。"), limit_s=30.0)
    assert asked == ["我的孩子最近"] and d.last is not None and d.last.text == "我的孩子最近"
    # ...and livekit-agents' questions about the same words (it asks twice) find that answer.
    held = await d.predict_end_of_turn(context("我的孩子最近。"))
    assert await d.predict_end_of_turn(context("我的孩子最近。")) == held < THRESHOLDS["zh"]
    assert len(asked) == 1
    # The caller goes on after the held pause: the turn's words so far are a new question.
    ended = await d.predict_end_of_turn(context("我的孩子最近。 总是不想去上学。"))
    assert asked == ["我的孩子最近", "我的孩子最近。 总是不想去上学"] and ended >= THRESHOLDS["zh"]


@pytest.mark.slow
async def test_interim_transcripts_are_asked_about_as_the_turn_so_far_one_request_at_a_time(
    model_server: ModelServer,
) -> None:
    """While the caller speaks, the detector reads their words so far (the server then has them
    cached at the end of the turn); a request for newer words waits for the one still reading."""
    d = detector(model_server)
    session: AgentSession = AgentSession()
    d.follow(session, history=context)
    requests: list[tuple[str, float, float]] = []  # (the words, sent, answered)
    real = d._client.chat.completions.create

    async def timed(**kwargs: Any) -> Any:
        sent = time.monotonic()
        reply = await real(**kwargs)
        requests.append((kwargs["messages"][-1]["content"], sent, time.monotonic()))
        return reply

    d._client.chat.completions.create = timed  # type: ignore[method-assign]

    def heard(text: str, final: bool = False) -> None:
        session.emit("user_input_transcribed", UserInputTranscribedEvent(transcript=text, is_final=final))

    async def settled() -> None:
        while d._newest is not None and not d._newest.done():
            await d._newest

    heard("I want")
    heard("I want to")  # the detector is still reading: replaced by the next interim before its turn
    heard("I want to buy")
    await settled()
    heard("I want to buy my mother.", final=True)  # the turn's first final: not asked by itself
    heard("a nice")
    await settled()
    assert [r[0] for r in requests] == ["I want", "I want to buy", "I want to buy my mother. a nice"]
    # livekit-agents asks about newer words while an interim is being read: that request waits
    heard("a nice birthday")
    ended = await d.predict_end_of_turn(context("I want to buy my mother. a nice birthday present."))
    assert requests[-1][0] == "I want to buy my mother. a nice birthday present"
    assert requests[-1][1] >= requests[-2][2], requests
    assert ended >= THRESHOLDS["en"]
    # words already asked about are answered from memory, and a committed turn starts afresh
    before = len(requests)
    assert await d.predict_end_of_turn(context("I want to buy")) < THRESHOLDS["en"]
    assert len(requests) == before
    session.emit(
        "conversation_item_added",
        ConversationItemAddedEvent(item=llm.ChatMessage(role="user", content=["I want to buy ..."])),
    )
    heard("Thanks")
    await settled()
    assert requests[-1][0] == "Thanks"


@pytest.mark.slow
async def test_the_reply_reads_only_what_the_question_did_not(model_server: ModelServer) -> None:
    """Asked on the call's slot, the question leaves the caller's words in the prompt cache: the
    reply's request then reads only the end of the message and the assistant's prompt."""
    persona = get_persona("default")
    client = openai.AsyncOpenAI(base_url=model_server.url, api_key=model_server.api_key, max_retries=0)

    def prepare(ctx: llm.ChatContext) -> llm.ChatContext:
        return prepared_context(ctx, memory_turns=10, language="en")

    async def read_by_reply(conversation: str, ask_first: bool) -> int:
        ctx = llm.ChatContext()
        ctx.add_message(role="system", content=persona.instructions("en"))
        ctx.add_message(role="assistant", content=persona.greeting("en"))
        start, _ = prepare(ctx).to_provider_format("openai")
        # the call's start: its instructions read (the worker's prefill)
        await client.chat.completions.create(
            model="qwen2.5-1.5b",
            messages=cast(Any, start),
            max_tokens=1,
            prompt_cache_key=conversation,
        )
        ctx.add_message(role="user", content="I have been sleeping badly lately, what should I do about it?")
        if ask_first:
            d = detector(model_server, conversation=conversation, prepare=prepare)
            assert await d.predict_end_of_turn(ctx) >= THRESHOLDS["en"]
        messages, _ = prepare(ctx).to_provider_format("openai")
        reply = await client.chat.completions.create(
            model="qwen2.5-1.5b",
            messages=cast(Any, messages),
            max_tokens=1,
            prompt_cache_key=conversation,
        )
        return int((reply.model_extra or {})["timings"]["prompt_n"])

    unasked = await read_by_reply("call-unasked", ask_first=False)
    asked = await read_by_reply("call-asked", ask_first=True)
    assert asked <= 8 < 20 <= unasked, (asked, unasked)


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_a_paused_sentence_heard_by_whisper_is_one_turn(
    tmp_path: Path, fake_openai: FakeOpenAIHandle, model_server: ModelServer, lang: Lang
) -> None:
    """The worker's own session: the model server's Whisper hears the call and its language model
    judges the words at the pause; replies come from the fake (no LLM time in the way)."""
    utt = utterance(tmp_path, lang, PAUSED[lang], PAUSE_S)
    settings = settings_for(
        fake_openai,
        stt_provider="local",
        local_model_url=model_server.url,
        local_model_api_key=model_server.api_key,
        turn_detection="transcript",
    )
    events, users = await call(fake_openai, settings, utt, tmp_path)
    turns, decisions = relative(events)
    assert len(turns) == 1 and len(users) == 1, (turns, users, decisions)
    assert turns[0][1] > utt.early_before_s, (turns, utt)
    # asked at the pause (held: the long wait) and at the end (the short one)
    assert decisions[0][1] == settings.max_endpointing_delay, decisions
    assert decisions[-1][1] == settings.endpointing_min_delay, decisions
