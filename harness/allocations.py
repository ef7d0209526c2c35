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
tracker's own start) is not counted. It reads every record, so it is limited to the
stream's first ``max_events`` events (a prefix of the same byte-identical stream);
wherever that is fewer than the run's events, reports say so beside the figure.

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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.document import AllocationCount
from harness.runner import checked_run
from protocol.contender import Contender
from protocol.events import EventStream

DEFAULT_MAX_EVENTS = 100_000  # all of every built-in but cpu-bound; reading records costs ~1 µs each
WARMUP_EVENTS = 256
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


def _tally(capture: Path) -> tuple[int, int, int, int, int]:
    """Reads a capture: ``(allocations, retained, observer, native_library, outside_global_allocator)``."""
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
    # Few distinct native stacks (tens), so each is symbolised once.
    classes = {
        stack: _StackClass.of(_symbols(record)) if stack != _NO_NATIVE_STACK else _StackClass(False, False, False)
        for stack, record in first_record.items()
    }
    observer = sum(n for s, n in by_stack.items() if classes[s].observer)
    allocations = sum(by_stack.values()) - observer
    retained = sum(1 for s in live.values() if not classes[s].observer)
    in_library = sum(n for s, n in by_stack.items() if classes[s].native_library and not classes[s].observer)
    handles = sum(n for s, n in by_stack.items() if classes[s].outside_global_allocator)
    return allocations, retained, observer, in_library, handles


def _crate_counter() -> int | None:
    """The native library's allocation counter, where the library is loaded."""
    from implementations import native_cffi

    try:
        return native_cffi.alloc_counters()[0]
    except Exception:  # not built, or not loadable: the cross-check is simply absent
        return None


def _tracked_run(
    contender: Contender, stream: EventStream, workers: int, capture: Path, read_crate: bool
) -> int | None:
    """One closed-loop run with the tracker around its window and nothing else (``open`` before
    it, ``close`` after), checked as every run is; returns the crate counter's delta over the
    same window when ``read_crate`` (a native contender) and the library is loaded."""
    from memray import Tracker

    deltas: list[int | None] = []

    @contextmanager
    def tracked() -> Iterator[None]:
        before = _crate_counter() if read_crate else None
        with Tracker(capture, native_traces=True, trace_python_allocators=True):
            yield
        after = _crate_counter() if read_crate else None
        deltas.append(None if before is None or after is None else after - before)

    checked_run(contender, stream, workers=workers, around_window=tracked)
    return deltas[0]


def count_allocations(
    contender: Contender, stream: EventStream, workers: int, max_events: int = DEFAULT_MAX_EVENTS
) -> AllocationCount:
    """Counts the allocations of ``contender`` handling the first ``max_events`` events of ``stream``."""
    if not contender.info.in_process:
        raise CountingUnavailable(
            f"{contender.info.name} handles events in worker processes, and memray's tracker sees this process only"
        )
    try:
        import memray  # noqa: F401
    except ImportError as e:
        raise CountingUnavailable(f"memray is not installed here ({e})") from None
    counted = stream.prefix(max_events)
    uses_library = contender.info.language == "rust"
    with tempfile.TemporaryDirectory(prefix="eventbench-alloc-") as tmp:
        _tracked_run(contender, stream.prefix(WARMUP_EVENTS), workers, Path(tmp) / "warm", uses_library)
        capture = Path(tmp) / "count"
        crate = _tracked_run(contender, counted, workers, capture, uses_library)
        allocations, retained, observer, in_library, handles = _tally(capture)
    return AllocationCount(
        events=counted.n_events,
        allocations=allocations,
        retained=retained,
        observer=observer,
        native_library=in_library,
        outside_global_allocator=handles,
        crate_counter=crate,
        method=METHOD,
    )
