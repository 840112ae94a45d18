"""POST /voice-preview: a greeting spoken by a voice for the assistant editor, through a real HTTP
speech endpoint speaking OpenAI's wire protocol (infra/fake_openai, espeak-ng behind it)."""

from __future__ import annotations

import base64
import io
import json
import wave

import pytest

from functions.settings import get_settings
from tests.conftest import FakeOpenAIHandle
from tests.functions.lambda_events import Reply, invoke
from tests.support.operator import Operator

WRITER = "openid assistants:write"


def preview(operator: Operator, body: object, scope: str = WRITER) -> Reply:
    headers = {**operator.headers(scope), "content-type": "application/json"}
    return invoke("POST", "/voice-preview", body=json.dumps(body), headers=headers)


@pytest.fixture
def speech_service(monkeypatch: pytest.MonkeyPatch, fake_openai: FakeOpenAIHandle) -> FakeOpenAIHandle:
    monkeypatch.setenv("PREVIEW_TTS_URL", fake_openai.base_url)
    monkeypatch.setenv("PREVIEW_TTS_API_KEY", "sk-preview")
    monkeypatch.setenv("PREVIEW_TTS_VOICE", "en-joe")
    get_settings.cache_clear()
    return fake_openai


def test_a_greeting_comes_back_as_speech_in_the_chosen_voice(
    speech_service: FakeOpenAIHandle, operator: Operator
) -> None:
    reply = preview(operator, {"text": "Hello, bookings desk.", "language": "en", "voice": "alloy"})
    assert reply.status == 200, reply.text
    answer = reply.json()
    assert answer["format"] == "wav" and answer["voice"] == "alloy"
    with wave.open(io.BytesIO(base64.b64decode(answer["audio"]))) as wav:
        assert wav.getnframes() / wav.getframerate() > 0.5  # a second or so of speech
    sent = speech_service.stats()["last_speech"]
    assert sent == {
        "model": "tts-1",
        "voice": "alloy",
        "input": "Hello, bookings desk.",
        "response_format": "wav",
        "bearer": True,
    }
    # no voice named: the preview's default
    assert preview(operator, {"text": "你好，这里是订位台。", "language": "zh"}).status == 200
    assert speech_service.stats()["last_speech"]["voice"] == "en-joe"


def test_the_speech_service_refusing_a_voice_is_a_422_with_its_words(
    speech_service: FakeOpenAIHandle, operator: Operator
) -> None:
    speech_service.control(voices=["alloy"])
    reply = preview(operator, {"text": "Hello.", "language": "en", "voice": "nobody"})
    assert reply.status == 422 and reply.json()["error"] == "voice_preview_failed", reply.text
    assert "voice 'nobody' is not available" in reply.json()["detail"]
    speech_service.control(voices=None, fail=["tts"], fail_status=503)
    down = preview(operator, {"text": "Hello.", "language": "en"})
    assert down.status == 502 and "503" in down.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"text": "", "language": "en"},
        {"text": "x" * 301, "language": "en"},
        {"text": "Hello.", "language": "fr"},
        {"text": "Hello.", "language": "en", "voice": "a voice with spaces"},
        {"text": "Hello.", "language": "en", "url": "http://169.254.169.254/"},
    ],
)
def test_bad_requests_are_refused_before_any_speech(
    body: dict[str, str], speech_service: FakeOpenAIHandle, operator: Operator
) -> None:
    reply = preview(operator, body)
    assert reply.status == 422 and reply.json()["error"] == "validation_error", reply.text
    assert speech_service.stats()["tts_requests"] == 0


def test_readers_may_not_spend_speech_and_an_unconfigured_preview_says_so(
    monkeypatch: pytest.MonkeyPatch, speech_service: FakeOpenAIHandle, operator: Operator
) -> None:
    body = {"text": "Hello.", "language": "en"}
    assert preview(operator, body, scope="openid assistants:read").status == 403
    monkeypatch.setenv("PREVIEW_TTS_URL", "")
    get_settings.cache_clear()
    off = preview(operator, body)
    assert off.status == 404 and off.json()["error"] == "voice_preview_off"
    monkeypatch.setenv("PREVIEW_TTS_URL", speech_service.base_url)
    monkeypatch.setenv("PREVIEW_TTS_API_KEY", "")
    get_settings.cache_clear()
    closed = preview(operator, body)  # a URL but no key: fail closed, naming the setting
    assert closed.status == 500 and "PREVIEW_TTS_API_KEY" in closed.text
    assert speech_service.stats()["tts_requests"] == 0


def test_an_unreachable_speech_service_is_a_502(monkeypatch: pytest.MonkeyPatch, operator: Operator) -> None:
    monkeypatch.setenv("PREVIEW_TTS_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("PREVIEW_TTS_API_KEY", "sk-preview")
    get_settings.cache_clear()
    reply = preview(operator, {"text": "Hello.", "language": "en"})
    assert reply.status == 502 and reply.json()["detail"] == "the speech service could not be reached"
