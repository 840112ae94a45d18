"""OpenAI (or any OpenAI-protocol server) for STT, LLM and TTS via livekit-plugins-openai."""

from __future__ import annotations

from livekit.agents import llm, stt, tts
from livekit.plugins import openai

from agent_worker.settings import Language, WorkerSettings


def _common(settings: WorkerSettings) -> dict[str, str]:
    assert settings.openai_api_key is not None  # guaranteed by WorkerSettings validation
    kwargs = {"api_key": settings.openai_api_key.get_secret_value()}
    if settings.openai_base_url:
        kwargs["base_url"] = settings.openai_base_url
    return kwargs


def build_stt(settings: WorkerSettings, language: Language) -> stt.STT:
    # Language is explicit: Whisper-family models misread Mandarin when left to guess.
    return openai.STT(model=settings.openai_stt_model, language=language, **_common(settings))


def build_llm(settings: WorkerSettings) -> llm.LLM:
    return openai.LLM(model=settings.openai_llm_model, max_completion_tokens=settings.max_reply_tokens,
                      **_common(settings))


def build_tts(settings: WorkerSettings) -> tts.TTS:
    return openai.TTS(model=settings.openai_tts_model, voice=settings.openai_tts_voice, **_common(settings))
