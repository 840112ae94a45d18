"""Turn taking with the shipped delays and detector: a caller who pauses mid-sentence is heard out, a
whole sentence is answered on the short delay — in Mandarin and English, with the neural test voices.

Each call is the worker's own ``AgentSession`` through ``agent_worker.wav_call.run_call`` (what
``python -m agent_worker call`` runs). STT, LLM and TTS are the OpenAI-protocol fake, answering at once
and reporting the caller's language as the detected one (as the local model server does), so only the
VAD and the turn detector decide. The decisions are read from livekit-agents' own records (the turn
detector's probability and the delay it chose; each committed turn's speech), not from timings.

The callers speak with the neural voices seeded (``reproducible``), so each sentence is the same audio in
every run; unseeded, a synthesis moves the detector's score by up to ±0.15 and put a whole English
sentence below the threshold in one run in six. Seeded, the scores move only with the moment the detector
reads its buffer (measured over three runs each: at the pause zh 0.20-0.23, en 0.15-0.17; at the end of a
whole sentence zh 0.79-0.80, en 0.48-0.51). These tests check the mechanism, so they judge with
thresholds between those ranges (TEST_THRESHOLDS); how often the shipped thresholds end a turn at a
pause, over the voices' own variation, is the endpointing benchmark's figure (docs/benchmarks.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from agent_worker.settings import WorkerSettings
from agent_worker.wav_call import run_call
from benchmarks.endpointing_bench import EventLog, Utterance, build_corpus, livekit_events
from tests.conftest import FakeOpenAIHandle

Lang = Literal["zh", "en"]
PAUSE_S = 0.8  # inside the 0.45–0.9 s the target concerns; long enough to end a turn on silence alone
# Sentences from the benchmark's tuning set whose scores sit clear of TEST_THRESHOLDS in both directions.
PAUSED: dict[Lang, tuple[str, str]] = {
    "zh": ("我的孩子最近", "总是不想去上学"),
    "en": ("My son has recently", "stopped wanting to go to school"),
}
TEST_THRESHOLDS = {"turn_threshold_zh": 0.45, "turn_threshold_en": 0.33}
WHOLE: dict[Lang, tuple[str, str]] = {
    "zh": ("等我下班以后", "我们一起去吃饭吧"),
    "en": ("When I finish work tonight", "let's go out for dinner"),
}


def settings_for(fake: FakeOpenAIHandle, **overrides: object) -> WorkerSettings:
    """The shipped turn-taking defaults but the thresholds; the providers point at the fake server."""
    fields: dict[str, object] = {
        "stt_provider": "openai",
        "llm_provider": "openai",
        "tts_provider": "openai",
        "openai_api_key": "sk-test",
        "openai_base_url": fake.base_url,
        "fallback_to_local": False,
        "functions_api_url": None,
        **TEST_THRESHOLDS,
        **overrides,
    }
    return WorkerSettings(**fields)  # type: ignore[arg-type]


def utterance(tmp_path: Path, lang: Lang, pair: tuple[str, str], pause: float | None) -> Utterance:
    (utt,) = build_corpus({lang: [pair]}, (pause,), tmp_path / "voices", langs=(lang,), reproducible=True)
    return utt


async def call(
    fake: FakeOpenAIHandle, settings: WorkerSettings, utt: Utterance, tmp_path: Path
) -> tuple[EventLog, list[str]]:
    fake.control(
        transcript_language=utt.lang,
        default_transcript="好的" if utt.lang == "zh" else "okay",
        reply_text="好。" if utt.lang == "zh" else "Okay.",
        silent_below_rms=30.0,
    )
    with livekit_events() as events:
        result = await run_call(settings, utt.path, tmp_path / "reply.wav", utt.lang, lambda _l: None)
    users = [t.text for t in result.transcript if t.role == "user"]
    assert result.reply_samples > 0, "the agent never answered"
    return events, users


def relative(events: EventLog) -> tuple[list[tuple[float, float]], list[tuple[float, float | None, str]]]:
    """Committed turns as (speech start, speech end) and decisions as (time, delay chosen, language),
    in seconds from the start of the caller's speech."""
    assert events.commits, "no user turn was committed"
    origin = min(start for start, _end, _at in events.commits)
    turns = [(start - origin, end - origin) for start, end, _at in events.commits]
    decisions = [(at - origin, delay, lang) for at, _p, _thr, delay, lang in events.predictions]
    return turns, decisions


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_a_sentence_with_a_pause_mid_way_is_one_turn(
    tmp_path: Path, fake_openai: FakeOpenAIHandle, lang: Lang
) -> None:
    utt = utterance(tmp_path, lang, PAUSED[lang], PAUSE_S)
    settings = settings_for(fake_openai)
    assert settings.turn_detector_kind == "model"  # TURN_DETECTION=auto with a cloud LLM

    events, users = await call(fake_openai, settings, utt, tmp_path)
    turns, decisions = relative(events)
    # One user turn, and its speech runs to the end of the sentence: the pause did not end it.
    assert len(turns) == 1 and len(users) == 1, (turns, users, decisions)
    assert turns[0][1] > utt.early_before_s, (turns, utt)
    # The detector was asked at the pause, in the caller's language, and chose to wait.
    at_pause = [d for d in decisions if d[0] < utt.early_before_s]
    assert at_pause, decisions
    assert all(lang_ == lang for _t, _d, lang_ in decisions), decisions
    assert at_pause[0][1] == settings.max_endpointing_delay, decisions

    # The same pause on silence alone (same delays) ends a turn: it is the model that held it.
    events, users = await call(fake_openai, settings_for(fake_openai, turn_detection="vad"), utt, tmp_path)
    turns, _ = relative(events)
    assert len(turns) >= 2 and turns[0][1] < utt.early_before_s, (turns, users)


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_a_whole_sentence_ends_its_turn_on_the_short_delay(
    tmp_path: Path, fake_openai: FakeOpenAIHandle, lang: Lang
) -> None:
    utt = utterance(tmp_path, lang, WHOLE[lang], None)
    settings = settings_for(fake_openai)
    events, users = await call(fake_openai, settings, utt, tmp_path)
    turns, decisions = relative(events)
    assert len(turns) == 1 and len(users) == 1, (turns, users)
    assert decisions and decisions[-1][2] == lang, decisions
    # Judged complete: committed after MIN_ENDPOINTING_DELAY, not after the long wait.
    assert decisions[-1][1] == settings.endpointing_min_delay, decisions
    (_start, end), committed_at = turns[0], events.commits[0][2] - min(s for s, _e, _c in events.commits)
    assert committed_at - end < settings.max_endpointing_delay, (turns, committed_at)


async def test_the_detector_is_the_offline_model_with_the_configured_thresholds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from livekit.agents.inference import TurnDetector
    from livekit.agents.language import LanguageCode

    from agent_worker.session import turn_detector

    # LiveKit credentials in the environment must not send the detector to LiveKit Cloud.
    monkeypatch.setenv("LIVEKIT_INFERENCE_URL", "https://inference.example.invalid")
    monkeypatch.setenv("LIVEKIT_API_KEY", "key")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "secret")
    settings = WorkerSettings(turn_detection="model", turn_threshold_zh=0.3, turn_threshold_en=0.4)
    detector = turn_detector(settings)
    assert isinstance(detector, TurnDetector) and detector.model == "turn-detector-v1-mini"
    assert await detector.unlikely_threshold(LanguageCode("zh-CN")) == 0.3
    assert await detector.unlikely_threshold(LanguageCode("en")) == 0.4
    # Languages without a setting keep the model's own threshold (Japanese: 0.295).
    assert await detector.unlikely_threshold(LanguageCode("ja")) == 0.295
    assert turn_detector(WorkerSettings(turn_detection="vad")) == "vad"


def test_a_vad_silence_too_short_for_the_detector_is_a_configuration_error() -> None:
    from pydantic import ValidationError

    from agent_worker.settings import config_error_line

    with pytest.raises(ValidationError) as exc:
        WorkerSettings(vad_min_silence_duration=0.2, turn_detection="model")
    assert config_error_line(exc.value).startswith(
        "configuration error: VAD_MIN_SILENCE_DURATION: at least 0.25 s"
    )
    assert WorkerSettings(vad_min_silence_duration=0.2, turn_detection="vad").vad_min_silence_duration == 0.2
