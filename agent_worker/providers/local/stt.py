"""Offline speech recognition: multilingual Whisper (faster-whisper / CTranslate2) on the CPU.

Non-streaming: the AgentSession wraps it in ``stt.StreamAdapter`` with the VAD, so each call gets one
buffered utterance. Inference runs in a worker thread so the event loop keeps pacing audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from livekit import rtc
from livekit.agents import APIConnectOptions, LanguageCode, stt
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import AudioBuffer, is_given

from agent_worker.providers.local import models

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

STTLanguage = Literal["zh", "en", "auto"]
_WHISPER_RATE = 16000
# Biases Whisper towards simplified characters (it otherwise often writes traditional ones for Mandarin).
_ZH_PROMPT = "以下是普通话的句子。"


@dataclass
class _Options:
    language: STTLanguage
    beam_size: int
    max_new_tokens: int
    zh_prompt: str | None


def _to_whisper_input(buffer: AudioBuffer) -> np.ndarray:
    """Mono float32 at 16 kHz, what Whisper's feature extractor expects."""
    frame = rtc.combine_audio_frames(buffer)
    pcm = np.frombuffer(frame.data, dtype=np.int16)
    if frame.num_channels > 1:
        pcm = pcm.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
    if frame.sample_rate != _WHISPER_RATE and pcm.size:
        resampler = rtc.AudioResampler(
            frame.sample_rate, _WHISPER_RATE, num_channels=1, quality=rtc.AudioResamplerQuality.MEDIUM
        )
        mono = rtc.AudioFrame(pcm.tobytes(), frame.sample_rate, 1, pcm.size)
        out = [*resampler.push(mono), *resampler.flush()]
        pcm = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in out]) if out else pcm[:0]
    return pcm.astype(np.float32) / 32768.0


class LocalSTT(stt.STT):
    def __init__(
        self,
        *,
        model_path: str | None = None,
        language: STTLanguage = "auto",
        threads: int = 2,
        compute_type: str = "int8",
        beam_size: int = 1,
        max_new_tokens: int = 96,
        zh_prompt: str | None = _ZH_PROMPT,
    ) -> None:
        """``model_path``: a faster-whisper model directory (None = the packaged Whisper base);
        ``language``: "zh", "en" or "auto" (per utterance, whichever of zh/en is likelier: lets a
        caller switch language mid-call at the cost of one more encoder pass)."""
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        if language not in ("zh", "en", "auto"):
            raise ValueError(f"language must be zh, en or auto, not {language!r}")
        self._model_path = model_path
        self._threads = threads
        self._compute_type = compute_type
        self._opts = _Options(
            language=language, beam_size=beam_size, max_new_tokens=max_new_tokens, zh_prompt=zh_prompt
        )
        if model_path is not None:
            models.check_whisper_dir(model_path)  # a bad setting fails at start-up, not mid-call
        self._model_lock = threading.Lock()  # one transcription at a time per model
        self._warm_thread: threading.Thread | None = None
        self._decode_options: dict[str, Any] = {}  # per language, see _decode_zh_or_en

    @property
    def model(self) -> str:
        return self._model_path or models.WHISPER_BASE_NAME

    @property
    def provider(self) -> str:
        return "local"

    def update_options(self, *, language: NotGivenOr[STTLanguage] = NOT_GIVEN) -> None:
        if is_given(language):
            self._opts.language = language

    def load(self) -> WhisperModel:
        """Load (once per process) and return the Whisper model; blocking."""
        return models.load_whisper(self._model_path, self._threads, self._compute_type)

    def prewarm(self) -> None:
        # Called on the event loop by the AgentSession: load and warm up in the background instead.
        if self._warm_thread is None:
            self._warm_thread = threading.Thread(target=self._warm_up, name="local-stt-warmup", daemon=True)
            self._warm_thread.start()

    def _warm_up(self) -> None:
        with contextlib.suppress(Exception):  # a real failure resurfaces on the first recognition
            # the path calls will take (auto: the zh/en choice too), so its options are built here
            lang = None if self._opts.language == "auto" else self._opts.language
            self._transcribe(np.zeros(_WHISPER_RATE // 2, dtype=np.float32), lang)

    def _transcribe(self, audio: np.ndarray, language: str | None) -> tuple[str, str, float]:
        model = self.load()
        with self._model_lock:
            if language is None:
                language, segments = self._decode_zh_or_en(model, audio)
            else:
                segments, _info = model.transcribe(audio, language=language, **self._decode_kwargs(language))
            texts, logprobs = [], []
            for seg in segments:
                texts.append(seg.text)
                logprobs.append(seg.avg_logprob)
        text = "".join(texts).strip()
        prompt = self._prompt_for(language)
        if prompt and text and text in prompt:
            text = ""  # Whisper echoing its prompt on unclear audio: nothing was recognised
        confidence = float(np.exp(np.mean(logprobs))) if logprobs else 0.0
        return text, language, confidence

    def _prompt_for(self, language: str) -> str | None:
        return self._opts.zh_prompt if language == "zh" else None

    def _decode_kwargs(self, language: str) -> dict[str, Any]:
        return {
            "beam_size": self._opts.beam_size,
            "temperature": 0.0,
            "condition_on_previous_text": False,
            "without_timestamps": True,
            "vad_filter": False,  # the session's VAD already cut the utterance
            "initial_prompt": self._prompt_for(language),
            "no_repeat_ngram_size": 3,  # robotic speech can trap the decoder in a loop ("粥粥粥…")
            "max_new_tokens": self._opts.max_new_tokens,
        }

    def _decode_zh_or_en(self, model: WhisperModel, audio: np.ndarray) -> tuple[str, Iterable[Any]]:
        """Mandarin or English, whichever Whisper finds likelier (free detection mislabels short
        Mandarin as Thai or Cantonese, but the caller speaks one of our two languages), then the
        transcription in that language — from ONE encoder pass: the language scores are read from the
        same encoder output the decoder then uses. ``model.detect_language`` followed by
        ``model.transcribe`` computed the features and ran the encoder twice: recognition took about
        twice as long (docs/benchmarks.md, latency section)."""
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer

        features = model.feature_extractor(audio)
        # the first window exactly as WhisperModel.generate_segments cuts it, so it can take our output
        frames = min(model.feature_extractor.nb_max_frames, features.shape[-1] - 1)
        encoded = model.encode(pad_or_trim(features[:, :frames]))
        scores = dict(model.model.detect_language(encoded)[0])
        language = "zh" if scores.get("<|zh|>", 0.0) >= scores.get("<|en|>", 0.0) else "en"
        if language not in self._decode_options:
            # transcribe() returns its options before decoding anything (its segments are a lazy
            # generator): exactly the options a direct call with this language would use
            _segments, info = model.transcribe(
                np.zeros(_WHISPER_RATE // 10, dtype=np.float32),
                language=language,
                **self._decode_kwargs(language),
            )
            self._decode_options[language] = info.transcription_options
        tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
        )
        segments = model.generate_segments(
            features, tokenizer, self._decode_options[language], False, encoded
        )
        return language, segments

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        lang = language if is_given(language) else self._opts.language
        whisper_lang = None if lang in ("auto", "multi") else LanguageCode(lang).language
        audio = _to_whisper_input(buffer)
        if audio.size == 0:
            text, detected, confidence = "", whisper_lang or "en", 0.0
        else:
            text, detected, confidence = await asyncio.to_thread(self._transcribe, audio, whisper_lang)
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=uuid.uuid4().hex,
            alternatives=[
                stt.SpeechData(
                    language=LanguageCode(whisper_lang or detected),
                    text=text,
                    start_time=0.0,
                    end_time=audio.size / _WHISPER_RATE,
                    confidence=confidence,
                )
            ],
        )
