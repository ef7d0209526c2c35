"""``asyncio``: one event loop; a handler's wait for I/O is an awaited sleep. Any scenario.

The model most Python services use. Keys are sharded to ``workers`` consumer tasks
(``key % workers``), each draining its own queue in ``seq`` order, so per-key
order holds. Each consumer calls the scenario's handler and awaits the wait it
asks for. Everything runs on one thread, so the shared state's guard is nothing;
what the loop gives is overlapping *waits* (an event that waits awaits, and other
keys' tasks run meanwhile), never parallel computation. A dispatcher coroutine
releases each event once its intended arrival has passed (open loop), in batches
(one queue item per batch, as ``threaded`` does), and yields to the consumers.

The loop is made in ``open`` (untimed) and closed in ``close``. Its timers wake
with millisecond granularity (the selector's timeout is in ms), which shows in
open-loop latencies: part of the model, not of the harness.

A consumer's start of handling is the clock read just after it took a batch from its queue, for
the batch's first event, and the previous event's completion for the others (nothing is awaited
in between): an awaited I/O wait, and the other tasks that run meanwhile, are the event's service.

A first Ctrl-C or SIGTERM is not raised inside the loop: :func:`_signals_cancel` catches what
its handler raises, cancels the run's tasks instead (they stop at their next ``await``: after
the handler call in progress), and the run raises it once the loop has stopped, much as
``asyncio.Runner`` (Python 3.11+) does for Ctrl-C. Raised inside the loop, a
``KeyboardInterrupt`` can land in the loop's own bookkeeping (a future's wake-up being scheduled,
say) and lose it: the task it would have woken then never runs, and the cancelled run waits for it
for ever. A second signal does raise inside the loop, to get out of a handler stuck in a long
call. Every wait for the tasks to end after it is bounded by ``CLEANUP_S``: the loop's
(:func:`_end_every_task`), and the dispatching task's own clean-up (:func:`_ended`), where the
interrupt stays when it is raised as that task wakes a consumer and loses the wake-up.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import FrameType
from typing import Any

import numpy as np

from implementations.handling import Handling, no_guard
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

BATCH_EVENTS = 256  # events per queue item: as in threaded
_STOP = None
_clock = time.monotonic_ns


async def _sleep_until(deadline_ns: int) -> None:
    """Awaits until the monotonic clock reaches ``deadline_ns`` (never returns early)."""
    while (remaining := deadline_ns - _clock()) > 0:
        await asyncio.sleep(remaining / 1e9)


class _Tasks:
    """One run's state, made in ``open``: the decoded stream, the state, the handler, the first failure."""

    def __init__(self, stream: EventStream, workers: int) -> None:
        self.handling = Handling.of(stream, no_guard, "asyncio")
        self.n_events, self.workers = stream.n_events, workers
        self.arrival_ns = stream.records["arrival_ns"].tolist()
        self.owner = (stream.records["key"] % workers).tolist()
        self.done = memoryview(b"")  # done_ns's slots, while the run is handled
        self.start = memoryview(b"")  # start_ns's slots, likewise
        self.failure: tuple[int, BaseException] | None = None

    async def main(self, t0_ns: int, open_loop: bool) -> None:
        queues: list[asyncio.Queue[list[int] | None]] = [asyncio.Queue() for _ in range(self.workers)]
        consumers = [asyncio.ensure_future(self._consume(q)) for q in queues]
        try:
            await self._dispatch(queues, t0_ns, open_loop)
            for q in queues:
                q.put_nowait(_STOP)
            await asyncio.gather(*consumers)
        finally:  # interrupted or failed: no consumer outlives the run
            for task in consumers:
                task.cancel()
            await _ended(consumers)

    async def _dispatch(self, queues: list[asyncio.Queue[list[int] | None]], t0_ns: int, open_loop: bool) -> None:
        n, arrivals, owner = self.n_events, self.arrival_ns, self.owner
        sent = 0
        while sent < n and self.failure is None:
            if open_loop:
                await _sleep_until(t0_ns + arrivals[sent])
                due = bisect.bisect_right(arrivals, _clock() - t0_ns, lo=sent)
            else:
                due = n
            due = min(due, sent + BATCH_EVENTS * self.workers * 4)  # consumers start before all is sent
            batches: list[list[int]] = [[] for _ in range(self.workers)]
            for i in range(sent, due):
                batches[owner[i]].append(i)
            for q, batch in zip(queues, batches, strict=True):
                for start in range(0, len(batch), BATCH_EVENTS):
                    q.put_nowait(batch[start : start + BATCH_EVENTS])
            sent = due
            await asyncio.sleep(0)  # let the consumers run

    async def _consume(self, inbox: asyncio.Queue[list[int] | None]) -> None:
        handler, done, start = self.handling.handler, self.done, self.start
        while (batch := await inbox.get()) is not _STOP:
            now = _clock()  # taken from the queue: the batch's first event starts
            for i in batch:
                if self.failure is not None:
                    return  # another consumer failed: stop handling
                try:
                    start[i] = now
                    wait_us = handler(i)
                    if wait_us:
                        await _sleep_until(_clock() + wait_us * 1000)
                    done[i] = now = _clock()
                except Exception as e:  # reported by run(), once every task has ended
                    self.failure = (i, e)
                    return


_Handler = Callable[[int, FrameType | None], Any]
CLEANUP_S = 5.0  # the longest of each wait for tasks to end after an interrupt raised inside the loop


async def _ended(tasks: list[asyncio.Task[None]]) -> None:
    """Waits for ``tasks`` to end, for ``CLEANUP_S`` at most, and retrieves what they raised. An
    interrupt raised inside this task's step as it woke one of them can have lost that wake-up,
    and then that task never ends."""
    if not all(task.done() for task in tasks):
        await asyncio.wait(tasks, timeout=CLEANUP_S)
    _retrieve(tasks)


def _retrieve(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """What the ended ``tasks`` raised, retrieved: an interrupt a task re-raised is the run's, and
    asyncio would otherwise log it as never retrieved."""
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()


@contextlib.contextmanager
def _signals_cancel(loop: asyncio.AbstractEventLoop) -> Iterator[list[BaseException]]:
    """While open, what SIGINT's or SIGTERM's Python handler raises the first time is kept in the
    list it yields, and every task of ``loop`` is cancelled from the loop instead; a second signal
    raises at once (a handler stuck in a long computation is then interrupted). Off the main
    thread, where no signal handler runs, nothing changes."""
    interrupts: list[BaseException] = []
    if threading.current_thread() is not threading.main_thread():
        yield interrupts
        return
    is_open = True

    def deferring(handler: _Handler) -> _Handler:
        def on_signal(signum: int, frame: FrameType | None) -> None:
            if interrupts or not is_open:  # a second signal, or this wrapper outlived its context
                handler(signum, frame)
                return
            try:
                handler(signum, frame)
            except BaseException as e:  # KeyboardInterrupt, the CLI's Terminated
                interrupts.append(e)
                loop.call_soon_threadsafe(_cancel_every_task, loop)

        return on_signal

    previous: list[tuple[signal.Signals, _Handler]] = []
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(signum)
            if callable(handler):  # not SIG_DFL nor SIG_IGN, which raise nothing to defer
                previous.append((signum, handler))
                signal.signal(signum, deferring(handler))
        yield interrupts
    finally:
        is_open = False
        _restore(previous)


def _cancel_every_task(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()


def _end_every_task(loop: asyncio.AbstractEventLoop) -> None:
    """Cancels every task of ``loop`` and runs it until they have all ended, for ``CLEANUP_S`` at
    most: an interrupt raised inside the loop may have lost a task's wake-up, and that task never
    ends. The wait is a plain future, which a first signal's cancelling, still queued, cannot
    cancel; a task's own interrupt, re-raised out of the loop, does not end it."""
    _cancel_every_task(loop)
    pending = asyncio.all_tasks(loop)
    if not pending:
        return
    ended: asyncio.Future[None] = loop.create_future()

    def finish() -> None:
        if not ended.done():
            ended.set_result(None)

    def one_ended(_: object) -> None:
        if all(task.done() for task in pending):
            finish()

    for task in pending:
        task.add_done_callback(one_ended)
    timer = loop.call_later(CLEANUP_S, finish)
    try:
        while not ended.done():
            try:
                loop.run_until_complete(ended)
            except BaseException as e:
                if not any(t.done() and not t.cancelled() and t.exception() is e for t in pending):
                    break  # a further signal: no more waiting
    finally:
        timer.cancel()
        for task in pending:
            task.remove_done_callback(one_ended)
        _retrieve(pending)


def _restore(handlers: list[tuple[signal.Signals, _Handler]]) -> None:
    """Every handler put back, even if a signal's handler raises between two of them."""
    if handlers:
        (signum, handler), *rest = handlers
        try:
            signal.signal(signum, handler)
        finally:
            _restore(rest)


class AsyncioRun(PreparedRun):
    def __init__(self, stream: EventStream, workers: int) -> None:
        self.tasks = _Tasks(stream, workers)
        self.loop: asyncio.AbstractEventLoop | None = asyncio.new_event_loop()

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool, start_ns: np.ndarray | None = None) -> None:
        if self.loop is None:
            raise ValueError("this prepared run is closed")
        self.mark_run("asyncio")
        run = self.tasks
        run.done, run.start = done_slots(done_ns), start_slots(start_ns, len(done_ns))
        loop = self.loop
        try:
            with _signals_cancel(loop) as interrupts:
                main = loop.create_task(run.main(t0_ns, open_loop))
                try:
                    loop.run_until_complete(main)
                except BaseException:  # cancelled by a signal, or raised in the loop after all
                    _end_every_task(loop)
                    if not interrupts:
                        raise
            if interrupts:
                raise interrupts[0]
        finally:
            run.done.release()
            run.start.release()
        if run.failure is not None:
            index, error = run.failure
            raise handler_failed("asyncio", index, error) from error

    def handling_threads(self) -> dict[int, str]:
        return calling_thread()

    def digest(self) -> int:
        return self.tasks.handling.digest()

    def close(self) -> None:
        if self.loop is not None:
            loop, self.loop = self.loop, None
            loop.close()


class Asyncio(Contender):
    info = ContenderInfo(
        name="asyncio",
        language="python",
        model="event loop",
        parallel=True,
        description="one asyncio loop; keys sharded to consumer tasks; a wait is an awaited sleep; any scenario",
        scenarios=None,
        records_start=True,
    )

    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        check_open(stream, workers, self.info)
        return AsyncioRun(stream, workers)
