"""``c-sequential``: the SPEC's handlers in C (handlers.c), loaded through cffi.

It follows the README's guide, "Add an implementation in one file": this file is the
contender, and the entry point in pyproject.toml registers it. What a native contender
adds to a Python one is how it stops: while the C loop runs, the calling thread would be
inside a foreign call, where Python cannot run a signal handler, so Ctrl-C would wait for
the whole run. The call therefore runs on a helper thread (cffi releases the GIL), the
calling thread waits in ``join``, where Ctrl-C lands, and sets the flag the loop reads.
"""

from __future__ import annotations

import threading

import numpy as np

from eventbench_c_example._handlers import ffi, lib
from protocol.contender import Contender, ContenderError, ContenderInfo, PreparedRun, check_open
from protocol.events import EventStream

_FAILURES = {  # handlers.h's codes, in words
    lib.EVBC_NO_MEMORY: "out of memory (the per-key state arrays)",
    lib.EVBC_BAD_RECORD: "a record breaks SPEC §1 (kind or key out of range)",
    lib.EVBC_CANCELLED: "cancelled",
    lib.EVBC_HANDLED_ALREADY: "a prepared run runs once; open another",
}
# Found once, at import: cffi makes a type or an export's wrapper the first time it is named, and
# that work must not fall inside a run's timed window.
_RECORDS, _NS = ffi.typeof("evbc_record[]"), ffi.typeof("uint64_t[]")
_handle = lib.evbc_handle


class CSequentialRun(PreparedRun):
    def __init__(self, stream: EventStream) -> None:
        # Setup, before the clock: the records in SPEC §2's layout and the per-key state.
        self.records = np.ascontiguousarray(stream.records)  # as handlers.h declares it
        self.cancel = ffi.new("int *")
        state = lib.evbc_state_new(stream.n_keys)
        if state == ffi.NULL:
            raise ContenderError(f"c-sequential: {_FAILURES[lib.EVBC_NO_MEMORY]}")
        self.state = ffi.gc(state, lib.evbc_state_free)  # freed by close(), or when collected

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool, start_ns: np.ndarray | None = None) -> None:
        outcome: list[int | BaseException] = []
        records = ffi.from_buffer(_RECORDS, self.records)
        done = ffi.from_buffer(_NS, done_ns, require_writable=True)
        if start_ns is None:  # the loop always writes starts: a caller that wants none gets scratch
            start_ns = np.zeros(len(done_ns), dtype=np.uint64)
        start = ffi.from_buffer(_NS, start_ns, require_writable=True)
        state = self._state()

        def call() -> None:
            try:
                n = len(self.records)
                outcome.append(_handle(state, records, n, t0_ns, open_loop, self.cancel, done, start))
            except BaseException as e:  # reported by the calling thread, in one line
                outcome.append(e)

        worker = threading.Thread(target=call, name="eventbench-c-example")
        worker.start()
        try:
            worker.join()
        except BaseException:  # Ctrl-C: the loop stops within an event or 10 ms of waiting
            self.cancel[0] = 1
            worker.join()
            raise
        (result,) = outcome
        if isinstance(result, BaseException):
            raise ContenderError(f"c-sequential: the call into C failed: {result!r}") from result
        if result != lib.EVBC_OK:
            raise ContenderError(f"c-sequential: the C loop failed: {_FAILURES.get(result, f'code {result}')}")

    def digest(self) -> int:
        return int(lib.evbc_digest(self._state()))

    def _state(self) -> object:
        if self.state is None:
            raise ValueError("c-sequential: this prepared run is closed")
        return self.state

    def close(self) -> None:
        if self.state is not None:
            state, self.state = self.state, None
            ffi.gc(state, None)  # detached from the collector, so that it is freed once: now
            lib.evbc_state_free(state)


class CSequential(Contender):
    info = ContenderInfo(
        name="c-sequential",
        language="c",
        model="native",
        parallel=False,
        description="the plugin example: the SPEC's handlers in C through cffi, one loop",
        records_start=True,
    )

    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        check_open(stream, workers, self.info)
        return CSequentialRun(stream)
