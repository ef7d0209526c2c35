"""Load sweeps: rates, the sustained-rate rule, and `eventbench sweep` end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import results
from harness.cli import main
from harness.errors import InvalidInput
from harness.sweep import SweepPoint, deciding, parse_rates, run_sweep, should_stop, sustained_rate
from harness.workload import builtin, generate

OBJECTIVE = 1_000_000


def test_rates_given_or_geometric() -> None:
    assert parse_rates("1000,5000,20000") == [1000.0, 5000.0, 20000.0]
    assert parse_rates("1000:100000:3") == pytest.approx([1000.0, 10000.0, 100000.0])
    for bad in ("", "0,10", "10,5", "1000:10:3", "1:10:1", "a,b", "1e999", "5,5"):
        with pytest.raises(InvalidInput):
            parse_rates(bad)


def _point(rate: float, p99: int | None, valid: bool = True) -> SweepPoint:
    return SweepPoint(rate, rate, p99, valid)


def test_the_knee_is_the_first_miss() -> None:
    points = [_point(1e3, 10), _point(2e3, 20), _point(4e3, 2 * OBJECTIVE), _point(8e3, 30)]
    assert sustained_rate(points, OBJECTIVE) == 2e3  # 8k met after a miss: luck, not capacity
    assert sustained_rate([_point(1e3, 2 * OBJECTIVE)], OBJECTIVE) is None
    assert sustained_rate([_point(1e3, 10, valid=False)], OBJECTIVE) is None  # a wrong run meets nothing


@given(st.lists(st.tuples(st.integers(1, 10**6), st.integers(0, 3 * OBJECTIVE)), min_size=1, max_size=12,
                unique_by=lambda t: t[0]))  # fmt: skip
def test_sustained_rate_is_met_by_every_lower_rate(raw: list[tuple[int, int]]) -> None:
    points = [_point(float(rate), p99) for rate, p99 in raw]
    best = sustained_rate(points, OBJECTIVE)
    if best is not None:
        assert all(p.meets(OBJECTIVE) for p in points if p.offered_eps <= best)
        assert any(p.offered_eps == best for p in points)


def test_stops_after_two_misses_in_a_row() -> None:
    assert not should_stop([_point(1, 10), _point(2, 2 * OBJECTIVE)], OBJECTIVE)
    assert should_stop([_point(1, 10), _point(2, 2 * OBJECTIVE), _point(3, 2 * OBJECTIVE)], OBJECTIVE)


def test_changing_the_rate_changes_only_arrivals() -> None:
    spec = builtin("paced").with_events(2000)
    slow, fast = generate(spec.with_rate(1000)), generate(spec.with_rate(50_000))
    for field in ("seq", "key", "kind", "work", "value"):
        assert (slow.column(field) == fast.column(field)).all()
    assert int(fast.column("arrival_ns")[-1]) < int(slow.column("arrival_ns")[-1])
    assert builtin("cpu-bound").with_rate(1000).arrival.process == "constant"


def test_sweep_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sweep", "--impl", "sequential", "--workload", "paced", "--rates", "2000,4000", "--n-events", "600",
            "--p99-objective-us", "1000000", "--results-dir", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "sequential sustains at least 4k events/s with p99 ≤ 1 s (the highest rate tried: no knee)" in out
    (run_dir,) = (tmp_path / "runs").iterdir()
    docs = sorted((results.load(p) for p in run_dir.glob("*.json")), key=lambda d: d["sweep"]["offered_eps"])
    assert [d["sweep"]["offered_eps"] for d in docs] == [2000.0, 4000.0]
    assert all(d["valid"] and d["digest_ok"] and d["mode"] == "open" for d in docs)
    assert main(["report", str(run_dir), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "latency-vs-load.png").exists()


@pytest.mark.parametrize(
    "bad",
    [
        ["--impl", "sequential,threaded"],
        ["--rates", "9,3"],
        ["--rates", "0.001"],  # 5000 events at one per 1000 s: refused, not waited for
        ["--rates", "20000,300000000"],  # the second point is too large: refused before the first runs
        ["--p99-objective-us", "nan"],
        ["--p99-objective-us", "-5"],
        ["--seconds", "inf"],
        ["--n-events", "0"],
    ],
)
def test_sweep_refuses_bad_arguments_in_one_line_and_writes_nothing(
    bad: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["sweep", "--impl", "sequential", *bad] if "--impl" not in bad else ["sweep", *bad]
    assert main([*args, "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


def _fake_runs(p99_by_attempt: dict[tuple[float, int], int]):  # type: ignore[no-untyped-def]
    calls: list[tuple[float, int]] = []

    def run_point(rate: float, attempt: int) -> dict:
        calls.append((rate, attempt))
        p99 = p99_by_attempt.get((rate, attempt), 10)
        return {"valid": True, "throughput_eps": rate, "latency_ns": {"p99": p99},
                "sweep": {"offered_eps": rate, "objective_p99_ns": OBJECTIVE, "attempt": attempt}}  # fmt: skip

    return run_point, calls


def test_a_single_disturbance_is_confirmed_away_and_a_real_knee_is_not() -> None:
    miss = 2 * OBJECTIVE
    run_point, calls = _fake_runs({(1.0, 1): miss, (3.0, 1): miss, (3.0, 2): miss, (4.0, 1): miss, (4.0, 2): miss})
    docs, sustained = run_sweep([1.0, 2.0, 3.0, 4.0, 5.0], run_point, OBJECTIVE)
    assert sustained == 2.0  # 1.0 missed once, then met: a disturbance, not the knee
    assert calls == [(1.0, 1), (1.0, 2), (2.0, 1), (3.0, 1), (3.0, 2), (4.0, 1), (4.0, 2)]  # stopped after 2 misses
    assert len(docs) == 7 and [d["sweep"]["offered_eps"] for d in deciding(docs)] == [1.0, 2.0, 3.0, 4.0]
