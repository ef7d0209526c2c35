"""Figures from a run: pure functions, no printing, no I/O.

Percentiles are exact, from every event: the nearest-rank definition
(the smallest value with at least p% of values at or below it), so each
reported latency is one some event really had.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}


def nearest_rank(sorted_values: np.ndarray, percent: float) -> int:
    """The nearest-rank percentile of an ascending array (non-empty, 0 < percent <= 100)."""
    if not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], got {percent}")
    n = len(sorted_values)
    if n == 0:
        raise ValueError("no values")
    # Exact: 99.9 is 999/10, not the nearest double; a float product misses ranks at large n.
    rank = max(1, math.ceil(Fraction(str(percent)) * n / 100))
    return int(sorted_values[rank - 1])


@dataclass(frozen=True)
class LatencySummary:
    p50: int
    p90: int
    p99: int
    p999: int
    max: int

    def as_dict(self) -> dict[str, int]:
        return {"p50": self.p50, "p90": self.p90, "p99": self.p99, "p999": self.p999, "max": self.max}


def latency_summary(latencies_ns: np.ndarray) -> LatencySummary | None:
    """Exact percentiles of all latencies, or None for an empty run."""
    if len(latencies_ns) == 0:
        return None
    ordered = np.sort(latencies_ns)
    values = {name: nearest_rank(ordered, p) for name, p in PERCENTILES.items()}
    return LatencySummary(**values, max=int(ordered[-1]))


def latencies_ns(done_ns: np.ndarray, arrival_ns: np.ndarray, t0_ns: int) -> np.ndarray:
    """``done - (t0 + arrival)`` per event, from the intended arrival (SPEC §4).

    Signed, so that a run which finished an event before its arrival shows a
    negative figure instead of wrapping; the checks reject such runs anyway.
    """
    return done_ns.astype(np.int64) - (np.int64(t0_ns) + arrival_ns.astype(np.int64))


def throughput_eps(n_events: int, span_ns: int) -> float | None:
    """Events per second over ``span_ns`` (SPEC §4: ``n / (max(done) - t0)``)."""
    if n_events == 0 or span_ns <= 0:
        return None
    return n_events / (span_ns / 1e9)


def ratio(value: float | None, baseline: float | None) -> float | None:
    """``value / baseline``, or None where either is missing or the baseline is 0."""
    if value is None or baseline is None or baseline == 0:
        return None
    return value / baseline


def percent_change(value: float | None, baseline: float | None) -> float | None:
    """``(value - baseline) / baseline`` in percent; None where either is missing or the baseline is 0."""
    r = ratio(value, baseline)
    return None if r is None else (r - 1.0) * 100.0
