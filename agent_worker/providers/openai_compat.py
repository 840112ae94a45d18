"""Every OpenAI-protocol stage through livekit-plugins-openai: OpenAI itself, or the local model server.

One code path for cloud and local: an ``OpenAIEndpoint`` names the server, its key and the models, so
pointing the worker at vLLM, Ollama, a speaches server or another GGUF is a change of settings only.
"""

from __future__ import annotations

from dataclasses import dataclass

# the OpenAI SDK the plugin uses is built on httpx2 (httpx's successor); its timeouts are its own type
import httpx2
from livekit.agents import llm, stt, tts
from livekit.agents.types import NOT_GIVEN
from livekit.plugins import openai

from agent_worker.settings import Language, WorkerSettings

# Raw 16-bit 24 kHz PCM: nothing to decode on either side, and the first bytes play at once.
TTS_FORMAT = "pcm"


@dataclass(frozen=True)
class OpenAIEndpoint:
    provider: str  # "openai" or "local", as the session log reports it
    base_url: str | None  # None: api.openai.com
    api_key: str
    stt_model: str
    llm_model: str
    tts_model: str
    tts_voice: str


def cloud_endpoint(settings: WorkerSettings) -> OpenAIEndpoint:
    assert settings.openai_api_key is not None  # guaranteed by WorkerSettings validation
    return OpenAIEndpoint(
        provider="openai",
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key.get_secret_value(),
        stt_model=settings.openai_stt_model,
        llm_model=settings.openai_llm_model,
        tts_model=settings.openai_tts_model,
        tts_voice=settings.openai_tts_voice,
    )


def local_endpoint(settings: WorkerSettings) -> OpenAIEndpoint:
    return OpenAIEndpoint(
        provider="local",
        base_url=settings.local_model_url,
        api_key=settings.local_model_api_key.get_secret_value(),
        stt_model=settings.local_stt_model,
        llm_model=settings.local_llm_model,
        tts_model=settings.local_tts_model,
        tts_voice=settings.local_tts_voice,
    )


def build_stt(endpoint: OpenAIEndpoint, settings: WorkerSettings, language: Language) -> stt.STT:
    # The call's language is the hint; bilingual mode lets the server detect it per utterance.
    return openai.STT(
        model=endpoint.stt_model,
        language=language,
        detect_language=settings.language_mode == "bilingual",
        api_key=endpoint.api_key,
        base_url=endpoint.base_url or NOT_GIVEN,
    )


# The plugin's default read timeout is 5 s: a local CPU model reading a long prompt can take longer
# before its first token, and a retry would only start reading it again.
LOCAL_LLM_TIMEOUT = httpx2.Timeout(connect=5.0, read=60.0, write=10.0, pool=5.0)


def build_llm(endpoint: OpenAIEndpoint, settings: WorkerSettings, conversation: str) -> llm.LLM:
    # prompt_cache_key: one call's requests share a prompt prefix; the local server keeps them on one
    # llama.cpp slot (so another call never evicts this one's cached history), OpenAI routes by it.
    return openai.LLM(
        model=endpoint.llm_model,
        prompt_cache_key=conversation,
        timeout=LOCAL_LLM_TIMEOUT if endpoint.provider == "local" else None,
        max_completion_tokens=settings.max_reply_tokens,
        temperature=settings.llm_temperature,
        api_key=endpoint.api_key,
        base_url=endpoint.base_url or NOT_GIVEN,
    )


def build_tts(endpoint: OpenAIEndpoint) -> tts.TTS:
    return openai.TTS(
        model=endpoint.tts_model,
        voice=endpoint.tts_voice,
        response_format=TTS_FORMAT,
        api_key=endpoint.api_key,
        base_url=endpoint.base_url or NOT_GIVEN,
    )
