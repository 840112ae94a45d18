"""Provider choice per stage, by configuration alone.

``local`` is the offline default: the local model server (``python -m infra.model_server``) over the
OpenAI API, the same plugin code as ``openai``; ``azure`` is Azure Speech. A cloud stage is wrapped in
livekit-agents' ``FallbackAdapter`` with the local server behind it, so a cloud outage degrades the
voice instead of ending the call.
"""

from __future__ import annotations

from dataclasses import dataclass

from livekit.agents import llm, stt, tts, vad
from livekit.plugins import silero

from agent_worker.providers import azure_speech, openai_compat
from agent_worker.providers.openai_compat import OpenAIEndpoint, cloud_endpoint, local_endpoint
from agent_worker.settings import Language, Provider, WorkerSettings
from agent_worker.speech_chunks import ClauseTokenizer
from agent_worker.stt_stream import EagerOptions, EagerStreamAdapter


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


def _endpoint(settings: WorkerSettings, provider: Provider) -> OpenAIEndpoint:
    return local_endpoint(settings) if provider is Provider.LOCAL else cloud_endpoint(settings)


def build_stt(settings: WorkerSettings, language: Language, vad_: vad.VAD) -> stt.STT:
    local = openai_compat.build_stt(local_endpoint(settings), settings, language)
    if settings.stt_provider is Provider.LOCAL:
        # the local server decodes for free: interim transcripts, and the final one started early
        return EagerStreamAdapter(
            stt=local,
            vad=vad_,
            options=EagerOptions(
                interim_interval=settings.interim_interval,
                early_final_after=settings.stt_early_final_after,
            ),
        )
    cloud = (
        openai_compat.build_stt(cloud_endpoint(settings), settings, language)
        if settings.stt_provider is Provider.OPENAI
        else azure_speech.build_stt(settings, language)
    )
    if not settings.fallback_to_local:
        return cloud
    return stt.FallbackAdapter([cloud, local], vad=vad_)


def build_llm(settings: WorkerSettings, conversation: str) -> llm.LLM:
    primary = openai_compat.build_llm(_endpoint(settings, settings.llm_provider), settings, conversation)
    if settings.llm_provider is Provider.LOCAL or not settings.fallback_to_local:
        return primary
    local = openai_compat.build_llm(local_endpoint(settings), settings, conversation)
    return llm.FallbackAdapter([primary, local], attempt_timeout=10.0)


def build_tts(settings: WorkerSettings, language: Language) -> tts.TTS:
    chosen = _build_tts(settings, language)
    if chosen.capabilities.streaming:
        return chosen
    # Synthesis per clause, not per sentence: the first words play while the LLM writes the rest.
    tokenizer = ClauseTokenizer(
        first_piece_words=settings.tts_first_piece_words, first_piece_chars=settings.tts_first_piece_chars
    )
    return tts.StreamAdapter(tts=chosen, sentence_tokenizer=tokenizer)


def _build_tts(settings: WorkerSettings, language: Language) -> tts.TTS:
    local = openai_compat.build_tts(local_endpoint(settings))
    if settings.tts_provider is Provider.LOCAL:
        return local
    cloud = (
        openai_compat.build_tts(cloud_endpoint(settings))
        if settings.tts_provider is Provider.OPENAI
        else azure_speech.build_tts(settings, language)
    )
    if not settings.fallback_to_local:
        return cloud
    return tts.FallbackAdapter([cloud, local], max_retry_per_tts=1)


def build_pipeline(settings: WorkerSettings, language: Language, conversation: str) -> Pipeline:
    """``conversation``: a key for this call (the session id) that keeps its prompt cache together."""
    vad_ = build_vad(settings)
    return Pipeline(
        vad=vad_,
        stt=build_stt(settings, language, vad_),
        llm=build_llm(settings, conversation),
        tts=build_tts(settings, language),
    )
