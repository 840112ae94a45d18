"""Azure Speech for STT and TTS (zh-CN and en-US) via livekit-plugins-azure."""

from __future__ import annotations

from livekit.agents import stt, tts
from livekit.agents.types import NOT_GIVEN
from livekit.plugins import azure

from agent_worker.settings import Language, WorkerSettings

AZURE_LOCALES: dict[Language, str] = {"zh": "zh-CN", "en": "en-US"}


def _key(settings: WorkerSettings) -> str:
    assert settings.azure_speech_key is not None  # guaranteed by WorkerSettings validation
    return settings.azure_speech_key.get_secret_value()


def build_stt(settings: WorkerSettings, language: Language) -> stt.STT:
    primary = AZURE_LOCALES[language]
    # Azure detects among candidate locales; the call's language goes first.
    locales = [primary, *(loc for loc in AZURE_LOCALES.values() if loc != primary)]
    return azure.STT(
        language=locales if settings.language_mode == "bilingual" else primary,
        speech_key=_key(settings),
        speech_region=settings.azure_speech_region or NOT_GIVEN,
        speech_endpoint=settings.azure_speech_endpoint or NOT_GIVEN,
    )


def voice_for(settings: WorkerSettings, language: Language) -> str:
    return settings.azure_voice_zh if language == "zh" else settings.azure_voice_en


def build_tts(settings: WorkerSettings, language: Language) -> tts.TTS:
    return azure.TTS(
        voice=voice_for(settings, language),
        language=AZURE_LOCALES[language],
        speech_key=_key(settings),
        speech_region=settings.azure_speech_region,
        speech_endpoint=settings.azure_speech_endpoint,
    )
