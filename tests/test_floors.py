"""The machine's floor: the jitter probe and the contenders that handle nothing.

No timing thresholds: the probe's figures must be consistent with each other, and the
floors' runs must pass SPEC §4's checks with no reference digest to compare.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

import implementations
from harness import workload
from harness.runner import run_once
from implementations import Contender, ContenderInfo, PreparedRun, Unavailable
from protocol.events import EventStream

from strategies import stream_of


def _floor(name: str) -> Contender:
    registration = {r.name: r for r in implementations.floors()}[name]
    if registration.contender is None:
        pytest.skip(registration.reason)
    return registration.contender


def _native_cffi():  # type: ignore[no-untyped-def]
    from implementations import native_cffi

    try:
        native_cffi.load()
    except Unavailable as e:
        pytest.skip(str(e))
    return native_cffi


def test_floors_are_listed_apart_from_the_contenders() -> None:
    floors = implementations.floors()
    assert [r.name for r in floors] == ["floor-python", "floor-native"]
    assert all(r.contender is None or r.contender.info.model == "floor" for r in floors)
    contenders = {r.name for r in implementations.registry()}
    assert not contenders & {r.name for r in floors}
    with pytest.raises(KeyError):
        implementations.get("floor-python")  # so verify and compare cannot be handed one


@pytest.mark.parametrize("name", ["floor-python", "floor-native"])
@pytest.mark.parametrize("workload_name", ["paced", "bursty", "mixed"])
def test_a_floor_passes_the_checks_without_a_reference_digest(name: str, workload_name: str) -> None:
    stream = workload.generate(workload.builtin(workload_name).with_events(2000))
    outcome = run_once(_floor(name), stream, workers=4, mode="open", reference_digest=None)
    assert outcome.digest_ok is None
    assert outcome.valid, outcome.failures()
    assert [c.passed for c in outcome.checks] == [True] * len(outcome.checks)
    assert outcome.workers == 1  # a floor paces on one thread, whatever --workers says
    arrivals = stream.column("arrival_ns").astype(np.int64)
    assert np.all(outcome.done_ns.astype(np.int64) - outcome.t0_ns >= arrivals)


@pytest.mark.parametrize("name", ["floor-python", "floor-native"])
def test_a_floor_runs_closed_loop_too(name: str) -> None:
    stream = workload.generate(workload.builtin("smoke"))
    outcome = run_once(_floor(name), stream, workers=1, mode="closed")
    assert outcome.valid, outcome.failures()


class _WritesNothingRun(PreparedRun):
    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool) -> None:
        pass

    def digest(self) -> int:
        return 0


class _WritesNothing(Contender):
    info = ContenderInfo("writes-nothing", "python", "floor", parallel=False)

    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        return _WritesNothingRun()


def test_without_a_reference_digest_the_checks_still_judge_done_ns() -> None:
    """What makes a floor's run worth anything: its done_ns are checked like anyone's."""
    stream = stream_of(2, [(i, i * 1000, i, i % 2, 0, 0, 0) for i in range(10)])
    outcome = run_once(_WritesNothing(), stream, workers=1, mode="open", reference_digest=None)
    assert not outcome.valid
    assert any("done" in failure for failure in outcome.failures()), outcome.failures()


def test_the_jitter_probe_is_internally_consistent() -> None:
    native_cffi = _native_cffi()
    s = native_cffi.jitter_probe(0.05)
    assert isinstance(s, native_cffi.JitterSummary)
    assert s.reads > 1 and s.duration_ns >= 50_000_000
    assert s.p50_ns <= s.p90_ns <= s.p99_ns <= s.p999_ns
    assert s.p999_ns <= s.max_ns + s.max_ns // 1000 + 1  # HdrHistogram: 3 significant digits
    assert s.max_ns <= s.duration_ns  # the gaps add up to the duration
    assert s.over_1ms <= s.over_100us <= s.over_10us <= s.reads
    assert (s.over_1ms == 0) or s.max_ns > 1_000_000


def test_the_jitter_probe_refuses_bad_durations() -> None:
    native_cffi = _native_cffi()
    for duration_s in (0, -1, 3601):
        with pytest.raises(ValueError, match="duration_ns must be in"):
            native_cffi.jitter_probe(duration_s)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals reach the main thread")
def test_ctrl_c_stops_a_long_probe() -> None:
    native_cffi = _native_cffi()
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        native_cffi.jitter_probe(600)
    assert time.monotonic() - started < 60, "the probe was not stopped"
