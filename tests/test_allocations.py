"""Allocation counting (harness/allocations.py) on handlers whose allocations are known.

memray is the one method for every contender, so these pin what it reports: one
per kept object, one per temporary, nothing for a plain Python call (the frame
objects and bound methods the profiler makes the interpreter allocate are the
observer's, on every Python version), and the native engine's count equal to the
crate's own counter.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

import implementations
from harness.allocations import METHOD, count_allocations
from harness.document import AllocationCount
from harness.workload import builtin, generate
from implementations import Contender, ContenderInfo, PreparedRun, Unavailable
from protocol.events import EventStream

pytest.importorskip("memray")

N = 3000
SLACK = 64  # fixed per-window costs (list growth, the call into handle), never per event


def _nothing() -> None:
    return None


class _KnownRun(PreparedRun):
    def __init__(self, n: int, behaviour: str, kept: list[object]) -> None:
        self.n, self.behaviour, self.kept = n, behaviour, kept

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool) -> None:
        kept = self.kept
        # itertools.repeat: counting with range() would allocate an int per event past 256.
        if self.behaviour == "keep":
            for _ in itertools.repeat(None, self.n):
                kept.append(object())
        elif self.behaviour == "temporary":
            for _ in itertools.repeat(None, self.n):
                object()
        elif self.behaviour == "call":
            for _ in itertools.repeat(None, self.n):
                _nothing()
        done_ns.fill(time.monotonic_ns())  # every event done, for the runner's checks: no allocation per event

    def digest(self) -> int:
        return 0


class Known(Contender):
    """Allocates exactly one object per event ("keep" keeps it, "temporary" drops it), or none ("call")."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.kept: list[object] = []
        self.info = ContenderInfo(f"known-{behaviour}", "python", "test", parallel=False)

    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        return _KnownRun(stream.n_events, self.behaviour, self.kept)


@pytest.fixture(scope="module")
def stream() -> EventStream:
    return generate(builtin("smoke").with_events(N))


def test_one_kept_object_per_event_is_one_allocation_and_one_retained_block(stream: EventStream) -> None:
    count = count_allocations(Known("keep"), stream, 1)
    assert N <= count.allocations <= N + SLACK
    assert N <= count.retained <= N + 8
    assert count.per_event == pytest.approx(1.0, abs=SLACK / N)


def test_a_temporary_is_counted_though_nothing_is_left(stream: EventStream) -> None:
    count = count_allocations(Known("temporary"), stream, 1)
    assert N <= count.allocations <= N + SLACK
    assert count.retained <= 8


def test_the_profilers_own_allocations_are_not_counted(stream: EventStream) -> None:
    """A Python call allocates nothing unobserved; under memray's profiler, 3.11+ allocates a frame per call."""
    count = count_allocations(Known("call"), stream, 1)
    assert count.allocations <= SLACK
    assert count.per_event is not None and count.per_event < 0.05


def test_only_a_prefix_is_counted(stream: EventStream) -> None:
    count = count_allocations(Known("keep"), stream, 1, max_events=500)
    assert count.events == 500
    assert 500 <= count.allocations <= 500 + SLACK


def _native(name: str) -> Contender:
    try:
        return implementations.get(name)
    except Unavailable as e:
        pytest.skip(str(e))


@pytest.mark.parametrize(("name", "workers"), [("native", 2), ("native", 3), ("native-sequential", 1)])
def test_native_count_agrees_with_the_crates_own_counter(name: str, workers: int) -> None:
    mixed = generate(builtin("mixed").with_events(5000))
    count = count_allocations(_native(name), mixed, workers)
    assert count.crate_counter is not None
    if name == "native-sequential":  # its state and decoded events are made in open: nothing is left to allocate
        assert count.crate_counter == 0 and count.native_library == 0, count
        return
    assert count.crate_counter > 0  # a pool's run starts its threads
    assert count.cross_check_error is not None and count.cross_check_error <= 0.01, count
    assert count.native_library <= count.allocations
    assert count.per_event is not None and count.per_event < 0.05  # the engine allocates per run, not per event


def test_python_contenders_have_no_crate_counter(stream: EventStream) -> None:
    count = count_allocations(implementations.get("sequential"), stream, 1)
    assert count.crate_counter is None and count.cross_check_error is None
    assert count.allocations > 0


def test_document_fields() -> None:
    count = AllocationCount(
        events=10, allocations=25, retained=1, observer=3, native_library=0, outside_global_allocator=0,
        crate_counter=None, method=METHOD,
    )  # fmt: skip
    d = count.as_dict()
    assert d["per_event"] == 2.5 and d["retained_per_event"] == 0.1 and d["cross_check_error"] is None
    assert "memray" in d["method"]
    assert AllocationCount(0, 0, 0, 0, 0, 0, None, METHOD).per_event is None
