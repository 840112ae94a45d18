"""The model server over real HTTP: OpenAI's wire format (through the official client too), streaming,
bad input, the API key and concurrent requests, against the real offline models."""

from __future__ import annotations

import io
import json
import math
import threading
import time
import wave
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from benchmarks.conversation_bench import lost_share
from tests.support.audio import read_wav, voiced_seconds
from tests.support.model_server import ModelServer
from tests.support.voices import speak_natural

pytestmark = pytest.mark.slow

LLM, STT, TTS = "qwen2.5-1.5b", "whisper-base", "local-tts"


def _client(server: ModelServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key=server.api_key, max_retries=0, timeout=120)


def _error(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body["error"]) >= {"message", "type"}, body
    assert "Traceback" not in resp.text
    return dict(body["error"])


def _stream(server: ModelServer, path: str, body: dict[str, Any]) -> Any:
    return httpx.stream("POST", f"{server.url}{path}", json=body, headers=server.headers(), timeout=60)


def _post(server: ModelServer, path: str, **kwargs: Any) -> httpx.Response:
    headers = {**server.headers(), **kwargs.pop("headers", {})}
    return httpx.post(f"{server.url}{path}", headers=headers, timeout=120, **kwargs)


def test_health_needs_no_key_and_lists_nothing_private(model_server: ModelServer) -> None:
    resp = httpx.get(f"{model_server.base}/health", timeout=10)
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "models": {"llm": LLM, "stt": STT, "tts": TTS}}


ROUTES = [
    ("GET", "/models"),
    ("POST", "/chat/completions"),
    ("POST", "/completions"),
    ("POST", "/audio/transcriptions"),
]


@pytest.mark.parametrize(("method", "path"), [*ROUTES, ("POST", "/audio/speech")])
@pytest.mark.parametrize("auth", [None, "Bearer wrong-key", "Basic dGVzdA=="])
def test_every_v1_route_needs_the_key(
    model_server: ModelServer, method: str, path: str, auth: str | None
) -> None:
    headers = {"Authorization": auth} if auth else {}
    resp = httpx.request(method, f"{model_server.url}{path}", headers=headers, json={}, timeout=10)
    assert _error(resp, 401)["code"] == "invalid_api_key"


def test_models_names_each_stage(model_server: ModelServer) -> None:
    ids = {m.id for m in _client(model_server).models.list()}
    assert ids == {LLM, STT, TTS}


def test_chat_streams_through_the_openai_client(model_server: ModelServer) -> None:
    stream = _client(model_server).chat.completions.create(
        model=LLM,
        messages=[
            {"role": "user", "content": "Explain in one sentence why the sky is blue on a clear day."},
        ],
        max_tokens=40,
        temperature=0,
        stream=True,
    )
    pieces, finish = [], None
    for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
    text = "".join(pieces)
    assert len([p for p in pieces if p]) > 3, ("tokens arrive one by one", pieces)
    assert "blue" in text.lower(), text
    assert finish in ("stop", "length")


def test_chat_without_streaming_answers_in_the_callers_language(model_server: ModelServer) -> None:
    reply = _client(model_server).chat.completions.create(
        model=LLM,
        messages=[{"role": "user", "content": "用一句话告诉我，中国的首都是哪里？"}],
        max_completion_tokens=40,
    )
    text = reply.choices[0].message.content or ""
    assert "北京" in text, text
    assert reply.usage is not None and reply.usage.completion_tokens > 0


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": LLM}, 400, "messages"),
        ({"model": LLM, "messages": []}, 400, "messages"),
        ({"model": LLM, "messages": [{"role": "wizard", "content": "hi"}]}, 400, "messages.0.role"),
        ({"model": LLM, "messages": [{"role": "user", "content": "hi"}], "n": 2}, 400, "n"),
        ({"model": LLM, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, 400, "max_tokens"),
        ({"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}, 404, "model"),
    ],
)
def test_chat_rejects_bad_requests_with_openai_errors(
    model_server: ModelServer, body: dict[str, Any], status: int, param: str
) -> None:
    assert _error(_post(model_server, "/chat/completions", json=body), status)["param"] == param


def test_completion_gives_the_next_tokens_log_probabilities(model_server: ModelServer) -> None:
    """Text completion through the OpenAI client: the alternatives for the next token as OpenAI's
    completions API shapes them (one token → logprob map per position)."""
    client = _client(model_server)

    def next_tokens(words: str) -> dict[str, float]:
        reply = client.completions.create(
            model=LLM, prompt=f"<|im_start|>user\n{words}", max_tokens=1, temperature=0, logprobs=20
        )
        logprobs = reply.choices[0].logprobs
        assert logprobs is not None and logprobs.tokens and logprobs.token_logprobs
        assert logprobs.text_offset == [0]
        top = (logprobs.top_logprobs or [{}])[0]
        assert 10 <= len(top) <= 20, top
        assert all(lp <= 0 for lp in top.values())
        assert logprobs.tokens[0] in top
        return top

    def p_end(top: dict[str, float]) -> float:
        return sum(math.exp(lp) for token, lp in top.items() if token.strip()[:1] in ("?", ".", "。", "？"))

    assert p_end(next_tokens("Can I still return the jacket I bought yesterday")) > 0.1
    assert p_end(next_tokens("If it rains tomorrow")) < 0.05


def test_completion_without_logprobs_is_plain_text(model_server: ModelServer) -> None:
    reply = _client(model_server).completions.create(
        model=LLM, prompt="The capital of France is", max_tokens=4, temperature=0
    )
    assert "Paris" in reply.choices[0].text
    assert reply.choices[0].logprobs is None
    assert reply.usage is not None and reply.usage.completion_tokens >= 1


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": LLM}, 400, "prompt"),
        ({"model": LLM, "prompt": ""}, 400, "prompt"),
        ({"model": LLM, "prompt": "hi", "logprobs": 21}, 400, "logprobs"),
        ({"model": LLM, "prompt": "hi", "stream": True}, 400, "stream"),
        ({"model": LLM, "prompt": "hi", "max_tokens": 0}, 400, "max_tokens"),
        ({"model": "gpt-9", "prompt": "hi"}, 404, "model"),
    ],
)
def test_completion_rejects_bad_requests_with_openai_errors(
    model_server: ModelServer, body: dict[str, Any], status: int, param: str
) -> None:
    assert _error(_post(model_server, "/completions", json=body), status)["param"] == param


def test_a_chat_can_continue_its_final_message_with_log_probabilities(model_server: ModelServer) -> None:
    """vLLM's continue_final_message (what the transcript turn detector asks): the caller's message left
    open, the next token's alternatives back in chat's logprobs shape, on the conversation's slot."""
    client = _client(model_server)

    def next_tokens(words: str) -> dict[str, float]:
        reply = client.chat.completions.create(
            model=LLM,
            messages=[
                {"role": "system", "content": "You are a voice assistant on a phone call."},
                {"role": "user", "content": [{"type": "text", "text": words}]},
            ],
            max_tokens=1,
            temperature=0,
            logprobs=True,
            top_logprobs=20,
            prompt_cache_key="call-continue",
            extra_body={"continue_final_message": True, "add_generation_prompt": False},
        )
        choice = reply.choices[0]
        assert reply.object == "chat.completion" and choice.message.role == "assistant"
        assert choice.logprobs is not None and choice.logprobs.content
        top = {alt.token: alt.logprob for alt in choice.logprobs.content[0].top_logprobs}
        assert 10 <= len(top) <= 20 and all(lp <= 0 for lp in top.values()), top
        assert choice.message.content == choice.logprobs.content[0].token
        return top

    def p_end(top: dict[str, float]) -> float:
        return sum(math.exp(lp) for token, lp in top.items() if token.strip()[:1] in ("?", ".", "。", "？"))

    # left open, the message goes on (the assistant's prompt would make it an answer instead)
    assert p_end(next_tokens("I have been sleeping badly lately, what should I do about it")) > 0.5
    assert p_end(next_tokens("If it rains tomorrow")) < 0.05
    assert p_end(next_tokens("如果明天下雨的话")) < 0.05


@pytest.mark.parametrize(
    ("extra", "final", "param"),
    [
        ({"continue_final_message": True}, "hi", "continue_final_message"),
        (
            {"continue_final_message": True, "add_generation_prompt": False, "stream": True},
            "hi",
            "continue_final_message",
        ),
        ({"continue_final_message": True, "add_generation_prompt": False}, "", None),
        (
            {"continue_final_message": True, "add_generation_prompt": False, "top_logprobs": 21},
            "hi",
            "top_logprobs",
        ),
    ],
)
def test_a_bad_continuation_is_a_400(
    model_server: ModelServer, extra: dict[str, Any], final: str, param: str | None
) -> None:
    body = {"model": LLM, "messages": [{"role": "user", "content": final}], "max_tokens": 1, **extra}
    error = _error(_post(model_server, "/chat/completions", json=body), 400)
    assert param is None or error["param"] == param, error


@pytest.mark.parametrize("raw", [b"{not json", b"[" * 50_000, b'{"model": "x", "messages": ' + b"[" * 50_000])
def test_malformed_or_deeply_nested_json_is_a_400(model_server: ModelServer, raw: bytes) -> None:
    resp = _post(model_server, "/chat/completions", content=raw, headers={"Content-Type": "application/json"})
    _error(resp, 400)


def test_a_closed_stream_frees_its_slot(model_server: ModelServer) -> None:
    """Two streams dropped after a few tokens: if they went on generating, both slots would be busy
    with 400 tokens each (about a minute here) and the third request would wait for them."""
    body = {
        "model": LLM,
        "messages": [{"role": "user", "content": "Count slowly from one to five hundred in words."}],
        "max_tokens": 400,
        "stream": True,
    }
    for _ in range(2):
        with httpx.stream(
            "POST",
            f"{model_server.url}/chat/completions",
            json=body,
            headers=model_server.headers(),
            timeout=60,
        ) as resp:
            lines = resp.iter_lines()
            got = [line for line, _ in zip(lines, range(6), strict=False) if line.startswith("data: ")]
            assert got, "the stream started"
    t0 = time.monotonic()
    reply = _client(model_server).chat.completions.create(
        model=LLM, messages=[{"role": "user", "content": "Say OK."}], max_tokens=5
    )
    assert reply.choices[0].message.content
    assert time.monotonic() - t0 < 20


@pytest.mark.parametrize(
    ("lang", "text", "keys"),
    [
        ("zh", "我最近总是睡不好，应该怎么办？", ["睡", "怎么办"]),
        ("en", "Can you help me rebook my flight to Tuesday?", ["flight", "tuesday"]),
    ],
)
def test_transcribes_natural_speech_and_names_the_language(
    model_server: ModelServer, tmp_path: Path, lang: str, text: str, keys: list[str]
) -> None:
    wav = speak_natural(text, lang, tmp_path / "speech.wav")  # type: ignore[arg-type]
    client = _client(model_server)
    with wav.open("rb") as f:
        plain = client.audio.transcriptions.create(model=STT, file=f)
    assert all(k in plain.text.lower() for k in keys), plain.text
    assert plain.languages is not None and plain.languages[0].code == lang
    with wav.open("rb") as f:
        verbose = client.audio.transcriptions.create(model=STT, file=f, response_format="verbose_json")
    assert verbose.language == {"zh": "chinese", "en": "english"}[lang]
    samples, rate = read_wav(wav)
    assert verbose.duration == pytest.approx(samples.size / rate, abs=0.05)
    with wav.open("rb") as f:
        as_text = client.audio.transcriptions.create(model=STT, file=f, response_format="text")
    assert isinstance(as_text, str) and as_text.strip() == plain.text.strip()


def test_transcription_rejects_what_is_not_audio(model_server: ModelServer, tmp_path: Path) -> None:
    def send(content: bytes, model: str = STT) -> httpx.Response:
        return _post(
            model_server, "/audio/transcriptions", files={"file": ("a.wav", content)}, data={"model": model}
        )

    assert _error(send(b"this is not audio " * 100), 400)["param"] == "file"
    assert _error(send(b""), 400)["param"] == "file"
    assert _error(send(b"\0" * (3 * 1024 * 1024)), 413)["param"] == "file"  # the test server allows 2 MB
    wav = speak_natural("hello", "en", tmp_path / "h.wav")
    assert _error(send(wav.read_bytes(), model="whisper-9"), 404)["code"] == "model_not_found"
    missing = _post(model_server, "/audio/transcriptions", data={"model": STT})
    assert _error(missing, 400)["param"] == "file"


def _pcm_stream(server: ModelServer, text: str, voice: str = "auto") -> tuple[np.ndarray, float, float]:
    t0 = time.monotonic()
    first = None
    data = bytearray()
    body = {"model": TTS, "input": text, "voice": voice, "response_format": "pcm"}
    with httpx.stream(
        "POST", f"{server.url}/audio/speech", json=body, headers=server.headers(), timeout=60
    ) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("audio/pcm")
        for chunk in r.iter_bytes():
            if first is None and chunk:
                first = time.monotonic() - t0
            data += chunk
    total = time.monotonic() - t0
    assert first is not None
    return np.frombuffer(bytes(data), dtype="<i2"), first, total


def _pcm_wav(pcm: np.ndarray, path: Path, rate: int = 24_000) -> Path:
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(pcm.tobytes())
    return path


@pytest.mark.parametrize(
    "text",
    [
        "好的，我帮您查一下。明天上午十点有空位。需要我为您预订吗？",
        "Sure, let me check that for you. There is a free slot at ten tomorrow. Shall I book it?",
    ],
)
def test_speech_streams_pcm_that_is_understood_again(
    model_server: ModelServer, tmp_path: Path, text: str
) -> None:
    pcm, first_s, total_s = _pcm_stream(model_server, text)
    assert voiced_seconds(pcm, 24_000) > 2.0
    assert first_s < total_s, "the first sentence plays before the last is synthesized"
    wav = _pcm_wav(pcm, tmp_path / "reply.wav")
    with wav.open("rb") as f:
        heard = _client(model_server).audio.transcriptions.create(model=STT, file=f).text
    lost, total = lost_share(text, heard, "zh" if "。" in text else "en")  # "There's"/"ten" = "There is"/"10"
    assert lost <= 0.15 * total, heard


def test_speech_as_wav_and_with_an_openai_voice_name(model_server: ModelServer) -> None:
    body = {"model": TTS, "input": "你好，我叫Echo。", "voice": "alloy", "response_format": "wav"}
    resp = _post(model_server, "/audio/speech", json=body)
    assert resp.status_code == 200 and resp.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(resp.content)) as wf:
        assert wf.getframerate() == 24_000 and wf.getnchannels() == 1
        assert wf.getnframes() > 24_000 * 0.8


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "hello", "voice": "darth-vader"}, "voice"),
        ({"input": "hello", "response_format": "mp3"}, "response_format"),
        ({"input": "   "}, "input"),
        ({"input": "。，！"}, "input"),
        ({"input": "hello", "speed": 5}, "speed"),
        ({"input": "x" * 5000}, "input"),
        ({"voice": "auto"}, "input"),
    ],
)
def test_speech_rejects_bad_requests(model_server: ModelServer, body: dict[str, Any], param: str) -> None:
    err = _error(_post(model_server, "/audio/speech", json={"model": TTS, **body}), 400)
    assert err["param"] == param, err


def test_concurrent_requests_of_every_kind_all_complete(model_server: ModelServer, tmp_path: Path) -> None:
    wav = speak_natural("What time does the museum open tomorrow?", "en", tmp_path / "q.wav").read_bytes()
    results: dict[str, Any] = {}

    def chat(i: int) -> None:
        messages = [{"role": "user", "content": f"Name one fruit, number {i}."}]
        r = _post(
            model_server, "/chat/completions", json={"model": LLM, "messages": messages, "max_tokens": 16}
        )
        results[f"chat{i}"] = r.status_code == 200 and r.json()["choices"][0]["message"]["content"]

    def stt() -> None:
        r = _post(model_server, "/audio/transcriptions", files={"file": ("q.wav", wav)}, data={"model": STT})
        results["stt"] = r.status_code == 200 and "museum" in r.json()["text"].lower()

    def tts() -> None:
        r = _post(model_server, "/audio/speech", json={"model": TTS, "input": "One moment please."})
        results["tts"] = r.status_code == 200 and len(r.content) > 24_000

    threads = [threading.Thread(target=chat, args=(i,)) for i in range(3)]
    threads += [threading.Thread(target=stt), threading.Thread(target=tts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert all(results.get(k) for k in ("chat0", "chat1", "chat2", "stt", "tts")), results


def test_streamed_chat_events_are_openai_chunks(model_server: ModelServer) -> None:
    body = {
        "model": LLM,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 8,
        "stream": True,
    }
    with _stream(model_server, "/chat/completions", body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line.removeprefix("data: ") for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
