"""``POST /v1/audio/transcriptions`` and ``POST /v1/audio/speech`` over the local STT and voices."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import numpy as np
from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from functions.models.openai_voices import OPENAI_VOICES  # OpenAI's names mean: by script
from infra.model_server.deps import EnginesDep, check_model
from infra.model_server.errors import APIError
from infra.model_server.protocol import (
    SpeechRequest,
    Transcription,
    TranscriptionFormat,
    TranscriptionLanguage,
    TranscriptionVerbose,
)
from infra.model_server.stt import AudioDecodeError, decode_audio
from infra.model_server.tts import SpeechRequestError, UnknownVoiceError, VoiceUnavailableError

router = APIRouter()

SPEECH_RATE = 24_000  # OpenAI's "pcm": 16-bit little-endian mono at 24 kHz
# verbose_json names the language as OpenAI does ("english"); json gives codes.
LANGUAGE_NAMES = {"zh": "chinese", "en": "english", "ja": "japanese", "ko": "korean", "fr": "french"}


@router.post("/audio/transcriptions", response_model=None)
async def transcriptions(
    engines: EnginesDep,
    file: Annotated[UploadFile, File(description="the audio: WAV, or any format ffmpeg reads")],
    model: Annotated[str, Form()],
    language: Annotated[str | None, Form(max_length=8)] = None,
    prompt: Annotated[str | None, Form(max_length=2000)] = None,
    response_format: Annotated[TranscriptionFormat, Form()] = "json",
    temperature: Annotated[float, Form(ge=0.0, le=1.0)] = 0.0,  # accepted; decoding is greedy
) -> JSONResponse | PlainTextResponse:
    check_model(model, engines.settings.stt_model_id, "speech recognition")
    limit = engines.settings.max_upload_mb * 1024 * 1024
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise APIError(413, f"file is larger than {engines.settings.max_upload_mb} MB", param="file")
    if not data:
        raise APIError(400, "file is empty", code="invalid_file", param="file")
    lang = language.lower() if language else None
    loop = asyncio.get_running_loop()
    try:
        audio = await loop.run_in_executor(engines.stt_pool, decode_audio, data)
    except AudioDecodeError as exc:
        raise APIError(400, f"file is not readable audio: {exc}", code="invalid_file", param="file") from None
    candidates = tuple(engines.settings.stt_languages)
    try:
        result = await loop.run_in_executor(
            engines.stt_pool, lambda: engines.stt.transcribe(audio, lang, candidates, prompt)
        )
    except ValueError as exc:  # e.g. a language Whisper does not know
        raise APIError(400, str(exc), param="language") from None
    if response_format == "text":
        return PlainTextResponse(result.text)
    if response_format == "verbose_json":
        verbose = TranscriptionVerbose(
            language=LANGUAGE_NAMES.get(result.language, result.language),
            duration=round(result.duration_s, 3),
            text=result.text,
        )
        return JSONResponse(verbose.model_dump())
    plain = Transcription(
        text=result.text,
        languages=[TranscriptionLanguage(code=result.language, probability=result.language_probability)],
    )
    return JSONResponse(plain.model_dump())


@router.post("/audio/speech", response_model=None)
async def speech(body: SpeechRequest, engines: EnginesDep) -> Response | StreamingResponse:
    check_model(body.model, engines.settings.tts_model_id, "speech synthesis")
    if len(body.input) > engines.settings.max_speech_chars:
        raise APIError(
            400, f"input is longer than {engines.settings.max_speech_chars} characters", param="input"
        )
    voice = "auto" if body.voice in OPENAI_VOICES else body.voice
    loop = asyncio.get_running_loop()
    pool = engines.tts_pool
    try:  # in the pool: stream() checks the request and may load a voice
        chunks = await loop.run_in_executor(
            pool,
            lambda: engines.voices.stream(body.input, voice=voice, speed=body.speed, sample_rate=SPEECH_RATE),
        )
    except SpeechRequestError as exc:
        raise APIError(
            400, str(exc), param="voice" if isinstance(exc, UnknownVoiceError) else "input"
        ) from None
    except VoiceUnavailableError as exc:
        raise APIError(503, str(exc), code="voice_unavailable") from None

    def next_chunk(it: Iterator[np.ndarray]) -> bytes | None:
        chunk = next(it, None)
        return None if chunk is None else chunk.astype("<i2").tobytes()

    # the first chunk before the 200: a synthesis that fails at once is an error status, not a cut stream
    first = await loop.run_in_executor(pool, next_chunk, chunks)

    if body.response_format == "wav":
        pcm = bytearray(first or b"")
        while (more := await loop.run_in_executor(pool, next_chunk, chunks)) is not None:
            pcm += more
        return Response(_wav(bytes(pcm)), media_type="audio/wav")

    async def stream() -> AsyncIterator[bytes]:
        if first:
            yield first
        while (more := await loop.run_in_executor(pool, next_chunk, chunks)) is not None:
            yield more

    return StreamingResponse(stream(), media_type="audio/pcm", headers={"X-Sample-Rate": str(SPEECH_RATE)})


def _wav(pcm: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(SPEECH_RATE)
        wf.writeframes(pcm)
    return out.getvalue()
