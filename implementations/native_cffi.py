"""``native`` and ``native-sequential``: the Rust engine via cffi, for every scenario with a
native library.

A scenario library is a scenario crate on the engine crate (``implementations/native/``),
built by setuptools-rust into a Python package; the scenario names it
(:attr:`protocol.scenario.Scenario.native_library`). Every such library exports the same C ABI
(``include/eventbench.h``), so this one wrapper loads any of them: cffi's ABI mode reads the
header's declarations and constants, and calls the library with the GIL released, once per run
(once per batch for a streaming session). Errors come back as codes and become Python
exceptions in :meth:`Library.call`, the one place that knows the codes.

``$EVENTBENCH_NATIVE_LIB`` points the ``synthetic`` scenario at another build (a
``cargo build --release`` output, say), ``$EVENTBENCH_NATIVE_LIB_<NAME>`` any other.

A contender keeps its engines (their worker threads) and the stream it last validated for the
whole session: ``open`` starts them the first time (setup, untimed) and every later run and
trial of that stream reuses them. A run is cancelled on Ctrl-C or SIGTERM
(``implementations.interrupts``): the engine stops within milliseconds and the interrupt goes
on; a cancelled engine is dropped.
"""

from __future__ import annotations

import contextlib
import functools
import os
import weakref
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from implementations.interrupts import WakeupPipe
from protocol.contender import (
    Contender,
    ContenderError,
    ContenderInfo,
    PreparedRun,
    Unavailable,
    calling_thread,
    check_open,
)
from protocol.errors import InvalidInput
from protocol.events import EventStream
from protocol.scenario import Scenario

LIBRARY_ENV = "EVENTBENCH_NATIVE_LIB"
DEFAULT_BATCH_EVENTS = 1024
MODELS = ("sequential", "pool", "floor")  # the header's EVB_MODEL_SEQUENTIAL, _POOL, _FLOOR


class Cancelled(ContenderError):
    """The run was cancelled (``evb_engine_cancel``) before it handled every event."""


# Every type this module's ffi.new() or from_buffer() names: cffi parses a type's string (pycparser)
# the first time it meets it, so _ffi() parses them all at once, before anything is timed.
C_TYPES = ("char **", "uint32_t *", "uint64_t *", "uint64_t[3]", "evb_stream *", "evb_engine *", "evb_session *",
           "evb_jitter_summary *", "uint8_t[]", "uint64_t[]")  # fmt: skip


@functools.cache
def _ffi() -> Any:
    """One cffi FFI for every library: the header's declarations and constants, and the types of
    :data:`C_TYPES` already parsed."""
    try:
        import cffi
    except ImportError as e:
        raise Unavailable(f"cffi is not installed ({e})") from None
    header = resources.files("implementations").joinpath("native/include/eventbench.h").read_text()
    ffi = cffi.FFI()
    ffi.cdef(header.split("/* cdef-begin */")[1].split("/* cdef-end */")[0])
    for c_type in C_TYPES:
        ffi.typeof(c_type)
    return ffi


def library_env(scenario: str) -> str:
    """The variable that points ``scenario`` at another build of its library."""
    return LIBRARY_ENV if scenario == "synthetic" else f"{LIBRARY_ENV}_{scenario.upper().replace('-', '_')}"


def library_path(scenario: Scenario) -> Path:
    """Where ``scenario``'s native library is; raises :class:`Unavailable` saying why not."""
    override = os.environ.get(library_env(scenario.name))
    if override:
        return Path(override)
    if scenario.native_library is None:
        raise Unavailable(f"scenario {scenario.name} has no native library")
    package, stem = scenario.native_library
    try:
        folder = Path(str(resources.files(package)))
    except ModuleNotFoundError as e:
        raise Unavailable(f"scenario {scenario.name}'s native library: {e}") from None
    built = sorted(folder.glob(f"{stem}*.so")) + sorted(folder.glob(f"{stem}*.dylib"))
    if not built:
        raise Unavailable(
            f"scenario {scenario.name}'s native library was not built into {folder} "
            f"(reinstall with cargo on PATH, or set {library_env(scenario.name)})"
        )
    return built[0]


class Library:
    """One loaded scenario library, checked to be the scenario's (name, version, record size)."""

    def __init__(self, path: Path, scenario: Scenario) -> None:
        self.ffi = _ffi()
        self.u8_array, self.u64_array = self.ffi.typeof("uint8_t[]"), self.ffi.typeof("uint64_t[]")
        self.path = path
        try:
            self.lib = self.ffi.dlopen(str(path))
        except OSError as e:
            raise Unavailable(f"cannot load {path}: {e}") from None
        try:
            name, version, size, abi = (self.ffi.new(t) for t in ("char **", "uint32_t *", "uint32_t *", "uint32_t *"))
            self.call("evb_scenario_info", name, version, size, abi)
        except AttributeError:
            raise Unavailable(f"{path} is not an eventbench scenario library (no evb_scenario_info)") from None
        built = (self.ffi.string(name[0]).decode(), int(version[0]), int(size[0]), int(abi[0]))
        expected = (scenario.name, scenario.version, scenario.record_size, int(self.lib.EVB_ABI_VERSION))
        if built != expected:
            raise Unavailable(
                f"{path} handles {built[0]} version {built[1]} ({built[2]}-byte records, C ABI {built[3]}); "
                f"scenario {scenario.name} needs version {expected[1]} "
                f"({expected[2]}-byte records, C ABI {expected[3]})"
            )
        self.scenario = scenario
        # cffi finds an export the first time it is named: all of them now, so that none of that
        # falls in a timed run or repeat.
        for export in dir(self.lib):
            with contextlib.suppress(AttributeError):  # an export this build lacks fails where it is called
                getattr(self.lib, export)

    def call(self, export: str, *args: Any, contender: str = "native") -> None:
        """Calls one export; turns a failure code and its message into an exception (a failed
        run's message starts with the ``contender``'s name)."""
        lib = self.lib
        code = getattr(lib, export)(*args)
        if code == lib.EVB_OK:
            return
        message = self.ffi.string(lib.evb_last_error_message()).decode("utf-8", "replace")
        if code == lib.EVB_ERR_INVALID_STREAM:
            where, _, rule = message.partition(": ")
            raise InvalidInput("native engine", where, rule)
        if code in (lib.EVB_ERR_ARGUMENT, lib.EVB_ERR_HANDLE):
            raise ValueError(message)
        if code == lib.EVB_ERR_CANCELLED:
            raise Cancelled(f"{contender}: {message}")
        if code in (lib.EVB_ERR_HANDLER, lib.EVB_ERR_RESOURCE):
            raise ContenderError(f"{contender}: {message}")
        raise ContenderError(f"{contender}: internal error (code {code}): {message}")

    def records(self, records: np.ndarray | bytes | bytearray | memoryview) -> Any:
        return self.ffi.from_buffer(self.u8_array, records)

    def done(self, done_ns: np.ndarray, name: str = "done_ns") -> Any:
        if done_ns.dtype != np.uint64 or not done_ns.flags.c_contiguous:
            raise ValueError(f"{name} must be a C-contiguous uint64 array")
        return self.ffi.from_buffer(self.u64_array, done_ns, require_writable=True)


@functools.cache
def _loaded(path: str, scenario: Scenario) -> Library:
    return Library(Path(path), scenario)


def library(scenario: Scenario) -> Library:
    """``scenario``'s library, loaded once per process; raises :class:`Unavailable` saying why not."""
    return _loaded(str(library_path(scenario)), scenario)


def load() -> Library:
    """The ``synthetic`` scenario's library (the jitter probe's, and the floor's default)."""
    from scenarios import SYNTHETIC

    return library(SYNTHETIC)


class _Handle:
    """A stream, engine or session handle: freed once, by ``free()`` or when collected.

    Collection frees too, so a session dropped without ``free()`` stops its workers
    before the ``done_ns`` it writes into can be released with it.
    """

    _free_export = ""  # the evb_*_free function for this kind of handle
    _kind = ""

    def __init__(self, library: Library, handle: int) -> None:
        self.library = library
        self._handle: int | None = handle

    def _require(self) -> int:
        if self._handle is None:
            raise ValueError(f"the {self._kind} was freed")
        return self._handle

    def free(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            self.library.call(self._free_export, handle)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit the library may be gone
            self.free()


class StreamHandle(_Handle):
    """Records validated once by the engine, which borrows them: this object holds the buffer
    (a memory-mapped file's pages, say) for as long as the engine may read it."""

    _free_export, _kind = "evb_stream_free", "stream"

    def __init__(self, library: Library, records: np.ndarray | bytes, n_keys: int) -> None:
        self._buffer = library.records(records)  # keeps `records` alive and unmoved
        out = library.ffi.new("evb_stream *")
        library.call("evb_stream_new", self._buffer, len(self._buffer), n_keys, out)
        super().__init__(library, out[0])
        self.n_events = len(self._buffer) // library.scenario.record_size


def _threads() -> set[int]:
    """This process's threads by id; none where /proc does not list them."""
    try:
        return {int(tid) for tid in os.listdir("/proc/self/task")}
    except OSError:
        return set()


def _worker_name(tid: int, w: int) -> str:
    """A pool worker's name as the kernel has it (``evb-worker-N``), or as it will: a thread names
    itself once it runs, and until then has its parent's name; the ``w``-th started has the
    ``w``-th lowest id (ids grow, but for a wrap at pid_max). Any other name is kept as it is."""
    try:
        with open(f"/proc/self/task/{tid}/comm") as f:
            name = f.read().strip()
        with open("/proc/self/comm") as f:
            parent = f.read().strip()
    except OSError:
        return f"thread {tid}"
    return f"evb-worker-{w}" if name == parent else name


class Engine(_Handle):
    """One engine handle: ``prepare`` (setup), ``run`` (the timed window, once per prepare),
    ``digest`` (after it), ``release`` (drops the run); ``cancel`` stops a run, from any thread.
    A pool's workers start here and serve every run until :meth:`free`."""

    _free_export, _kind = "evb_engine_free", "engine"

    def __init__(
        self,
        model: str,
        workers: int,
        contender: str = "native",
        library: Library | None = None,
    ) -> None:
        """``model``: ``sequential``, ``pool`` or ``floor`` (the header's ``EVB_MODEL_*``);
        ``library``: the scenario's (default: ``synthetic``'s)."""
        library = library or load()
        if model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
        out = library.ffi.new("evb_engine *")
        code = getattr(library.lib, f"EVB_MODEL_{model.upper()}")
        earlier = _threads()
        library.call("evb_engine_new", code, workers, out)
        super().__init__(library, out[0])
        # The pool's worker threads (none for the other models), for the harness's per-thread times:
        # started by the call (a thread names itself once it runs, so they are told by id).
        self.threads = sorted(_threads() - earlier)
        self.contender = contender
        self.workers = workers
        self._prepared: StreamHandle | None = None  # the engine reads its buffer

    def prepare(self, stream: StreamHandle) -> None:
        """Fresh state for one run of ``stream`` (validated when the handle was made)."""
        self.library.call("evb_engine_prepare", self._require(), stream._require())
        self._prepared = stream

    def release(self) -> None:
        """Drops the prepared run: its state, and the engine's hold on its stream (the workers stay)."""
        self.library.call("evb_engine_release", self._require())
        self._prepared = None

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool, start_ns: np.ndarray | None = None) -> None:
        """Handles the prepared stream, writing ``done_ns`` and, given it, ``start_ns``: nothing else."""
        done = self.library.done(done_ns)
        if start_ns is None:
            start = self.library.ffi.NULL  # the engine records no starts
        elif len(start_ns) != len(done_ns) or start_ns.dtype != done_ns.dtype:  # done() checked done_ns
            raise ValueError(f"start_ns must be a uint64 array of {len(done_ns)} slots, like done_ns")
        else:  # no more checks than these: every allocation here is one more in the window's count
            start = self.library.ffi.from_buffer(self.library.u64_array, start_ns, require_writable=True)
        self.library.call("evb_engine_run", self._require(), done, len(done_ns), start, t0_ns, int(open_loop),
                          contender=self.contender)  # fmt: skip

    def digest(self) -> int:
        out = self.library.ffi.new("uint64_t *")
        self.library.call("evb_engine_digest", self._require(), out)
        return int(out[0])

    def run_stream(
        self, records: np.ndarray | bytes, n_keys: int, done_ns: np.ndarray, t0_ns: int, open_loop: bool
    ) -> int:
        """Validates ``records``, prepares, runs and digests in one call, for tools that need no
        window; returns the digest."""
        stream = StreamHandle(self.library, records, n_keys)
        try:
            self.prepare(stream)
            self.run(done_ns, t0_ns, open_loop)
            return self.digest()
        finally:
            stream.free()

    def cancel(self) -> None:
        """Stops the run in progress (from any thread); the engine stays cancelled. No-op once freed."""
        if self._handle is not None:
            self.library.call("evb_engine_cancel", self._handle)

    def watch_signals(self, wakeup_fd: int, forward_fd: int = -1) -> None:
        """SIGINT or SIGTERM written to ``wakeup_fd`` cancels the run; bytes go on to ``forward_fd``.

        ``wakeup_fd`` is :func:`implementations.interrupts.signal_pipe`'s read end (one per
        loaded library, for good); ``-1`` stops watching this engine (a no-op once it is freed:
        freeing it stopped the watching).
        """
        if wakeup_fd < 0 and self._handle is None:
            return
        self.library.call("evb_engine_watch_signals", self._require(), wakeup_fd, forward_fd)

    def signals(self) -> WakeupPipe:
        """Ctrl-C and SIGTERM cancel this engine's runs while the returned pipe is open."""
        return WakeupPipe(str(self.library.path), self.watch_signals, lambda: self.watch_signals(-1))


class StreamingSession(_Handle):
    """A running pool fed batch by batch: ``submit(records)`` as often as needed, then ``close()``.

    ``done_ns`` is held here until :meth:`free`, so the engine never writes into freed memory.
    """

    _free_export, _kind = "evb_session_free", "session"

    def __init__(
        self,
        n_keys: int,
        workers: int,
        done_ns: np.ndarray,
        batch_events: int = DEFAULT_BATCH_EVENTS,
        library: Library | None = None,
    ) -> None:
        library = library or load()
        self._done_array = done_ns
        self._done = library.done(done_ns)
        out = library.ffi.new("evb_session *")
        library.call("evb_session_open", n_keys, workers, batch_events, self._done, len(done_ns), out)
        super().__init__(library, out[0])

    def submit(self, records: np.ndarray | bytes) -> None:
        data = self.library.records(records)
        self.library.call("evb_session_submit", self._require(), data, len(data))

    def close(self) -> int:
        digest = self.library.ffi.new("uint64_t *")
        self.library.call("evb_session_close", self._require(), digest)
        return int(digest[0])

    def __enter__(self) -> StreamingSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()


def alloc_counters(library: Library | None = None) -> tuple[int, int, int]:
    """``(allocations, deallocations, bytes)`` made by a native library since it was loaded."""
    library = library or load()
    out = library.ffi.new("uint64_t[3]")
    library.call("evb_alloc_counters", out, out + 1, out + 2)
    return int(out[0]), int(out[1]), int(out[2])


def validate_file(data: bytes, library: Library | None = None) -> tuple[int, int]:
    """The engine's own check of a whole event file image: ``(n_keys, n_events)``."""
    library = library or load()
    n_keys, n_events = library.ffi.new("uint32_t *"), library.ffi.new("uint64_t *")
    library.call("evb_validate_file", library.records(data), len(data), n_keys, n_events)
    return int(n_keys[0]), int(n_events[0])


@dataclass(frozen=True)
class JitterSummary:
    """What the jitter probe saw: gaps between consecutive reads of CLOCK_MONOTONIC by a thread
    that did nothing else. Percentiles within 0.1 % (HdrHistogram, 3 digits); counts exact."""

    reads: int
    duration_ns: int
    p50_ns: int
    p90_ns: int
    p99_ns: int
    p999_ns: int
    max_ns: int
    over_10us: int  # gaps longer than 10 µs
    over_100us: int
    over_1ms: int


def jitter_probe(duration_s: float) -> JitterSummary:
    """Reads the clock in a tight loop on a thread of the native library for ``duration_s`` (up to
    an hour) and summarises the gaps: what the platform alone does to any latency, as
    ``cyclictest`` measures it. Ctrl-C and SIGTERM stop it (the interrupt goes on)."""
    duration_ns = min(max(0, round(duration_s * 1e9)), 2**64 - 1)  # out of range: the engine says why
    library = load()
    engine = Engine("floor", 1, contender="jitter probe", library=library)
    signals = engine.signals()
    try:
        out = library.ffi.new("evb_jitter_summary *")
        library.call("evb_jitter_probe", engine._require(), duration_ns, out, contender="jitter probe")
        fields = JitterSummary.__dataclass_fields__
        return JitterSummary(**{name: int(getattr(out, name)) for name in fields})
    finally:
        signals.close()
        engine.free()


class NativeRun(PreparedRun):
    """One run on an engine the contender keeps; Ctrl-C or SIGTERM during it cancels the engine
    (see the module doc), and the contender drops a cancelled engine."""

    def __init__(self, engine: Engine, stream: StreamHandle, owner: _NativeContender) -> None:
        self.engine = engine
        self.owner = owner  # keeps the contender, which frees its engines when collected, alive
        self.cancelled = False
        engine.prepare(stream)  # fresh state: setup
        # Started here, before the clock: Ctrl-C and SIGTERM cancel the run.
        self.signals = engine.signals()

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool, start_ns: np.ndarray | None = None) -> None:
        try:
            self.engine.run(done_ns, t0_ns, open_loop, start_ns)
        except BaseException as e:
            # Cancelled, or interrupted: Ctrl-C raises KeyboardInterrupt as the call returns, before
            # Cancelled could be. Either way the engine stays cancelled, so close() drops it.
            self.cancelled = isinstance(e, Cancelled) or not isinstance(e, Exception)
            raise

    def handling_threads(self) -> dict[int, str]:
        """The pool's workers; a sequential engine handles on the calling thread."""
        return {tid: _worker_name(tid, w) for w, tid in enumerate(self.engine.threads)} or calling_thread()

    def digest(self) -> int:
        return self.engine.digest()

    def close(self) -> None:
        """The engine waits for the next run without this one's state (a cancelled one is dropped)."""
        self.signals.close()
        if self.cancelled:
            self.owner._sessions.discard(self.engine)
        else:
            self.engine.release()


class _Sessions:
    """What a native contender keeps between runs: its engines, by library and worker count,
    and the stream it last validated (one at a time: a stream's handle holds its buffer)."""

    def __init__(self) -> None:
        self.engines: dict[tuple[str, int], Engine] = {}
        self.stream: tuple[weakref.ref[EventStream], StreamHandle] | None = None

    def engine(self, library: Library, model: str, workers: int, contender: str) -> Engine:
        key = (str(library.path), workers)
        if key not in self.engines:
            self.engines[key] = Engine(model, workers, contender=contender, library=library)
        return self.engines[key]

    def stream_handle(self, library: Library, stream: EventStream) -> StreamHandle:
        if self.stream is not None:
            kept, handle = self.stream
            if kept() is stream and handle.library is library:
                return handle
            self.stream = None
            handle.free()  # a prepared engine keeps its own hold on the stream until released or re-prepared
        handle = StreamHandle(library, stream.records, stream.n_keys)
        self.stream = (weakref.ref(stream), handle)
        return handle

    def discard(self, engine: Engine) -> None:
        for key, kept in list(self.engines.items()):
            if kept is engine:
                del self.engines[key]
        engine.free()

    def close(self) -> None:
        for engine in self.engines.values():
            engine.free()
        self.engines.clear()
        if self.stream is not None:
            self.stream[1].free()
            self.stream = None


def native_scenarios() -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The scenarios that declare a native library: those whose library loads (the engine hosts
    them), and those whose library does not, each with why."""
    import scenarios

    hosted, cannot = [], []
    for r in scenarios.registry():
        if r.scenario is None or r.scenario.native_library is None:
            continue
        try:
            library(r.scenario)
        except Unavailable as e:
            cannot.append((r.name, str(e)))
        except Exception as e:  # a plugin's broken declaration must not break every command
            cannot.append((r.name, f"its native library could not be loaded: {type(e).__name__}: {e}"))
        else:
            hosted.append(r.name)
    return tuple(hosted), tuple(cannot)


def hosting() -> dict[str, Any]:
    """``ContenderInfo``'s ``scenarios`` and ``cannot_host`` for a contender on the engine."""
    hosted, cannot = native_scenarios()
    return {"scenarios": hosted, "cannot_host": cannot}


class _NativeContender(Contender):
    """A contender on the engine: one model, every scenario with a native library."""

    model = ""  # one of MODELS

    def __init__(self, info: ContenderInfo) -> None:
        load()  # Unavailable, with the reason, where the engine did not build
        self.info = info
        self._sessions = _Sessions()
        weakref.finalize(self, self._sessions.close)

    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        check_open(stream, workers, self.info, check_records=False)  # the engine validates the records
        loaded = library(stream.scenario)
        engine = self._sessions.engine(loaded, self.model, workers, self.info.name)
        handle = self._sessions.stream_handle(loaded, stream)
        return NativeRun(engine, handle, self)

    def close(self) -> None:
        """Stops the workers and lets go of the stream (also done when the contender is collected)."""
        self._sessions.close()


class Native(_NativeContender):
    """``native``: the engine's pool."""

    model = "pool"

    def __init__(self) -> None:
        info = ContenderInfo(
            name="native",
            language="rust",
            model="native",
            parallel=True,
            description="Rust pool via cffi: each worker reads the stream for its own keys, shared state atomic",
            records_start=True,
            **hosting(),
        )
        super().__init__(info)


class NativeSequential(_NativeContender):
    """``native-sequential``: the same handlers on the calling thread."""

    model = "sequential"

    def __init__(self) -> None:
        info = ContenderInfo(
            name="native-sequential",
            language="rust",
            model="native",
            parallel=False,
            description="the Rust engine's handlers on one thread: the language without parallelism",
            records_start=True,
            **hosting(),
        )
        super().__init__(info)


class NativeFloor(_NativeContender):
    """The engine's floor (``EVB_MODEL_FLOOR``): paces and writes ``done_ns``, handling nothing;
    ``implementations.floors.FloorNative`` presents it."""

    model = "floor"
