"""The endpointing benchmark's reading of samples: rates, medians, the shipped row, the recommendation."""

from __future__ import annotations

from benchmarks.endpointing_bench import Row, Sample, Setting, build_result, recommend, shipped_setting, sweep


def sample(
    setting: Setting, pause: float, false_end: bool, eou: float | None, swallowed: bool = False
) -> Sample:
    return Sample(
        setting=setting,
        lang="en",
        pause_s=pause,
        user_turns=2 if false_end and not swallowed else 1,
        first_commit_s=1.0,
        second_mid_s=2.0,
        end_s=3.0,
        false_end=false_end,
        swallowed=swallowed,
        eou_delay_s=eou,
        voice_to_voice_s=None if eou is None else eou + 0.3,
        wall_s=8.0,
    )


def test_sweep_holds_the_shipped_default_once() -> None:
    shipped = shipped_setting()
    rows = sweep(shipped)
    assert rows.count(shipped) == 1
    assert {r.min_endpointing_delay for r in rows} >= {0.3, 0.5, 0.8}
    assert len({r.vad_min_silence_duration for r in rows}) >= 3


def test_rows_rates_medians_and_recommendations() -> None:
    shipped = Setting(0.5, 0.4)
    fast = Setting(0.3, 0.4)
    slow = Setting(0.8, 0.4)
    pauses = (0.2, 0.6, 1.0)
    rows = [
        Row(
            fast,
            False,
            [
                sample(fast, 0.2, False, 0.35),
                sample(fast, 0.6, True, 0.36),
                sample(fast, 1.0, True, None, True),
            ],
        ),
        Row(
            shipped,
            True,
            [
                sample(shipped, 0.2, False, 0.5),
                sample(shipped, 0.6, True, 0.52),
                sample(shipped, 1.0, True, None, True),
            ],
        ),
        Row(
            slow,
            False,
            [sample(slow, 0.2, False, 0.8), sample(slow, 0.6, False, 0.82), sample(slow, 1.0, True, 0.81)],
        ),
    ]
    assert rows[1].false_rate == 2 / 3 and rows[1].swallowed == 1 and rows[1].timed == 2
    assert rows[1].eou == 0.51 and rows[2].longest_kept_pause() == 0.6
    # Same false ends, less delay: change to the faster setting.
    assert "Change it to MIN_ENDPOINTING_DELAY=0.3" in recommend(rows)
    result = build_result(rows, pauses, ("en",), quick=False)
    per_setting = result.tables[0].markdown()
    assert per_setting.count("**(shipped)**") == 2  # both columns of the one shipped row
    assert "67% (2/3)" in per_setting
    assert "| 0.5 / 0.4 (shipped) | 0/1 | 1/1 | 1/1 |" in result.tables[1].markdown()
    assert len(result.headline) == 3 and "delay ratio to shipped 0.70" in result.headline[0]
    # Without the faster row: the slower one trades false ends for 0.30 s, over the delay budget.
    text = recommend(rows[1:])
    assert (
        text.count("Keep it") == 1
        and "VAD_MIN_SILENCE_DURATION=0.4 → 33% false ends for 0.300 s more" in text
    )
    # A small delay for half the false ends is worth a change.
    mild = Setting(0.5, 0.6)
    mild_row = Row(
        mild,
        False,
        [sample(mild, 0.2, False, 0.6), sample(mild, 0.6, False, 0.62), sample(mild, 1.0, True, 0.6)],
    )
    assert (
        "Change it to MIN_ENDPOINTING_DELAY=0.5 VAD_MIN_SILENCE_DURATION=0.6: false ends 67% → 33%"
        in recommend([rows[1], mild_row, rows[2]])
    )
    assert "Keep it" in recommend(rows[1:2])
    # Both a faster row at equal false ends and an affordable cut: the cut wins, the faster one is named.
    both = recommend([rows[0], rows[1], mild_row])
    assert "Change it to MIN_ENDPOINTING_DELAY=0.5 VAD_MIN_SILENCE_DURATION=0.6" in both
    assert "MIN_ENDPOINTING_DELAY=0.3 VAD_MIN_SILENCE_DURATION=0.4 would save 0.155 s" in both
