"""``threaded``: a pool of Python threads fed through queues, for any scenario.

Keys are sharded to workers (``key % workers``), so each key's events reach one
worker in ``seq`` order and per-key state needs no lock. Every worker runs the
scenario's handler; the state shared by every key is changed only inside the
handler's ``guard``, here one lock for the pool; waits for I/O hold nothing. The
calling thread is the dispatcher: it releases every event whose intended arrival
has passed, in batches (one queue message per batch, not per event), then sleeps
until the next arrival. In closed loop every event has arrived at ``t0``.

A worker's start of handling is the clock read just after it took a batch from its queue, for
the batch's first event, and the previous event's completion for the others (one store per
event, no second clock read): an event's waiting is the dispatcher's pacing and batching, its
queue, and the events before it in its worker's batch; its service its own handling, lock included.
"""

from __future__ import annotations

import bisect
import queue
import threading
import time

import numpy as np

from implementations.handling import Handling
from implementations.waiting import wait_at_least_us, wait_until
from protocol.contender import (
    Contender,
    ContenderError,
    ContenderInfo,
    PreparedRun,
    check_open,
    done_slots,
    handler_failed,
    start_slots,
)
from protocol.events import EventStream
from protocol.scenario import Guard

BATCH_EVENTS = 256  # events per queue message: enough to amortise the queue, small enough to start early
_STOP = None
# The end of the run's events: each worker says it has finished them, and lives on until close(),
# so that the harness reads its time in the window after the window (an ended thread's is lost).
_END: list[int] = []


class ThreadedRun(PreparedRun):
    def __init__(self, stream: EventStream, workers: int, guard: Guard | None = None) -> None:
        """``guard``: how the workers exclude each other from the shared state; one lock unless given
        (results/threaded-guard-2026-12-03/ measured the alternative)."""
        # Setup, before the clock: the decoded stream, the state, the handler (every worker calls it), the threads.
        if guard is None:
            lock = threading.Lock()
            guard = lambda *_ids: lock  # noqa: E731 - one lock for every id
        self.handling = Handling.of(stream, guard, "threaded")
        self.arrival_ns = stream.records["arrival_ns"].tolist()
        self.workers = workers
        self.owner = (stream.records["key"] % workers).tolist()
        self.done: memoryview | None = None  # done_ns's slots, while run runs
        self.start: memoryview | None = None  # start_ns's slots, while run runs
        self.failures: list[tuple[int, BaseException]] = []
        self.cancelled = False  # set when run() is interrupted: workers drain without handling
        self.inboxes: list[queue.SimpleQueue[list[int] | None]] = [queue.SimpleQueue() for _ in range(workers)]
        self.finished: queue.SimpleQueue[int] = queue.SimpleQueue()  # a worker's index, once it has handled _END
        self.threads = [
            threading.Thread(target=self._work, args=(w, inbox), name=f"eventbench-worker-{w}", daemon=True)
            for w, inbox in enumerate(self.inboxes)
        ]
        for t in self.threads:
            t.start()

    def _work(self, w: int, inbox: queue.SimpleQueue[list[int] | None]) -> None:
        try:
            self._serve(w, inbox)
        except BaseException as e:  # a bug outside any handler: the run must still end, and say so
            self.failures.append((-1, e))
            self.finished.put(w)

    def _serve(self, w: int, inbox: queue.SimpleQueue[list[int] | None]) -> None:
        handler = self.handling.handler
        clock = time.monotonic_ns
        while (batch := inbox.get()) is not _STOP:
            if batch is _END:
                self.finished.put(w)
                continue
            if self.failures or self.cancelled:
                continue  # a worker failed or the run was interrupted: drain without handling
            now = clock()  # taken from the queue: the batch's first event starts
            done, start = self.done, self.start  # set before the first batch is sent
            assert done is not None and start is not None
            for i in batch:
                if self.cancelled:
                    break
                try:
                    start[i] = now
                    wait_us = handler(i)
                    if wait_us:
                        wait_at_least_us(wait_us)
                    done[i] = now = clock()
                except BaseException as e:  # reported by run(), once every worker has finished
                    self.failures.append((i, e))
                    break

    def _dispatch(self, first: int, last: int) -> None:
        """Sends events ``first .. last-1`` to their owners, in batches, in seq order."""
        batches: list[list[int]] = [[] for _ in range(self.workers)]
        owner = self.owner
        for i in range(first, last):
            batch = batches[owner[i]]
            batch.append(i)
            if len(batch) == BATCH_EVENTS:
                self.inboxes[owner[i]].put(batch)
                batches[owner[i]] = []
        for w, batch in enumerate(batches):
            if batch:
                self.inboxes[w].put(batch)

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool, start_ns: np.ndarray | None = None) -> None:
        if self.done is not None or not self.threads:
            raise ContenderError("threaded: a prepared run runs once; open another")
        n = self.handling.n_events
        start = self.start = start_slots(start_ns, len(done_ns))
        done = self.done = done_slots(done_ns)
        arrivals = self.arrival_ns
        sent = 0
        try:
            while sent < n and not self.failures:  # a failed worker ends the run now, not at the last arrival
                if open_loop:
                    wait_until(t0_ns + arrivals[sent])
                    due = bisect.bisect_right(arrivals, time.monotonic_ns() - t0_ns, lo=sent)
                else:
                    due = n
                # Closed loop: hand work out in slices so workers start before all is sent.
                due = min(due, sent + BATCH_EVENTS * self.workers * 4)
                self._dispatch(sent, due)
                sent = due
            for inbox in self.inboxes:
                inbox.put(_END)
            for _ in self.inboxes:
                self.finished.get()  # every worker has finished every event it was sent
        except BaseException:
            self.cancelled = True  # Ctrl-C, say (while dispatching or joining): stop promptly
            self.close()
            raise
        finally:
            done.release()  # every worker has finished or is joined: nothing writes through it any more
            start.release()
        if self.failures:
            index, error = min(self.failures, key=lambda f: (f[0] < 0, f[0]))  # a handler's first
            if index < 0:
                raise ContenderError(f"threaded: a worker failed outside any handler: {error!r}") from error
            raise handler_failed("threaded", index, error) from error

    def digest(self) -> int:
        return self.handling.digest()

    def handling_threads(self) -> dict[int, str]:
        return {t.native_id: t.name for t in self.threads if t.native_id is not None}

    def close(self) -> None:
        for inbox in self.inboxes:
            inbox.put(_STOP)
        self.inboxes = []
        while self.threads:
            self.threads[-1].join()
            self.threads.pop()


class Threaded(Contender):
    info = ContenderInfo(
        name="threaded",
        language="python",
        model="threads",
        parallel=True,
        description="Python thread pool, keys sharded to workers, shared state behind one lock, any scenario",
        scenarios=None,
        records_start=True,
    )

    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        check_open(stream, workers, self.info)
        return ThreadedRun(stream, workers)
