"""``sequential``: the reference. One loop, one event at a time, in ``seq`` order, for any scenario.

Plain and obviously correct on purpose: every other contender is verified against its digest.
It runs the scenario's own handler (``protocol.scenario.PythonSemantics``): the loop paces, writes
the start of handling, calls the handler, waits as long as the handler asks (I/O), and writes the
completion time. One thread handles every event, so the shared state's guard is nothing.

Recording starts costs one store per event and no clock read: the start of an event is the clock
read that ended its pacing wait, or, when it was already due, the previous event's completion
(nothing but this loop's own step lies between, which thus counts as service).

:func:`reference_digest` is the reference digest itself: the same handler, in the same order,
over the stream in chunks of :data:`REFERENCE_CHUNK_EVENTS`, so that what it decodes (Python
lists of the chunk's fields) is bounded whatever the stream's length; it does not pace, wait
or time anything (the digest depends on none of it).
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
    calling_thread,
    check_open,
    done_slots,
    handler_failed,
    start_slots,
)
from protocol.events import EventStream


class SequentialRun(PreparedRun):
    def __init__(self, stream: EventStream) -> None:
        # Setup, before the clock: the decoded stream, the keys' and the shared state, the handler.
        self.handling = Handling.of(stream, no_guard, "sequential")
        self.arrival_ns = stream.records["arrival_ns"].tolist()

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool, start_ns: np.ndarray | None = None) -> None:
        self.mark_run("sequential")
        handler, arrival_ns = self.handling.handler, self.arrival_ns
        done, start = done_slots(done_ns), start_slots(start_ns, len(done_ns))
        clock = time.monotonic_ns
        i = 0
        now = clock()
        try:
            for i in range(self.handling.n_events):
                if open_loop and now < (due := t0_ns + arrival_ns[i]):
                    now = wait_until(due)
                start[i] = now
                wait_us = handler(i)
                if wait_us:
                    wait_at_least_us(wait_us)
                done[i] = now = clock()
        except Exception as e:  # not KeyboardInterrupt: an interrupt is not the handler's failure
            raise handler_failed("sequential", i, e) from e
        finally:
            done.release()
            start.release()

    def handling_threads(self) -> dict[int, str]:
        return calling_thread()

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
        records_start=True,
    )

    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        check_open(stream, workers, self.info)
        return SequentialRun(stream)


# The reference decodes this many events at a time: as Python lists, 68 MiB of `synthetic` (contention),
# 125 MiB of `orderbook` (book), measured with tracemalloc.
REFERENCE_CHUNK_EVENTS = 1 << 20


def reference_digest(stream: EventStream, chunk_events: int = REFERENCE_CHUNK_EVENTS) -> int:
    """The scenario's Python semantics over every event in ``seq`` order, on one thread: the
    digest every contender must match. Each chunk is decoded and bound to the same keys' and
    shared state (:class:`protocol.scenario.PythonSemantics` keeps all state there), handled,
    and dropped before the next; a handler's waits for I/O are not waited."""
    if chunk_events < 1:
        raise ValueError(f"chunk_events must be at least 1, got {chunk_events}")
    semantics = stream.scenario.python
    keys, shared = semantics.new_keys(stream.n_keys), semantics.new_shared()
    for start in range(0, stream.n_events, chunk_events):
        chunk = stream.records[start : start + chunk_events]
        handler = semantics.bind(semantics.columns(chunk), keys, shared, no_guard)
        i = 0
        try:
            for i in range(len(chunk)):
                handler(i)
        except Exception as e:  # a scenario's bug: named as any contender's failure is
            raise handler_failed(f"the reference ({Sequential.info.name})", start + i, e) from e
    return int(semantics.digest(stream.n_events, keys, shared))
