"""Load sweeps: rates, the sustained-rate rule, and `eventbench sweep` end to end."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import report, results, timeline, trials
from harness.cli import main
from harness.document import ResultDocument
from harness.stats import PERCENTILE_NAMES, Interval, median_interval
from harness.sweep import (
    DEFAULT_TRIALS,
    MET,
    MISSED,
    UNCLEAR,
    SweepPoint,
    deciding,
    parse_rates,
    run_sweep,
    settings,
    should_stop,
    sustained_rate,
)
from harness.workload import builtin, generate
from protocol.errors import InvalidInput

OBJECTIVE = 1_000_000


def test_rates_given_or_geometric() -> None:
    assert parse_rates("1000,5000,20000") == [1000.0, 5000.0, 20000.0]
    assert parse_rates("1000:100000:3") == pytest.approx([1000.0, 10000.0, 100000.0])
    for bad in ("", "0,10", "10,5", "1000:10:3", "1:10:1", "a,b", "1e999", "5,5"):
        with pytest.raises(InvalidInput):
            parse_rates(bad)


def _point(rate: float, p99: int | None, valid: bool = True, spread: float = 0.0) -> SweepPoint:
    interval = None if p99 is None else Interval(p99, p99 * (1 - spread), p99 * (1 + spread), 0.96, 9)
    return SweepPoint(rate, rate, interval, valid)


def test_a_point_is_decided_by_its_interval_not_its_median() -> None:
    assert _point(1, OBJECTIVE).decision(OBJECTIVE) == MET  # at the objective is within it
    assert _point(1, OBJECTIVE // 2, spread=0.5).decision(OBJECTIVE) == MET
    assert _point(1, OBJECTIVE - 1, spread=0.1).decision(OBJECTIVE) == UNCLEAR  # median met, interval not
    assert _point(1, OBJECTIVE + 1, spread=0.1).decision(OBJECTIVE) == UNCLEAR
    assert _point(1, 2 * OBJECTIVE, spread=0.4).decision(OBJECTIVE) == MISSED
    assert _point(1, 10, valid=False).decision(OBJECTIVE) == MISSED  # a wrong point meets nothing
    assert not _point(1, OBJECTIVE - 1, spread=0.1).meets(OBJECTIVE)  # unclear is not met


def test_an_interval_short_of_95_percent_decides_nothing_unless_the_point_is_one_old_run() -> None:
    short = Interval(10, 5, 20, 0.75, 3)
    assert SweepPoint(1, 1, short, True).decision(OBJECTIVE) == UNCLEAR
    assert SweepPoint(1, 1, Interval(10, 10, 10, 0.0, 1), True, one_run=True).decision(OBJECTIVE) == MET


def test_the_knee_is_the_first_point_not_met() -> None:
    points = [_point(1e3, 10), _point(2e3, 20), _point(4e3, 2 * OBJECTIVE), _point(8e3, 30)]
    assert sustained_rate(points, OBJECTIVE) == 2e3  # 8k met after a miss: luck, not capacity
    assert sustained_rate([_point(1e3, 2 * OBJECTIVE)], OBJECTIVE) is None
    assert sustained_rate([_point(1e3, 10, valid=False)], OBJECTIVE) is None
    assert sustained_rate([_point(1e3, 10), _point(2e3, OBJECTIVE, spread=0.2)], OBJECTIVE) == 1e3


@given(st.lists(st.tuples(st.integers(1, 10**6), st.integers(0, 3 * OBJECTIVE), st.floats(0, 0.9)), min_size=1,
                max_size=12, unique_by=lambda t: t[0]))  # fmt: skip
def test_sustained_rate_is_met_by_every_lower_rate(raw: list[tuple[int, int, float]]) -> None:
    points = [_point(float(rate), p99, spread=spread) for rate, p99, spread in raw]
    best = sustained_rate(points, OBJECTIVE)
    if best is not None:
        assert all(p.p99_ns is not None and p.p99_ns.high <= OBJECTIVE for p in points if p.offered_eps <= best)
        assert any(p.offered_eps == best for p in points)


def test_stops_after_two_points_not_met_in_a_row() -> None:
    assert not should_stop([_point(1, 10), _point(2, 2 * OBJECTIVE)], OBJECTIVE)
    assert should_stop([_point(1, 10), _point(2, 2 * OBJECTIVE), _point(3, OBJECTIVE, spread=0.1)], OBJECTIVE)


def test_one_disturbed_trial_of_nine_neither_makes_nor_breaks_a_point() -> None:
    """The default trials' interval runs from the second-lowest p99 to the second-highest."""
    calm, disturbed = [400_000.0] * 8, 5 * OBJECTIVE
    assert SweepPoint(1, 1, median_interval([*calm, disturbed]), True).decision(OBJECTIVE) == MET
    busy = [3 * OBJECTIVE] * 8
    assert SweepPoint(1, 1, median_interval([*busy, 10.0]), True).decision(OBJECTIVE) == MISSED
    assert median_interval([*calm, disturbed]).confidence >= 0.95 and DEFAULT_TRIALS == 9


def test_changing_the_rate_changes_only_arrivals() -> None:
    spec = builtin("paced").with_events(2000)
    slow, fast = generate(spec.with_rate(1000)), generate(spec.with_rate(50_000))
    for field in ("seq", "key", "kind", "work", "value"):
        assert (slow.column(field) == fast.column(field)).all()
    assert int(fast.column("arrival_ns")[-1]) < int(slow.column("arrival_ns")[-1])
    assert builtin("cpu-bound").with_rate(1000).arrival.process == "constant"


def test_sweep_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["sweep", "--impl", "sequential", "--workload", "paced", "--rates", "2000,4000", "--n-events", "300",
            "--trials", "6", "--seed", "7",
            "--p99-objective-us", "1000000", "--results-dir", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "sequential sustains at least 4k events/s with p99 ≤ 1 s (the highest rate tried: no knee)" in out
    (run_dir,) = (tmp_path / "runs").iterdir()
    docs = sorted((results.load(p) for p in run_dir.glob("*.json")), key=lambda d: settings(d).offered_eps)
    assert [settings(d).offered_eps for d in docs] == [2000.0, 4000.0]
    assert all(d.valid and d.digest_ok and d.mode == "open" and len(d.trials or ()) == 6 for d in docs)
    # The floor that paces like sequential ran in the same rounds, each point shuffled from its own seed.
    seeds = random.Random(7)
    for doc in docs:
        point_seed = seeds.getrandbits(32)
        assert doc.comparison is not None and doc.floor is not None and doc.trials is not None
        assert settings(doc).seed == 7 and doc.comparison.seed == point_seed
        orders = trials.round_orders(2, 6, point_seed)
        assert doc.comparison.orders == tuple(tuple(["sequential", "floor-python"][i] for i in o) for o in orders)
        assert doc.floor.name == "floor-python"
        assert [t.round for t in doc.floor.trials] == [t.round for t in doc.trials] == list(range(6))
        assert report.sweep_cells(doc, 10**9)[6] != "-"  # the floor's p99 is in the row
        # Each point keeps its latency over time: an interval log beside it, a tag per trial.
        assert doc.timeline is not None and doc.timeline.log == Path(doc.origin).with_suffix(".hlog").name
        logged = timeline.read_log(run_dir / doc.timeline.log)
        assert sorted(logged) == [f"trial-{k}" for k in range(1, 7)]
        assert all(sum(i.count for i in t.intervals) == 300 for t in logged.values())
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
        ["--trials", "0"],
        ["--trials", "5"],  # too few for a 95 % interval of the median
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


def _point_document(rate: float, p99: float, **json: Any) -> ResultDocument:
    """A sweep point's document: only what deciding it reads is of interest."""
    latency = dict.fromkeys(PERCENTILE_NAMES, p99)
    return ResultDocument.from_json({
        "schema_version": 5, "implementation": "fake", "workers": 1, "mode": "open", "workload": {}, "events": 1,
        "valid": True, "failures": [], "digest_ok": True, "throughput_eps": rate, "latency_ns": latency,
        "cpu_s_per_event": None, "ctx_switches_per_event": None, "metadata": {}, **json,
    }, "fake.json")  # fmt: skip


def _fake_point(rate: float, p99s: list[float]) -> ResultDocument:
    ci = median_interval(p99s)
    sweep = {"offered_eps": rate, "objective_p99_ns": OBJECTIVE, "seed": 1}
    return _point_document(rate, round(ci.point), intervals={"latency_ns.p99": ci.as_dict()}, trials=[], sweep=sweep)


def test_the_sweep_stops_past_the_knee() -> None:
    p99s = {1.0: [10.0] * 9, 2.0: [10.0] * 8 + [9e9], 3.0: [OBJECTIVE * 0.9] * 4 + [OBJECTIVE * 1.1] * 5,
            4.0: [9e9] * 9, 5.0: [10.0] * 9}  # fmt: skip
    calls: list[float] = []

    def run_point(rate: float) -> ResultDocument:
        calls.append(rate)
        return _fake_point(rate, p99s[rate])

    docs, sustained = run_sweep([1.0, 2.0, 3.0, 4.0, 5.0], run_point, OBJECTIVE)
    assert sustained == 2.0 and calls == [1.0, 2.0, 3.0, 4.0]  # 3.0 unclear, 4.0 missed: stopped
    assert [SweepPoint.of(d).decision(OBJECTIVE) for d in docs] == [MET, MET, UNCLEAR, MISSED]


def test_sweeps_stored_before_trials_are_decided_by_their_last_attempt() -> None:
    def old_point(rate: float, attempt: int, p99: float) -> ResultDocument:
        sweep = {"offered_eps": rate, "objective_p99_ns": OBJECTIVE, "attempt": attempt}
        return _point_document(rate, p99, schema_version=2, sweep=sweep)

    old = [old_point(r, a, p99) for r, a, p99 in [(1.0, 1, 2 * OBJECTIVE), (1.0, 2, 10), (2.0, 1, 2 * OBJECTIVE)]]
    kept = deciding(old)
    assert [(settings(d).offered_eps, settings(d).attempt) for d in kept] == [(1.0, 2), (2.0, 1)]
    assert sustained_rate([SweepPoint.of(d) for d in kept], OBJECTIVE) == 1.0
