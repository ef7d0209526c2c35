"""How executors host a scenario: the guard they give its shared state, the rule that a contender
runs only the scenarios it hosts, the one run driver's checks, and where scenarios' workloads live.

``Counter`` is the smallest scenario there is: every event adds one to a count shared by every
key, a read-modify-write that yields the GIL in the middle, so that a pool without a working
guard loses updates.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import implementations
import scenarios
from harness import workload
from harness.runner import WrongRun, checked_run, run_once
from implementations import ContenderError
from implementations.processes import Processes
from implementations.threaded import Threaded
from protocol.events import validated_stream
from protocol.scenario import Guard, Handler, Scenario

from fakes import Fake

DTYPE = np.dtype([("seq", "<u8"), ("arrival_ns", "<u8"), ("key", "<u4")])


@dataclass
class Count:
    n: int = 0


class CounterPython:
    def columns(self, records: np.ndarray) -> int:
        return len(records)

    def new_keys(self, n_keys: int) -> None:
        return None

    def new_shared(self) -> Count:
        return Count()

    def bind(self, columns: int, keys: None, shared: Count, guard: Guard) -> Handler:
        def handle(i: int) -> int:
            with guard():
                n = shared.n
                time.sleep(1e-5)  # another thread runs here, unless the guard excludes it
                shared.n = n + 1
            return 0

        return handle

    def keys_part(self, keys: None, owned: Sequence[int]) -> None:
        return None

    def merge(
        self, n_keys: int, parts: Sequence[tuple[Sequence[int], None]], shared: Sequence[Count]
    ) -> tuple[None, Count]:
        return None, Count(sum(c.n for c in shared))

    def digest(self, n_events: int, keys: None, shared: Count) -> int:
        return shared.n


COUNTER = Scenario(
    name="counter", version=1, description="one shared count", record_dtype=DTYPE,
    field_rules=lambda records: [], tables=(), params_from_tables=lambda tables, source: None,
    fill_fields=lambda params, seed, records: None, python=CounterPython(),
)  # fmt: skip


def _counter_stream(n: int, n_keys: int = 8) -> Any:
    records = np.zeros(n, dtype=DTYPE)
    records["seq"] = np.arange(n)
    records["key"] = np.arange(n) % n_keys
    return validated_stream(n_keys, records, "<counter>", COUNTER)


def test_the_thread_pool_guards_shared_state() -> None:
    stream = _counter_stream(3000)
    outcome = run_once(Threaded(), stream, workers=4, mode="closed", reference_digest=f"{3000:016x}")
    assert outcome.valid, outcome.failures()  # not one update lost among four threads


def test_a_pool_without_its_guard_would_lose_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test above can fail: the same pool, its lock swapped for one that excludes nothing."""
    from implementations import threaded

    class NoLock:
        def __enter__(self) -> None:
            return None

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(threaded, "threading", SimpleNamespace(Lock=NoLock, Thread=threading.Thread))
    outcome = run_once(Threaded(), _counter_stream(3000), workers=4, mode="closed", reference_digest=f"{3000:016x}")
    assert not outcome.valid and "differs from the reference" in outcome.failures()[-1]


def test_a_contender_runs_only_the_scenarios_it_hosts() -> None:
    native = next(r.contender for r in implementations.registry() if r.name == "native-sequential")
    if native is None:
        pytest.skip("the native engine is not built here")
    # Counter has no handler in Rust; what native hosts (every scenario with one) is named.
    hosted = ", ".join(native.info.scenarios or ())
    assert "synthetic" in hosted and "counter" not in hosted
    with pytest.raises(ContenderError, match=f"native-sequential hosts {hosted} only, not scenario counter"):
        run_once(native, _counter_stream(50), workers=1, mode="closed")


def test_processes_refuse_a_scenario_their_workers_cannot_find() -> None:
    with pytest.raises(ContenderError, match="scenario counter is not the registered scenario of that name"):
        run_once(Processes(), _counter_stream(10), workers=2, mode="closed")


def test_checked_run_refuses_a_wrong_run_and_wraps_the_window_alone() -> None:
    stream = workload.generate(workload.builtin("smoke").with_events(200))
    seen: list[str] = []
    real_run = implementations.sequential.SequentialRun.run

    @contextmanager
    def around() -> Iterator[None]:
        seen.append("enter")
        yield
        seen.append("exit")

    def run(self: Any, *args: Any) -> None:
        seen.append("run")
        real_run(self, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(implementations.sequential.SequentialRun, "run", run)
        outcome = checked_run(implementations.get("sequential"), stream, workers=1, around_window=around)
    assert seen == ["enter", "run", "exit"] and outcome.valid
    with pytest.raises(ContenderError, match="sequential is wrong, so it has no figure: digest"):
        checked_run(implementations.get("sequential"), stream, workers=1, reference_digest="0" * 16)


def test_checked_run_refuses_a_wrong_open_loop_run() -> None:
    stream = workload.generate(workload.builtin("paced").with_events(50))
    with pytest.raises(WrongRun, match="fake-early is wrong, so it has no figure: not_before_arrival") as raised:
        checked_run(Fake("early"), stream, workers=1, mode="open")
    assert not raised.value.outcome.valid


def test_a_scenarios_workloads_come_in_name_order_and_take_their_files_name() -> None:
    orderbook = scenarios.get("orderbook")
    assert list(orderbook.workload_files()) == ["book", "book-contention", "book-paced", "book-smoke"]
    assert orderbook.default_workload("compare") == "book"


def test_a_workload_named_like_another_scenarios_is_listed_as_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Scenario.workload_files
    smoke = real(scenarios.get("synthetic"))["smoke"]

    def with_a_clash(self: Scenario) -> dict[str, Any]:
        return real(self) | ({"smoke": smoke} if self.name == "orderbook" else {})

    monkeypatch.setattr(Scenario, "workload_files", with_a_clash)
    clashes = workload.name_clashes(scenarios.get("orderbook"))
    assert clashes == {"smoke": "unusable: scenario synthetic has a built-in workload of this name"}
    assert workload.builtin("smoke").scenario.name == "synthetic"  # the built-in keeps its name


def test_a_built_in_without_a_name_line_takes_its_files_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / "tiny-count.toml").write_text('scenario = "orderbook"\nevents = 10\nkeys = 2\n')
    real = Scenario.workload_files

    def with_one_more(self: Scenario) -> dict[str, Any]:
        return real(self) | ({"tiny-count": folder / "tiny-count.toml"} if self.name == "orderbook" else {})

    monkeypatch.setattr(Scenario, "workload_files", with_one_more)
    assert workload.builtin("tiny-count").name == "tiny-count"


def test_opening_a_contender_directly_refuses_a_scenario_it_does_not_host() -> None:
    """The runner refuses before ``open``; a caller of ``open`` itself gets the same line from it."""
    for name in ("native", "native-sequential"):
        contender = implementations.get(name)
        hosted = ", ".join(contender.info.scenarios or ())  # every scenario with a handler in Rust
        with pytest.raises(ValueError, match=f"^{name} hosts {hosted} only, not scenario counter$"):
            contender.open(_counter_stream(50), 1)
