"""harness.testing, the differential test any scenario gets in one line: whom it runs, what it
draws, and that it fails where a contender or the semantics are wrong."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings

import implementations
import scenarios
from harness import workload
from harness.testing import DrawnWorkload, differential_tests, drawn_workloads
from harness.workload import Arrival
from scenarios.orderbook.generate import OrderbookParams

from fakes import Fake


def _case_ids(test: object) -> list[str]:
    (mark,) = [m for m in getattr(test, "pytestmark", []) if m.name == "parametrize"]
    return [case.id for case in mark.args[1]]


def test_it_runs_every_contender_that_hosts_the_scenario_at_each_worker_count_and_mode() -> None:
    ids = _case_ids(differential_tests("orderbook", workers=(1, 4)))
    hosts = [c for c in implementations.available() if c.info.hosts("orderbook")]
    assert {"sequential", "threaded", "asyncio", "processes"} <= {c.info.name for c in hosts}
    assert "native" in {c.info.name for c in hosts}  # the engine hosts every scenario with a native library
    assert "c-sequential" not in {c.info.name for c in hosts}  # it runs its own handlers of synthetic only
    expected = [
        f"{c.info.name}-w{w}-{mode}"
        for c in hosts
        for w in ((1, 4) if c.info.parallel else (1,))
        for mode in ("closed", "open")
    ]
    assert ids == expected


def test_an_unknown_scenario_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"no scenario 'nope' .*orderbook"):
        differential_tests("nope")


def test_it_fails_where_a_contender_is_wrong() -> None:
    test = differential_tests("synthetic", max_examples=3)
    with pytest.raises(AssertionError, match=r"fake-digest w=1 closed: digest \w+ differs from the reference"):
        test(contender=Fake("digest"), workers=1, mode="closed")


def test_it_fails_where_the_semantics_disagree_with_the_independent_reference() -> None:
    test = differential_tests("orderbook", reference=lambda data: "0" * 16, max_examples=3)
    with pytest.raises(AssertionError, match=r"orderbook's Python semantics give digest .*reference 0{16}"):
        test(contender=implementations.get("sequential"), workers=1, mode="closed")


@settings(max_examples=20)
@given(drawn=drawn_workloads(scenarios.get("orderbook"), open_loop=True))
def test_open_loop_workloads_are_short_and_of_a_built_in(drawn: DrawnWorkload) -> None:
    stream = workload.generate(drawn.spec())
    assert drawn.workload in workload.builtin_names(scenarios.get("orderbook"))
    assert stream.scenario.name == "orderbook" and stream.n_events == drawn.events <= 40


def test_a_scenario_without_built_in_workloads_is_drawn_with_its_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    bare = dataclasses.replace(scenarios.get("orderbook"), name="bare", workloads=None)
    monkeypatch.setitem(scenarios._BUILT_IN, "bare", bare)

    @settings(max_examples=10)
    @given(drawn=drawn_workloads(bare))
    def check(drawn: DrawnWorkload) -> None:
        assert drawn.workload is None
        spec = drawn.spec()
        assert spec.scenario is bare and spec.params == OrderbookParams() and spec.events == drawn.events <= 200
        assert workload.generate(spec).n_keys == drawn.keys

    check()


def test_a_drawn_workload_is_made_again_from_what_it_prints() -> None:
    drawn = DrawnWorkload("orderbook", "book", 5, 60, 3, "zipf", 1.5, Arrival("bursts", 50_000.0, 4))
    again = eval(repr(drawn), {"DrawnWorkload": DrawnWorkload, "Arrival": Arrival})  # what hypothesis prints
    assert workload.generate(again.spec()).to_bytes() == workload.generate(drawn.spec()).to_bytes()
