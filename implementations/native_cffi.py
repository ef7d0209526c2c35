"""``native`` and ``native-sequential``: the Rust engine (``implementations/native/``) via cffi.

The library is the crate built by setuptools-rust into this package
(``_evb_native*.so``); ``$EVENTBENCH_NATIVE_LIB`` points elsewhere (a
``cargo build --release`` output, say). cffi's ABI mode reads the checked-in
header and calls the library with the GIL released: one call per run, and one
per batch for a streaming session. Errors come back as codes and become Python
exceptions here (:func:`rustcall`), the one place that knows the codes.

A run is cancelled on Ctrl-C or SIGTERM (``implementations.interrupts``): the
engine stops within milliseconds, its workers joined, and the interrupt goes on.
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from implementations.interrupts import WakeupPipe
from protocol.contender import Contender, ContenderError, ContenderInfo, PreparedRun, Unavailable, check_open
from protocol.errors import InvalidInput
from protocol.events import EventStream

LIBRARY_ENV = "EVENTBENCH_NATIVE_LIB"
DEFAULT_BATCH_EVENTS = 1024
MODEL_SEQUENTIAL, MODEL_POOL, MODEL_FLOOR = 0, 1, 2
_OK, _ARGUMENT, _INVALID_STREAM, _HANDLE, _HANDLER, _PANIC, _RESOURCE, _CANCELLED = range(8)


class Cancelled(ContenderError):
    """The run was cancelled (``evb_engine_cancel``) before it handled every event."""


def _header_declarations() -> str:
    header = resources.files("implementations").joinpath("native/include/eventbench.h").read_text()
    return header.split("/* cdef-begin */")[1].split("/* cdef-end */")[0]


def _library_path() -> Path:
    if os.environ.get(LIBRARY_ENV):
        return Path(os.environ[LIBRARY_ENV])
    here = Path(__file__).resolve().parent
    built = sorted(here.glob("_evb_native*.so")) + sorted(here.glob("_evb_native*.dylib"))
    if not built:
        raise Unavailable(
            f"the native library was not built into {here} (reinstall with cargo on PATH, or set {LIBRARY_ENV})"
        )
    return built[0]


@functools.lru_cache(maxsize=1)
def load() -> tuple[Any, Any]:
    """``(ffi, lib)``; raises :class:`Unavailable` saying why the library cannot be used."""
    try:
        import cffi
    except ImportError as e:
        raise Unavailable(f"cffi is not installed ({e})") from None
    path = _library_path()
    ffi = cffi.FFI()
    ffi.cdef(_header_declarations())
    try:
        lib = ffi.dlopen(str(path))
    except OSError as e:
        raise Unavailable(f"cannot load {path}: {e}") from None
    return ffi, lib


def rustcall(function: Any, *args: Any, contender: str = "native") -> None:
    """Calls one export; turns a failure code and its message into an exception
    (a failed run's message starts with the ``contender``'s name)."""
    code = function(*args)
    if code == _OK:
        return
    ffi, lib = load()
    message = ffi.string(lib.evb_last_error_message()).decode("utf-8", "replace")
    if code == _INVALID_STREAM:
        where, _, rule = message.partition(": ")
        raise InvalidInput("native engine", where, rule)
    if code in (_ARGUMENT, _HANDLE):
        raise ValueError(message)
    if code == _CANCELLED:
        raise Cancelled(f"{contender}: {message}")
    if code in (_HANDLER, _RESOURCE):
        raise ContenderError(f"{contender}: {message}")
    raise ContenderError(f"{contender}: internal error (code {code}): {message}")


def _records(records: np.ndarray | bytes | bytearray | memoryview) -> Any:
    ffi, _ = load()
    return ffi.from_buffer("uint8_t[]", records)


def _done(done_ns: np.ndarray) -> Any:
    if done_ns.dtype != np.uint64 or not done_ns.flags.c_contiguous:
        raise ValueError("done_ns must be a C-contiguous uint64 array")
    ffi, _ = load()
    return ffi.from_buffer("uint64_t[]", done_ns, require_writable=True)


class _Handle:
    """An engine or session handle: freed once, by ``free()`` or when collected.

    Collection frees too, so a session dropped without ``free()`` stops its workers
    before the ``done_ns`` it writes into can be released with it.
    """

    _free_export = ""  # the evb_*_free function for this kind of handle
    _kind = ""

    def __init__(self, handle: int) -> None:
        self._handle: int | None = handle

    def _require(self) -> int:
        if self._handle is None:
            raise ValueError(f"the {self._kind} was freed")
        return self._handle

    def free(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            rustcall(getattr(load()[1], self._free_export), handle)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit the library may be gone
            self.free()


class Engine(_Handle):
    """One engine handle: ``prepare`` (setup), ``run`` (the timed window, once per prepare),
    ``digest`` (after it); ``cancel`` stops a run, from any thread."""

    _free_export, _kind = "evb_engine_free", "engine"

    def __init__(
        self, model: int, workers: int, batch_events: int = DEFAULT_BATCH_EVENTS, contender: str = "native"
    ) -> None:
        ffi, lib = load()
        out = ffi.new("evb_engine *")
        rustcall(lib.evb_engine_new, model, workers, batch_events, out)
        super().__init__(out[0])
        self.contender = contender

    def prepare(self, records: np.ndarray | bytes, n_keys: int) -> None:
        """Validates, copies and decodes ``records``, and makes the state; raises InvalidInput."""
        data = _records(records)
        rustcall(load()[1].evb_engine_prepare, self._require(), data, len(data), n_keys)

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool) -> None:
        """Handles the prepared stream, writing ``done_ns``: nothing else."""
        lib, handle = load()[1], self._require()
        rustcall(lib.evb_engine_run, handle, _done(done_ns), len(done_ns), t0_ns, int(open_loop),
                 contender=self.contender)  # fmt: skip

    def digest(self) -> int:
        ffi, lib = load()
        out = ffi.new("uint64_t *")
        rustcall(lib.evb_engine_digest, self._require(), out)
        return int(out[0])

    def run_stream(
        self, records: np.ndarray | bytes, n_keys: int, done_ns: np.ndarray, t0_ns: int, open_loop: bool
    ) -> int:
        """``prepare``, ``run`` and ``digest`` in one call, for tools that need no window; returns the digest."""
        self.prepare(records, n_keys)
        self.run(done_ns, t0_ns, open_loop)
        return self.digest()

    def cancel(self) -> None:
        """Stops the run in progress (from any thread); the engine stays cancelled. No-op once freed."""
        if self._handle is not None:
            rustcall(load()[1].evb_engine_cancel, self._handle)

    def watch_signals(self, wakeup_fd: int, forward_fd: int = -1) -> None:
        """SIGINT or SIGTERM written to ``wakeup_fd`` cancels the run; bytes go on to ``forward_fd``.

        ``wakeup_fd`` is :func:`implementations.interrupts.signal_pipe`'s read end (one per
        loaded library, for good); ``-1`` stops watching this engine.
        """
        rustcall(load()[1].evb_engine_watch_signals, self._require(), wakeup_fd, forward_fd)


class StreamingSession(_Handle):
    """A running pool fed batch by batch: ``submit(records)`` as often as needed, then ``close()``.

    ``done_ns`` is held here until :meth:`free`, so the engine never writes into freed memory.
    """

    _free_export, _kind = "evb_session_free", "session"

    def __init__(self, n_keys: int, workers: int, done_ns: np.ndarray, batch_events: int = DEFAULT_BATCH_EVENTS):
        ffi, lib = load()
        self._done_array = done_ns
        self._done = _done(done_ns)
        out = ffi.new("evb_session *")
        rustcall(lib.evb_session_open, n_keys, workers, batch_events, self._done, len(done_ns), out)
        super().__init__(out[0])

    def submit(self, records: np.ndarray | bytes) -> None:
        data = _records(records)
        rustcall(load()[1].evb_session_submit, self._require(), data, len(data))

    def close(self) -> int:
        ffi, lib = load()
        digest = ffi.new("uint64_t *")
        rustcall(lib.evb_session_close, self._require(), digest)
        return int(digest[0])

    def __enter__(self) -> StreamingSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()


def alloc_counters() -> tuple[int, int, int]:
    """``(allocations, deallocations, bytes)`` made by the native library since it was loaded."""
    ffi, lib = load()
    out = ffi.new("uint64_t[3]")
    rustcall(lib.evb_alloc_counters, out, out + 1, out + 2)
    return int(out[0]), int(out[1]), int(out[2])


def validate_file(data: bytes) -> tuple[int, int]:
    """The engine's own check of a whole ``.evts`` image: ``(n_keys, n_events)``."""
    ffi, lib = load()
    n_keys, n_events = ffi.new("uint32_t *"), ffi.new("uint64_t *")
    rustcall(lib.evb_validate_file, _records(data), len(data), n_keys, n_events)
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
    ffi, lib = load()
    engine = Engine(MODEL_FLOOR, 1, contender="jitter probe")
    signals = WakeupPipe(str(_library_path()), engine.watch_signals, lambda: engine.watch_signals(-1))
    try:
        out = ffi.new("evb_jitter_summary *")
        rustcall(lib.evb_jitter_probe, engine._require(), duration_ns, out, contender="jitter probe")
        fields = JitterSummary.__dataclass_fields__
        return JitterSummary(**{name: int(getattr(out, name)) for name in fields})
    finally:
        signals.close()
        engine.free()


class NativeRun(PreparedRun):
    """One run on an engine; Ctrl-C or SIGTERM during it cancels the engine (see the module doc)."""

    def __init__(self, stream: EventStream, engine: Engine) -> None:
        self.engine = engine
        try:
            engine.prepare(stream.records, stream.n_keys)  # validation, decoding, state: setup
            # Started here, before the clock: Ctrl-C and SIGTERM cancel the run.
            self.signals = WakeupPipe(str(_library_path()), engine.watch_signals, lambda: engine.watch_signals(-1))
        except BaseException:
            engine.free()
            raise

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool) -> None:
        self.engine.run(done_ns, t0_ns, open_loop)

    def digest(self) -> int:
        return self.engine.digest()

    def close(self) -> None:
        self.signals.close()
        self.engine.free()


class Native(Contender):
    """``native``: the engine's pool; ``batch_events`` events per channel message."""

    def __init__(self, batch_events: int = DEFAULT_BATCH_EVENTS) -> None:
        load()
        self.batch_events = batch_events
        self.info = ContenderInfo(
            name="native",
            language="rust",
            model="native",
            parallel=True,
            description="Rust pool via cffi: keys routed to workers in batches, G atomic",
        )

    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        check_open(stream, workers, self.info, check_records=False)  # the engine validates the records as it prepares
        return NativeRun(stream, Engine(MODEL_POOL, workers, self.batch_events, contender="native"))


class NativeSequential(Contender):
    """``native-sequential``: the same handlers on the calling thread."""

    info = ContenderInfo(
        name="native-sequential",
        language="rust",
        model="native",
        parallel=False,
        description="the Rust engine's handlers on one thread: the language without parallelism",
    )

    def __init__(self) -> None:
        load()

    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        check_open(stream, workers, self.info, check_records=False)  # the engine validates the records as it prepares
        return NativeRun(stream, Engine(MODEL_SEQUENTIAL, 1, contender="native-sequential"))
