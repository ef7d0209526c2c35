"""``processes``: worker processes, keys sharded to them, everything shared through memory.

Python threads share one GIL; processes each have their own, so CPU-bound handlers run in
parallel. What usually eats that gain is moving events between processes (pickling each
one through a queue), so nothing here moves per event:

* ``open`` copies the stream's records once into shared memory (``SharedMemory``); every
  worker maps them and picks its own events, those of its keys (``key % workers``), in
  ``seq`` order, so per-key order holds with no dispatcher at all. In an open loop each
  worker paces itself on the shared arrival times.
* ``done_ns`` and ``start_ns`` are shared arrays: each worker writes its events' slots, one
  store each per event. A worker's start of an event is the clock read that ended its pacing
  wait, or its previous event's completion when the event was already due (no second clock
  read); so its waiting is the time its worker was busy with earlier events.
* Each worker runs the scenario's handler over its own keys and its own copy of the shared
  state, with nothing to guard (one thread). It makes every key's state (``new_keys(n_keys)``)
  though it touches its own keys only, so memory is workers times the keys' state: about
  265 MiB a worker for synthetic's limit of 2^24 keys (a known cost, kept for a handler
  model without a key map). After the run, when the parent asks for the
  digest (outside the measured window), each worker sends its keys' state (a key has one
  owner) and its partial shared state through its pipe; the scenario merges them (for
  ``synthetic``, the partial sums of ``G`` added modulo 2^64, which the SPEC allows since
  addition commutes; for the order book, positions and cash likewise) and the parent
  computes the digest.

Two messages per worker per run cross a pipe: "go" with ``t0``, and "done" (or the first
failed event) back; then "state" and the worker's state, for the digest.

**Start-up is setup, not handling.** Starting the workers (each forked from a server that
has imported numpy, then mapping the memory, decoding its events and making its keys'
state) happens in ``open``,
which the harness times apart and reports as ``setup_s``. Workers come from a
``forkserver`` (``spawn`` where there is none), never from ``fork()`` of this process,
which may hold threads (the native engine's signal watcher, memray's) that a forked child
would inherit in an unknown state.

**Stopping.** Workers ignore SIGINT: a Ctrl-C reaches the whole process group, and the
parent decides. It sets a shared cancel flag, which every worker reads before each event
and while it waits (in slices of at most 10 ms), then joins them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import multiprocessing.util
import os
import signal
import time
from collections.abc import Sequence
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np

import scenarios
from implementations import faults
from implementations.handling import no_guard
from protocol.contender import Contender, ContenderError, ContenderInfo, PreparedRun, check_open, handler_failed
from protocol.errors import InvalidInput
from protocol.events import EventStream
from protocol.scenario import Scenario

_clock = time.monotonic_ns
_WAIT_SLICE_NS = 10_000_000  # a waiting worker looks at the cancel flag this often
_START_TIMEOUT_S = 120.0  # a worker that has not started by then will not (16 imports of numpy on 2 cores: ~5 s)
_JOIN_TIMEOUT_S = 5.0
_POLL_EVERY = 1024  # events between two looks at the pipe in a run that never waits (closed loop)
MAX_PROCESS_WORKERS = 256  # two pipe ends each, in a process whose open files are limited (often 1,024)
_SHM = "/dev/shm"


class _SharedResults:
    """The memory workers write into, laid out as uint64 words: ``done_ns[n] | start_ns[n] | cancel[1]``."""

    def __init__(self, buffer: Any, n: int) -> None:
        words = np.ndarray((2 * n + 1,), dtype=np.uint64, buffer=buffer)
        self.done_ns = words[:n]
        self.start_ns = words[n : 2 * n]
        self.cancel = words[-1:]

    @staticmethod
    def size(n: int) -> int:
        return 8 * (2 * n + 1)


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" not in methods:
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    # The server imports this module (numpy, the handlers) once; each worker is a fork of it.
    # Only has an effect before the server first starts, which is all it needs.
    ctx.set_forkserver_preload([__name__])
    return ctx


# ---------------------------------------------------------------- the worker process


def _wait_until(deadline_ns: int, cancel: memoryview, conn: Any) -> int:
    """Sleeps until ``deadline_ns``; returns the clock read that ended the wait (the start of
    handling), or 0 if the run was cancelled meanwhile, or if the parent
    is gone. Killed outright, it cannot cancel; its end of the pipe closing is what shows
    (``poll`` sees the end of file). The parent's pid would not: a forkserver's child has the
    server as its parent, which lives as long as any of its children does."""
    while (now := _clock()) < deadline_ns:
        if cancel[0] or conn.poll():
            return 0
        time.sleep(min(deadline_ns - now, _WAIT_SLICE_NS) / 1e9)
    return now


class _Own:
    """One worker's part, made before the clock: its events (those of keys ``key % workers == w``)
    in ``seq`` order, decoded for the scenario's handler, and its own copy of every key's state
    and of the shared state (it touches only its keys)."""

    def __init__(self, scenario: Scenario, records: np.ndarray, n_keys: int, workers: int, w: int, fault_at: int):
        self.semantics = semantics = scenario.python
        mine = np.flatnonzero(records["key"] % workers == w)
        picked = records[mine]
        self.index: list[int] = mine.tolist()
        self.arrival_ns: list[int] = picked["arrival_ns"].tolist()
        self.owned = range(w, n_keys, workers)
        self.keys = semantics.new_keys(n_keys)
        self.shared = semantics.new_shared()
        handler = semantics.bind(semantics.columns(picked), self.keys, self.shared, no_guard)
        self.handler = faults.wrapped(handler, "processes", fault_at, self.index)

    def state(self) -> tuple[Any, Any]:
        return self.semantics.keys_part(self.keys, self.owned), self.shared


class _Cancelled(BaseException):  # not an Exception: a handler's `except Exception` must not stop it
    """The parent set the cancel flag, or is gone."""


class _HandlerFailed(Exception):
    def __init__(self, index: int, error: str) -> None:
        super().__init__(index, error)
        self.index, self.error = index, error


def _handle_own_events(own: _Own, out: _SharedResults, t0_ns: int, open_loop: bool, conn: Any) -> None:
    """Handles this worker's events. Raises :class:`_Cancelled` or :class:`_HandlerFailed`."""
    handler, index, arrival_ns = own.handler, own.index, own.arrival_ns
    # memoryviews: a store or load through one costs a fraction of numpy's per-element call
    done, cancel = memoryview(out.done_ns).cast("B").cast("Q"), memoryview(out.cancel).cast("B").cast("Q")
    start = memoryview(out.start_ns).cast("B").cast("Q")
    now = _clock()
    try:
        for j, i in enumerate(index):
            if cancel[0]:
                raise _Cancelled
            if open_loop and now < (due := t0_ns + arrival_ns[j]) and not (now := _wait_until(due, cancel, conn)):
                raise _Cancelled
            if not j % _POLL_EVERY and conn.poll():  # the parent is gone (or stopping us)
                raise _Cancelled
            try:
                start[i] = now
                wait_us = handler(j)
                if wait_us and not _wait_until(_clock() + wait_us * 1000, cancel, conn):
                    raise _Cancelled
                done[i] = now = _clock()
            except Exception as e:
                raise _HandlerFailed(i, repr(e)) from e
    finally:
        done.release()
        start.release()
        cancel.release()


def _worker_main(
    conn: Any, w: int, workers: int, scenario_name: str, stream_name: str, results_name: str, n: int, n_keys: int,
    fault_at: int,
) -> None:  # fmt: skip
    # The parent stops us through the cancel flag: a Ctrl-C, or a SIGTERM to the process group
    # (timeout, systemd, docker stop), must reach it alone, so that it reports an interrupt and
    # not a dead worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    segments: list[SharedMemory] = []
    records = out = None
    try:
        try:
            scenario = scenarios.get(scenario_name)
            segments.extend(SharedMemory(name=name) for name in (stream_name, results_name))
            records = np.ndarray((n,), dtype=scenario.record_dtype, buffer=segments[0].buf)
            out = _SharedResults(segments[1].buf, n)
            own = _Own(scenario, records, n_keys, workers, w, fault_at)
        except Exception as e:  # the parent says why in one line (a traceback here would be lost)
            conn.send(("error", repr(e)))
            return
        conn.send(("ready",))
        message = conn.recv()
        if message[0] != "go":
            return
        _, t0_ns, open_loop = message
        try:
            _handle_own_events(own, out, t0_ns, open_loop, conn)
        except _Cancelled:
            conn.send(("cancelled",))
        except _HandlerFailed as failure:
            conn.send(("failed", failure.index, failure.error))
        else:
            conn.send(("done",))
        # Lives until the parent closes the prepared run: the harness reads our CPU time first, then
        # the parent may ask for our state, for the digest.
        if conn.recv()[0] == "state":
            conn.send(("state", *own.state()))
            conn.recv()
    except (EOFError, OSError):
        pass  # the parent has gone (end of file, broken pipe, reset): nothing to report to
    finally:
        del records, out
        for segment in segments:
            segment.close()


# ---------------------------------------------------------------- the parent's side


def _check_room(needed: int) -> None:
    """Creating a segment does not reserve its pages: writing past what /dev/shm holds (64 MiB in
    a default container) is a SIGBUS that kills the process. Refuse first, and say why."""
    try:
        room = os.statvfs(_SHM)
    except OSError:
        return  # no /dev/shm to look at (not Linux): the platform's own limits apply
    free = room.f_bavail * room.f_frsize
    if needed > free:
        raise ContenderError(
            f"processes: the run needs {needed / 2**20:.1f} MiB of shared memory and {_SHM} has "
            f"{free / 2**20:.1f} MiB free (in a container, raise it: docker run --shm-size)"
        )


class ProcessesRun(PreparedRun):
    def __init__(self, stream: EventStream, workers: int) -> None:
        self.n, self.n_keys, self.workers = stream.n_events, stream.n_keys, workers
        self.scenario = stream.scenario
        self.used = False
        self.processes: list[Any] = []
        self.conns: list[Any] = []
        self.out: _SharedResults | None = None
        self.segments: list[SharedMemory] = []
        # A prepared run that is never closed (the Python API, a Ctrl-C between open() and `with`) is
        # released when it is collected, or at exit before multiprocessing's own exit hook: that
        # hook sends SIGTERM, which the workers ignore, then joins them with no timeout.
        self._finalizer = multiprocessing.util.Finalize(
            self, _release, args=(self.processes, self.conns, self.segments), exitpriority=10
        )
        try:
            sizes = (max(1, stream.records.nbytes), _SharedResults.size(self.n))
            _check_room(sum(sizes))
            for size in sizes:
                self.segments.append(SharedMemory(create=True, size=size))
            stream_shm, results_shm = self.segments
            np.ndarray((self.n,), dtype=self.scenario.record_dtype, buffer=stream_shm.buf)[:] = stream.records
            self.out = _SharedResults(results_shm.buf, self.n)
            self.out.cancel[0] = 0
            self._start_workers(stream_shm.name, results_shm.name)
        except BaseException:
            self.close()
            raise

    def _start_workers(self, stream_name: str, results_name: str) -> None:
        ctx = _context()
        for w in range(self.workers):
            parent_end, child_end = ctx.Pipe()
            # Everything a worker needs comes as arguments: a forkserver's child inherits the
            # environment the server started with, not this process's (the fault switch's, say).
            args = (child_end, w, self.workers, self.scenario.name, stream_name, results_name, self.n, self.n_keys,
                    faults.armed_at("processes"))  # fmt: skip
            process = ctx.Process(target=_worker_main, args=args, name=f"eventbench-worker-{w}", daemon=True)
            process.start()
            child_end.close()
            self.processes.append(process)
            self.conns.append(parent_end)
        for w, reply in self._replies(self.conns, _START_TIMEOUT_S):
            if reply != ("ready",):
                raise ContenderError(f"processes: worker {w} did not start: {self._ended(w, reply)}")

    def _replies(self, conns: Sequence[Any], timeout_s: float | None) -> Any:
        """Yields ``(worker, message)`` as each of ``conns`` answers; ``None`` for one that died."""
        pending = {conn: self.conns.index(conn) for conn in conns}
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while pending:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready: list[Any] = multiprocessing.connection.wait(list(pending), timeout=left)
            if not ready:
                raise ContenderError(f"processes: {len(pending)} worker(s) did not answer within {timeout_s:.0f} s")
            for conn in ready:
                w = pending.pop(conn)
                try:
                    yield w, conn.recv()
                except (EOFError, OSError):
                    yield w, None

    def _ended(self, w: int, reply: object) -> str:
        if isinstance(reply, tuple) and len(reply) == 2 and reply[0] == "error":
            return str(reply[1])
        if reply is not None:
            return f"unexpected reply {reply!r}"
        process = self.processes[w]
        process.join(_JOIN_TIMEOUT_S)
        return f"the worker process exited (code {process.exitcode})"

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool, start_ns: np.ndarray | None = None) -> None:
        out = self.out
        if out is None or self.used:
            raise ContenderError("processes: a prepared run runs once; open another")
        failures: list[tuple[int, str]] = []
        try:
            started = []
            for w, conn in enumerate(self.conns):
                try:
                    conn.send(("go", t0_ns, open_loop))
                    started.append(conn)
                except OSError:  # it died after it was ready
                    out.cancel[0] = 1
                    failures.append((-1, f"worker {w}: {self._ended(w, None)}"))
            for w, reply in self._replies(started, None):
                if reply in (("done",), ("cancelled",)):  # cancelled: after another's failure
                    continue
                out.cancel[0] = 1  # the first failure stops every other worker now
                if reply is not None and reply[0] == "failed":
                    failures.append((reply[1], reply[2]))
                else:
                    failures.append((-1, f"worker {w}: {self._ended(w, reply)}"))
        except BaseException:
            out.cancel[0] = 1  # Ctrl-C, say: stop promptly
            self.close()
            raise
        if failures:
            self.close()
            index, error = min(failures, key=lambda f: (f[0] < 0, f[0]))
            if index < 0:
                raise ContenderError(f"processes: {error}")
            raise handler_failed("processes", index, error)
        done_ns[:] = out.done_ns  # one copy of n words (about 1 ns an event): the tail of the window
        if start_ns is not None:
            start_ns[:] = out.start_ns  # likewise
        self.used = True

    def handling_threads(self) -> dict[int, str]:
        """Each worker process handles on its main thread, whose id is the process's pid."""
        return {p.pid: p.name for p in self.processes if p.pid is not None}

    def digest(self) -> int:
        """Asks every worker for its share of the state, then computes the digest (after the window)."""
        out = self.out
        if out is None or not self.used:
            raise ContenderError("processes: no digest before a completed run")
        for conn in self.conns:
            conn.send(("state",))
        parts, shared = [], []
        for w, reply in self._replies(self.conns, _START_TIMEOUT_S):
            if not (isinstance(reply, tuple) and len(reply) == 3 and reply[0] == "state"):
                raise ContenderError(f"processes: worker {w} did not give its state: {self._ended(w, reply)}")
            parts.append((range(w, self.n_keys, self.workers), reply[1]))
            shared.append(reply[2])
        semantics = self.scenario.python
        keys, total = semantics.merge(self.n_keys, parts, shared)
        return semantics.digest(self.n, keys, total)

    def close(self) -> None:
        """Stops and joins the workers, then frees the shared memory. Idempotent."""
        if self.out is not None:
            self.out.cancel[0] = 1
        self.out = None  # drops the views into the memory before it is closed
        self._finalizer()


def _release(processes: list[Any], conns: list[Any], segments: list[SharedMemory]) -> None:
    """Stops and joins the workers, closes their pipes and removes the shared memory; empties the
    lists. The memory is removed even if this is interrupted (a second Ctrl-C while joining)."""
    try:
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.send(("stop",))  # a worker waiting for "go", or for the parent to be done
        for process in processes:
            process.join(_JOIN_TIMEOUT_S)
            if process.exitcode is None:
                process.kill()  # stuck (cannot happen short of a bug): not left behind; it ignores SIGTERM
                process.join()
        for conn in conns:
            conn.close()
        processes.clear()
        conns.clear()
    finally:
        while segments:
            segment = segments.pop()
            segment.unlink()
            with contextlib.suppress(BufferError):  # a view still open (a prepared run never closed, at exit)
                segment.close()


class Processes(Contender):
    info = ContenderInfo(
        name="processes",
        language="python",
        model="processes",
        parallel=True,
        description="Python worker processes, keys sharded to them, stream and done_ns in shared memory, any scenario",
        in_process=False,
        scenarios=None,
        records_start=True,
    )

    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        check_open(stream, workers, self.info)
        if workers > MAX_PROCESS_WORKERS:
            raise InvalidInput("processes", "workers", f"at most {MAX_PROCESS_WORKERS} worker processes, got {workers}")
        try:  # a worker finds the scenario by its name, in the registry: an unregistered one has none
            registered = scenarios.get(stream.scenario.name) is stream.scenario
        except KeyError:
            registered = False
        if not registered:
            raise ContenderError(
                f"processes: scenario {stream.scenario.name} is not the registered scenario of that name "
                "(a worker process finds it through the registry: register it with an entry point)"
            )
        return ProcessesRun(stream, workers)
