"""Configuration: every invalid combination fails at start-up with one line naming the setting."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent_worker.providers import azure_speech, openai_compat
from agent_worker.settings import WorkerSettings, config_error_line


def error_line(**env: object) -> str:
    with pytest.raises(ValidationError) as exc:
        WorkerSettings(_env_file=None, **env)  # type: ignore[call-arg]
    return config_error_line(exc.value)


def test_defaults_are_offline_and_valid() -> None:
    s = WorkerSettings(_env_file=None)  # type: ignore[call-arg]
    assert s.providers() == {"stt": "local", "llm": "local", "tts": "local"}
    assert s.memory_turns == 10
    assert s.livekit_url == "ws://127.0.0.1:7880"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"llm_provider": "openai"}, "OPENAI_API_KEY: required when LLM_PROVIDER=openai"),
        ({"stt_provider": "azure"}, "AZURE_SPEECH_KEY: required when STT_PROVIDER=azure"),
        (
            {"tts_provider": "azure", "azure_speech_key": "k"},
            "AZURE_SPEECH_REGION: required (or AZURE_SPEECH_ENDPOINT) when TTS_PROVIDER=azure",
        ),
        ({"llm_provider": "azure"}, "LLM_PROVIDER: azure offers speech only; choose local or openai"),
        (
            {"tts_provider": "openai", "openai_api_key": "k", "openai_tts_voice": "darth"},
            "OPENAI_TTS_VOICE: unknown voice 'darth'",
        ),
        (
            {
                "tts_provider": "azure",
                "azure_speech_key": "k",
                "azure_speech_region": "eastus",
                "azure_voice_zh": "en-US-JennyNeural",
            },
            "AZURE_VOICE_ZH: 'en-US-JennyNeural' is not an Azure neural voice for zh",
        ),
        (
            {
                "tts_provider": "azure",
                "azure_speech_key": "k",
                "azure_speech_region": "eastus",
                "azure_voice_en": "Jenny",
            },
            "AZURE_VOICE_EN: 'Jenny' is not an Azure neural voice for en",
        ),
        ({"stt_provider": "whisper"}, "STT_PROVIDER: Input should be 'local', 'openai' or 'azure'"),
        ({"memory_turns": 0}, "MEMORY_TURNS: Input should be greater than or equal to 1"),
        (
            {"min_endpointing_delay": 2.0, "max_endpointing_delay": 1.0},
            "MIN_ENDPOINTING_DELAY: must not exceed MAX_ENDPOINTING_DELAY",
        ),
    ],
)
def test_invalid_configuration_names_the_setting(env: dict[str, object], expected: str) -> None:
    line = error_line(**env)
    assert line.startswith("configuration error: ")
    assert expected in line
    assert "\n" not in line


def test_azure_providers_are_built_for_both_languages() -> None:
    s = WorkerSettings(
        _env_file=None,
        stt_provider="azure",
        tts_provider="azure",  # type: ignore[call-arg]
        azure_speech_key="k",
        azure_speech_region="eastasia",
    )
    zh_tts = azure_speech.build_tts(s, "zh")
    en_tts = azure_speech.build_tts(s, "en")
    assert zh_tts._opts.voice == "zh-CN-XiaoxiaoNeural" and zh_tts._opts.language == "zh-CN"
    assert en_tts._opts.voice == "en-US-JennyNeural" and en_tts._opts.language == "en-US"
    assert azure_speech.build_stt(s, "zh")._config.language == ["zh-CN", "en-US"]  # bilingual: zh first
    fixed = s.model_copy(update={"language_mode": "fixed"})
    assert azure_speech.build_stt(fixed, "en")._config.language == ["en-US"]


def test_openai_providers_take_the_configured_base_url() -> None:
    s = WorkerSettings(
        _env_file=None,
        stt_provider="openai",
        llm_provider="openai",  # type: ignore[call-arg]
        tts_provider="openai",
        openai_api_key="k",
        openai_base_url="http://127.0.0.1:9/v1",
    )
    llm = openai_compat.build_llm(openai_compat.cloud_endpoint(s), s, "call-1")
    assert str(llm._client.base_url).startswith("http://127.0.0.1:9/v1")
    assert llm.model == s.openai_llm_model


def test_local_and_cloud_stages_share_one_plugin_and_differ_only_by_settings() -> None:
    """The offline default is livekit-plugins-openai pointed at the local model server."""
    from livekit.agents import stt, tts
    from livekit.plugins import openai

    from agent_worker.providers import build_pipeline
    from agent_worker.stt_stream import EagerStreamAdapter

    s = WorkerSettings(_env_file=None, local_model_url="http://127.0.0.1:8100/v1")  # type: ignore[call-arg]
    pipeline = build_pipeline(s, "zh", "call-1")
    assert isinstance(pipeline.llm, openai.LLM)
    assert str(pipeline.llm._client.base_url).startswith("http://127.0.0.1:8100/v1")
    assert pipeline.llm.model == "qwen2.5-1.5b"
    # the local server decodes for free: wrapped for interim transcripts and an early final decode
    assert isinstance(pipeline.stt, EagerStreamAdapter)
    local_stt = pipeline.stt.wrapped_stt
    assert isinstance(local_stt, openai.STT) and local_stt.model == "whisper-base"
    # a non-streaming TTS is cut per clause, so the first words play before the reply is written
    assert isinstance(pipeline.tts, tts.StreamAdapter)
    assert isinstance(pipeline.tts._wrapped_tts, openai.TTS)
    cloud = WorkerSettings(_env_file=None, stt_provider="openai", openai_api_key="k")  # type: ignore[call-arg]
    assert isinstance(build_pipeline(cloud, "en", "call-2").stt, stt.FallbackAdapter)


def test_the_endpointing_delay_and_interims_default_by_turn_detector() -> None:
    local = WorkerSettings(_env_file=None)  # type: ignore[call-arg]
    assert local.turn_detector_kind == "transcript"
    assert (local.endpointing_min_delay, local.interim_interval) == (0.3, 1.0)
    cloud = WorkerSettings(_env_file=None, llm_provider="openai", openai_api_key="k")  # type: ignore[call-arg]
    assert cloud.turn_detector_kind == "model"
    assert (cloud.endpointing_min_delay, cloud.interim_interval) == (0.5, 0.0)
    chosen = WorkerSettings(_env_file=None, min_endpointing_delay=0.7, stt_interim_interval=0)  # type: ignore[call-arg]
    assert (chosen.endpointing_min_delay, chosen.interim_interval) == (0.7, 0.0)
