"""The endpointing benchmark's reading of its calls: false ends, delays, the replayed threshold sweep, the
choice rule, the splitting of a sentence at its comma, and the recommendation it writes."""

from __future__ import annotations

from dataclasses import asdict, replace

import numpy as np
import pytest

from benchmarks.endpointing_bench import (
    LIVEKIT_THRESHOLDS,
    SILENCE_NAME,
    CallRecord,
    Replay,
    Row,
    Setting,
    best_replay,
    build_result,
    choose_threshold,
    compared_settings,
    records_from_raw,
    replay,
    split_at_pause,
    sweep,
    sweep_thresholds,
    trim,
)

MODEL = Setting("shipped", "model", 0.32, 0.39, 0.5, 1.2, 0.4)
SILENCE = replace(MODEL, name=SILENCE_NAME, turn_detection="vad")


def record(
    setting: Setting,
    pause: float | None,
    *,
    false_end: bool = False,
    swallowed: bool = False,
    delay: float = 0.5,
    p_pause: float | None = None,
    p_end: float | None = 0.5,
    lang: str = "en",
    pair: int = 0,
) -> CallRecord:
    """A call on a sentence of 1.0 s + pause + 1.0 s (or 2.0 s whole), as the benchmark records it."""
    first, second = (2.0, 0.0) if pause is None else (1.0, 1.0)
    speech = first + (pause or 0.0) + second
    early = speech - 0.3 if pause is None else speech - second / 2
    commits: list[tuple[float, float, float]] = []
    predictions: list[tuple[float, float | None, float | None, float | None, str]] = []
    thr = 0.39  # the live threshold: each decision's delay follows from it

    def chosen(p: float | None) -> float:
        return 0.5 if p is None or p >= thr else 1.2

    if pause is not None and p_pause is not None:
        predictions.append((first + 0.45, p_pause, thr, chosen(p_pause), lang))
    if false_end:
        commits.append((0.0, first, first + 0.5))
    if not swallowed:
        start = first + (pause or 0.0) if false_end else 0.0
        commits.append((start, speech, speech + delay))
        predictions.append((speech + 0.45, p_end, thr, chosen(p_end), lang))
    return CallRecord(
        setting=setting.name,
        lang=lang,  # type: ignore[arg-type]
        pair=pair,
        pause_s=pause,
        first_s=first,
        second_s=second,
        speech_s=speech,
        early_before_s=early,
        commits=commits,
        predictions=predictions,
        user_turns=len(commits),
        slow_vad_warnings=0,
        wall_s=8.0,
    )


def test_a_call_is_read_from_its_committed_turns_and_decisions() -> None:
    held = record(MODEL, 0.75, p_pause=0.2, p_end=0.6, delay=0.52)
    assert not held.false_end and not held.swallowed
    assert held.eou_delay_s == pytest.approx(0.52) and held.p_pause == 0.2 and held.p_end == 0.6
    cut = record(MODEL, 0.75, false_end=True, p_pause=0.6, delay=0.5)
    assert cut.false_end and not cut.swallowed and cut.eou_delay_s == pytest.approx(0.5)
    lost = record(MODEL, 0.75, false_end=True, swallowed=True, p_pause=0.6)
    assert lost.false_end and lost.swallowed and lost.eou_delay_s is None and lost.p_end is None
    whole = record(MODEL, None, p_end=0.3, delay=1.21)
    assert not whole.false_end and whole.p_pause is None and whole.p_end == 0.3 and whole.languages == {"en"}
    # Saved and read back (--render-only) the same.
    again = records_from_raw([asdict(cut)])[0]
    assert again.false_end and again.commits == cut.commits and again.eou_delay_s == cut.eou_delay_s


def test_row_rates_count_only_their_pauses() -> None:
    records = [
        record(SILENCE, None),
        record(SILENCE, 0.25),
        record(SILENCE, 0.45),
        record(SILENCE, 0.6, false_end=True),
        record(SILENCE, 0.75, false_end=True, swallowed=True),
        record(SILENCE, 0.9, false_end=True, delay=0.7),
    ]
    row = Row(SILENCE, "en", records)
    assert row.false_target == 0.75 and row.false_short == 0.0 and row.swallowed == 1
    assert [round(d, 6) for d in row.delays] == [0.5, 0.5, 0.5, 0.5, 0.7] and row.median_delay == 0.5
    assert row.quick_ends == 1.0 and not row.meets_target
    slow = Row(
        MODEL, "en", [record(MODEL, 0.6, delay=1.2), record(MODEL, None, delay=1.21), record(MODEL, None)]
    )
    assert slow.false_target == 0.0 and slow.median_delay == pytest.approx(1.2) and not slow.meets_target
    assert slow.quick_ends is not None and abs(slow.quick_ends - 1 / 3) < 1e-9
    good = Row(MODEL, "en", [record(MODEL, 0.6), record(MODEL, None), record(MODEL, None, delay=1.2)])
    assert good.meets_target and good.wrong_language == 0
    assert Row(MODEL, "zh", [record(MODEL, None)]).wrong_language == 1


def test_replay_applies_a_threshold_to_the_logged_decisions() -> None:
    silence = [
        record(SILENCE, 0.45, delay=0.51),  # too short a pause to end a turn on silence
        record(SILENCE, 0.6, false_end=True, delay=0.51),
        record(SILENCE, 0.9, false_end=True, delay=0.55),
        record(SILENCE, None, delay=0.51),
    ]
    # Live at threshold 0.39: the 0.45 s pause scored as an end but resumed in time; the 0.6 s pause
    # was held; the 0.9 s pause ended the turn; the 0.9 s sentence's end waited the long delay.
    model = [
        record(MODEL, 0.45, p_pause=0.9, p_end=0.5, delay=0.51),
        record(MODEL, 0.6, p_pause=0.3, p_end=0.45, delay=0.51),
        record(MODEL, 0.9, false_end=True, p_pause=0.5, p_end=0.2, delay=1.21),
        record(MODEL, None, p_end=0.6, delay=0.51),
    ]
    live = replay(model, silence, "en", 0.39, 0.5, 1.2)
    assert live.false_target == pytest.approx(1 / 3) and live.n_target == 3
    assert live.quick_ends == 0.75 and live.median_delay == pytest.approx(0.51)
    low = replay(model, silence, "en", 0.15, 0.5, 1.2)
    # Ending at 0.3 too: the 0.6 s pause ends, as silence alone ended it; every end on the short delay.
    assert low.false_target == pytest.approx(2 / 3)
    assert low.quick_ends == 1.0 and low.median_delay == pytest.approx(0.51)
    high = replay(model, silence, "en", 0.7, 0.5, 1.2)
    # Holding at 0.5 too: the 0.9 s pause is held; every end waits the long delay.
    assert high.false_target == 0.0 and high.quick_ends == 0.0
    assert high.median_delay == pytest.approx(1.21)
    longer = replay(model, silence, "en", 0.7, 0.5, 3.0)
    assert longer.median_delay == pytest.approx(3.01)
    # Another language's calls are not mixed in.
    assert replay(model, silence, "zh", 0.4, 0.5, 1.2).calls == 0
    grid = sweep_thresholds(MODEL)
    assert 0.32 in grid["zh"] and LIVEKIT_THRESHOLDS["zh"] in grid["zh"] and 0.39 in grid["en"]
    replays = sweep(model, silence, 0.5, [1.2], grid)
    assert {r.lang for r in replays} == {"zh", "en"} and len(replays) == len(grid["zh"]) + len(grid["en"])


def _replay(t: float, false: float, median: float, quick: float) -> Replay:
    return Replay("zh", t, 1.2, false, 20, median, 1.2, quick, 30)


def test_choice_rule_and_best_threshold() -> None:
    replays = [
        _replay(0.25, 0.6, 0.50, 0.95),
        _replay(0.30, 0.4, 0.58, 0.70),
        _replay(0.35, 0.3, 0.59, 0.55),
        _replay(0.40, 0.1, 1.20, 0.30),
    ]
    # The rule: the highest threshold whose median delay stays within the target and within 0.1 s of
    # silence alone's.
    pick = choose_threshold(replays, "zh", 1.2, silence_median=0.5)
    assert pick is not None and pick.threshold == 0.35
    pick = choose_threshold(replays, "zh", 1.2, silence_median=0.45)
    assert pick is not None and pick.threshold == 0.25
    assert choose_threshold(replays, "en", 1.2, silence_median=0.5) is None
    # Best on the target: fewest false ends among those within the delay bar.
    best = best_replay(replays, "zh", 1.2)
    assert best is not None and best.threshold == 0.35 and not best.meets_target
    # Nothing within the delay bar: the one nearest to the target.
    slow = [_replay(0.3, 0.5, 0.9, 0.4), _replay(0.4, 0.1, 1.2, 0.2)]
    nearest = best_replay(slow, "zh", 1.2)
    assert nearest is not None and nearest.threshold == 0.4
    assert _replay(0.3, 0.1, 0.55, 0.7).meets_target


def test_compared_settings_pair_the_shipped_default_with_its_counterpart() -> None:
    settings = compared_settings(MODEL)
    assert [s.turn_detection for s in settings] == ["vad", "model"] and settings[1] == MODEL
    assert settings[0].delays == MODEL.delays
    vad_shipped = compared_settings(replace(MODEL, turn_detection="vad"))
    assert (
        vad_shipped[1].turn_detection == "model"
        and vad_shipped[1].threshold("zh") == LIVEKIT_THRESHOLDS["zh"]
    )
    assert MODEL.threshold("zh") == 0.32 and SILENCE.threshold("en") is None


def test_split_at_the_comma_pause_and_trim() -> None:
    rate = 24_000
    tone = (8000 * np.sin(np.arange(rate) * 2 * np.pi * 220 / rate)).astype(np.int16)  # 1 s
    gap = np.zeros(rate // 4, np.int16)
    speech = np.concatenate(
        [np.zeros(rate // 10, np.int16), tone, gap, tone[: rate // 2], np.zeros(rate // 5, np.int16)]
    )
    halves = split_at_pause(speech, 1 / 1.5)
    assert halves is not None
    assert abs(halves[0].size - rate) <= rate // 100 and abs(halves[1].size - rate // 2) <= rate // 100
    # trim keeps whole 10 ms frames; the signal is built on them
    assert trim(speech).size == speech.size - rate // 10 - rate // 5
    # A gap far from where the comma should be, or none: no split.
    assert split_at_pause(speech, 0.1) is None
    assert split_at_pause(np.concatenate([tone, tone]), 0.5) is None


def test_the_report_recommends_from_the_live_rows() -> None:
    silence = [
        record(SILENCE, p, false_end=p is not None and p >= 0.6, delay=0.51, lang=lang)
        for lang in ("zh", "en")
        for p in (None, 0.25, 0.45, 0.6, 0.75, 0.9)
    ]
    model = [
        record(MODEL, p, p_pause=0.2, p_end=0.6, delay=0.52, lang=lang)
        for lang in ("zh", "en")
        for p in (None, 0.25, 0.45, 0.6, 0.75, 0.9)
    ]
    settings = [SILENCE, MODEL]
    pauses = (None, 0.25, 0.45, 0.6, 0.75, 0.9)
    result = build_result(settings, MODEL, pauses, silence + model, [], "method", quick=False)
    text = result.conclusion
    assert "Keep `TURN_DETECTION=model`" in text and "Mandarin: target met" in text
    live = result.tables[1].markdown()
    assert (
        "| **shipped** | Mandarin | 0% (0/4) |" in live
        and f"| {SILENCE_NAME} | English | 75% (3/4) |" in live
    )
    captions = [t.caption for t in result.tables]
    assert any("Threshold sweep" in c for c in captions) and any(
        "MAX_ENDPOINTING_DELAY" in c for c in captions
    )
    assert len(result.headline) == 4 and result.raw["shipped"] == "shipped"
    # A model that ends as many sentences early as silence alone does not beat it.
    worse = [replace(r, commits=s.commits) for r, s in zip(model, silence, strict=True)]
    text = build_result(settings, MODEL, pauses, silence + worse, [], "method", quick=False).conclusion
    assert "Switch to `TURN_DETECTION=vad`" in text
