"""The event record and the ``.evts`` file (SPEC §1–2): layout, reading, writing, validation.

A stream is held as one numpy structured array whose memory *is* the record
layout of SPEC §1, so the bytes handed to every contender are the bytes of the
file, and writing a file is one ``tobytes()``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import InvalidInput
from harness.storage import atomic_write_bytes

UPDATE, COMPUTE, BLOCK, AGGREGATE = 0, 1, 2, 3

RECORD_DTYPE = np.dtype(
    {
        "names": ["seq", "arrival_ns", "value", "key", "kind", "flags", "work"],
        "formats": ["<u8", "<u8", "<u8", "<u4", "u1", "u1", "<u2"],
        "offsets": [0, 8, 16, 24, 28, 29, 30],
        "itemsize": 32,
    }
)
RECORD_SIZE = 32
HEADER = struct.Struct("<8sIIQQ")  # magic, version, n_keys, n_events, reserved
HEADER_SIZE = HEADER.size
MAGIC = b"EVTSTRM1"
VERSION = 1
MAX_KEYS = 16_777_216
# An open-loop run waits for arrivals below this (292 years); the harness computes
# latencies in int64, so arrivals at or beyond it can only be replayed closed-loop.
OPEN_LOOP_MAX_ARRIVAL_NS = 2**63

assert RECORD_DTYPE.itemsize == RECORD_SIZE and HEADER_SIZE == 32


@dataclass(frozen=True, eq=False)
class EventStream:
    """A validated stream: ``n_keys`` and the records, in SPEC §1 layout.

    Construct through :func:`validated_stream` (or the readers), which applies
    every rule of SPEC §2; a stream object that exists is a valid stream.
    """

    n_keys: int
    records: np.ndarray
    source: str = "<stream>"  # the file or workload it came from, for error messages

    @property
    def n_events(self) -> int:
        return len(self.records)

    def header_bytes(self) -> bytes:
        return HEADER.pack(MAGIC, VERSION, self.n_keys, self.n_events, 0)

    def to_bytes(self) -> bytes:
        """The stream as a ``.evts`` file's bytes."""
        return self.header_bytes() + self.records.tobytes()

    def column(self, field: str) -> np.ndarray:
        return self.records[field]

    def prefix(self, n_events: int) -> EventStream:
        """The first ``n_events`` events: a valid stream too (SPEC §2's rules hold for any prefix)."""
        if n_events >= self.n_events:
            return self
        return EventStream(self.n_keys, self.records[:n_events], f"{self.source} (first {n_events} events)")

    def check_open_loop(self) -> None:
        """Raises :class:`InvalidInput` when an arrival is too far away to wait for."""
        if self.n_events and int(self.records["arrival_ns"][-1]) >= OPEN_LOOP_MAX_ARRIVAL_NS:
            first = int(np.argmax(self.records["arrival_ns"] >= np.uint64(OPEN_LOOP_MAX_ARRIVAL_NS)))
            raise InvalidInput(
                self.source,
                f"record {first}",
                f"arrival_ns {self.records['arrival_ns'][first]} is 2^63 ns or later: "
                "too far to wait for in open loop (use --mode closed)",
            )


def empty_records(n_events: int) -> np.ndarray:
    return np.zeros(n_events, dtype=RECORD_DTYPE)


def validated_stream(n_keys: int, records: np.ndarray, source: str) -> EventStream:
    """Applies the header's key range and every per-record rule; raises :class:`InvalidInput`."""
    _check_n_keys(n_keys, source)
    if records.dtype != RECORD_DTYPE:
        records = np.frombuffer(records.tobytes(), dtype=RECORD_DTYPE)
    problem = first_bad_record(records, n_keys)
    if problem is not None:
        index, rule = problem
        raise InvalidInput(source, f"record {index}", rule)
    return EventStream(n_keys, records, source)


def first_bad_record(records: np.ndarray, n_keys: int) -> tuple[int, str] | None:
    """The lowest record index that breaks a rule of SPEC §1–2, with the rule, or None.

    Vectorised: each rule is one pass over a column; the earliest failure wins,
    and at one index the rules are reported in the SPEC's order.
    """
    n = len(records)
    if n == 0:
        return None
    seq = records["seq"]
    arrival = records["arrival_ns"]
    key = records["key"]
    kind = records["kind"]
    flags = records["flags"]
    rules: list[tuple[np.ndarray, Callable[[int], str]]] = [
        (seq != np.arange(n, dtype=np.uint64), lambda i: f"seq is {seq[i]}, must equal the record index {i}"),
        (
            np.concatenate(([False], arrival[1:] < arrival[:-1])),
            lambda i: (
                f"arrival_ns {arrival[i]} is before the previous record's {arrival[i - 1]} "
                "(arrival_ns must be non-decreasing)"
            ),
        ),
        (key >= n_keys, lambda i: f"key {key[i]} must be < n_keys {n_keys}"),
        (kind > 3, lambda i: f"kind {kind[i]} is not one of 0 update, 1 compute, 2 block, 3 aggregate"),
        (flags != 0, lambda i: f"flags {flags[i]} must be 0 (reserved)"),
    ]
    best: tuple[int, str] | None = None
    for bad, describe in rules:
        hits = np.flatnonzero(bad)
        if len(hits) and (best is None or hits[0] < best[0]):
            best = (int(hits[0]), describe(int(hits[0])))
    return best


def _check_n_keys(n_keys: int, source: str) -> None:
    if not 1 <= n_keys <= MAX_KEYS:
        raise InvalidInput(source, "header", f"n_keys {n_keys} is out of range 1..{MAX_KEYS}")


def parse_header(header: bytes, file_size: int, source: str) -> tuple[int, int]:
    """Checks the header against SPEC §2 and the file's size; returns ``(n_keys, n_events)``.

    The size is checked here, before the body is read, so a header that claims
    2**60 events is refused without allocating anything for them.
    """
    if len(header) < HEADER_SIZE:
        raise InvalidInput(source, "header", f"file is {file_size} bytes, shorter than the {HEADER_SIZE}-byte header")
    magic, version, n_keys, n_events, reserved = HEADER.unpack(header[:HEADER_SIZE])
    if magic != MAGIC:
        raise InvalidInput(source, "header", f"magic is {magic!r}, must be {MAGIC!r}")
    if version != VERSION:
        raise InvalidInput(source, "header", f"version is {version}, must be {VERSION}")
    _check_n_keys(n_keys, source)
    if reserved != 0:
        raise InvalidInput(source, "header", f"reserved field is {reserved}, must be 0")
    expected = HEADER_SIZE + RECORD_SIZE * n_events
    if file_size != expected:
        raise InvalidInput(
            source,
            "size",
            f"file is {file_size} bytes; a header of {n_events} events needs exactly {expected}",
        )
    return n_keys, n_events


def stream_from_bytes(data: bytes | bytearray | memoryview, source: str = "<bytes>") -> EventStream:
    """Parses and validates a whole ``.evts`` image held in memory."""
    view = memoryview(data).cast("B")
    n_keys, n_events = parse_header(bytes(view[:HEADER_SIZE]), len(view), source)
    records = np.frombuffer(view, dtype=RECORD_DTYPE, count=n_events, offset=HEADER_SIZE).copy()
    return validated_stream(n_keys, records, source)


def read_evts(path: str | os.PathLike[str]) -> EventStream:
    """Reads and validates a ``.evts`` file; raises :class:`InvalidInput` naming the file."""
    source = str(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            n_keys, n_events = parse_header(f.read(HEADER_SIZE), size, source)
            records = np.fromfile(f, dtype=RECORD_DTYPE, count=n_events)
    except OSError as e:
        raise InvalidInput(source, "file", e.strerror or str(e)) from None
    if len(records) != n_events:  # the file shrank while we read it
        raise InvalidInput(source, "size", f"ended after {len(records)} of {n_events} records")
    return validated_stream(n_keys, records, source)


def write_evts(stream: EventStream, path: str | os.PathLike[str]) -> Path:
    """Writes a stream as a ``.evts`` file, atomically."""
    return atomic_write_bytes(Path(path), stream.to_bytes())
