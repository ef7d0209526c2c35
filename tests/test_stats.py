"""Statistics are pure functions: checked against numpy and by their properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.stats import (
    PERCENTILES,
    latencies_ns,
    latency_summary,
    nearest_rank,
    percent_change,
    ratio,
    throughput_eps,
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
def test_summary_agrees_with_numpy(values: np.ndarray) -> None:
    s = latency_summary(values)
    assert s is not None
    for name in ("p50", "p90", "p99"):
        assert getattr(s, name) == int(np.percentile(values, PERCENTILES[name], method="inverted_cdf"))
    assert s.max == int(np.max(values))
