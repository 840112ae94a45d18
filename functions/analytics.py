"""Analytics arithmetic (pure): nearest-rank percentiles and per-period aggregation.

Nearest-rank: p-th percentile of n sorted values is the value at rank ceil(p/100 * n) — always an
observed latency, never an interpolation between two turns.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from functions.models.api import STAGES, PeriodStats, StageStats
from functions.store.tables import parse_iso


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def stage_stats(values: list[float]) -> StageStats:
    if not values:
        return StageStats(count=0)
    return StageStats(
        count=len(values),
        p50=percentile(values, 50),
        p95=percentile(values, 95),
        mean=round(sum(values) / len(values), 6),
    )


def session_duration(session: dict[str, Any]) -> float | None:
    """The worker's measured duration if it sent one, else LiveKit's room start -> finish."""
    if session.get("duration_s") is not None:
        return float(session["duration_s"])
    if session.get("started_at") and session.get("ended_at"):
        started, ended = parse_iso(session["started_at"]), parse_iso(session["ended_at"])
        return max(0.0, (ended - started).total_seconds())
    return None


def period_stats(
    sessions: Iterable[dict[str, Any]], turns: Iterable[dict[str, Any]], errors: Iterable[dict[str, Any]]
) -> PeriodStats:
    sessions, turns, errors = list(sessions), list(turns), list(errors)
    durations = [d for d in (session_duration(s) for s in sessions) if d is not None]
    stages = {
        stage: stage_stats([float(t[stage]) for t in turns if t.get(stage) is not None]) for stage in STAGES
    }
    return PeriodStats(
        sessions=len(sessions),
        finished_sessions=sum(1 for s in sessions if s.get("ended_at")),
        duration_s_total=round(sum(durations), 6),
        duration_s_p50=percentile(durations, 50),
        duration_s_p95=percentile(durations, 95),
        turns=len(turns),
        interruptions=sum(1 for t in turns if t.get("interrupted")),
        errors=len(errors),
        stages=stages,
    )
