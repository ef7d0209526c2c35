"""Statistics are pure functions: checked against numpy and by their properties."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.stats import (
    BETTER,
    PERCENTILES,
    UNCLEAR,
    WORSE,
    Interval,
    latencies_ns,
    latency_summary,
    median_interval,
    nearest_rank,
    paired_ratio,
    per_figure_confidence,
    percent_change,
    proportion_lower_bound,
    ratio,
    signed_rank_null,
    throughput_eps,
    verdict,
)

samples = st.lists(st.integers(0, 10**12), min_size=1, max_size=500).map(lambda v: np.array(v, dtype=np.int64))


@given(values=samples, percent=st.sampled_from([*PERCENTILES.values(), 0.1, 1.0, 33.3, 100.0]))
def test_nearest_rank_agrees_with_numpy(values: np.ndarray, percent: float) -> None:
    expected = np.percentile(values, percent, method="inverted_cdf")
    assert nearest_rank(np.sort(values), percent) == int(expected)


@given(values=samples)
def test_summary_is_ordered_and_real(values: np.ndarray) -> None:
    s = latency_summary(values)
    assert s is not None
    assert s.p50 <= s.p90 <= s.p99 <= s.p999 <= s.max == values.max()
    assert {s.p50, s.p90, s.p99, s.p999} <= set(values.tolist())  # every figure is some event's latency


@given(n=st.integers(1, 10**9), percent=st.sampled_from(list(PERCENTILES.values())))
def test_rank_is_exact_at_any_size(n: int, percent: float) -> None:
    """The rank is ceil(p/100 * n) in exact arithmetic (floats miss it at large n)."""
    expected = -(-round(percent * 10) * n // 1000)  # ceil(p*10 * n / 1000), integers only
    assert nearest_rank(_Ranks(n), percent) == expected  # type: ignore[arg-type]
    assert nearest_rank(_Ranks(20_000_000), 99.9) == 19_980_000  # type: ignore[arg-type]


class _Ranks:
    """Stands in for the sorted array 1..n without allocating n values."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> int:
        return index + 1


def test_small_exact_cases() -> None:
    ordered = np.arange(1, 1001)
    assert [nearest_rank(ordered, p) for p in (50, 90, 99, 99.9, 100)] == [500, 900, 990, 999, 1000]
    assert latency_summary(np.array([], dtype=np.int64)) is None
    with pytest.raises(ValueError):
        nearest_rank(ordered, 0)


def test_latency_from_intended_arrival() -> None:
    done = np.array([150, 300, 260], dtype=np.uint64)
    arrival = np.array([0, 100, 200], dtype=np.uint64)
    assert latencies_ns(done, arrival, 100).tolist() == [50, 100, -40]


@given(a=st.floats(1e-6, 1e12), b=st.floats(1e-6, 1e12))
def test_ratios_are_antisymmetric(a: float, b: float) -> None:
    forward, backward = ratio(a, b), ratio(b, a)
    assert forward is not None and backward is not None
    assert forward * backward == pytest.approx(1.0)


def test_missing_values() -> None:
    assert ratio(None, 1.0) is None and ratio(1.0, 0.0) is None
    assert throughput_eps(0, 100) is None and throughput_eps(10, 0) is None
    assert throughput_eps(1000, 10**9) == 1000.0


@given(a=st.floats(1e-3, 1e6), b=st.floats(1e-3, 1e6))  # past 1e9:1, (r - 1) * 100 loses the digits undone here
def test_changes_are_antisymmetric(a: float, b: float) -> None:
    """a against b and b against a point opposite ways, and undo each other."""
    forward, backward = percent_change(a, b), percent_change(b, a)
    assert forward is not None and backward is not None
    assert (forward > 0) == (backward < 0) or forward == backward == 0
    assert (1 + forward / 100) * (1 + backward / 100) == pytest.approx(1.0)
    assert percent_change(a, a) == 0


@given(values=samples)
def test_summary_in_place_or_not_agrees_and_only_in_place_moves_values(values: np.ndarray) -> None:
    kept = values.copy()
    copied = latency_summary(values)
    assert np.array_equal(values, kept)
    assert latency_summary(values, in_place=True) == copied
    assert sorted(values.tolist()) == sorted(kept.tolist())


@given(values=samples)
def test_summary_agrees_with_numpy(values: np.ndarray) -> None:
    s = latency_summary(values)
    assert s is not None
    for name in ("p50", "p90", "p99"):
        assert getattr(s, name) == int(np.percentile(values, PERCENTILES[name], method="inverted_cdf"))
    assert s.max == int(np.max(values))


# ---------------------------------------------------------------- intervals over trials

trials = st.lists(st.floats(1e-3, 1e6), min_size=1, max_size=40)


@given(values=trials, confidence=st.sampled_from([0.5, 0.9, 0.95, 0.99, 0.999]))
def test_median_interval_holds_its_point_and_is_made_of_trials(values: list[float], confidence: float) -> None:
    ci = median_interval(values, confidence)
    assert ci.low <= ci.point <= ci.high and ci.n == len(values)
    assert ci.low in values and ci.high in values
    assert ci.point == pytest.approx(float(np.median(values)))
    # the level asked for is reached whenever some order statistic can reach it
    if 1 - 2 * 0.5 ** len(values) >= confidence:
        assert ci.confidence >= confidence


@given(values=st.lists(st.floats(1e-3, 1e6), min_size=1, max_size=40), baseline_scale=st.floats(1e-3, 1e3),
       confidence=st.sampled_from([0.9, 0.95, 0.99]))  # fmt: skip
def test_paired_ratio_properties(values: list[float], baseline_scale: float, confidence: float) -> None:
    """Scaling both sides changes nothing; swapping them inverts the ratio and its interval."""
    baseline = [v * baseline_scale for v in reversed(values)]
    forward = paired_ratio(values, baseline, confidence)
    backward = paired_ratio(baseline, values, confidence)
    scaled = paired_ratio([v * 7 for v in values], [b * 7 for b in baseline], confidence)
    assert forward is not None and backward is not None and scaled is not None
    assert forward.low <= forward.point <= forward.high
    assert forward.point * backward.point == pytest.approx(1.0)
    assert forward.low * backward.high == pytest.approx(1.0) and forward.high * backward.low == pytest.approx(1.0)
    assert (scaled.low, scaled.point, scaled.high) == pytest.approx((forward.low, forward.point, forward.high))


def test_paired_ratio_of_identical_trials_is_one_and_of_a_constant_factor_that_factor() -> None:
    values = [3.0, 5.0, 4.0, 9.0, 1.0, 2.0, 8.0, 6.0, 7.0, 5.5]
    same = paired_ratio(values, values, 0.95)
    assert same is not None and same.point == same.low == same.high == 1.0
    slower = paired_ratio([v * 1.1 for v in values], values, 0.95)
    assert slower is not None and slower.point == pytest.approx(1.1) and slower.low == pytest.approx(1.1)
    assert paired_ratio([0.0, 0.0], [0.0, 0.0]) is not None  # nothing on both sides: equal
    assert paired_ratio([1.0, 0.0], [1.0, 1.0]) is None  # a ratio of 0 has no logarithm
    assert paired_ratio([1.0, 2.0], [0.0, 1.0]) is None  # nor one against 0
    assert paired_ratio([], []) is None
    with pytest.raises(ValueError):
        paired_ratio([1.0], [1.0, 2.0])


def test_signed_rank_null_is_the_known_distribution() -> None:
    p = signed_rank_null(10)
    assert p.sum() == pytest.approx(1.0) and len(p) == 56
    assert (p * 1024)[:6].round().tolist() == [1, 1, 1, 2, 2, 3]  # the table's counts for n = 10
    assert np.allclose(p, p[::-1])  # symmetric about n(n+1)/4


def test_exact_coverage_for_ten_trials() -> None:
    """The levels the tables quote: [x(2), x(9)] of 10 trials; the signed-rank interval at 8 figures."""
    ci = median_interval(list(range(1, 11)), 0.95)
    assert (ci.low, ci.high) == (2, 9) and ci.confidence == pytest.approx(1 - 2 * 11 / 1024)
    needed = per_figure_confidence(8)
    assert needed == pytest.approx(1 - 0.05 / 8)
    ratio_ci = paired_ratio([1.0 + i / 100 for i in range(10)], [1.0] * 10, needed)
    assert ratio_ci is not None and ratio_ci.confidence == pytest.approx(1 - 2 * 3 / 1024)


def _coverage(draw: Callable[[np.random.Generator], tuple[float, bool]], replications: int = 2000) -> float:
    rng = np.random.default_rng(20261202)
    return sum(draw(rng)[1] for _ in range(replications)) / replications


@pytest.mark.parametrize("n", [6, 10, 20])
def test_median_interval_covers_the_true_median(n: int) -> None:
    """Lognormal trials (skewed, as timings are) with a known median of e^1: the interval holds it
    at least as often as it claims, up to the simulation's own error (3 standard errors)."""

    def draw(rng: np.random.Generator) -> tuple[float, bool]:
        ci = median_interval(rng.lognormal(1.0, 0.5, n).tolist(), 0.95)
        return ci.confidence, ci.low <= math.e <= ci.high

    claimed = median_interval([0.0] * n, 0.95).confidence
    assert _coverage(draw) >= claimed - 3 * math.sqrt(claimed * (1 - claimed) / 2000)


@pytest.mark.parametrize("n", [6, 10, 20])
def test_paired_ratio_covers_the_true_ratio_despite_drift(n: int) -> None:
    """A contender 1.2x the baseline; every round shares a drift (up to 3x) and each trial has
    heavy-tailed noise of its own. Pairing removes the drift: the interval holds 1.2."""

    def draw(rng: np.random.Generator) -> tuple[float, bool]:
        drift = rng.uniform(1, 3, n)
        base = drift * np.exp(rng.standard_t(3, n) * 0.05)
        mine = 1.2 * drift * np.exp(rng.standard_t(3, n) * 0.05)
        ci = paired_ratio(mine.tolist(), base.tolist(), 0.95)
        assert ci is not None
        return ci.confidence, ci.low <= 1.2 <= ci.high

    claimed = paired_ratio([1.0] * n, [1.0] * n, 0.95)
    assert claimed is not None
    assert _coverage(draw) >= claimed.confidence - 3 * math.sqrt(claimed.confidence * (1 - claimed.confidence) / 2000)


def test_verdicts_commit_only_when_the_interval_excludes_one() -> None:
    level = per_figure_confidence(3)
    sure, unsure = Interval(1.1, 1.05, 1.2, 0.999, 10), Interval(1.1, 0.95, 1.2, 0.999, 10)
    assert verdict(sure, higher_is_better=True, confidence=level) == BETTER
    assert verdict(sure, higher_is_better=False, confidence=level) == WORSE
    assert verdict(Interval(0.8, 0.7, 0.9, 0.999, 10), higher_is_better=False, confidence=level) == BETTER
    assert verdict(unsure, higher_is_better=True, confidence=level) == UNCLEAR
    assert verdict(None, higher_is_better=True, confidence=level) == UNCLEAR
    too_few = Interval(1.5, 1.4, 1.6, 0.9, 4)  # excludes 1, but at a level short of the one asked for
    assert verdict(too_few, higher_is_better=True, confidence=level) == UNCLEAR
    with pytest.raises(ValueError):
        Interval(1.0, 1.1, 1.2, 0.9, 3)  # an interval must hold its point


@pytest.mark.parametrize("figures", [3, 8])
def test_a_contender_against_itself_is_no_clear_difference_on_every_figure(figures: int) -> None:
    """Calibration on synthetic data: two registrations of one contender, ``figures`` correlated
    figures per trial, 10 rounds with drift. Every figure says "no clear difference" together in
    at least 95 % of comparisons (Bonferroni makes the family hold, whatever the correlation):
    980 and 982 of 1000 here, against 922 and 842 with each figure judged at 95 % alone."""
    rng = np.random.default_rng(7)
    level = per_figure_confidence(figures)
    clean = 0
    for _ in range(1000):
        drift = rng.uniform(1, 2, (1, 10))
        shared = rng.standard_t(3, (2, 10)) * 0.02  # a trial's figures move together, and each on its own
        a = drift * np.exp(shared[0] + rng.normal(0, 0.05, (figures, 10)))
        b = drift * np.exp(shared[1] + rng.normal(0, 0.05, (figures, 10)))
        calls = [verdict(paired_ratio(a[f], b[f], level), True, level) for f in range(figures)]
        clean += all(c == UNCLEAR for c in calls)
    assert clean >= 950


def test_a_ten_percent_slowdown_is_called_worse() -> None:
    """Power on synthetic data: 10 % more time per trial under 3 % noise and drift between rounds."""
    rng = np.random.default_rng(8)
    level = per_figure_confidence(3)
    worse = 0
    for _ in range(1000):
        drift = rng.uniform(1, 2, 10)
        base = drift * np.exp(rng.normal(0, 0.03, 10))
        slow = drift * 1.1 * np.exp(rng.normal(0, 0.03, 10))
        worse += verdict(paired_ratio(1 / slow, 1 / base, level), True, level) == WORSE  # throughput
    assert worse >= 950


def test_proportion_lower_bound_is_clopper_pearson() -> None:
    """19 of 20: at least 78.4 % with 95 % confidence (P(X >= 19 | p = 0.7839) = 0.05)."""
    bound = proportion_lower_bound(19, 20)
    assert bound == pytest.approx(0.78389, abs=1e-4)
    assert bound**20 + 20 * bound**19 * (1 - bound) == pytest.approx(0.05, abs=1e-6)
    assert proportion_lower_bound(0, 20) == 0.0 and proportion_lower_bound(20, 20) == pytest.approx(0.05 ** (1 / 20))
    with pytest.raises(ValueError):
        proportion_lower_bound(21, 20)


def test_median_interval_is_exact_beyond_a_thousand_trials() -> None:
    ci = median_interval(list(range(1100)), 0.95)
    assert ci.confidence >= 0.95 and ci.low < 549.5 < ci.high
