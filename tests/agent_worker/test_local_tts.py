"""Offline TTS (espeak-ng): audible speech whose re-transcription by the offline STT matches the text."""

from __future__ import annotations

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import tokenize, tts

from agent_worker.providers.local import LocalSTT, LocalTTS
from agent_worker.providers.local.espeak import EspeakError

pytestmark = pytest.mark.slow


def loudness(frame: rtc.AudioFrame) -> float:
    pcm = np.frombuffer(frame.data, dtype=np.int16).astype(np.float64)
    return float(np.sqrt(np.mean(pcm**2))) if pcm.size else 0.0


async def test_english_speech_is_audible_and_understood() -> None:
    voice = LocalTTS(language="en")
    frame = await voice.synthesize("Please book a table for two people at seven tonight.").collect()
    assert frame.sample_rate == voice.sample_rate == 22050
    assert frame.num_channels == 1
    assert 1.5 < frame.duration < 8.0
    assert loudness(frame) > 500
    heard = (await LocalSTT(language="en").recognize(frame)).alternatives[0].text.lower()
    assert "table" in heard and ("two" in heard or "2" in heard), heard


async def test_mandarin_speech_is_audible_and_understood() -> None:
    voice = LocalTTS(language="zh")
    frame = await voice.synthesize("请给我一杯咖啡。").collect()
    assert frame.duration > 0.8
    assert loudness(frame) > 500
    heard = (await LocalSTT(language="zh").recognize(frame)).alternatives[0].text
    assert "咖啡" in heard, heard


async def test_sentence_streaming_through_the_session_adapter() -> None:
    # What the AgentSession does with a non-streaming TTS: split into sentences, synthesize each.
    adapter = tts.StreamAdapter(
        tts=LocalTTS(language="en"), sentence_tokenizer=tokenize.blingfire.SentenceTokenizer()
    )
    stream = adapter.stream()
    for word in ["Hello", "there.", "The", "weather", "is", "fine", "today."]:
        stream.push_text(word + " ")
    stream.end_input()
    frames = [ev.frame async for ev in stream]
    await stream.aclose()
    total = sum(f.duration for f in frames)
    assert total > 1.5 and max(loudness(f) for f in frames) > 500


def test_other_script_uses_the_other_voice() -> None:
    zh = LocalTTS(language="zh")
    assert zh.voice_for("你好。") == "cmn-latn-pinyin"
    assert zh.voice_for("OK, thanks.") == "en-us"
    assert zh.voice_for("。") == "cmn-latn-pinyin"
    en = LocalTTS(language="en")
    assert en.voice_for("Hello.") == "en-us"
    assert en.voice_for("北京") == "cmn-latn-pinyin"


def test_unknown_voice_fails_at_construction() -> None:
    with pytest.raises(EspeakError, match="no-such-voice"):
        LocalTTS(language="en", voice="no-such-voice")
