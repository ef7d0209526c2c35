"""``sequential``: the reference. One loop, one event at a time, in ``seq`` order, for any scenario.

Plain and obviously correct on purpose: every other contender is verified against its digest.
It runs the scenario's own handler (``protocol.scenario.PythonSemantics``): the loop paces, calls
the handler, waits as long as the handler asks (I/O), and writes the completion time. One
thread handles every event, so the shared state's guard is nothing.
"""

from __future__ import annotations

import time

import numpy as np

from implementations.handling import Handling, no_guard
from implementations.waiting import wait_at_least_us, wait_until
from protocol.contender import (
    Contender,
    ContenderInfo,
    PreparedRun,
    check_open,
    done_slots,
    handler_failed,
)
from protocol.events import EventStream


class SequentialRun(PreparedRun):
    def __init__(self, stream: EventStream) -> None:
        # Setup, before the clock: the decoded stream, the keys' and the shared state, the handler.
        self.handling = Handling.of(stream, no_guard, "sequential")
        self.arrival_ns = stream.records["arrival_ns"].tolist()

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool) -> None:
        self.mark_run("sequential")
        handler, arrival_ns = self.handling.handler, self.arrival_ns
        done = done_slots(done_ns)
        clock = time.monotonic_ns
        i = 0
        try:
            for i in range(self.handling.n_events):
                if open_loop:
                    wait_until(t0_ns + arrival_ns[i])
                wait_us = handler(i)
                if wait_us:
                    wait_at_least_us(wait_us)
                done[i] = clock()
        except Exception as e:  # not KeyboardInterrupt: an interrupt is not the handler's failure
            raise handler_failed("sequential", i, e) from e
        finally:
            done.release()

    def digest(self) -> int:
        return self.handling.digest()


class Sequential(Contender):
    info = ContenderInfo(
        name="sequential",
        language="python",
        model="sequential",
        parallel=False,
        description="the reference: one Python loop, events in seq order, any scenario",
        scenarios=None,
    )

    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        check_open(stream, workers, self.info)
        return SequentialRun(stream)
