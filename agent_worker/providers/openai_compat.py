"""OpenAI (or any OpenAI-protocol server) for STT, LLM and TTS via livekit-plugins-openai."""

from __future__ import annotations

from livekit.agents import llm, stt, tts
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.plugins import openai

from agent_worker.settings import Language, WorkerSettings


def _key(settings: WorkerSettings) -> str:
    assert settings.openai_api_key is not None  # guaranteed by WorkerSettings validation
    return settings.openai_api_key.get_secret_value()


def _base_url(settings: WorkerSettings) -> NotGivenOr[str]:
    return settings.openai_base_url or NOT_GIVEN


def build_stt(settings: WorkerSettings, language: Language) -> stt.STT:
    # The call's language is always the hint; bilingual mode lets the model switch per turn.
    return openai.STT(
        model=settings.openai_stt_model,
        language=language,
        detect_language=settings.language_mode == "bilingual",
        api_key=_key(settings),
        base_url=_base_url(settings),
    )


def build_llm(settings: WorkerSettings) -> llm.LLM:
    return openai.LLM(
        model=settings.openai_llm_model,
        max_completion_tokens=settings.max_reply_tokens,
        api_key=_key(settings),
        base_url=_base_url(settings),
    )


def build_tts(settings: WorkerSettings) -> tts.TTS:
    return openai.TTS(
        model=settings.openai_tts_model,
        voice=settings.openai_tts_voice,
        api_key=_key(settings),
        base_url=_base_url(settings),
    )
