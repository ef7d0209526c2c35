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
from harness.events import EventStream
from implementations.base import Contender, ContenderError, ContenderInfo, Session, check_open

_FAILURES = {  # handlers.h's codes, in words
    lib.EVBC_NO_MEMORY: "out of memory (the per-key state arrays)",
    lib.EVBC_BAD_RECORD: "a record breaks SPEC §1 (kind or key out of range)",
    lib.EVBC_CANCELLED: "cancelled",
}


class CSequentialSession(Session):
    def __init__(self, stream: EventStream) -> None:
        self.records = np.ascontiguousarray(stream.records)  # SPEC §2's layout, as handlers.h declares it
        self.n_keys = stream.n_keys
        self.cancel = ffi.new("int *")

    def handle(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool) -> int:
        digest = ffi.new("uint64_t *")
        outcome: list[int | BaseException] = []
        self.cancel[0] = 0  # a session interrupted once may run again
        records = ffi.from_buffer("evbc_record[]", self.records)
        done = ffi.from_buffer("uint64_t[]", done_ns, require_writable=True)

        def call() -> None:
            try:
                n = len(self.records)
                outcome.append(lib.evbc_handle(records, n, self.n_keys, t0_ns, open_loop, self.cancel, done, digest))
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
        return int(digest[0])


class CSequential(Contender):
    info = ContenderInfo(
        name="c-sequential",
        language="c",
        model="native",
        parallel=False,
        description="the plugin example: the SPEC's handlers in C through cffi, one loop",
    )

    def open(self, stream: EventStream, workers: int) -> Session:
        check_open(stream, workers)
        return CSequentialSession(stream)
