"""The native capture reader (harness/memray_capture.py) against memray's own reader, on real captures.

The allocation pass reads memray's capture with the native reader and falls back to memray's
reader (``_tally``) only where the native one cannot read the capture. The two must agree
exactly: per native stack, the allocation calls and the blocks still alive, the stacks'
symbols, and so every figure of the count. Broken captures are refused with the byte and the
rule, never read in part.
"""

from __future__ import annotations

import mmap
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import implementations
from harness import allocations, memray_capture
from harness.workload import builtin, generate
from implementations import Contender, ContenderInfo, PreparedRun, Unavailable
from protocol.events import EventStream

pytest.importorskip("memray")


def _capture(contender: Contender, stream: EventStream, workers: int, path: Path) -> Path:
    allocations._tracked_run(contender, stream, workers, path, read_crate=False)
    return path


def _agree(capture: Path, scratch: Path) -> memray_capture.CaptureTally:
    """Both readers on one capture: the same counts by stack, the same stacks' symbols, the same figures."""
    fast, slow = allocations._tally_fast(capture, scratch), allocations._tally(capture)
    assert fast.by_stack == slow.by_stack
    assert fast.records.keys() == slow.records.keys()
    for stack, record in fast.records.items():
        assert allocations._symbols(record) == allocations._symbols(slow.records[stack]), stack
    assert allocations._classified(fast) == allocations._classified(slow)
    return memray_capture.read(capture)


def _contender(name: str) -> Contender:
    try:
        return implementations.get(name)
    except Unavailable as e:
        pytest.skip(str(e))


@pytest.mark.parametrize(
    ("name", "workload", "workers"),
    [
        ("sequential", "mixed", 1),
        ("threaded", "mixed", 2),  # several threads: context switches between records
        ("asyncio", "book-smoke", 1),
        ("native", "mixed", 2),  # the engine's threads, std's thread handles past Rust's allocator
        ("native-sequential", "smoke", 1),
        ("c-sequential", "contention", 1),  # the example plugin: a C library of its own
    ],
)
def test_the_native_reader_agrees_with_memrays_on_every_contender(
    name: str, workload: str, workers: int, tmp_path: Path
) -> None:
    stream = generate(builtin(workload).with_events(1500))
    tally = _agree(_capture(_contender(name), stream, workers, tmp_path / "capture"), tmp_path)
    assert tally.records > 0 and tally.stacks


class _Churn(PreparedRun):
    """Allocates and frees as drawn, through every kind of allocator memray tells apart: pymalloc's
    (Python objects, numpy's data), the C library's malloc, realloc and free (SQLite's pages and
    rows, from a library of its own), and mmap and munmap (an anonymous map)."""

    def __init__(self, ops: list[tuple[str, int]]) -> None:
        self.ops = ops

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool) -> None:
        kept: list[object] = []
        db = sqlite3.connect(":memory:")
        db.execute("CREATE TABLE t (x BLOB)")
        for op, size in self.ops:
            if op == "object":
                kept.append(bytes(size))
            elif op == "array":
                kept.append(np.zeros(size, dtype=np.uint8))
            elif op == "sqlite":
                db.execute("INSERT INTO t VALUES (?)", (bytes(size),))
            elif op == "mmap":
                kept.append(mmap.mmap(-1, size + 1))
            elif op == "free" and kept:
                gone = kept.pop(size % len(kept))
                if isinstance(gone, mmap.mmap):
                    gone.close()  # munmap
        if self.ops and self.ops[-1][1] % 2:
            db.close()  # or the connection's blocks outlive the window
        self.kept = (kept, db)  # some blocks outlive the window
        done_ns.fill(time.monotonic_ns())

    def digest(self) -> int:
        return 0


class _Churner(Contender):
    def __init__(self, ops: list[tuple[str, int]]) -> None:
        self.ops = ops
        self.info = ContenderInfo("churn", "python", "test", parallel=False)

    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        return _Churn(self.ops)


_OPS = st.sampled_from(["object", "array", "sqlite", "mmap", "free"])
_SIZES = st.one_of(st.integers(0, 512), st.integers(513, 64 << 10), st.integers(128 << 10, 1 << 20))


@settings(max_examples=15, deadline=None)
@given(ops=st.lists(st.tuples(_OPS, _SIZES), max_size=300))
def test_the_native_reader_agrees_on_drawn_allocation_patterns(ops: list[tuple[str, int]]) -> None:
    stream = generate(builtin("smoke").with_events(10))
    with tempfile.TemporaryDirectory() as tmp:
        _agree(_capture(_Churner(ops), stream, 1, Path(tmp) / "capture"), Path(tmp))


@pytest.fixture(scope="module")
def a_capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bytes]:
    path = tmp_path_factory.mktemp("capture") / "capture"
    _capture(_contender("threaded"), generate(builtin("smoke").with_events(300)), 2, path)
    yield path.read_bytes()


def test_a_truncated_capture_is_refused_with_the_byte_and_the_rule(a_capture: bytes, tmp_path: Path) -> None:
    end = len(a_capture.rstrip(b"\0"))  # memray's file grows in zeroed chunks; the trailer is the last byte
    for cut in [0, 5, 40, end // 3, end // 2, end - 2, end - 1]:
        path = tmp_path / f"cut-{cut}"
        path.write_bytes(a_capture[:cut])
        with pytest.raises(memray_capture.CorruptCapture, match=rf"^{path}: record at byte \d+: .+") as e:
            memray_capture.read(path)
        assert "\n" not in str(e.value)


def test_damaged_captures_are_refused_or_read_never_a_crash(a_capture: bytes, tmp_path: Path) -> None:
    rng = np.random.default_rng(18)
    end = len(a_capture.rstrip(b"\0"))
    refused = 0
    for i in range(200):
        damaged = bytearray(a_capture)
        for at in rng.integers(0, end, size=3):
            damaged[at] = int(rng.integers(0, 256))
        path = tmp_path / f"damaged-{i}"
        path.write_bytes(damaged)
        try:
            memray_capture.read(path)
        except memray_capture.CorruptCapture:
            refused += 1
        path.unlink()
    assert refused > 0  # most damage breaks a rule; the rest reads as other valid records


def test_a_broken_capture_leaves_the_count_out_with_one_line_saying_why(tmp_path: Path) -> None:
    path = tmp_path / "broken"
    path.write_bytes(b"not a capture")
    with pytest.raises(allocations.CountingUnavailable, match=rf"^memray's capture could not be read: {path}: "):
        allocations._read(path, tmp_path)


def test_a_capture_the_native_reader_does_not_know_is_read_by_memrays_and_says_so(tmp_path: Path) -> None:
    """memray's default, an lz4-compressed capture, stands for any format the native reader does not decode."""
    from memray import Tracker

    path = tmp_path / "compressed"
    with Tracker(path, native_traces=True, trace_python_allocators=True):  # compressed on exit
        kept = [bytes(600) for _ in range(100)]
    assert path.read_bytes()[:4] == b"\x04\x22\x4d\x18" and len(kept) == 100
    with pytest.raises(memray_capture.ReaderUnavailable, match="lz4"):
        memray_capture.read(path)
    tallied, reason = allocations._read(path, tmp_path)
    assert reason is not None and "memray's own reader" in reason and "lz4" in reason
    assert tallied.by_stack == allocations._tally(path).by_stack
    assert allocations._classified(tallied)[0] >= 100


def test_an_unreadable_path_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="cannot read"):
        memray_capture.read(tmp_path / "missing")
    if os.name == "posix":
        with pytest.raises(OSError, match="cannot read"):
            memray_capture.read(tmp_path)  # a directory
