"""``sequential``: the reference. One loop, one event at a time, in ``seq`` order.

Plain and obviously correct on purpose: every other contender is verified
against its digest.
"""

from __future__ import annotations

import time

import numpy as np

from harness.events import AGGREGATE, BLOCK, EventStream
from harness.mix import MASK64, digest
from implementations import faults
from implementations.base import (
    Contender,
    ContenderInfo,
    Session,
    check_open,
    done_slots,
    handler_failed,
)
from implementations.python_handlers import DecodedStream, next_state, wait_at_least_us, wait_until


class SequentialSession(Session):
    def __init__(self, stream: EventStream) -> None:
        # Setup, before the clock: the decoded stream and the per-key state.
        self.events = DecodedStream.of(stream)
        self.states = [0] * stream.n_keys
        self.counts = [0] * stream.n_keys
        self.g = 0
        self.fault_at = faults.armed_at("sequential")

    def handle(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool) -> None:
        self.handle_once("sequential")
        ev, states, counts = self.events, self.states, self.counts
        g = 0
        done = done_slots(done_ns)
        clock = time.monotonic_ns
        fault_at = self.fault_at
        i = 0
        try:
            for i in range(len(ev)):
                if open_loop:
                    wait_until(t0_ns + ev.arrival_ns[i])
                if i == fault_at:
                    raise faults.InjectedFault("sequential", i)
                kind, key, value = ev.kind[i], ev.key[i], ev.value[i]
                if kind == BLOCK:
                    wait_at_least_us(ev.work[i])
                elif kind == AGGREGATE:
                    g = (g + value) & MASK64
                states[key] = next_state(states[key], kind, value, ev.work[i])
                counts[key] += 1
                done[i] = clock()
        except Exception as e:  # not KeyboardInterrupt: an interrupt is not the handler's failure
            raise handler_failed("sequential", i, e) from e
        finally:
            self.g = g
            done.release()

    def digest(self) -> int:
        return digest(self.g, self.states, self.counts, len(self.events))


class Sequential(Contender):
    info = ContenderInfo(
        name="sequential",
        language="python",
        model="sequential",
        parallel=False,
        description="the reference: one Python loop, events in seq order",
    )

    def open(self, stream: EventStream, workers: int) -> Session:
        check_open(stream, workers)
        return SequentialSession(stream)
