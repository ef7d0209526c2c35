"""The thread pool's failure paths: a failing handler and an interrupt end the run cleanly."""

from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest

import implementations.threaded as threaded
from harness.runner import run_once
from implementations import ContenderError, faults

from strategies import stream_of


def _live_workers() -> int:
    return sum(t.name.startswith("eventbench-worker") and t.is_alive() for t in threading.enumerate())


def test_a_failing_handler_names_the_event_and_joins_every_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(faults.ENV, "threaded:13")
    stream = stream_of(4, [(i, 0, i, i % 4, 0, 0, 0) for i in range(100)])
    with pytest.raises(ContenderError, match=r"threaded: handling event 13 failed: InjectedFault\("):
        run_once(threaded.Threaded(), stream, workers=3, mode="closed")
    assert _live_workers() == 0


def test_an_interrupt_stops_the_workers_without_handling_the_rest() -> None:
    # 400 events that each wait 20 ms: 8 s of work for one worker, interrupted after 0.2 s.
    stream = stream_of(1, [(i, 0, i, 0, 2, 0, 20_000) for i in range(400)])
    prepared = threaded.Threaded().open(stream, 1)
    done = np.zeros(stream.n_events, dtype=np.uint64)
    # A real SIGINT, as Ctrl-C sends: it interrupts the main thread's blocking join.
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt), prepared:
        prepared.run(done, 0, open_loop=False)
    timer.cancel()
    assert _live_workers() == 0
    handled = np.count_nonzero(done)
    assert 0 < handled < stream.n_events  # some handled, the rest dropped unhandled


def test_a_worker_that_dies_outside_a_handler_ends_the_run_with_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run waits for every worker to report: one that dies must still report, or the window never ends."""

    def broken(self: threaded.ThreadedRun, w: int, inbox: object) -> None:
        raise RuntimeError("a bug in the pool")

    monkeypatch.setattr(threaded.ThreadedRun, "_serve", broken)
    stream = stream_of(4, [(i, 0, i, i % 4, 0, 0, 0) for i in range(100)])
    with pytest.raises(ContenderError, match=r"threaded: a worker failed outside any handler: RuntimeError"):
        run_once(threaded.Threaded(), stream, workers=2, mode="closed")
    assert _live_workers() == 0
