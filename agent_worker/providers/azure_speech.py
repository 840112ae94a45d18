"""Azure Speech for STT and TTS (zh-CN and en-US) via livekit-plugins-azure."""

from __future__ import annotations

from livekit.agents import stt, tts
from livekit.plugins import azure

from agent_worker.settings import Language, WorkerSettings

AZURE_LOCALES: dict[Language, str] = {"zh": "zh-CN", "en": "en-US"}


def _credentials(settings: WorkerSettings) -> dict[str, str]:
    assert settings.azure_speech_key is not None  # guaranteed by WorkerSettings validation
    creds = {"speech_key": settings.azure_speech_key.get_secret_value()}
    if settings.azure_speech_endpoint:
        creds["speech_endpoint"] = settings.azure_speech_endpoint
    else:
        assert settings.azure_speech_region is not None
        creds["speech_region"] = settings.azure_speech_region
    return creds


def build_stt(settings: WorkerSettings, language: Language) -> stt.STT:
    return azure.STT(language=AZURE_LOCALES[language], **_credentials(settings))


def voice_for(settings: WorkerSettings, language: Language) -> str:
    return settings.azure_voice_zh if language == "zh" else settings.azure_voice_en


def build_tts(settings: WorkerSettings, language: Language) -> tts.TTS:
    return azure.TTS(voice=voice_for(settings, language), language=AZURE_LOCALES[language],
                     **_credentials(settings))
