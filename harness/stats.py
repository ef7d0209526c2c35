"""Figures from a run: pure functions, no printing, no I/O.

Percentiles are exact, from every event: the nearest-rank definition
(the smallest value with at least p% of values at or below it), so each
reported latency is one some event really had.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

# The percentiles every latency is stated at, by the names documents, tables and plots use: the
# one list of them (the maximum last; it is no nearest rank).
PERCENTILE_NAMES = ("p50", "p90", "p99", "p999", "max")
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}


def nearest_rank(sorted_values: np.ndarray, percent: float) -> int:
    """The nearest-rank percentile of an ascending array (non-empty, 0 < percent <= 100)."""
    return int(sorted_values[_rank(len(sorted_values), percent) - 1])


def nearest_rank_of(n: int, percent: float) -> int:
    """The 1-based rank of the nearest-rank ``percent``-th percentile of ``n`` values (for counts
    kept in a histogram rather than as values: harness/timeline.py)."""
    return _rank(n, percent)


def _rank(n: int, percent: float) -> int:
    """The 1-based rank of the nearest-rank ``percent``-th percentile of ``n`` values."""
    if not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], got {percent}")
    if n == 0:
        raise ValueError("no values")
    # Exact: 99.9 is 999/10, not the nearest double; a float product misses ranks at large n.
    return max(1, math.ceil(Fraction(str(percent)) * n / 100))


@dataclass(frozen=True)
class LatencySummary:
    """A latency distribution at :data:`PERCENTILE_NAMES`, in ns: one run's exact values (whole
    numbers), or medians over trials, or the jitter probe's gaps (which need not be whole)."""

    p50: float
    p90: float
    p99: float
    p999: float
    max: float

    def value(self, name: str) -> float:
        """The percentile called ``name`` (one of :data:`PERCENTILE_NAMES`)."""
        if name not in PERCENTILE_NAMES:
            raise KeyError(name)
        value: float = getattr(self, name)
        return value

    def as_dict(self) -> dict[str, float]:
        return {name: self.value(name) for name in PERCENTILE_NAMES}


def latency_summary(latencies_ns: np.ndarray, *, in_place: bool = False) -> LatencySummary | None:
    """Exact percentiles of all latencies, or None for an empty run.

    Selected, not sorted: a partition at the few ranks asked for (0.20-0.31 s against a full
    sort's 1.5-2.2 s on 16 M values here). ``in_place`` partitions ``latencies_ns`` itself, for a caller
    whose array is its own temporary; else a copy is (8 bytes an event)."""
    n = len(latencies_ns)
    if n == 0:
        return None
    values = latencies_ns if in_place else latencies_ns.copy()
    ranks = {name: _rank(n, p) - 1 for name, p in PERCENTILES.items()}
    values.partition(sorted(set(ranks.values())))
    return LatencySummary(**{name: int(values[i]) for name, i in ranks.items()}, max=int(values.max()))


def latencies_ns(done_ns: np.ndarray, arrival_ns: np.ndarray, t0_ns: int) -> np.ndarray:
    """``done - (t0 + arrival)`` per event, from the intended arrival (SPEC §4), both uint64.

    Signed, so that a run which finished an event before its arrival shows a
    negative figure instead of wrapping; the checks reject such runs anyway. One new array
    (8 bytes an event), computed in it: no temporaries of the stream's length.
    """
    out = done_ns.astype(np.int64)
    out -= np.int64(t0_ns)
    out -= arrival_ns.view(np.int64)  # the same bits, so the same wrap-around as int64 arithmetic
    return out


def service_ns(start_ns: np.ndarray, done_ns: np.ndarray) -> np.ndarray:
    """``done - start`` per event: its service, from the start of its handling to its completion.
    Signed for the same reason as :func:`latencies_ns` (a start written after the completion
    shows negative; the checks reject such runs). One new array, computed in it."""
    out = done_ns.astype(np.int64)
    out -= start_ns.view(np.int64)
    return out


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


# ---------------------------------------------------------------- figures over trials
#
# A figure measured over several trials is stated as a point with a confidence interval, and
# a contender against the baseline as a ratio with its interval. Both intervals are
# distribution-free and exact for the number of trials (docs/statistics.md says why these,
# and how they compare with criterion.rs, asv, pyperf and hyperfine):
#
# * one contender's figure: the median of its trials, with the order-statistic interval of
#   the median (the interval the sign test inverts): it assumes only that trials are
#   independent draws of the same distribution;
# * a ratio against the baseline: trials of the same round are paired (the drift between
#   rounds cancels), each pair gives log(value / baseline), and the Hodges-Lehmann estimate
#   with the interval that Wilcoxon's signed-rank test inverts gives the typical ratio. Under
#   "no difference" the rounds' shuffled order makes each log ratio symmetric about 0, which
#   is all the signed-rank test assumes, so its level is exact there.
#
# A verdict is "better" or "worse" only where the ratio's interval excludes 1 at the level a
# family of figures needs: each figure of a comparison is judged at 1 - (1 - FAMILY_CONFIDENCE)
# / (number of figures judged) (Bonferroni), so that a contender compared with itself is
# called "no clear difference" on every figure at least FAMILY_CONFIDENCE of the time.

FAMILY_CONFIDENCE = 0.95
NOISE_THRESHOLD = 0.01  # a change smaller than 1 % is not worth a verdict, however sure (criterion.rs's default)
METHOD = (
    "median of trials with its order-statistic 95 % interval; ratios: trials paired by round, "
    "Hodges-Lehmann estimate of the log ratio with its Wilcoxon signed-rank interval, each figure "
    "at 1 - 0.05 / (figures judged) so that all hold together at 95 % (Bonferroni); a verdict only "
    "where the whole interval lies beyond 1 % of no change"
)
BETTER, WORSE, UNCLEAR = "better", "worse", "no clear difference"


@dataclass(frozen=True)
class Interval:
    """A point estimate and an interval holding the true value with ``confidence`` (exact, achieved)."""

    point: float
    low: float
    high: float
    confidence: float  # the interval's coverage for this many trials: at least the level asked for, where reachable
    n: int  # trials it rests on

    def __post_init__(self) -> None:
        if not self.low <= self.point <= self.high:
            raise ValueError(f"interval must hold its point: {self.low} <= {self.point} <= {self.high}")
        if not 0 <= self.confidence <= 1 or self.n < 1:
            raise ValueError(f"confidence must be in [0, 1] and n at least 1, got {self.confidence}, {self.n}")

    def as_dict(self) -> dict[str, float]:
        return {"point": self.point, "low": self.low, "high": self.high, "confidence": self.confidence, "n": self.n}


def per_figure_confidence(figures_judged: int, family: float = FAMILY_CONFIDENCE) -> float:
    """The level each of ``figures_judged`` figures is judged at so that all hold together at ``family``."""
    if figures_judged < 1:
        raise ValueError(f"at least one figure is judged, got {figures_judged}")
    return 1 - (1 - family) / figures_judged


def _lower_rank(tail: np.ndarray, alpha: float) -> tuple[int, float]:
    """The largest ``k`` (0-based rank of an interval's lower end) whose tail probability
    ``tail[k] = P(statistic <= k)`` (the chance that the lower end lies above the true value)
    is at most ``alpha / 2``, and the interval's coverage ``1 - 2 tail[k]``; rank 0 (the
    extremes, with their own lower coverage) where no rank reaches the level."""
    reachable = np.nonzero(tail <= alpha / 2)[0]
    k = int(reachable[-1]) if len(reachable) else 0
    return k, float(1 - 2 * tail[k])


def median_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """The median of ``values`` and its distribution-free confidence interval.

    The interval runs between two order statistics: the number of values below the true
    median is Binomial(n, 1/2), so ``[x(k), x(n+1-k)]`` holds it with probability
    ``1 - 2 P(B < k)``. The widest such interval, ``[min, max]``, is returned with its own
    (lower) coverage where ``n`` is too small for ``confidence``.
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = len(x)
    if n == 0 or not np.all(np.isfinite(x)):
        raise ValueError("median_interval needs finite values")
    below = list(itertools.accumulate(math.comb(n, i) for i in range((n + 1) // 2)))  # exact, at any n
    tail = np.array([count / 2**n for count in below])  # P(B <= k): x(k) above the median
    k, achieved = _lower_rank(tail, 1 - confidence)
    return Interval(float(np.median(x)), float(x[k]), float(x[n - 1 - k]), achieved, n)


def signed_rank_null(n: int) -> np.ndarray:
    """P(T = t) for t = 0 .. n(n+1)/2: Wilcoxon's signed-rank statistic of ``n`` pairs under "no
    difference" (each rank's sign a fair coin), by convolution one rank at a time."""
    p = np.zeros(n * (n + 1) // 2 + 1)
    p[0] = 1.0
    for rank in range(1, n + 1):
        shifted = np.zeros_like(p)
        shifted[rank:] = p[:-rank]
        p = (p + shifted) / 2
    return p


def paired_ratio(values: Sequence[float], baseline: Sequence[float], confidence: float = 0.95) -> Interval | None:
    """The typical ``value / baseline`` of paired trials, with its confidence interval.

    Each pair gives ``d = log(value / baseline)``; the estimate is the Hodges-Lehmann one (the
    median of all pairwise means of the ``d``, Walsh averages) and the interval the one the
    signed-rank test inverts: ``[W(k), W(M+1-k)]`` of the ``M`` sorted Walsh averages. Both are
    returned as ratios. A pair where both are 0 counts as equal; None where a ratio is undefined
    (one side 0, or a negative value) or there are no pairs.
    """
    v, b = np.asarray(values, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    if len(v) != len(b):
        raise ValueError(f"paired trials must be as many on each side, got {len(v)} and {len(b)}")
    if len(v) == 0 or not (np.all(np.isfinite(v)) and np.all(np.isfinite(b))):
        return None
    both_zero = (v == 0) & (b == 0)
    if np.any((v <= 0) & ~both_zero) or np.any((b <= 0) & ~both_zero):
        return None
    d = np.where(both_zero, 0.0, np.log(np.where(both_zero, 1.0, v) / np.where(both_zero, 1.0, b)))
    n = len(d)
    i, j = np.triu_indices(n)
    walsh = np.sort((d[i] + d[j]) / 2)
    tail = np.cumsum(signed_rank_null(n))[: (len(walsh) + 1) // 2]  # P(T <= k): W(k) above the true shift
    k, achieved = _lower_rank(tail, 1 - confidence)
    low, high = float(walsh[k]), float(walsh[len(walsh) - 1 - k])
    return Interval(math.exp(float(np.median(walsh))), math.exp(low), math.exp(high), achieved, n)


def verdict(ratio_interval: Interval | None, higher_is_better: bool, confidence: float) -> str:
    """better, worse or no clear difference: only an interval at ``confidence`` that lies wholly
    beyond the noise threshold (a ratio within 1 % of 1, as criterion.rs) commits."""
    if ratio_interval is None or ratio_interval.confidence < confidence:
        return UNCLEAR
    if ratio_interval.low > 1 + NOISE_THRESHOLD:
        return BETTER if higher_is_better else WORSE
    if ratio_interval.high < 1 / (1 + NOISE_THRESHOLD):
        return WORSE if higher_is_better else BETTER
    return UNCLEAR


@dataclass(frozen=True)
class Jitter:
    """The jitter probe's runs of one comparison together (:func:`jitter_summary`)."""

    probes: tuple[Mapping[str, int], ...]  # each run as the probe reported it (native_cffi.JitterSummary)
    seconds: float  # of probing, all runs together
    reads: int  # of the clock
    gaps_ns: LatencySummary  # each percentile's median over the runs; the max, the largest
    over_10us_per_s: float  # gaps longer than 10 µs per second of probing
    over_100us_per_s: float
    over_1ms_per_s: float


def jitter_summary(probes: Sequence[Mapping[str, int]]) -> Jitter | None:
    """The jitter probe's runs of one comparison together: each gap percentile's median over the
    runs (the max: the largest), and the gaps over 10 µs, 100 µs and 1 ms per second of probing.
    ``probes``: ``native_cffi.JitterSummary`` as dicts. None for no probe."""
    if not probes:
        return None
    seconds = sum(p["duration_ns"] for p in probes) / 1e9
    gaps = {k: float(np.median([p[f"{k}_ns"] for p in probes])) for k in PERCENTILE_NAMES[:-1]}
    over = {k: sum(p[k] for p in probes) / seconds for k in ("over_10us", "over_100us", "over_1ms")}
    return Jitter(
        probes=tuple(probes),
        seconds=seconds,
        reads=sum(p["reads"] for p in probes),
        gaps_ns=LatencySummary(**gaps, max=max(p["max_ns"] for p in probes)),
        over_10us_per_s=over["over_10us"],
        over_100us_per_s=over["over_100us"],
        over_1ms_per_s=over["over_1ms"],
    )


def proportion_lower_bound(successes: int, n: int, confidence: float = 0.95) -> float:
    """The one-sided Clopper-Pearson lower bound of a proportion seen ``successes`` times in ``n``:
    the smallest p under which seeing at least that many has probability ``1 - confidence``."""
    if not 0 <= successes <= n or n < 1:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes} of {n}")
    if successes == 0:
        return 0.0

    def at_least(p: float) -> float:
        return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(successes, n + 1))

    low, high = 0.0, 1.0
    for _ in range(60):  # bisection: at_least grows with p
        mid = (low + high) / 2
        low, high = (mid, high) if at_least(mid) < 1 - confidence else (low, mid)
    return low
