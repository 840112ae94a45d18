"""POST /voice-preview: the assistant editor's "play" button — a greeting spoken by the chosen voice.

The text goes to the configured OpenAI-compatible speech endpoint (PREVIEW_TTS_URL: OpenAI, the local
model server, a speaches server); its WAV comes back base64 in JSON, validated and documented like every
answer of this API (seconds of speech are far within a Lambda answer). The URL is a setting, never the
request's; the text is bounded like a greeting. Azure voices are not previewed here (another API)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Literal

from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import BaseModel, ConfigDict, Field

from functions.errors import ApiError, error_responses
from functions.models.assistant import Greeting, VoiceId
from functions.models.session_log import Language
from functions.observability import logger, metrics
from functions.operator_auth import openapi_security
from functions.secrets import preview_tts_api_key
from functions.settings import get_settings

router = Router()

# A Lambda answer is at most 6 MB, base64 included; 300 characters of speech are far below this.
MAX_AUDIO_BYTES = 4 * 1024 * 1024
_UPSTREAM_DETAIL_CHARS = 200


class VoicePreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Greeting = Field(description="What to say: a greeting, 1-300 characters.")
    language: Language
    voice: VoiceId | None = Field(default=None, description="None = the preview's default voice.")


class VoicePreview(BaseModel):
    audio: str = Field(description="The speech, base64 (standard alphabet, padded).")
    format: Literal["wav"] = "wav"
    voice: str = Field(description="The voice that spoke it.")


def _speech(text: str, voice: str) -> bytes:
    settings = get_settings()
    request = urllib.request.Request(
        f"{settings.preview_tts_url.rstrip('/')}/audio/speech",
        data=json.dumps(
            {"model": settings.preview_tts_model, "voice": voice, "input": text, "response_format": "wav"}
        ).encode(),
        headers={"Authorization": f"Bearer {preview_tts_api_key()}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.preview_tts_timeout_s) as reply:
            audio: bytes = reply.read(MAX_AUDIO_BYTES + 1)
    except urllib.error.HTTPError as exc:
        # The provider's own message (an unknown voice, say) helps the operator; bounded, never a stack.
        message = _upstream_message(exc)
        logger.warning("voice preview refused", extra={"status": exc.code, "upstream": message})
        status = 422 if 400 <= exc.code < 500 and exc.code not in (401, 403, 429) else 502
        detail = f"the speech service answered {exc.code}: {message}"
        raise ApiError(status, "voice_preview_failed", detail) from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        logger.warning("voice preview unreachable", extra={"error": str(exc)[:_UPSTREAM_DETAIL_CHARS]})
        raise ApiError(502, "voice_preview_failed", "the speech service could not be reached") from exc
    if len(audio) > MAX_AUDIO_BYTES or not audio.startswith(b"RIFF"):
        raise ApiError(502, "voice_preview_failed", "the speech service did not answer with a WAV file")
    return audio


def _upstream_message(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read(4096) or b"{}")
        error = body.get("error") if isinstance(body, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        return str(message or exc.reason)[:_UPSTREAM_DETAIL_CHARS]
    except (ValueError, OSError):
        return str(exc.reason)[:_UPSTREAM_DETAIL_CHARS]


@router.post(
    "/voice-preview",
    summary="Speak a greeting with a voice (WAV, base64), for the assistant editor",
    responses=error_responses(401, 403, 404, 422, 502, 503),
    security=openapi_security("POST /voice-preview"),
)
def voice_preview(body: VoicePreviewRequest) -> VoicePreview:
    settings = get_settings()
    if not settings.preview_tts_url:
        # a feature this deployment does not have: not found here (no 5xx for a choice)
        raise ApiError(404, "voice_preview_off", "voice preview is not configured (PREVIEW_TTS_URL)")
    voice = body.voice or settings.preview_tts_voice
    audio = _speech(body.text, voice)
    metrics.add_metric(name="VoicePreviews", unit="Count", value=1)
    return VoicePreview(audio=base64.b64encode(audio).decode(), voice=voice)
