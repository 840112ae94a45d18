"""aiohttp application speaking the subset of the OpenAI API that livekit-plugins-openai uses."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
import wave
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from aiohttp import web

CJK = ("\u4e00", "\u9fff")


def _is_chinese(text: str) -> bool:
    return any(CJK[0] <= ch <= CJK[1] for ch in text)


@dataclass
class Behaviour:
    """What the server does; tests change it at run time with POST /_control."""

    ttft_ms: float = 0.0
    token_interval_ms: float = 0.0
    stt_delay_ms: float = 0.0
    tts_delay_ms: float = 0.0
    fail: list[str] = field(default_factory=list)  # endpoints answering fail_status: chat, stt, tts
    fail_status: int = 500
    transcripts: list[str] = field(default_factory=list)  # next transcriptions, in order
    default_transcript: str = "hello there"
    # Set: transcriptions report this detected language (``languages`` in the JSON, as the local model
    # server and gpt-transcribe do), so the session keys its turn detector by it. None: text only.
    transcript_language: str | None = None
    # Set: every chat completion answers this text instead of quoting the caller.
    reply_text: str | None = None
    # Audio quieter than this RMS (16-bit scale) is transcribed as "", as a real recogniser hears
    # nothing in silence; 0 transcribes everything.
    silent_below_rms: float = 0.0
    # Set: speech in any other voice is refused with 400, as OpenAI refuses a voice it does not have.
    voices: list[str] | None = None


@dataclass
class Stats:
    chat_requests: int = 0
    stt_requests: int = 0
    tts_requests: int = 0
    failed: int = 0
    last_audio_seconds: float = 0.0
    last_audio_rms: float = 0.0
    last_chat_messages: list[dict[str, Any]] = field(default_factory=list)
    # The last chat request's other fields (model, temperature, seed, …)
    last_chat_options: dict[str, Any] = field(default_factory=dict)
    # The last speech request: its JSON body and whether it carried a bearer key (never the key itself).
    last_speech: dict[str, Any] = field(default_factory=dict)


def reply_for(messages: list[dict[str, Any]]) -> str:
    """A deterministic, language-matched reply that quotes the caller, so tests can check the loop."""
    last_user = ""
    for m in reversed(messages):
        if m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, list):
                content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            last_user = str(content or "").strip()
            break
    if _is_chinese(last_user):
        return f"你说的是{last_user}。我明白了，谢谢你。"
    return f"You said {last_user}. Got it, thank you."


def _tokens(text: str) -> list[str]:
    if _is_chinese(text):
        return list(text)
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


class FakeOpenAI:
    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.stats = Stats()
        self.app = web.Application(client_max_size=50 * 1024 * 1024)
        self.app.add_routes(
            [
                web.post("/v1/chat/completions", self.chat),
                web.post("/v1/audio/transcriptions", self.transcriptions),
                web.post("/v1/audio/speech", self.speech),
                web.get("/v1/models", self.models),
                web.post("/_control", self.control),
                web.get("/_stats", self.get_stats),
            ]
        )

    def _failing(self, endpoint: str) -> web.Response | None:
        if endpoint in self.behaviour.fail or "all" in self.behaviour.fail:
            self.stats.failed += 1
            return web.json_response(
                {"error": {"message": f"injected {endpoint} failure", "type": "server_error"}},
                status=self.behaviour.fail_status,
            )
        return None

    async def control(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.pop("reset_stats", False):
            self.stats = Stats()
        for key, value in body.items():
            if not hasattr(self.behaviour, key):
                return web.json_response({"error": f"unknown setting {key}"}, status=400)
            setattr(self.behaviour, key, value)
        return web.json_response(asdict(self.behaviour))

    async def get_stats(self, _request: web.Request) -> web.Response:
        return web.json_response(asdict(self.stats))

    async def models(self, _request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fake-llm", "object": "model"}]})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.stats.chat_requests += 1
        if (failed := self._failing("chat")) is not None:
            return failed
        body = await request.json()
        messages = body.get("messages", [])
        self.stats.last_chat_messages = messages
        self.stats.last_chat_options = {k: v for k, v in body.items() if k != "messages"}
        text = self.behaviour.reply_text if self.behaviour.reply_text is not None else reply_for(messages)
        model = body.get("model", "fake-llm")
        cid = "chatcmpl-" + uuid.uuid4().hex[:12]
        created = int(time.time())
        if not body.get("stream"):
            await asyncio.sleep(self.behaviour.ttft_ms / 1000)
            return web.json_response(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text},
                        }
                    ],
                    "usage": {
                        "prompt_tokens": 10,
                        "completion_tokens": len(_tokens(text)),
                        "total_tokens": 20,
                    },
                }
            )
        resp = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        await resp.prepare(request)

        async def send(delta: dict[str, Any], finish: str | None = None, usage: dict | None = None) -> None:
            chunk: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage is not None:
                chunk["choices"] = []
                chunk["usage"] = usage
            await resp.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())

        await asyncio.sleep(self.behaviour.ttft_ms / 1000)
        await send({"role": "assistant", "content": ""})
        tokens = _tokens(text)
        for i, tok in enumerate(tokens):
            if i and self.behaviour.token_interval_ms:
                await asyncio.sleep(self.behaviour.token_interval_ms / 1000)
            await send({"content": tok})
        await send({}, finish="stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            await send(
                {},
                usage={
                    "prompt_tokens": 10,
                    "completion_tokens": len(tokens),
                    "total_tokens": 10 + len(tokens),
                },
            )
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def transcriptions(self, request: web.Request) -> web.Response:
        self.stats.stt_requests += 1
        if (failed := self._failing("stt")) is not None:
            return failed
        form = await request.post()
        upload = form.get("file")
        if upload is None or not hasattr(upload, "file"):
            return web.json_response({"error": {"message": "file is required"}}, status=400)
        data = upload.file.read()
        self.stats.last_audio_seconds, self.stats.last_audio_rms = _wav_stats(data)
        await asyncio.sleep(self.behaviour.stt_delay_ms / 1000)
        if self.stats.last_audio_rms < self.behaviour.silent_below_rms:
            text = ""
        else:
            text = (
                self.behaviour.transcripts.pop(0)
                if self.behaviour.transcripts
                else self.behaviour.default_transcript
            )
        if form.get("response_format") in ("text",):
            return web.Response(text=text)
        body: dict[str, Any] = {"text": text}
        if self.behaviour.transcript_language:
            body["languages"] = [{"code": self.behaviour.transcript_language, "probability": 1.0}]
        return web.json_response(body)

    async def speech(self, request: web.Request) -> web.StreamResponse:
        self.stats.tts_requests += 1
        if (failed := self._failing("tts")) is not None:
            return failed
        body = await request.json()
        bearer = request.headers.get("Authorization", "").startswith("Bearer ")
        self.stats.last_speech = {**body, "bearer": bearer}
        voice = body.get("voice")
        if self.behaviour.voices is not None and voice not in self.behaviour.voices:
            error = {"message": f"voice {voice!r} is not available", "type": "invalid_request_error"}
            return web.json_response({"error": error}, status=400)
        text = str(body.get("input", ""))
        fmt = body.get("response_format", "mp3")
        await asyncio.sleep(self.behaviour.tts_delay_ms / 1000)
        wav = await espeak_wav(text, "cmn-latn-pinyin" if _is_chinese(text) else "en-us")
        if fmt == "wav":
            return web.Response(body=wav, content_type="audio/wav")
        if fmt == "pcm":
            pcm, rate = _wav_to_pcm(wav)
            pcm24 = _resample(pcm, rate, 24_000)
            return web.Response(body=pcm24.tobytes(), content_type="audio/pcm")
        encoded = await _ffmpeg(wav, fmt)
        return web.Response(body=encoded, content_type=f"audio/{fmt}")


async def espeak_wav(text: str, voice: str) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        "espeak-ng",
        "-v",
        voice,
        "--stdout",
        text,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await proc.communicate()
    return out


async def _ffmpeg(wav: bytes, fmt: str) -> bytes:
    codec = {
        "mp3": ["-f", "mp3"],
        "opus": ["-f", "ogg", "-c:a", "libopus"],
        "aac": ["-f", "adts"],
        "flac": ["-f", "flac"],
    }.get(fmt, ["-f", "mp3"])
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg",
        "-loglevel",
        "error",
        "-i",
        "pipe:0",
        *codec,
        "pipe:1",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await proc.communicate(wav)
    return out


def _wav_to_pcm(data: bytes) -> tuple[np.ndarray, int]:
    # espeak-ng writes a streaming header with unknown sizes to stdout; read the samples directly.
    with wave.open(io.BytesIO(data)) as wf:
        rate = wf.getframerate()
    pcm = np.frombuffer(data[44:], dtype=np.int16)
    return pcm, rate


def _resample(pcm: np.ndarray, src: int, dst: int) -> np.ndarray:
    if src == dst or pcm.size == 0:
        return pcm
    n = int(pcm.size * dst / src)
    return np.interp(np.linspace(0, pcm.size - 1, n), np.arange(pcm.size), pcm).astype(np.int16)


def _wav_stats(data: bytes) -> tuple[float, float]:
    try:
        with wave.open(io.BytesIO(data)) as wf:
            rate = wf.getframerate()
            frames = np.frombuffer(wf.readframes(wf.getnframes()), dtype=np.int16)
    except (wave.Error, EOFError):
        return 0.0, 0.0
    if frames.size == 0:
        return 0.0, 0.0
    return frames.size / rate, float(np.sqrt(np.mean(frames.astype(np.float64) ** 2)))


async def serve(host: str = "127.0.0.1", port: int = 0) -> tuple[FakeOpenAI, web.AppRunner, str]:
    """Start the server; returns (server, runner, base_url ending in /v1)."""
    fake = FakeOpenAI()
    runner = web.AppRunner(fake.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sock = site._server.sockets[0]  # type: ignore[union-attr]
    actual = sock.getsockname()[1]
    return fake, runner, f"http://{host}:{actual}/v1"
