"""The protocol every contender satisfies, whatever its language.

A run has three phases (docs/measurement-window.md):

* ``Contender.open(stream, workers)`` is setup, before the clock: decoding the stream into
  the contender's own form, making the per-key state, buffers, pools, worker processes.
  The harness times it apart (``setup_s``).
* ``PreparedRun.run(done_ns, t0_ns, open_loop, start_ns=...)`` is the timed window, and
  handles only: every event, each one's completion time (``time.monotonic_ns()`` clock)
  written into ``done_ns`` as it finishes, and, for a contender whose ``info.records_start``
  is true, the time its handling began into ``start_ns`` (so that a latency splits into
  waiting and service). Every figure of the run (wall time, throughput, latency, CPU
  time, context switches, allocations) covers this call and nothing else. A prepared run runs
  once.
* ``PreparedRun.digest()``, after the window: the digest of the final state (SPEC §3), never
  measured.

The harness times ``run`` and checks what it wrote; a contender never times itself.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType

import numpy as np

from protocol.events import EventStream, validated_stream


@dataclass(frozen=True)
class ContenderInfo:
    name: str
    language: str
    model: str  # sequential, threads, event loop, processes, native ...
    parallel: bool  # honours --workers; single-threaded contenders record 1
    description: str = ""
    # False when events are handled in other processes: the harness then adds its child
    # processes' CPU time and context switches, and says allocations are not counted
    # (memray's tracker sees this process only).
    in_process: bool = True
    # The scenarios it can handle: their names, or None for every scenario with semantics in
    # Python (the Python executors, which run a scenario's handler rather than their own).
    scenarios: tuple[str, ...] | None = ("synthetic",)
    # Scenarios it would host but cannot here, each with why (a native library that did not build).
    cannot_host: tuple[tuple[str, str], ...] = ()
    # True when ``run`` takes ``start_ns`` and writes each event's start of handling there (see
    # PreparedRun.run). False by default so that a contender written before start times existed
    # keeps working: the harness calls it as before, and its documents say that waiting and
    # service were not recorded, rather than guessing them.
    records_start: bool = False

    def hosts(self, scenario: str) -> bool:
        return self.scenarios is None or scenario in self.scenarios

    def not_hosting(self, scenario: str) -> str:
        """Why it refuses ``scenario``, in the words every refusal uses (the runner's, the CLI's)."""
        why = dict(self.cannot_host).get(scenario)
        if why is not None:
            return f"cannot host scenario {scenario} here: {why}"
        return f"hosts {', '.join(self.scenarios or ())} only, not scenario {scenario}"


class Unavailable(Exception):
    """Raised by a contender's factory when it cannot run here; the message says why."""


def calling_thread() -> dict[int, str]:
    """:meth:`PreparedRun.handling_threads` of a run that handles on the thread calling it."""
    return {threading.get_native_id(): threading.current_thread().name}


def done_slots(done_ns: np.ndarray, name: str = "done_ns") -> memoryview:
    """``done_ns`` (or ``start_ns``, named by ``name``) as a writable view of unsigned 64-bit
    slots: a store through it costs what a store into a list does (numpy's per-element call
    costs several times more), and it leaves no copy to make after the last event, inside the
    window but outside the wall time."""
    if done_ns.dtype != np.uint64 or not done_ns.flags.c_contiguous or not done_ns.flags.writeable:
        raise ValueError(f"{name} must be a writable C-contiguous uint64 array")
    return done_ns.data.cast("B").cast("Q")


def start_slots(start_ns: np.ndarray | None, n_events: int) -> memoryview:
    """``start_ns`` as :func:`done_slots` gives ``done_ns``; ``None`` (a caller that records no
    starts: a test, a pass that needs the digest alone) gives a scratch buffer of ``n_events``
    slots, so that an executor's loop has one shape either way and no per-event branch."""
    if start_ns is None:
        start_ns = np.zeros(n_events, dtype=np.uint64)
    return done_slots(start_ns, "start_ns")


class ContenderError(RuntimeError):
    """A contender failed while handling (an exception in a worker, say)."""


def handler_failed(contender: str, index: int, error: BaseException | str) -> ContenderError:
    """What a Python contender raises when handling event ``index`` failed: one message shape
    for all of them (the native engine's messages have the same one). ``error`` is the
    exception, or its ``repr`` where it was raised in another process."""
    what = error if isinstance(error, str) else repr(error)
    return ContenderError(f"{contender}: handling event {index} failed: {what}")


class PreparedRun(ABC):
    """One prepared run. Use as a context manager so pools are always shut down."""

    used = False  # set by mark_run: its state was made for one run

    def mark_run(self, contender: str) -> None:
        """Marks this prepared run used; a second run of it is an error naming ``contender``."""
        if self.used:
            raise ContenderError(f"{contender}: a prepared run runs once; open another")
        self.used = True

    @abstractmethod
    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool, start_ns: np.ndarray | None = None) -> None:
        """The timed window: handles every event and fills ``done_ns`` (uint64, one per event),
        each slot as its event finishes; nothing after the last event that can wait for
        :meth:`digest` (:func:`done_slots` writes straight into ``done_ns``).

        A contender whose ``info.records_start`` is true also takes ``start_ns`` (uint64, one
        per event; ``None`` when the caller wants no starts) and writes into slot ``i`` the
        monotonic clock when the handling of event ``i`` began: after its pacing wait (open
        loop) and after it was taken from any queue or channel, just before its handler is
        called. So ``start - intended arrival`` is the event's *waiting* (queueing, dispatch,
        a late wake-up) and ``done - start`` its *service* (the handler, its I/O wait, the
        completion's write). A clock read already made at that point (the pacing wait's last,
        the previous event's completion on the same thread with nothing but the loop's own
        bookkeeping in between) may serve, to keep the cost of recording at one store. The
        harness checks ``t0`` (open loop: the intended arrival) ``<= start <= done``. The harness
        passes ``start_ns`` only to contenders that declare ``records_start``: one written for the
        protocol before it is called with three arguments, as it always was.

        A handler that fails raises :class:`ContenderError` naming the contender and the event,
        after every worker has stopped. ``KeyboardInterrupt`` (Ctrl-C, and SIGTERM on the CLI)
        must stop the workers promptly and propagate; a contender whose main thread sits in a
        foreign call sees no signal there (``implementations/interrupts.py`` shows the way out).
        """

    @abstractmethod
    def digest(self) -> int:
        """After :meth:`handle` returned: the digest of the final state (SPEC §3), outside the window."""

    def handling_threads(self) -> Mapping[int, str] | None:
        """The threads that will handle the events, by OS thread id (``threading.get_native_id()``;
        a worker process's pid is its main thread's id), each with a name for tables. Asked after
        ``open``, outside the window, by the thread that then calls :meth:`run`. The harness reads
        each thread's time on a CPU, runnable and blocked (``harness.threads``) and shows the
        handling threads' together. None (the default): every thread that ran in the window."""
        return None

    def close(self) -> None:  # noqa: B027 - a no-op is right for runs that hold nothing
        """Releases what ``open`` took (threads, native handles). Idempotent."""

    def __enter__(self) -> PreparedRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


MAX_WORKERS = 1024  # the native engine's limit too; more is a typo, not a benchmark


def check_open(
    stream: object, workers: object, info: ContenderInfo | None = None, *, check_records: bool = True
) -> None:
    """What every ``open`` checks first (untimed), so that bad input is a clear error and not
    an ``IndexError`` in a worker, a million threads started, or a digest of garbage.

    The stream is checked again here because an ``EventStream`` can be built without
    :func:`protocol.events.validated_stream`; this costs one vectorised pass over the records.
    A contender that validates the records itself as it prepares (the native engine) passes
    ``check_records=False``. Given the contender's ``info``, a stream of a scenario it does not
    host is refused too (the harness's runner refuses it before ``open``; a caller of ``open``
    itself has only this). Raises ``ValueError`` for a bad argument, :class:`InvalidInput` for
    records that break SPEC §1–2.
    """
    if not isinstance(stream, EventStream):
        raise ValueError(f"stream must be an EventStream (from protocol.events), got {type(stream).__name__}")
    if info is not None and not info.hosts(stream.scenario.name):
        raise ValueError(f"{info.name} {info.not_hosting(stream.scenario.name)}")
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be an integer in 1..{MAX_WORKERS}, got {workers!r}")
    if not isinstance(stream.records, np.ndarray) or stream.records.dtype != stream.scenario.record_dtype:
        raise ValueError(f"stream.records must be a numpy array of the {stream.scenario.name} scenario's record dtype")
    if not isinstance(stream.n_keys, int) or isinstance(stream.n_keys, bool):
        raise ValueError(f"stream.n_keys must be an integer, got {stream.n_keys!r}")
    if check_records:
        validated_stream(stream.n_keys, stream.records, stream.source, stream.scenario)


class Contender(ABC):
    info: ContenderInfo

    @abstractmethod
    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        """Setup for one run of ``stream`` (untimed). Starts with :func:`check_open`."""

    def effective_workers(self, requested: int) -> int:
        return requested if self.info.parallel else 1

    def close(self) -> None:  # noqa: B027 - a no-op is right for contenders that keep nothing
        """Releases what the contender keeps between runs (a native pool's threads). Idempotent."""
