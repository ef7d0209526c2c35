"""The floors: contenders that handle nothing. They pace the stream and write ``done_ns``.

Their latencies are what waiting alone costs, measured the way every contender is: a
contender's percentile is only as good as the floor of its kind under it.

* ``floor-python`` waits exactly as the Python contenders do
  (:func:`implementations.waiting.wait_until`, on the calling thread).
* ``floor-native`` waits exactly as the engine does (its ``wait_until``: sleep, then spin,
  with a 1 ns timer slack), through the engine's own C ABI (``EVB_MODEL_FLOOR``).

They are not ordinary contenders: ``ContenderInfo.model`` is ``"floor"``, they are listed by
:func:`implementations.floors`, never by the registry that ``verify`` and ``compare`` read.
Their digest is meaningless (0: nothing was handled), so a run of one passes
``reference_digest=None``; the runner still applies every check of SPEC §4 to ``done_ns``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from implementations.waiting import wait_until
from protocol.contender import (
    Contender,
    ContenderInfo,
    PreparedRun,
    calling_thread,
    check_open,
    done_slots,
    start_slots,
)
from protocol.events import EventStream

FLOOR_MODEL = "floor"
NO_DIGEST = 0  # what a floor's digest() returns: it handled nothing


class FloorPythonRun(PreparedRun):
    def __init__(self, stream: EventStream) -> None:
        self.arrival_ns = stream.records["arrival_ns"].tolist()

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool, start_ns: np.ndarray | None = None) -> None:
        """Starts as ``sequential`` records them (the pacing wait's clock read, or the previous
        completion), so that the floor's waiting and service are what those of the Python
        contenders' own loop cost with no handler."""
        self.mark_run("floor-python")
        done, start = done_slots(done_ns), start_slots(start_ns, len(done_ns))
        clock = time.monotonic_ns
        now = clock()
        try:
            for i, arrival in enumerate(self.arrival_ns):
                if open_loop and now < (due := t0_ns + arrival):
                    now = wait_until(due)
                start[i] = now
                done[i] = now = clock()
        finally:
            done.release()
            start.release()

    def handling_threads(self) -> dict[int, str]:
        return calling_thread()

    def digest(self) -> int:
        return NO_DIGEST


class FloorPython(Contender):
    info = ContenderInfo(
        name="floor-python",
        language="python",
        model=FLOOR_MODEL,
        parallel=False,
        description="handles nothing: paces the stream as the Python contenders do and writes done_ns",
        scenarios=None,
        records_start=True,
    )

    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        check_open(stream, workers, self.info)
        return FloorPythonRun(stream)


class FloorNativeRun(PreparedRun):
    def __init__(self, inner: PreparedRun) -> None:
        self.inner = inner

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool, start_ns: np.ndarray | None = None) -> None:
        self.inner.run(done_ns, t0_ns, open_loop, start_ns=start_ns)

    def handling_threads(self) -> Mapping[int, str] | None:
        return self.inner.handling_threads()

    def digest(self) -> int:
        return NO_DIGEST  # the engine's floor has none (evb_engine_digest refuses)

    def close(self) -> None:
        self.inner.close()


class FloorNative(Contender):
    def __init__(self) -> None:
        from implementations import native_cffi

        self.info = ContenderInfo(
            name="floor-native",
            language="rust",
            model=FLOOR_MODEL,
            parallel=False,
            description="handles nothing: paces the stream as the native engine does (sleep, then spin) "
            "and writes done_ns",
            records_start=True,
            **native_cffi.hosting(),
        )
        self._engine = native_cffi.NativeFloor(self.info)  # Unavailable, with the reason, where it did not build

    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        return FloorNativeRun(self._engine.open(stream, workers))

    def close(self) -> None:
        self._engine.close()


def floor_for(info: ContenderInfo) -> str:
    """The floor that waits for arrivals as this contender does: the engine paces the Rust
    contenders itself; every other contender (Python, the C example) sleeps as Python does."""
    return "floor-native" if info.language == "rust" else "floor-python"
