"""Speech recognition for the model server: Whisper on CTranslate2, called directly.

faster-whisper's ``transcribe()`` always encodes a 30 s window and runs the encoder again to detect the
language; a caller's utterance is usually 1–6 s. Here the encoder window follows the audio (at least
8 s: shorter windows make the decoder repeat itself), the encoder runs once per window and its output
serves both language identification (restricted to the languages a caller may speak) and greedy
decoding. faster-whisper is used only for its log-Mel feature extractor. docs/offline-models.md has the
measurements behind each choice.
"""

from __future__ import annotations

import io
import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from infra.model_server import packaged

if TYPE_CHECKING:
    import ctranslate2
    from faster_whisper.feature_extractor import FeatureExtractor
    from tokenizers import Tokenizer

SAMPLE_RATE = 16000
MIN_WINDOW_S = 8.0
MAX_WINDOW_S = 30.0
_FRAMES_PER_S = 100  # log-Mel frames (10 ms hop)
# Whisper's decoder context is 448 tokens; a previous-text prompt may use at most half of it.
_MAX_LENGTH = 448
_MAX_PROMPT_TOKENS = 223
# Mandarin ≈ 4–6 characters a second, often one token each; English ≈ 3 tokens a second. The margin
# bounds how long a decoder stuck in a loop can run.
_TOKENS_PER_S = 12
_EXTRA_TOKENS = 10
# Previous text telling Whisper "this is Mandarin": without it, it often writes traditional characters.
ZH_PROMPT = "以下是普通话的句子。"
# Loudest 20 ms frame below this RMS (≈ -50 dBFS): nothing to recognise, and Whisper would invent a
# subtitle line ("谢谢观看") for digital silence.
_SILENCE_RMS = 0.003
# Whisper's own rule for "no speech": the no-speech token likely and the text unlikely.
_NO_SPEECH_PROB = 0.6
_NO_SPEECH_LOGPROB = -1.0
PACKAGED_MODEL_NAME = "whisper-base"


class AudioDecodeError(ValueError):
    """Uploaded bytes that are not decodable audio."""


@dataclass(frozen=True)
class Transcription:
    text: str
    language: str
    # the chosen language's share of the probability given to the candidate languages
    language_probability: float
    duration_s: float
    avg_logprob: float  # mean log-probability per decoded token (0 when nothing was decoded)
    no_speech_prob: float


def encoder_window_s(audio_s: float) -> float:
    """Seconds of log-Mel features the encoder sees for ``audio_s`` seconds of speech: the audio plus
    1 s, at least 8 s (below that the decoder repeats itself), at most Whisper's 30 s."""
    return min(MAX_WINDOW_S, max(MIN_WINDOW_S, audio_s + 1.0))


def max_decode_length(prompt_tokens: int, audio_s: float) -> int:
    """CTranslate2's ``max_length`` (it counts the prompt): enough for fast speech, not for a loop."""
    return min(_MAX_LENGTH, prompt_tokens + math.ceil(_TOKENS_PER_S * audio_s) + _EXTRA_TOKENS)


def split_long_audio(
    audio: np.ndarray, max_s: float = MAX_WINDOW_S, search_s: float = 3.0
) -> list[np.ndarray]:
    """Consecutive pieces of at most ``max_s`` seconds, each cut at the quietest 20 ms within the last
    ``search_s`` seconds of the piece, so a cut rarely falls inside a word."""
    limit = int(max_s * SAMPLE_RATE)
    frame = SAMPLE_RATE // 50
    pieces: list[np.ndarray] = []
    start = 0
    while audio.size - start > limit:
        lo = start + limit - int(search_s * SAMPLE_RATE)
        region = audio[lo : start + limit]
        n = region.size // frame
        energy = np.square(region[: n * frame].reshape(n, frame)).mean(axis=1)
        cut = lo + int(np.argmin(energy)) * frame + frame // 2
        pieces.append(audio[start:cut])
        start = cut
    pieces.append(audio[start:])
    return pieces


def decode_audio(data: bytes) -> np.ndarray:
    """Any container/codec FFmpeg reads (WAV, MP3, Ogg, WebM…) → mono float32 at 16 kHz."""
    import av

    if not data:
        raise AudioDecodeError("empty upload")
    chunks: list[np.ndarray] = []
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioDecodeError("the file has no audio stream")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(audio=0):
                frame.pts = None  # gaps in timestamps must not make the resampler drop audio
                chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    except av.FFmpegError as exc:
        raise AudioDecodeError(f"not a readable audio file: {exc}") from exc
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32) / 32768.0


def is_silent(audio: np.ndarray) -> bool:
    frame = SAMPLE_RATE // 50
    n = audio.size // frame
    if n == 0:
        return True
    rms = np.sqrt(np.square(audio[: n * frame].reshape(n, frame), dtype=np.float64).mean(axis=1))
    return float(rms.max()) < _SILENCE_RMS


_MAX_LOOP_UNIT = 30  # characters


def cut_repetition_loop(text: str) -> str:
    """Greedy decoding on unclear audio can fall into a loop, repeating one phrase up to the length
    limit. A tail that repeats a phrase of 2–30 characters three times (one character six times) is
    cut after the phrase's first copy; repetition followed by other words is left alone."""
    cut = len(text)
    for unit in range(1, _MAX_LOOP_UNIT + 1):
        start = len(text) - unit
        while start > 0 and text[start - 1] == text[start - 1 + unit]:
            start -= 1
        if len(text) - start >= (6 if unit == 1 else 3 * unit):
            cut = min(cut, start + unit)
    return text[:cut].rstrip()


def previous_text(prompt: str | None, language: str) -> str:
    """What the decoder is conditioned on: for Mandarin the simplified-characters prompt, then the
    caller's prompt; "" turns every prompt off."""
    if prompt == "":
        return ""
    if language == "zh":
        return ZH_PROMPT + (prompt or "")
    return prompt or ""


_MIN_ECHO_CHARS = 10


def without_prompt_echo(text: str, prompt: str | None) -> str:
    """On unclear audio Whisper may repeat the previous-text prompt, alone or after a few words. The
    built-in Mandarin prompt is never speech; a caller's prompt (often the conversation so far) counts
    as echoed only when copied at length, since a short "对" or "好的" may well be said again."""
    text = text.replace(ZH_PROMPT, "").strip()
    if prompt and len(text) >= _MIN_ECHO_CHARS and text in prompt:
        return ""
    if prompt and len(prompt) >= _MIN_ECHO_CHARS and prompt in text:
        return text.replace(prompt, "").strip()
    # part of the Mandarin prompt; one character ("是", yes) may be a real answer
    return "" if len(text.strip("。")) > 1 and text in ZH_PROMPT else text


ZhScript = Literal["simplified", "traditional", "as-decoded"]


class ZhScriptConverter:
    """Chinese text into one script with OpenCC's dictionaries (phrase-aware: 頭髮 → 头发, 發現 → 发现)."""

    _CONFIGS: ClassVar[dict[str, str]] = {"simplified": "t2s", "traditional": "s2t"}

    def __init__(self, script: ZhScript) -> None:
        self._converter: Any = None
        if script in self._CONFIGS:
            import opencc

            self._converter = opencc.OpenCC(self._CONFIGS[script])

    def convert(self, text: str) -> str:
        return str(self._converter.convert(text)) if self._converter is not None and text else text


class WhisperEngine:
    """One Whisper model shared by every request of the server process."""

    def __init__(
        self,
        model_dir: str | None = None,
        threads: int = 2,
        compute_type: str = "int8",
        zh_script: ZhScript = "simplified",
    ) -> None:
        """``model_dir``: a CTranslate2 Whisper directory (None = the packaged multilingual base).
        ``zh_script``: Mandarin transcripts in one script; Whisper, even after the simplified-characters
        prompt, now and then writes a sentence in traditional characters ("我明天要面試，有點緊張")."""
        self._model_dir = model_dir
        self._zh_script = ZhScriptConverter(zh_script)
        self._threads = threads
        self._compute_type = compute_type
        self._model: ctranslate2.models.Whisper | None = None
        self._tokenizer: Tokenizer | None = None
        self._features: FeatureExtractor | None = None
        self._load_lock = threading.Lock()
        # One request at a time, whole: CTranslate2 would queue each encode/detect/generate call on its
        # single worker anyway (inter_threads=1; two workers would split 2 cores and double memory),
        # but it would interleave the steps of concurrent requests and delay the first one to finish.
        self._run_lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return Path(self._model_dir).name if self._model_dir else PACKAGED_MODEL_NAME

    def load(self) -> None:
        """Load the model once; later and concurrent calls return when it is loaded."""
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is not None:
                return
            import ctranslate2
            from faster_whisper.feature_extractor import FeatureExtractor
            from tokenizers import Tokenizer

            files = self._read_files()
            model = ctranslate2.models.Whisper(
                self._model_dir or PACKAGED_MODEL_NAME,
                device="cpu",
                compute_type=self._compute_type,
                inter_threads=1,
                intra_threads=self._threads,
                files=files,
            )
            if not model.is_multilingual:
                raise packaged.ModelFileError(
                    f"{self.model_id}: an English-only Whisper cannot identify zh/en"
                )
            self._tokenizer = Tokenizer.from_str(files["tokenizer.json"].decode())
            self._features = FeatureExtractor(feature_size=model.n_mels)
            self._model = model

    def _read_files(self) -> dict[str, bytes]:
        if self._model_dir is None:
            return packaged.whisper_base_files()
        root = Path(self._model_dir)
        needed = ("model.bin", "config.json", "tokenizer.json")
        missing = [name for name in needed if not (root / name).is_file()]
        if missing:
            raise packaged.ModelFileError(
                f"Whisper model {self._model_dir!r} lacks {', '.join(missing)}: "
                "expected a CTranslate2 conversion with tokenizer.json"
            )
        files = {name: (root / name).read_bytes() for name in needed}
        vocab = root / "vocabulary.txt"
        if vocab.is_file():
            files["vocabulary.txt"] = vocab.read_bytes()
        json.loads(files["config.json"])  # a damaged config fails here, with the file's name in the trace
        return files

    def warm_up(self) -> None:
        """Load, then run every step once (quantised weights paged in, buffers allocated)."""
        self.load()
        rng = np.random.default_rng(0)
        noise = (0.05 * rng.standard_normal(SAMPLE_RATE)).astype(np.float32)
        self.transcribe(noise)

    def _token(self, text: str) -> int:
        assert self._tokenizer is not None
        token = self._tokenizer.token_to_id(text)
        if token is None:
            raise ValueError(f"{text} is not a Whisper token")
        return token

    def _language_token(self, language: str) -> int:
        try:
            return self._token(f"<|{language}|>")
        except ValueError:
            raise ValueError(f"unknown Whisper language code {language!r}") from None

    def transcribe(
        self,
        audio: np.ndarray,
        language: str | None = None,
        candidates: Sequence[str] = ("zh", "en"),
        prompt: str | None = None,
    ) -> Transcription:
        """``audio``: mono float32 at 16 kHz. ``language`` forces the language; otherwise the likelier
        of ``candidates`` (empty = any language). ``prompt``: previous text to condition on, after
        the Mandarin prompt for zh (see ``previous_text``)."""
        self.load()
        audio = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
        duration = audio.size / SAMPLE_RATE
        if language is not None:
            self._language_token(language)
        for lang in candidates:
            self._language_token(lang)
        if is_silent(audio):
            return Transcription(
                "", language or (candidates[0] if candidates else "en"), 0.0, duration, 0.0, 1.0
            )
        with self._run_lock:
            return self._transcribe_locked(audio, language, candidates, prompt, duration)

    def _transcribe_locked(
        self,
        audio: np.ndarray,
        language: str | None,
        candidates: Sequence[str],
        prompt: str | None,
        duration: float,
    ) -> Transcription:
        texts: list[str] = []
        logprobs: list[float] = []
        no_speech: list[float] = []
        probability = 1.0
        for i, piece in enumerate(split_long_audio(audio)):
            encoded = self._encode(piece)
            if i == 0 and language is None:
                language, probability = self._identify(encoded, candidates)
            assert language is not None
            text, logprob, p_silent = self._decode(encoded, piece.size / SAMPLE_RATE, language, prompt)
            texts.append(text)
            logprobs.append(logprob)
            no_speech.append(p_silent)
        joiner = "" if language in ("zh", "ja", "yue") else " "
        text = joiner.join(t for t in texts if t).strip()
        if language == "zh":
            text = self._zh_script.convert(text)
        return Transcription(
            text=text,
            language=language or "en",
            language_probability=probability,
            duration_s=duration,
            avg_logprob=float(np.mean(logprobs)),
            no_speech_prob=float(np.max(no_speech)),
        )

    def _encode(self, piece: np.ndarray) -> Any:
        import ctranslate2

        assert self._model is not None and self._features is not None
        frames = int(encoder_window_s(piece.size / SAMPLE_RATE) * _FRAMES_PER_S)
        mel = self._features(piece)[:, :frames]
        # zero log-Mel (the extractor's scale) beyond the audio, as faster-whisper pads its 30 s window
        mel = np.pad(mel, ((0, 0), (0, frames - mel.shape[1])))
        view = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[np.newaxis], dtype=np.float32))
        return self._model.encode(view, to_cpu=True)

    def _identify(self, encoded: Any, candidates: Sequence[str]) -> tuple[str, float]:
        """Free detection hears short Mandarin as Thai or Cantonese; a caller speaks one of ours."""
        assert self._model is not None
        scores = {token[2:-2]: p for token, p in self._model.detect_language(encoded)[0]}
        pool = {lang: scores.get(lang, 0.0) for lang in candidates} if candidates else scores
        best = max(pool, key=lambda lang: pool[lang])
        total = sum(pool.values())
        return best, (pool[best] / total if total > 0 else 0.0)

    def _decode(
        self, encoded: Any, seconds: float, language: str, prompt: str | None
    ) -> tuple[str, float, float]:
        assert self._model is not None and self._tokenizer is not None
        previous = previous_text(prompt, language)
        tokens: list[int] = []
        if previous and previous.strip():
            text_ids = self._tokenizer.encode(" " + previous.strip(), add_special_tokens=False).ids
            tokens = [self._token("<|startofprev|>"), *text_ids[-_MAX_PROMPT_TOKENS:]]
        tokens += [
            self._token("<|startoftranscript|>"),
            self._language_token(language),
            self._token("<|transcribe|>"),
            self._token("<|notimestamps|>"),
        ]
        result = self._model.generate(
            encoded,
            [tokens],
            beam_size=1,
            max_length=max_decode_length(len(tokens), seconds),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1, *self._special_tokens()],
        )[0]
        ids = [t for t in result.sequences_ids[0] if t < self._token("<|endoftext|>")]
        text = cut_repetition_loop(self._tokenizer.decode(ids).strip())
        logprob = float(result.scores[0]) if result.scores else 0.0
        if result.no_speech_prob > _NO_SPEECH_PROB and logprob < _NO_SPEECH_LOGPROB:
            text = ""
        text = without_prompt_echo(text, prompt.strip() if prompt else None)
        return text, logprob, float(result.no_speech_prob)

    def _special_tokens(self) -> list[int]:
        # control tokens that must never appear in a transcript (as faster-whisper suppresses them)
        names = (
            "<|transcribe|>",
            "<|translate|>",
            "<|startoftranscript|>",
            "<|startofprev|>",
            "<|startoflm|>",
        )
        return [self._token(name) for name in names]
