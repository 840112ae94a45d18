"""Offline STT (packaged Whisper base) on espeak-ng speech, through the plugin API the AgentSession uses."""

from __future__ import annotations

import asyncio
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from livekit import rtc

from agent_worker.providers.local import LocalSTT
from agent_worker.providers.local.models import LocalModelError

pytestmark = pytest.mark.slow

# espeak-ng 1.51's "cmn" voice reads its pinyin as English; "cmn-latn-pinyin" actually speaks Mandarin.
ESPEAK_VOICES = {"en": "en-us", "zh": "cmn-latn-pinyin"}


def espeak_frame(text: str, lang: str, tmp_path: Path, speed: int = 130) -> rtc.AudioFrame:
    path = tmp_path / f"{lang}-{abs(hash(text))}.wav"
    subprocess.run(
        ["espeak-ng", "-v", ESPEAK_VOICES[lang], "-s", str(speed), "-w", str(path), text], check=True
    )
    with wave.open(str(path)) as wf:
        return rtc.AudioFrame(
            wf.readframes(wf.getnframes()), wf.getframerate(), wf.getnchannels(), wf.getnframes()
        )


def char_overlap(expected: str, heard: str) -> float:
    """Share of the expected Chinese characters present in what was heard."""
    chars = [c for c in expected if "\u4e00" <= c <= "\u9fff"]
    return sum(c in heard for c in chars) / len(chars)


@pytest.fixture(scope="module")
def stt_en() -> LocalSTT:
    return LocalSTT(language="en")


@pytest.fixture(scope="module")
def stt_zh() -> LocalSTT:
    return LocalSTT(language="zh")


async def test_english_key_words(stt_en: LocalSTT, tmp_path: Path) -> None:
    event = await stt_en.recognize(espeak_frame("What is the weather like in London today?", "en", tmp_path))
    data = event.alternatives[0]
    assert data.language == "en"
    words = data.text.lower()
    assert "weather" in words and "london" in words, data.text


async def test_mandarin_key_words(stt_zh: LocalSTT, tmp_path: Path) -> None:
    event = await stt_zh.recognize(espeak_frame("请给我一杯咖啡", "zh", tmp_path))
    data = event.alternatives[0]
    assert data.language == "zh"
    assert "咖啡" in data.text, data.text


async def test_mandarin_longer_sentence_overlap(stt_zh: LocalSTT, tmp_path: Path) -> None:
    expected = "我想订一张明天去北京的火车票"
    event = await stt_zh.recognize(espeak_frame(expected, "zh", tmp_path))
    text = event.alternatives[0].text
    assert "北京" in text, text
    assert char_overlap(expected, text) >= 0.5, text


async def test_language_given_per_call_overrides_default(stt_zh: LocalSTT, tmp_path: Path) -> None:
    event = await stt_zh.recognize(
        espeak_frame("Please book a table for two people.", "en", tmp_path), language="en"
    )
    assert event.alternatives[0].language == "en"
    assert "table" in event.alternatives[0].text.lower()


async def test_48k_stereo_input_is_resampled(stt_en: LocalSTT, tmp_path: Path) -> None:
    # WebRTC delivers 48 kHz; the plugin must resample and mix down itself.
    mono = espeak_frame("What is the weather like in London today?", "en", tmp_path)
    resampler = rtc.AudioResampler(mono.sample_rate, 48000, num_channels=1)
    frames = [*resampler.push(mono), *resampler.flush()]
    pcm = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])
    stereo = np.repeat(pcm, 2)
    frame = rtc.AudioFrame(stereo.tobytes(), 48000, 2, pcm.size)
    event = await stt_en.recognize([frame])
    assert "london" in event.alternatives[0].text.lower()


async def test_silence_gives_no_words(stt_en: LocalSTT) -> None:
    silence = rtc.AudioFrame(np.zeros(16000, dtype=np.int16).tobytes(), 16000, 1, 16000)
    event = await stt_en.recognize(silence)
    assert len(event.alternatives[0].text.split()) <= 1  # Whisper may say "you" on silence, no more


def test_model_path_must_be_a_whisper_directory(tmp_path: Path) -> None:
    with pytest.raises(LocalModelError, match="LOCAL_STT_MODEL"):
        LocalSTT(model_path=str(tmp_path), language="en")


async def test_recognition_does_not_block_the_event_loop(stt_en: LocalSTT, tmp_path: Path) -> None:
    frame = espeak_frame("Please book a table for two people at seven tonight.", "en", tmp_path)
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await stt_en.recognize(frame)
    done.set()
    await task
    assert max(gaps) < 0.25, max(gaps)


async def test_prewarm_does_not_block_the_caller(tmp_path: Path) -> None:
    # AgentSession calls prewarm() on the event loop; loading must happen in the background.
    stt = LocalSTT(language="en", compute_type="int8_float32")  # a model not loaded by other tests
    t0 = time.perf_counter()
    stt.prewarm()
    assert time.perf_counter() - t0 < 0.2
    event = await stt.recognize(espeak_frame("What is the weather like in London today?", "en", tmp_path))
    assert "london" in event.alternatives[0].text.lower()
