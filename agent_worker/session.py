"""Builds the ``AgentSession`` for one call: pipeline, turn handling, memory and observation."""

from __future__ import annotations

from functools import partial

from livekit.agents import AgentSession
from livekit.agents.voice.turn import TurnDetectionMode, TurnHandlingOptions

from agent_worker.agent import VoiceAgent, prepared_context
from agent_worker.persona import Persona, get_persona
from agent_worker.phrase_cache import PhraseCache, voice_key
from agent_worker.providers import Pipeline, build_pipeline
from agent_worker.settings import Language, Provider, WorkerSettings
from agent_worker.spoken_text import filter_markdown_streaming
from agent_worker.transcript_turns import TranscriptTurnDetector


def turn_detector(
    settings: WorkerSettings, language: Language = "en", conversation: str = "turn-detector"
) -> TurnDetectionMode | TranscriptTurnDetector:
    """Silence alone, LiveKit's turn detector v1-mini run offline in this process, or the local model
    server's language model reading the caller's transcript (``transcript``).

    The detector's threshold is looked up by the language of the caller's transcript (the STT's detected
    language, or the call's language in fixed mode), so a Mandarin turn is judged by TURN_THRESHOLD_ZH;
    languages without a setting keep the model's own threshold. ``language`` and ``conversation``:
    the call's, for the transcript detector, which asks in the call's conversation as its replies do.
    """
    kind = settings.turn_detector_kind
    if kind == "vad":
        return "vad"
    if kind == "transcript":
        return TranscriptTurnDetector(
            base_url=settings.local_model_url,
            api_key=settings.local_model_api_key.get_secret_value(),
            model=settings.local_llm_model,
            thresholds={
                "zh": settings.turn_transcript_threshold_zh,
                "en": settings.turn_transcript_threshold_en,
            },
            conversation=conversation,
            prepare=partial(prepared_context, memory_turns=settings.memory_turns, language=language),
        )
    from livekit.agents.inference import TurnDetector

    thresholds = {
        lang: value
        for lang, value in (("zh", settings.turn_threshold_zh), ("en", settings.turn_threshold_en))
        if value is not None
    }
    # version= always: without it the detector picks LiveKit Cloud whenever LiveKit keys are set.
    if thresholds:
        return TurnDetector(version="v1-mini", unlikely_threshold=thresholds)
    return TurnDetector(version="v1-mini")


def turn_handling(
    settings: WorkerSettings, detector: TurnDetectionMode | TranscriptTurnDetector | None = None
) -> TurnHandlingOptions:
    """``detector``: one already built for the call (default: from the settings)."""
    return TurnHandlingOptions(
        turn_detection=turn_detector(settings) if detector is None else detector,
        endpointing={
            "mode": "fixed",
            "min_delay": settings.endpointing_min_delay,
            "max_delay": settings.max_endpointing_delay,
        },
        interruption={
            "enabled": settings.allow_interruptions,
            "mode": "vad",
            "min_duration": settings.min_interruption_duration,
            "resume_false_interruption": settings.resume_false_interruption,
            "false_interruption_timeout": settings.false_interruption_timeout,
        },
        preemptive_generation={"enabled": settings.preemptive_generation},
    )


def build_session(
    settings: WorkerSettings,
    pipeline: Pipeline,
    echo_free: bool = False,
    detector: TurnDetectionMode | TranscriptTurnDetector | None = None,
) -> AgentSession:
    """``echo_free``: the input can never hear the agent (a file), so no echo-cancellation warm-up."""
    return AgentSession(
        vad=pipeline.vad,
        stt=pipeline.stt,
        llm=pipeline.llm,
        tts=pipeline.tts,
        turn_handling=turn_handling(settings, detector),
        tts_text_transforms=[filter_markdown_streaming, "filter_emoji"],
        # An interrupted reply is written back to the context as only the words already played: the
        # session aligns text to playout (TranscriptSynchronizer), so nothing here has to.
        user_away_timeout=None,
        # livekit-agents ignores the caller for 3 s by default while the client's echo canceller
        # converges; that also swallows a caller who keeps talking. Ours is shorter and configurable.
        aec_warmup_duration=None if echo_free else settings.aec_warmup_duration,
        # A file has nothing left to say at its end: do not wait for a last transcript on close.
        session_close_transcript_timeout=0.2 if echo_free else 2.0,
    )


def build_agent(
    settings: WorkerSettings,
    language: Language,
    persona: Persona | None,
    greet: bool,
    opening: str | None = None,
    turn_detector: TranscriptTurnDetector | None = None,
) -> VoiceAgent:
    """``persona``: None is the built-in one PERSONA names."""
    return VoiceAgent(
        persona=persona or get_persona(settings.persona),
        language=language,
        memory_turns=settings.memory_turns,
        greet=greet,
        opening=opening,
        phrases=PhraseCache(settings.phrase_cache_dir, voice_key(settings))
        if settings.phrase_cache
        else None,
        # only where a prompt cache makes it pay: a cloud LLM would bill the extra request
        prefill=settings.llm_prefill and settings.llm_provider is Provider.LOCAL,
        reply_grammar=settings.llm_reply_grammar and settings.llm_provider is Provider.LOCAL,
        dry_multiplier=settings.llm_dry_multiplier if settings.llm_provider is Provider.LOCAL else 0.0,
        seed=settings.llm_seed,
        # where the detector and the replies share one model server, the detector reads first
        turn_detector=turn_detector if settings.llm_provider is Provider.LOCAL else None,
    )


def new_call(
    settings: WorkerSettings,
    language: Language,
    persona: Persona | None,
    greet: bool,
    conversation: str,
    echo_free: bool = False,
    opening: str | None = None,
) -> tuple[AgentSession, VoiceAgent]:
    """``conversation``: the session id (keeps the call's prompt cache together on the LLM server).
    ``opening``: said instead of the persona's greeting (an agent taking over a call says it is back)."""
    detector = turn_detector(settings, language, conversation)
    pipeline = build_pipeline(settings, language, conversation)
    # the transcript detector and the replies take turns on the model server
    transcript = detector if isinstance(detector, TranscriptTurnDetector) else None
    agent = build_agent(settings, language, persona, greet, opening, transcript)
    session = build_session(settings, pipeline, echo_free, detector)
    if transcript is not None:
        # the instructions read at the start by the agent's own prefill, or else by the detector
        transcript.follow(session, lambda: agent.chat_ctx, warm=not agent.prefills)
    return session, agent
