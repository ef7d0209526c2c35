"""The native boundary: what crosses it, what it refuses, and that nothing crashes the interpreter.

The differential tests already run both native contenders on hypothesis streams;
this file covers pools of several sizes, the streaming session, the engine's own validation
(same messages as the Python side), bad arguments, and the allocation counter.
"""

from __future__ import annotations

import gc
import itertools
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.runner import run_once
from implementations import Unavailable, native_cffi
from protocol.contender import MAX_WORKERS
from protocol.errors import InvalidInput
from protocol.events import MAX_KEYS, EventStream
from scenarios import SYNTHETIC, stream_from_bytes
from scenarios.synthetic.layout import RECORD_DTYPE

from reference import spec_digest_of_file_bytes
from strategies import streams

try:
    native_cffi.load()
except Unavailable as e:  # pragma: no cover - the library is built by every install here
    pytest.skip(f"native library unavailable: {e}", allow_module_level=True)

HEADER = Path(native_cffi.__file__).parent / "native" / "include" / "eventbench.h"


@pytest.mark.parametrize("workers", [1, 2, 5])
@given(stream=streams())
def test_native_pool_at_several_worker_counts(workers: int, stream: EventStream) -> None:
    expected = spec_digest_of_file_bytes(stream.to_bytes())
    outcome = run_once(native_cffi.Native(), stream, workers=workers, mode="closed", reference_digest=expected)
    assert outcome.valid, outcome.failures()


@given(stream=streams(max_events=200), cuts=st.lists(st.integers(0, 200), max_size=6), workers=st.integers(1, 4))
def test_streaming_session_equals_one_call(stream: EventStream, cuts: list[int], workers: int) -> None:
    """Fed in arbitrary slices, the session computes what one call computes."""
    done = np.zeros(stream.n_events, dtype=np.uint64)
    bounds = sorted({0, stream.n_events, *(c for c in cuts if c <= stream.n_events)})
    with native_cffi.StreamingSession(stream.n_keys, workers, done, batch_events=3) as session:
        for start, stop in itertools.pairwise(bounds):
            session.submit(stream.records[start:stop])
        digest = session.close()
    assert f"{digest:016x}" == spec_digest_of_file_bytes(stream.to_bytes())
    assert np.all(done > 0)


def _python_error(data: bytes) -> str | None:
    try:
        stream_from_bytes(data, "x")
    except InvalidInput as e:
        return f"{e.where}: {e.rule}"
    return None


def _native_error(data: bytes) -> str | None:
    try:
        native_cffi.validate_file(data)
    except InvalidInput as e:
        return f"{e.where}: {e.rule}"
    return None


@given(
    stream=streams(max_events=12, max_gap_ns=10),
    offset=st.integers(0, 32 + 12 * 32),
    byte=st.integers(0, 255),
    cut=st.one_of(st.none(), st.integers(0, 32 + 12 * 32)),
)
def test_the_engine_validates_like_the_harness(stream: EventStream, offset: int, byte: int, cut: int | None) -> None:
    """Any corrupted or truncated image: the same verdict and the same message on both sides,
    but for the version field: the harness reads versions 1 and 2 (SPEC §7: version 2 names a
    scenario), the engine version 1 only, so there both refuse, each in its own words."""
    data = bytearray(stream.to_bytes())
    if offset < len(data):
        data[offset] = byte
    if cut is not None:
        del data[cut:]
    native, python = _native_error(bytes(data)), _python_error(bytes(data))
    if native is not None and native.startswith("header: version is "):
        assert python is not None, "the harness read an image whose version the engine refused"
        return
    assert native == python


@given(
    data=st.binary(max_size=200),
    n_keys=st.integers(0, 2**32 - 1),
    done_len=st.integers(0, 8),
    workers=st.integers(0, 3000),
)
def test_malformed_calls_raise_and_never_abort(data: bytes, n_keys: int, done_len: int, workers: int) -> None:
    done = np.zeros(done_len, dtype=np.uint64)
    try:
        engine = native_cffi.Engine("pool", workers)
    except ValueError as e:
        assert re.search(r"workers must be", str(e))
        return
    try:
        digest = engine.run_stream(data, n_keys, done, 0, open_loop=False)
        assert len(data) % 32 == 0 and len(data) // 32 <= done_len and n_keys >= 1  # it only succeeds when all is well
        assert isinstance(digest, int)
    except (InvalidInput, ValueError):
        pass
    finally:
        engine.free()


def test_stale_handles_and_misuse_are_errors() -> None:
    empty = native_cffi.StreamHandle(native_cffi.load(), b"", 1)
    engine = native_cffi.Engine("sequential", 1)
    engine.free()
    engine.free()  # freeing twice through the wrapper is a no-op
    with pytest.raises(ValueError, match="freed"):
        engine.prepare(empty)
    with pytest.raises(ValueError, match="freed"):
        engine.run(np.zeros(0, dtype=np.uint64), 0, False)
    with pytest.raises(ValueError, match="freed"):
        engine.digest()
    engine = native_cffi.Engine("pool", 2)
    try:
        with pytest.raises(ValueError, match="evb_engine_prepare first"):
            engine.run(np.zeros(0, dtype=np.uint64), 0, False)
        engine.prepare(empty)
        with pytest.raises(ValueError, match="not been handled"):
            engine.digest()
        engine.run(np.zeros(0, dtype=np.uint64), 0, False)
        with pytest.raises(ValueError, match="handled already"):
            engine.run(np.zeros(0, dtype=np.uint64), 0, False)
        assert engine.digest() == 0x238275BC38FCBE91  # SPEC §3: the empty stream's digest, one key
    finally:
        engine.free()
    with pytest.raises(ValueError, match="no live engine"):
        native_cffi.load().call("evb_engine_free", 987654321)
    empty.free()
    with pytest.raises(ValueError, match="freed"):
        native_cffi.Engine("sequential", 1).prepare(empty)
    done = np.zeros(2, dtype=np.uint64)
    session = native_cffi.StreamingSession(1, 2, done)
    session.close()
    with pytest.raises(ValueError, match="closed"):
        session.submit(b"")
    with pytest.raises(ValueError, match="closed already"):
        session.close()
    session.free()
    with pytest.raises(ValueError, match="freed"):
        session.submit(b"")
    with pytest.raises(ValueError, match="C-contiguous uint64"):
        native_cffi.StreamingSession(1, 1, np.zeros(4, dtype=np.int32))


def test_the_allocation_counter_counts() -> None:
    before = native_cffi.alloc_counters()
    engine = native_cffi.Engine("pool", 2)
    engine.free()
    after = native_cffi.alloc_counters()
    assert after[0] > before[0] and after[2] > before[2]


def test_the_header_declares_every_export() -> None:
    declared = set(re.findall(r"\b(evb_\w+)\(", HEADER.read_text()))
    assert declared == {name for name in dir(native_cffi.load().lib) if name.startswith("evb_") and name.islower()}
    if shutil.which("nm"):
        library = native_cffi.load().path
        symbols = subprocess.run(["nm", "-D", "--defined-only", str(library)], capture_output=True, text=True).stdout
        exported = set(re.findall(r" T (evb_\w+)$", symbols, re.MULTILINE))
        assert exported == declared


def test_the_limits_python_checks_are_the_headers() -> None:
    """protocol.contender cannot import the engine, so it states the worker limit itself: the same one."""
    lib = native_cffi.load().lib
    assert MAX_WORKERS == lib.EVB_MAX_WORKERS
    assert MAX_KEYS == lib.EVB_MAX_KEYS


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no C compiler")
def test_the_header_is_valid_c(tmp_path: Path) -> None:
    source = tmp_path / "use.c"
    source.write_text(
        '#include "eventbench.h"\nint main(void) { return evb_engine_free(0) == EVB_ERR_HANDLE ? 0 : 1; }\n'
    )
    subprocess.run(
        ["gcc", "-std=c99", "-Wall", "-Werror", "-fsyntax-only", f"-I{HEADER.parent}", str(source)], check=True
    )


def test_an_unloadable_library_is_reported_not_raised(tmp_path: Path) -> None:
    bogus = tmp_path / "libnothing.so"
    bogus.write_bytes(b"not a library")
    code = (
        "import json, implementations as i;print(json.dumps([(r.name, r.available, r.reason) for r in i.registry()]))"
    )
    env = {"EVENTBENCH_NATIVE_LIB": str(bogus), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    rows = {name: (available, reason) for name, available, reason in json.loads(out)}
    assert rows["sequential"] == (True, "")
    assert rows["native"][0] is False and "cannot load" in rows["native"][1]


def _session_threads() -> int:
    """The engine's pool workers alive in this process (named ``evb-worker-N``)."""
    tasks = Path("/proc/self/task")
    return sum((t / "comm").read_text().startswith("evb-worker") for t in tasks.iterdir())


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_dropped_session_stops_its_workers_before_its_buffer_goes() -> None:
    """No close(), no free(): collecting the session joins its threads before done_ns is released."""
    before = _session_threads()
    session = native_cffi.StreamingSession(4, 3, np.zeros(10, dtype=np.uint64))
    assert _eventually(lambda: _session_threads() == before + 3)  # threads name themselves as they start
    records = np.zeros(10, dtype=RECORD_DTYPE)
    records["seq"] = np.arange(10)
    records["key"] = np.arange(10) % 4
    session.submit(records)
    del session
    gc.collect()
    # Without __del__ the registry would keep the session, and its threads, forever.
    assert _eventually(lambda: _session_threads() == before)


def _eventually(condition: Callable[[], bool], attempts: int = 500) -> bool:
    for _ in range(attempts):
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_the_stream_handle_holds_the_records_the_engine_borrows() -> None:
    """The engine copies nothing: the handle keeps the caller's buffer alive for it, even once the
    caller drops its own reference, and a prepared engine keeps the handle's buffer after free()."""
    records = np.zeros(2, dtype=RECORD_DTYPE)
    records["seq"] = [0, 1]
    records["value"] = [5, 6]
    expected = spec_digest_of_file_bytes(EventStream(1, records.copy(), "x", SYNTHETIC).to_bytes())
    handle = native_cffi.StreamHandle(native_cffi.load(), records, 1)
    del records
    gc.collect()
    engine = native_cffi.Engine("pool", 2)
    try:
        engine.prepare(handle)
        handle.free()
        del handle
        gc.collect()
        engine.run(np.zeros(2, np.uint64), 0, open_loop=False)
        assert f"{engine.digest():016x}" == expected
    finally:
        engine.free()


def test_a_contender_keeps_its_pool_and_stream_between_runs() -> None:
    """Worker threads start at the first open and serve every later run; close() stops them."""
    stream = _updates(1_000, 8)
    contender = native_cffi.Native()
    before = _session_threads()
    expected = spec_digest_of_file_bytes(stream.to_bytes())
    for _ in range(3):
        outcome = run_once(contender, stream, workers=2, mode="closed", reference_digest=expected)
        assert outcome.valid, outcome.failures()
        assert _session_threads() == before + 2
    handle = contender._sessions.stream
    outcome = run_once(contender, stream, workers=3, mode="closed", reference_digest=expected)
    assert outcome.valid and _session_threads() == before + 5  # one pool per worker count
    assert contender._sessions.stream is handle  # validated once
    for engine in contender._sessions.engines.values():  # kept, but holding nothing of its last run
        with pytest.raises(ValueError, match="evb_engine_prepare first"):
            engine.digest()
    contender.close()
    assert _eventually(lambda: _session_threads() == before)


def _updates(n: int, n_keys: int) -> EventStream:
    records = np.zeros(n, dtype=RECORD_DTYPE)
    records["seq"] = np.arange(n)
    records["key"] = np.arange(n) % n_keys
    records["value"] = np.arange(n) * 7
    return EventStream(n_keys, records, "updates", SYNTHETIC)


def test_free_from_another_thread_waits_for_the_workers() -> None:
    """free() returning means no worker writes done_ns any more, even mid-submit elsewhere."""
    import threading

    n = 40
    done = np.zeros(n, dtype=np.uint64)
    records = np.zeros(n, dtype=RECORD_DTYPE)
    records["seq"] = np.arange(n)
    records["kind"] = 2  # block
    records["work"] = 10_000  # 10 ms each, one worker: 0.4 s of handling
    session = native_cffi.StreamingSession(1, 1, done, batch_events=1)
    outcome: list[BaseException | None] = []

    def submit() -> None:
        try:
            session.submit(records)
            outcome.append(None)
        except BaseException as e:
            outcome.append(e)

    submitter = threading.Thread(target=submit)
    submitter.start()
    assert _eventually(lambda: np.count_nonzero(done) > 0)
    handle = session._handle
    native_cffi.load().call("evb_session_free", handle)  # the raw call: no wrapper keeps anything alive
    after_free = done.copy()
    submitter.join()
    time.sleep(0.05)
    assert np.array_equal(done, after_free)
    # free() cancels the submit under way: the events it had not routed are dropped, not handled.
    assert len(outcome) == 1 and isinstance(outcome[0], native_cffi.Cancelled), outcome
    assert np.count_nonzero(done) < n
    session._handle = None  # freed above


def test_a_cancelled_run_raises_cancelled_and_the_contender_drops_its_engine() -> None:
    """The engine stays cancelled, so the contender must not reuse it; closing the run must not
    trip over the engine it dropped (the interrupt, not a 'freed' error, is what the caller sees)."""
    import threading

    n = 400
    records = np.zeros(n, dtype=RECORD_DTYPE)
    records["seq"] = np.arange(n)
    records["kind"] = 2  # block
    records["work"] = 5_000  # 5 ms each, one worker: 2 s uncancelled
    slow = EventStream(1, records, "slow", SYNTHETIC)
    contender = native_cffi.Native()
    try:
        prepared = contender.open(slow, 1)
        assert isinstance(prepared, native_cffi.NativeRun)
        threading.Timer(0.05, prepared.engine.cancel).start()
        with pytest.raises(native_cffi.Cancelled), prepared:
            prepared.run(np.zeros(n, dtype=np.uint64), 0, False)
        assert contender._sessions.engines == {}
        stream = _updates(500, 4)
        expected = spec_digest_of_file_bytes(stream.to_bytes())
        assert run_once(contender, stream, workers=1, mode="closed", reference_digest=expected).valid
    finally:
        contender.close()


_WINDOW_CALLS = """
import contextlib, json, sys
import implementations
from harness.runner import checked_run
from harness.workload import builtin, generate

stream = generate(builtin("smoke").with_events(200))
calls = []
def profiled(frame, event, arg):
    if event in ("call", "c_call"):
        calls.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}" if event == "call" else repr(arg))
@contextlib.contextmanager
def window():
    sys.setprofile(profiled)
    yield
    sys.setprofile(None)
for name in ("native-sequential", "native"):
    checked_run(implementations.get(name), stream, workers=2, around_window=window)
print(json.dumps(calls))
"""


def test_the_first_native_run_of_a_process_does_no_cffi_set_up_in_its_window(tmp_path: Path) -> None:
    """cffi parses a type's string and finds an export the first time each is named, in Python that
    allocates: inside the window that would time it and make callgrind's count of it depend on the
    process's past. A fresh process, so that nothing is cached yet."""
    # Elsewhere than the checkout: "-c" puts the working directory first on the path, and the
    # checkout's packages have no built library where the project is installed from a wheel.
    done = subprocess.run([sys.executable, "-c", _WINDOW_CALLS], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    calls = json.loads(done.stdout)
    assert calls, "the window was not profiled"
    set_up = {c for c in calls if ("/cffi/" in c and not c.endswith(":from_buffer")) or "/pycparser/" in c}
    assert not set_up, sorted(set_up)
