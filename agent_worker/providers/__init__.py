"""Provider choice per stage, by configuration alone.

``local`` is the offline default (weights ship in packages); ``openai`` speaks to OpenAI or any
OpenAI-compatible server (``OPENAI_BASE_URL``); ``azure`` is Azure Speech. A cloud stage is wrapped in
livekit-agents' ``FallbackAdapter`` with the local provider behind it, so a cloud outage degrades the
voice instead of ending the call.
"""

from __future__ import annotations

from dataclasses import dataclass

from livekit.agents import llm, stt, tts, vad
from livekit.plugins import silero

from agent_worker.providers import azure_speech, offline, openai_compat
from agent_worker.settings import Language, Provider, WorkerSettings


@dataclass
class Pipeline:
    vad: vad.VAD
    stt: stt.STT
    llm: llm.LLM
    tts: tts.TTS


_VAD_CACHE: dict[float, vad.VAD] = {}


def build_vad(settings: WorkerSettings) -> vad.VAD:
    # silero's ONNX model ships inside livekit-plugins-silero; one instance per process is enough.
    key = settings.vad_min_silence_duration
    if key not in _VAD_CACHE:
        _VAD_CACHE[key] = silero.VAD.load(min_silence_duration=key)
    return _VAD_CACHE[key]


def build_stt(settings: WorkerSettings, language: Language, vad_: vad.VAD) -> stt.STT:
    if settings.stt_provider is Provider.LOCAL:
        return offline.build_stt(settings, language)
    cloud = (
        openai_compat.build_stt(settings, language)
        if settings.stt_provider is Provider.OPENAI
        else azure_speech.build_stt(settings, language)
    )
    if not settings.fallback_to_local:
        return cloud
    return stt.FallbackAdapter([cloud, offline.build_stt(settings, language)], vad=vad_)


def build_llm(settings: WorkerSettings) -> llm.LLM:
    if settings.llm_provider is Provider.LOCAL:
        return offline.build_llm(settings)
    cloud = openai_compat.build_llm(settings)
    if not settings.fallback_to_local:
        return cloud
    return llm.FallbackAdapter([cloud, offline.build_llm(settings)], attempt_timeout=10.0)


def build_tts(settings: WorkerSettings, language: Language) -> tts.TTS:
    if settings.tts_provider is Provider.LOCAL:
        return offline.build_tts(settings, language)
    cloud = (
        openai_compat.build_tts(settings)
        if settings.tts_provider is Provider.OPENAI
        else azure_speech.build_tts(settings, language)
    )
    if not settings.fallback_to_local:
        return cloud
    return tts.FallbackAdapter([cloud, offline.build_tts(settings, language)], max_retry_per_tts=1)


def build_pipeline(settings: WorkerSettings, language: Language) -> Pipeline:
    vad_ = build_vad(settings)
    return Pipeline(
        vad=vad_,
        stt=build_stt(settings, language, vad_),
        llm=build_llm(settings),
        tts=build_tts(settings, language),
    )
