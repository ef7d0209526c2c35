"""Allocations per event: one counting method for every contender, Python and native alike.

**Method.** memray's tracker, with Python's allocators traced and native stacks
captured, watches one ``PreparedRun.run`` call and nothing else: the window of every
other figure (docs/measurement-window.md). What ``open`` prepares (decoding, the per-key
state, pools) and the digest computed after the run are outside it. Every allocation call in that
window is counted: ``malloc``, ``calloc``, ``realloc``, the aligned variants and
``mmap`` from any library (the Rust engine's included, since memray hooks the
allocator entry points of every loaded library), and pymalloc's allocations.
Frees are not allocations and are not counted. The total is every allocation made
while the run handled its events, not just the blocks alive at the end: those are
counted apart, as *retained* blocks: still held when ``run`` returned (the state a
contender keeps, such as a Python contender's new integers for its keys' states, or a leak).

**Why memray.** ``tracemalloc`` sees only Python's allocators, so a native contender
would look free; the crate's own counter sees only Rust's global allocator, so a
Python contender would look free. memray sees both through one hook, which is what
SPEC §5 asks for ("one method for all implementations").

**What is left out, and why.** The observer must not count itself. memray installs
a profile function to know Python stacks, and the interpreter then allocates for
the profiler on every call: a frame object per Python call from 3.11 on, a bound
builtin method per call of a C method, monitoring data on 3.12+. An unobserved run
allocates none of these. They, and memray's own allocations, are recognised by
their native stack (the interpreter's profiler glue between the allocation and the
interpreter loop, or a memray symbol) and reported apart as ``observer``, never in
the figure. ``tests/test_allocations.py`` pins this on handlers whose allocations
are known, on every Python the suite runs on.

**Cost.** Counting runs in its own pass, closed loop (waiting in an open loop would
allocate in proportion to idle time, which is not a cost of handling), after a
short warm-up pass so that lazy one-time setup (cffi's parsing of declarations, the
tracker's own start) is not counted. It covers the whole stream unless told to stop
at ``max_events`` (a prefix of the same byte-identical stream; reports then say so
beside the figure); the command line stops it at :data:`DEFAULT_EVENTS` unless told
otherwise. What it costs is the tracked run: memray unwinds the native stack
of every allocation. The capture it writes (uncompressed, about 4.5 bytes an
allocation record) is read by ``harness.memray_capture``'s native reader in one loop,
some 25 ns a record here against about 2 µs for memray's reader with a Python object
per record (``results/allocations-fast-2026-12-03/``); memray still symbolises the
few distinct stacks. A capture the native reader does not decode (another memray's
format) is read by memray's reader instead, as ``_tally`` always did, and the count's
``method`` says so.

**Contenders with worker processes** (``ContenderInfo.in_process`` false) are not
counted: the tracker follows only forks made while it tracks, and their workers are
started before the window, by a forkserver. Their figure is ``null``, and the CLI says why,
rather than a count of the parent's near-idle allocations that would read as "free".

**Cross-check.** For the native contenders the crate's counting allocator is read
around the same window. memray's allocations whose stack passes through the native
library must equal it, except for blocks the library's code obtains past Rust's
global allocator, which no ``#[global_allocator]`` can see: std allocates each
``Thread`` handle with ``System`` (rust-lang/rust#144465), and glibc allocates its
list of thread-local destructors when std registers one. memray counts those
apart, as ``outside_global_allocator``.
"""

from __future__ import annotations

import itertools
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import memray_capture
from harness.document import AllocationCount
from harness.runner import checked_run
from protocol.contender import Contender
from protocol.events import EventStream

WARMUP_EVENTS = 256
# The pass's default reach: every built-in workload's stream whole at its default size (the longest
# is 200,000 events), and a bound on its cost for a recorded stream of many millions, whose count would say
# no more per event than its first million's.
DEFAULT_EVENTS = 1_000_000
METHOD = "memray (Python allocators traced, native stacks), closed loop, observer's own allocations excluded"


class CountingUnavailable(RuntimeError):
    """memray cannot run here (not installed, or not this platform)."""


# ---------------------------------------------------------------- classifying stacks

# The profiler glue between the interpreter and memray's profile function: what it
# allocates (frame objects from 3.11 on, bound builtin methods for call events, 3.12's
# monitoring data) exists only because a profiler is watching. Looked for in the
# frames between the allocation and the nearest interpreter loop, so an allocation
# made by code that was merely called while profiling is not caught.
_PROFILER_ONLY = ("call_trace", "profile", "instrument")  # frames that do nothing but serve the profiler
# 3.10/3.11: trace_call_function binds a C method for the profiler (PyCMethod_New), then
# makes the real call through it; only the binding is the observer's.
_PROFILER_CALL, _PROFILER_BINDING = "trace_call_function", ("PyCMethod_New", "PyCFunction_New")
_INTERPRETER_LOOP = "_PyEval_EvalFrameDefault"
# Blocks the library's code obtains outside Rust's global allocator: std's Thread
# handles (``System``, rust-lang/rust#144465; v0-mangled ``std::thread::Thread::new``)
# and glibc's list of thread-local destructors, which std registers per thread.
_OUTSIDE_GLOBAL_ALLOCATOR = ("6Thread3new", "__cxa_thread_atexit_impl")
_NO_NATIVE_STACK = 0


def _symbols(record: Any) -> list[str]:
    return [frame[0] or "" for frame in record.native_stack_trace()]


def _is_observer(symbols: list[str]) -> bool:
    if any("memray" in s for s in symbols):  # the tracker's own code, anywhere on the stack
        return True
    innermost = list(itertools.takewhile(lambda s: s != _INTERPRETER_LOOP, symbols))
    if any(marker in s for s in innermost for marker in _PROFILER_ONLY):
        return True
    return any(
        s == _PROFILER_CALL and i > 0 and innermost[i - 1].startswith(_PROFILER_BINDING)
        for i, s in enumerate(innermost)
    )


@dataclass
class _StackClass:
    observer: bool
    native_library: bool
    outside_global_allocator: bool

    @classmethod
    def of(cls, symbols: list[str]) -> _StackClass:
        # The library's frames: its crate's symbols, and its C exports (``evb_*``), into which the
        # compiler inlines std's generic code (a thread's spawn, say) with no crate symbol of its own.
        in_library = any("evb_native" in s or s.startswith("evb_") for s in symbols)
        return cls(
            observer=_is_observer(symbols),
            native_library=in_library,
            outside_global_allocator=in_library
            and bool(symbols)
            and any(marker in symbols[0] for marker in _OUTSIDE_GLOBAL_ALLOCATOR),
        )


# ---------------------------------------------------------------- counting


@dataclass(frozen=True)
class _Tallied:
    """A capture read: by native stack, allocation calls and blocks still alive at the end,
    and one record per nonzero stack for memray to symbolise."""

    by_stack: dict[int, tuple[int, int]]
    records: dict[int, Any]


def _tally_fast(capture: Path, scratch: Path) -> _Tallied:
    """The capture read by the native reader; memray symbolises its skeleton (``harness.memray_capture``)."""
    from memray import FileReader

    tally = memray_capture.read(capture)
    skeleton = scratch / f"{capture.name}.skeleton"
    skeleton.write_bytes(tally.skeleton)
    reader = FileReader(skeleton)
    try:
        records = list(reader.get_allocation_records())
    finally:
        reader.close()
    stacks = [s.stack for s in tally.stacks if s.stack != _NO_NATIVE_STACK]
    if [r.native_stack_id for r in records] != stacks:  # the skeleton's contract, checked where it is used
        # The native reader then misreads this memray's stream: memray's own reader is the authority.
        raise memray_capture.ReaderUnavailable("memray read other stacks from the native reader's skeleton")
    return _Tallied({s.stack: (s.allocations, s.live) for s in tally.stacks}, dict(zip(stacks, records, strict=True)))


def _tally(capture: Path) -> _Tallied:
    """The capture read record by record by memray's own reader: where the native reader cannot be used."""
    from memray import AllocatorType, FileReader

    frees = {AllocatorType.FREE, AllocatorType.MUNMAP, AllocatorType.PYMALLOC_FREE}
    by_stack: Counter[int] = Counter()
    live: dict[int, int] = {}  # address -> native stack id, for blocks allocated in the window
    first_record: dict[int, Any] = {}
    reader = FileReader(capture)
    try:
        for record in reader.get_allocation_records():
            if record.allocator in frees:
                live.pop(record.address, None)
                continue
            stack = record.native_stack_id
            by_stack[stack] += 1
            live[record.address] = stack
            if stack not in first_record:
                first_record[stack] = record
    finally:
        reader.close()
    live_by_stack = Counter(live.values())
    first_record.pop(_NO_NATIVE_STACK, None)
    return _Tallied({s: (n, live_by_stack[s]) for s, n in by_stack.items()}, first_record)


def _classified(tallied: _Tallied) -> tuple[int, int, int, int, int]:
    """``(allocations, retained, observer, native_library, outside_global_allocator)``."""
    # Few distinct native stacks (tens), so each is symbolised once.
    classes = {stack: _StackClass.of(_symbols(record)) for stack, record in tallied.records.items()}
    classes[_NO_NATIVE_STACK] = _StackClass(False, False, False)
    counts = [(classes[s], n, alive) for s, (n, alive) in tallied.by_stack.items()]
    observer = sum(n for c, n, _ in counts if c.observer)
    allocations = sum(n for c, n, _ in counts if not c.observer)
    retained = sum(alive for c, _, alive in counts if not c.observer)
    in_library = sum(n for c, n, _ in counts if c.native_library and not c.observer)
    handles = sum(n for c, n, _ in counts if c.outside_global_allocator)
    return allocations, retained, observer, in_library, handles


def _crate_counter(stream: EventStream) -> int | None:
    """The allocation counter of the stream's scenario library, where it is loaded."""
    from implementations import native_cffi

    try:
        return native_cffi.alloc_counters(native_cffi.library(stream.scenario))[0]
    except Exception:  # not built, or not loadable: the cross-check is simply absent
        return None


def _tracked_run(
    contender: Contender, stream: EventStream, workers: int, capture: Path, read_crate: bool
) -> int | None:
    """One closed-loop run with the tracker around its window and nothing else (``open`` before
    it, ``close`` after), checked as every run is; returns the crate counter's delta over the
    same window when ``read_crate`` (a native contender) and the library is loaded."""
    from memray import FileDestination, Tracker

    deltas: list[int | None] = []

    @contextmanager
    def tracked() -> Iterator[None]:
        before = _crate_counter(stream) if read_crate else None
        # Uncompressed: the native reader decodes memray's stream as written (no lz4 pass at exit either).
        destination = FileDestination(capture, overwrite=True, compress_on_exit=False)
        with Tracker(destination=destination, native_traces=True, trace_python_allocators=True):
            yield
        after = _crate_counter(stream) if read_crate else None
        deltas.append(None if before is None or after is None else after - before)

    checked_run(contender, stream, workers=workers, around_window=tracked)
    return deltas[0]


def _read(capture: Path, scratch: Path) -> tuple[_Tallied, str | None]:
    """The capture read natively, or by memray's reader where the native one cannot (with the reason)."""
    try:
        return _tally_fast(capture, scratch), None
    except memray_capture.ReaderUnavailable as e:
        return _tally(capture), f"capture read record by record by memray's own reader: {e}"
    except memray_capture.CorruptCapture as e:
        raise CountingUnavailable(f"memray's capture could not be read: {e}") from None


def count_allocations(
    contender: Contender,
    stream: EventStream,
    workers: int,
    max_events: int | None = None,
    note: Callable[[str], None] | None = None,
) -> AllocationCount:
    """Counts the allocations of ``contender`` handling ``stream`` (its first ``max_events`` events
    where given); ``note`` is told when the capture had to be read the slow way, and why."""
    if not contender.info.in_process:
        raise CountingUnavailable(
            f"{contender.info.name} handles events in worker processes, and memray's tracker sees this process only"
        )
    try:
        import memray  # noqa: F401
    except ImportError as e:
        raise CountingUnavailable(f"memray is not installed here ({e})") from None
    counted = stream if max_events is None or max_events >= stream.n_events else stream.prefix(max_events)
    uses_library = contender.info.language == "rust"
    with tempfile.TemporaryDirectory(prefix="eventbench-alloc-") as tmp:
        _tracked_run(contender, stream.prefix(WARMUP_EVENTS), workers, Path(tmp) / "warm", uses_library)
        capture = Path(tmp) / "count"
        crate = _tracked_run(contender, counted, workers, capture, uses_library)
        tallied, fallback = _read(capture, Path(tmp))
        allocations, retained, observer, in_library, handles = _classified(tallied)
    if fallback and note:
        note(fallback)
    return AllocationCount(
        events=counted.n_events,
        allocations=allocations,
        retained=retained,
        observer=observer,
        native_library=in_library,
        outside_global_allocator=handles,
        crate_counter=crate,
        method=METHOD if fallback is None else f"{METHOD}; {fallback}",
    )
