"""Item 6: the endpointing trade-off — false end of turn against end-of-utterance delay.

Each sample is one spoken sentence with a pause in the middle (espeak-ng halves joined by sox with
0.25–0.9 s of silence), played in real time into the real ``AgentSession`` of the worker through
``agent_worker.wav_call.run_call``, with the worker's silero VAD and turn handling. STT, LLM and TTS are
the OpenAI-protocol fake server (``infra/fake_openai``), answering at once, so only VAD and endpointing
decide when the turn ends.

A *false end of turn*: the session committed a user turn before the sentence was over — its first user
turn was committed before the middle of the second half, or it committed more than one user turn.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import subprocess
import sys
import time
import wave
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from benchmarks.report import BenchResult, Table, fmt_s
from benchmarks.runner import RunOptions

LEAD_S = 0.3  # silence before the caller speaks
RATE = 22_050  # espeak-ng's output rate
# Sentence halves: the pause falls where a caller might hesitate mid-sentence.
SENTENCES: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("I would like to book", "a table for two tonight"),
        ("Can you tell me", "what the weather will be tomorrow"),
        ("My flight leaves at", "seven in the morning"),
    ],
    "zh": [
        ("我想预订", "今晚两个人的桌子"),
        ("你能告诉我", "明天的天气怎么样"),
        ("我的航班", "早上七点起飞"),
    ],
}
# When the first user turn is committed, relative to the call's start, it is "early" (false) if it
# comes before the middle of the second half plus this allowance for the session's start-up.
START_ALLOWANCE_S = 0.25


@dataclass(frozen=True)
class Setting:
    min_endpointing_delay: float
    vad_min_silence_duration: float

    @property
    def label(self) -> str:
        return (
            f"MIN_ENDPOINTING_DELAY={self.min_endpointing_delay} "
            f"VAD_MIN_SILENCE_DURATION={self.vad_min_silence_duration}"
        )


def shipped_setting() -> Setting:
    from agent_worker.settings import WorkerSettings

    fields = WorkerSettings.model_fields
    return Setting(
        min_endpointing_delay=float(fields["min_endpointing_delay"].default),
        vad_min_silence_duration=float(fields["vad_min_silence_duration"].default),
    )


def sweep(shipped: Setting) -> list[Setting]:
    """One factor at a time around the shipped default (a full grid does not fit in ~10 minutes)."""
    rows = [Setting(d, shipped.vad_min_silence_duration) for d in (0.3, 0.5, 0.8)]
    rows += [Setting(shipped.min_endpointing_delay, v) for v in (0.25, 0.4, 0.6)]
    rows.append(shipped)
    unique: list[Setting] = []
    for row in rows:
        if row not in unique:
            unique.append(row)
    return sorted(unique, key=lambda s: (s.min_endpointing_delay, s.vad_min_silence_duration))


# Finer where the swept settings' thresholds lie (0.4-0.8 s of silence).
FULL_PAUSES = (0.25, 0.35, 0.45, 0.55, 0.7, 0.9)


@dataclass(frozen=True)
class Utterance:
    lang: str
    first: str
    second: str
    pause_s: float
    path: Path
    first_s: float  # seconds of speech, trimmed
    second_s: float

    @property
    def second_mid_s(self) -> float:
        return LEAD_S + self.first_s + self.pause_s + self.second_s / 2

    @property
    def end_s(self) -> float:
        return LEAD_S + self.first_s + self.pause_s + self.second_s


def _duration(path: Path) -> float:
    with wave.open(str(path)) as wf:
        return wf.getnframes() / wf.getframerate()


def _trimmed_speech(text: str, lang: str, path: Path) -> Path:
    from tests.support.audio import speak

    raw = speak(text, lang, path.with_suffix(".espeak.wav"), pad_s=0.0)
    # espeak-ng leaves silence at both ends: cut it so the pause between halves is exactly the one set.
    subprocess.run(
        [
            "sox",
            str(raw),
            "-r",
            str(RATE),
            str(path),
            "silence",
            "1",
            "0.02",
            "-45d",
            "reverse",
            "silence",
            "1",
            "0.02",
            "-45d",
            "reverse",
        ],
        check=True,
    )
    raw.unlink()
    return path


def build_utterance(lang: str, pair: tuple[str, str], pause_s: float, work: Path, index: int) -> Utterance:
    from tests.support.audio import silence

    a = _trimmed_speech(pair[0], lang, work / f"u{index}_a.wav")
    b = _trimmed_speech(pair[1], lang, work / f"u{index}_b.wav")
    lead = silence(work / f"u{index}_lead.wav", LEAD_S, rate=RATE)
    gap = silence(work / f"u{index}_gap.wav", pause_s, rate=RATE)
    out = work / f"u{index}_{lang}_{pause_s:.2f}.wav"
    subprocess.run(["sox", str(lead), str(a), str(gap), str(b), str(out)], check=True)
    return Utterance(lang, pair[0], pair[1], pause_s, out, _duration(a), _duration(b))


def build_utterances(pauses: tuple[float, ...], langs: tuple[str, ...], work: Path) -> list[Utterance]:
    out: list[Utterance] = []
    for lang in langs:
        for i, pause in enumerate(pauses):
            pair = SENTENCES[lang][i % len(SENTENCES[lang])]
            out.append(build_utterance(lang, pair, pause, work, len(out)))
    return out


@dataclass
class Sample:
    setting: Setting
    lang: str
    pause_s: float
    user_turns: int
    first_commit_s: float | None  # after the call started
    second_mid_s: float
    end_s: float
    false_end: bool
    swallowed: bool  # ended early and the rest of the sentence never became a turn
    eou_delay_s: float | None  # of the turn that ended the sentence (None if there was none)
    voice_to_voice_s: float | None
    wall_s: float


async def run_one(setting: Setting, utt: Utterance, base_url: str, work: Path) -> Sample:
    from agent_worker.settings import WorkerSettings
    from agent_worker.wav_call import run_call

    settings = WorkerSettings(
        stt_provider="openai",
        llm_provider="openai",
        tts_provider="openai",
        openai_api_key="sk-bench",
        openai_base_url=base_url,
        fallback_to_local=False,
        functions_api_url=None,
        min_endpointing_delay=setting.min_endpointing_delay,
        vad_min_silence_duration=setting.vad_min_silence_duration,
    )
    started = datetime.now(UTC)
    t0 = time.monotonic()
    result = await run_call(
        settings, utt.path, work / "reply.wav", "zh" if utt.lang == "zh" else "en", lambda _l: None
    )
    wall = time.monotonic() - t0
    users = [t for t in result.transcript if t.role == "user"]
    commits = [(u.turn, (u.ts - started).total_seconds()) for u in users]
    early_before = utt.second_mid_s + START_ALLOWANCE_S
    first = commits[0][1] if commits else None
    false_end = len(users) > 1 or (first is not None and first < early_before)
    # The turn that answers the whole sentence: the first one committed after it ended.
    final_turns = {turn for turn, at in commits if at >= early_before}
    final = [m for m in result.turns if m.turn in final_turns]
    return Sample(
        setting=setting,
        lang=utt.lang,
        pause_s=utt.pause_s,
        user_turns=len(users),
        first_commit_s=first,
        second_mid_s=utt.second_mid_s,
        end_s=utt.end_s,
        false_end=false_end,
        swallowed=false_end and not final_turns,
        eou_delay_s=final[0].end_of_utterance_delay if final else None,
        voice_to_voice_s=final[0].voice_to_voice if final else None,
        wall_s=wall,
    )


async def run_all(settings: list[Setting], utterances: list[Utterance], work: Path) -> list[Sample]:
    from infra.fake_openai.server import serve

    fake, runner, base_url = await serve()
    # Short transcripts keep the (real-time) replies short; their text does not matter here.
    fake.behaviour.default_transcript = "ok"
    samples: list[Sample] = []
    total = len(settings) * len(utterances)
    try:
        for setting in settings:
            for utt in utterances:
                sample = await run_one(setting, utt, base_url, work)
                samples.append(sample)
                print(
                    f"[{len(samples)}/{total}] {setting.label} {utt.lang} pause={utt.pause_s:.2f}s "
                    f"turns={sample.user_turns} false_end={sample.false_end} "
                    f"eou={fmt_s(sample.eou_delay_s)} ({sample.wall_s:.1f}s)",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        await runner.cleanup()
    return samples


@dataclass
class Row:
    setting: Setting
    shipped: bool
    samples: list[Sample]

    @property
    def false_rate(self) -> float:
        return sum(s.false_end for s in self.samples) / len(self.samples)

    @property
    def swallowed(self) -> int:
        return sum(s.swallowed for s in self.samples)

    def _median(self, attr: str) -> float | None:
        values = [v for s in self.samples if (v := getattr(s, attr)) is not None]
        return statistics.median(values) if values else None

    @property
    def eou(self) -> float | None:
        return self._median("eou_delay_s")

    @property
    def v2v(self) -> float | None:
        return self._median("voice_to_voice_s")

    @property
    def timed(self) -> int:
        return sum(s.eou_delay_s is not None for s in self.samples)

    def shortest_false_pause(self) -> float | None:
        pauses = [s.pause_s for s in self.samples if s.false_end]
        return min(pauses) if pauses else None

    def longest_kept_pause(self) -> float | None:
        pauses = [s.pause_s for s in self.samples if not s.false_end]
        return max(pauses) if pauses else None


# A change that adds delay to every turn is worth it only if it is small next to the 1.2 s voice-to-voice
# p50 target and removes a real share of the false ends.
DELAY_BUDGET_S = 0.15
MIN_FALSE_END_CUT = 0.25  # fraction of the shipped false ends that must go


def _kept(row: Row) -> str:
    p = row.longest_kept_pause()
    return "no pause" if p is None else f"pauses up to {p:.2f} s"


def recommend(rows: list[Row]) -> str:
    shipped = next(r for r in rows if r.shipped)
    if shipped.eou is None:
        return "No recommendation: the shipped setting produced no timed turn."
    base_eou = shipped.eou
    timed = [r for r in rows if not r.shipped and r.eou is not None]
    # Dominates: as few false ends, noticeably less delay.
    better = [r for r in timed if r.false_rate <= shipped.false_rate and (r.eou or 0.0) < shipped.eou - 0.05]
    # Trades: fewer false ends for some delay; ranked by false ends removed per second added.
    trades = [r for r in timed if r.false_rate < shipped.false_rate and (r.eou or 0.0) > shipped.eou]

    def gain(r: Row) -> float:
        return (shipped.false_rate - r.false_rate) / max((r.eou or 0.0) - base_eou, 1e-3)

    affordable = [
        r
        for r in trades
        if (r.eou or 0.0) - shipped.eou <= DELAY_BUDGET_S
        and shipped.false_rate - r.false_rate >= MIN_FALSE_END_CUT * shipped.false_rate
    ]
    lines = [
        f"**Recommendation.** Shipped default ({shipped.setting.label}): false end of turn "
        f"{shipped.false_rate:.0%} of {len(shipped.samples)} sentences ({_kept(shipped)} kept), median "
        f"end-of-utterance delay {fmt_s(shipped.eou)}."
    ]
    faster = min(better, key=lambda r: (r.eou or 0.0, r.false_rate)) if better else None
    # A false end costs a caller far more than a tenth of a second (here it often loses the rest of the
    # sentence), so a cut in false ends within the budget comes before a saving in delay.
    if affordable:
        best = max(affordable, key=gain)
        lines.append(
            f"Change it to {best.setting.label}: false ends {shipped.false_rate:.0%} → "
            f"{best.false_rate:.0%} ({_kept(best)} kept) for {fmt_s((best.eou or 0.0) - shipped.eou)} more "
            f"end-of-utterance delay per turn (rule: at most {DELAY_BUDGET_S} s more, small next to the "
            f"1.2 s voice-to-voice target, for at least {MIN_FALSE_END_CUT:.0%} fewer false ends)."
        )
        if faster is not None:
            lines.append(
                f"{faster.setting.label} would save {fmt_s(shipped.eou - (faster.eou or 0.0))} at the "
                f"default's false-end rate ({faster.false_rate:.0%} here, {_kept(faster)} kept) but goes "
                "the other way on the trade-off."
            )
    elif faster is not None:
        lines.append(
            f"Change it to {faster.setting.label}: as few or fewer false ends ({faster.false_rate:.0%}) "
            f"and {fmt_s(shipped.eou - (faster.eou or 0.0))} less end-of-utterance delay."
        )
    else:
        lines.append(
            f"Keep it: no swept setting removes at least {MIN_FALSE_END_CUT:.0%} of the false ends for at "
            f"most {DELAY_BUDGET_S} s more delay, nor saves delay without more false ends."
        )
    others = [r for r in trades if r not in affordable]
    if others:
        lines.append(
            "Costlier options: "
            + "; ".join(
                f"{r.setting.label} → {r.false_rate:.0%} false ends for "
                f"{fmt_s((r.eou or 0.0) - shipped.eou)} more"
                for r in sorted(others, key=lambda r: r.eou or 0.0)
            )
            + "."
        )
    return " ".join(lines)


def caveats(rows: list[Row]) -> str:
    false_ends = sum(s.false_end for r in rows for s in r.samples)
    lost = sum(r.swallowed for r in rows)
    return (
        f"Beyond the delay: {lost} of the {false_ends} false ends here lost the rest of the sentence "
        "(first reply of a session, see *rest of sentence lost*), so an early end costs more than a "
        "late reply. Fixed VAD endpointing can only trade one for the other: the shortest pause that "
        "ends a turn is about max(MIN_ENDPOINTING_DELAY, VAD_MIN_SILENCE_DURATION) less the VAD's "
        "reaction time. Fewer false ends at the same delay needs a semantic end-of-turn model "
        '(livekit\'s turn detector, `turn_detection=` a model instead of `"vad"`), whose weights '
        "would have to ship in a package to run offline."
    )


def build_result(
    rows: list[Row], pauses: tuple[float, ...], langs: tuple[str, ...], quick: bool
) -> BenchResult:
    per_row = len(pauses) * len(langs)
    table = Table(
        [
            "MIN_ENDPOINTING_DELAY",
            "VAD_MIN_SILENCE_DURATION",
            "false end of turn",
            "rest of sentence lost",
            "median end-of-utterance delay",
            "median voice-to-voice",
            "longest pause kept",
            "samples (timed)",
        ],
        [
            [
                f"{r.setting.min_endpointing_delay}" + (" **(shipped)**" if r.shipped else ""),
                f"{r.setting.vad_min_silence_duration}" + (" **(shipped)**" if r.shipped else ""),
                f"{r.false_rate:.0%} ({sum(s.false_end for s in r.samples)}/{len(r.samples)})",
                f"{r.swallowed}/{len(r.samples)}",
                fmt_s(r.eou),
                fmt_s(r.v2v),
                "none" if (p := r.longest_kept_pause()) is None else f"{p:.2f} s",
                f"{len(r.samples)} ({r.timed})",
            ]
            for r in rows
        ],
        caption="**Per setting** (shipped default in bold)",
    )
    pause_table = Table(
        ["setting", *[f"pause {p:.2f} s" for p in pauses]],
        [
            [
                f"{r.setting.min_endpointing_delay} / {r.setting.vad_min_silence_duration}"
                + (" (shipped)" if r.shipped else ""),
                *[
                    f"{sum(s.false_end for s in r.samples if s.pause_s == p)}/"
                    f"{sum(1 for s in r.samples if s.pause_s == p)}"
                    for p in pauses
                ],
            ]
            for r in rows
        ],
        caption="**False ends by pause length** (MIN_ENDPOINTING_DELAY / VAD_MIN_SILENCE_DURATION; "
        f"count over {', '.join(langs)})",
    )
    total_calls = sum(len(r.samples) for r in rows)
    wall = sum(s.wall_s for r in rows for s in r.samples)
    method = f"""\
Each sample is one sentence spoken by espeak-ng ({", ".join(langs)}; three sentence pairs per language,
silence trimmed from each half) with a pause of {", ".join(f"{p:.2f}" for p in pauses)} s between its two
halves and {LEAD_S} s of silence before it, played in real time (20 ms frames) into the worker's own
`AgentSession` via `agent_worker.wav_call.run_call` — silero VAD, `turn_detection="vad"`, fixed
endpointing, preemptive generation and interruptions as shipped (`agent_worker/session.py`). STT, LLM
and TTS are the OpenAI-protocol fake server (`infra/fake_openai`, transcript "ok", no added delay), so
only VAD and endpointing decide when the turn ends. Settings are swept one at a time around the shipped
default. {per_row} sentences per setting ({len(pauses)} pauses × {len(langs)} languages), {total_calls}
calls run one after another ({wall / 60:.1f} min of calls).

- *False end of turn*: the session committed a user turn before the sentence was over (its first user
  turn came before the middle of the second half, allowing {START_ALLOWANCE_S} s for session start-up),
  or it committed more than one user turn for the one sentence.
- *Rest of sentence lost*: a false end after which the second half never became a user turn. In a
  fresh session livekit-agents ignores the caller for the first {3.0:.0f} s of the agent's first reply
  (`aec_warmup_duration`, default 3.0 s, not set by `agent_worker/session.py`): the second half is fed
  to STT as silence. Later in a call it would interrupt the reply and become a second turn instead.
- *End-of-utterance delay* (livekit's `end_of_turn_delay`: end of speech → turn committed) and
  *voice-to-voice* (`e2e_latency`: end of speech → first reply audio) are medians over the turns that
  ended a whole sentence ("timed" count); a lost sentence has none.
"""

    def plot(fig: Figure) -> None:
        ax1, ax2 = fig.subplots(1, 2)
        placed: list[tuple[float, float]] = []
        for r in rows:
            if r.eou is None:
                continue
            point = (round(r.eou, 2), round(r.false_rate, 2))
            stacked = placed.count(point)  # settings on the same point: labels one under the other
            placed.append(point)
            ax1.scatter(
                r.eou, r.false_rate * 100, s=80 if r.shipped else 40, marker="*" if r.shipped else "o"
            )
            ax1.annotate(
                f"{r.setting.min_endpointing_delay}/{r.setting.vad_min_silence_duration}"
                + (" shipped" if r.shipped else ""),
                (r.eou, r.false_rate * 100),
                textcoords="offset points",
                xytext=(5, 4 - 10 * stacked),
                fontsize=7,
            )
        ax1.set_xlabel("median end-of-utterance delay, s")
        ax1.set_ylabel("false end of turn, % of sentences")
        ax1.set_title("Trade-off (min delay / VAD silence)")
        for r in rows:
            fractions = [
                100 * statistics.fmean([s.false_end for s in r.samples if s.pause_s == p] or [0])
                for p in pauses
            ]
            ax2.plot(
                pauses,
                fractions,
                marker="o",
                linewidth=2.5 if r.shipped else 1,
                label=f"{r.setting.min_endpointing_delay}/{r.setting.vad_min_silence_duration}"
                + (" shipped" if r.shipped else ""),
            )
        ax2.set_xlabel("mid-sentence pause, s")
        ax2.set_ylabel("false end of turn, %")
        ax2.set_title("By pause length")
        ax2.legend(fontsize=7)

    shipped = next(r for r in rows if r.shipped)
    headline = [
        f"{r.setting.label}{' (shipped)' if r.shipped else ''}: false end {r.false_rate:.0%} "
        f"({len(r.samples)} sentences), median end-of-utterance delay {fmt_s(r.eou)}, "
        f"median voice-to-voice {fmt_s(r.v2v)}"
        + (
            f", delay ratio to shipped {r.eou / shipped.eou:.2f}"
            if r.eou is not None and shipped.eou and not r.shipped
            else ""
        )
        for r in rows
    ]
    raw: dict[str, Any] = {
        "pauses_s": list(pauses),
        "languages": list(langs),
        "samples": [{**asdict(s), "setting": asdict(s.setting)} for r in rows for s in r.samples],
    }
    return BenchResult(
        name="endpointing",
        title="Endpointing trade-off: false end of turn vs. end-of-utterance delay (item 6)",
        method=method,
        tables=[table, pause_table],
        headline=headline,
        conclusion=recommend(rows) + "\n\n" + caveats(rows),
        plot=plot,
        raw=raw,
        quick=quick,
    )


def rows_for(settings: list[Setting], shipped: Setting, samples: list[Sample]) -> list[Row]:
    return [Row(s, s == shipped, [x for x in samples if x.setting == s]) for s in settings]


def from_raw(raw: dict[str, Any]) -> BenchResult:
    """Rebuild the result from its raw samples (``python -m benchmarks endpointing --render-only``)."""
    samples = [Sample(**{**d, "setting": Setting(**d["setting"])}) for d in raw["samples"]]
    settings = sorted(
        {s.setting for s in samples}, key=lambda s: (s.min_endpointing_delay, s.vad_min_silence_duration)
    )
    rows = rows_for(settings, shipped_setting(), samples)
    return build_result(rows, tuple(raw["pauses_s"]), tuple(raw["languages"]), bool(raw["quick"]))


def run(options: RunOptions) -> BenchResult:
    # Per-request warnings of the fake TTS (no request id) would drown the progress lines.
    logging.getLogger("livekit.agents").setLevel(logging.ERROR)
    logging.getLogger("livekit.plugins.openai").setLevel(logging.ERROR)
    shipped = shipped_setting()
    settings: list[Setting]
    pauses: tuple[float, ...]
    langs: tuple[str, ...]
    if options.quick:
        settings, pauses, langs = [shipped], (0.2,), ("en",)
    else:
        settings, pauses, langs = sweep(shipped), FULL_PAUSES, ("en", "zh")
    utterances = build_utterances(pauses, langs, options.work_dir)
    samples = asyncio.run(run_all(settings, utterances, options.work_dir))
    return build_result(rows_for(settings, shipped, samples), pauses, langs, options.quick)
