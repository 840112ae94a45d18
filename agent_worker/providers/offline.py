"""The offline default: builds the packaged-model providers from settings."""

from __future__ import annotations

from livekit.agents import llm, stt, tts

from agent_worker.settings import Language, WorkerSettings


def build_stt(settings: WorkerSettings, language: Language) -> stt.STT:
    from agent_worker.providers.local.stt import LocalSTT

    mode = "auto" if settings.language_mode == "bilingual" else language
    return LocalSTT(model_path=settings.local_stt_model, language=mode, threads=settings.local_threads)


def build_llm(settings: WorkerSettings) -> llm.LLM:
    from agent_worker.providers.local.llm import LocalLLM

    return LocalLLM(
        model_path=settings.local_llm_model,
        max_tokens=settings.max_reply_tokens,
        threads=settings.local_threads,
    )


def build_tts(settings: WorkerSettings, language: Language) -> tts.TTS:
    from agent_worker.providers.local.tts import LocalTTS

    voice = settings.local_tts_voice_zh if language == "zh" else settings.local_tts_voice_en
    return LocalTTS(language=language, voice=voice)


def uses_local(settings: WorkerSettings) -> bool:
    stages = (settings.stt_provider, settings.llm_provider, settings.tts_provider)
    return settings.fallback_to_local or any(p.value == "local" for p in stages)


def prewarm_local(settings: WorkerSettings) -> None:
    """Load (and warm up) the packaged models this configuration may use, with progress on the console."""
    if not uses_local(settings):
        return
    from agent_worker.providers.local import models

    models.prewarm(settings.local_stt_model, settings.local_llm_model, settings.local_threads)
