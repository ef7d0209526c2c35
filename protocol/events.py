"""Event streams and ``.evts`` files (SPEC §1–2, §7): reading, writing, validation, any scenario.

A stream is held as one numpy structured array whose memory *is* its scenario's record
layout, so the bytes handed to every contender are the bytes of the file. A file is
memory-mapped read-only, never read into memory: its records are the page cache's pages,
which the kernel can drop and read again, so a stream of 100 M events costs no heap. (A file
truncated by another program while it is mapped ends the process with SIGBUS when a dropped
page is touched again; eventbench itself only ever replaces files whole, by rename.)
Validation goes over the records in chunks (:data:`CHECK_CHUNK_EVENTS`), so its temporaries
are bounded too. A version-1 file is scenario ``synthetic`` (SPEC §2); a version-2
file names its scenario in a 64-byte header (SPEC §7). The harness checks ``seq``,
``arrival_ns`` and ``key``; each scenario checks its own fields (``Scenario.field_rules``).
"""

from __future__ import annotations

import hashlib
import mmap
import os
import re
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from protocol.errors import InvalidInput
from protocol.scenario import Scenario
from protocol.storage import atomic_write_bytes

# Which scenario a name means: the registry's ``scenarios.get``, passed in by whoever reads a
# file, so that the file format sits below the scenarios it carries. Raises KeyError saying why.
ScenarioLookup = Callable[[str], Scenario]
V1_SCENARIO = ("synthetic", 1)  # a version-1 file holds this scenario, and only it is written as one
HEADER = struct.Struct("<8sIIQQ")  # version 1: magic, version, n_keys, n_events, reserved
HEADER_SIZE = HEADER.size
HEADER_V2 = struct.Struct("<8sIIQII24sQ")  # magic, version, n_keys, n_events, record_size, scenario version,
HEADER_V2_SIZE = HEADER_V2.size  # scenario name (NUL-padded), reserved
MAGIC = b"EVTSTRM1"
VERSION = 1
MAX_KEYS = 16_777_216
# An open-loop run waits for arrivals below this (292 years); the harness computes
# latencies in int64, so arrivals at or beyond it can only be replayed closed-loop.
OPEN_LOOP_MAX_ARRIVAL_NS = 2**63

# Validation's temporaries (a mask per rule, an index range) cover this many records at a time,
# whatever the stream's length. Small enough that a chunk's records (2 MiB of synthetic's) stay
# in cache while each rule reads its column: on 16 M events, 0.13 s against 0.20 s with chunks
# of 2^20 (and the runner's checks, which take the same size, 0.19-0.24 s against 0.61-0.65 s).
CHECK_CHUNK_EVENTS = 1 << 16

assert HEADER_SIZE == 32 and HEADER_V2_SIZE == 64


@dataclass(frozen=True, eq=False)
class EventStream:
    """A validated stream: ``n_keys`` and the records, in SPEC §1 layout.

    Construct through :func:`validated_stream` (or the readers), which applies
    every rule of SPEC §2; a stream object that exists is a valid stream.
    """

    n_keys: int
    records: np.ndarray
    source: str  # the file or workload it came from, for error messages
    scenario: Scenario
    file_sha256: str | None = None  # what sha256() gives, where already known (read_evts hashes as it validates)

    @property
    def n_events(self) -> int:
        return len(self.records)

    def header_bytes(self) -> bytes:
        """Version 1 for ``synthetic`` version 1, as SPEC §2 has always written it; version 2 otherwise."""
        s = self.scenario
        if (s.name, s.version) == V1_SCENARIO:
            return HEADER.pack(MAGIC, VERSION, self.n_keys, self.n_events, 0)
        name = s.name.encode("ascii")
        return HEADER_V2.pack(MAGIC, 2, self.n_keys, self.n_events, s.record_size, s.version, name, 0)

    def to_bytes(self) -> bytes:
        """The stream as a ``.evts`` file's bytes."""
        return self.header_bytes() + self.records.tobytes()

    def sha256(self) -> str:
        """The SHA-256 of the stream's ``.evts`` file bytes (``sha256sum`` of the file it is written
        to), without making them: the header, then the records where they are."""
        if self.file_sha256 is not None:
            return self.file_sha256
        h = hashlib.sha256(self.header_bytes())
        _hash_records(h, self.records)
        return h.hexdigest()

    def column(self, field: str) -> np.ndarray:
        return self.records[field]

    def prefix(self, n_events: int) -> EventStream:
        """The first ``n_events`` events: a valid stream too (SPEC §2's rules hold for any prefix)."""
        if n_events >= self.n_events:
            return self
        return EventStream(
            self.n_keys, self.records[:n_events], f"{self.source} (first {n_events} events)", self.scenario
        )

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


def _hash_records(h: hashlib._Hash, records: np.ndarray) -> None:
    """Adds the records' bytes to ``h``; hashlib reads a buffer without the GIL, and without a copy
    where the records are one block (as every reader and generator here makes them)."""
    if records.flags.c_contiguous:
        h.update(records.view(np.uint8).data)
        return
    step = max(1, (64 << 20) // max(1, records.dtype.itemsize))  # else a bounded copy at a time
    for start in range(0, len(records), step):
        h.update(records[start : start + step].tobytes())


def empty_records(n_events: int, scenario: Scenario) -> np.ndarray:
    return np.zeros(n_events, dtype=scenario.record_dtype)


def validated_stream(n_keys: int, records: np.ndarray, source: str, scenario: Scenario) -> EventStream:
    """Applies the header's key range and every per-record rule; raises :class:`InvalidInput`."""
    _check_n_keys(n_keys, source)
    if records.dtype != scenario.record_dtype:
        records = np.frombuffer(records.tobytes(), dtype=scenario.record_dtype)
    problem = first_bad_record(records, n_keys, scenario)
    if problem is not None:
        index, rule = problem
        raise InvalidInput(source, f"record {index}", rule)
    return EventStream(n_keys, records, source, scenario)


def first_bad_record(
    records: np.ndarray, n_keys: int, scenario: Scenario, chunk_events: int = CHECK_CHUNK_EVENTS
) -> tuple[int, str] | None:
    """The lowest record index that breaks a rule (SPEC §2's on the harness's columns, then the
    scenario's own), with the rule, or None.

    Vectorised: each rule is one pass over a column, ``chunk_events`` records at a time (the
    masks are the only temporaries, so memory stays bounded on any stream); the earliest
    failure wins, and at one index the rules are reported in the SPEC's order, the scenario's
    after the harness's.
    """
    if chunk_events < 1:
        raise ValueError(f"chunk_events must be at least 1, got {chunk_events}")
    for start in range(0, len(records), chunk_events):
        problem = _first_bad_in_chunk(records, start, min(start + chunk_events, len(records)), n_keys, scenario)
        if problem is not None:
            return problem
    return None


def _first_bad_in_chunk(
    records: np.ndarray, start: int, stop: int, n_keys: int, scenario: Scenario
) -> tuple[int, str] | None:
    """:func:`first_bad_record` over ``records[start:stop]``, indices the whole stream's."""
    chunk = records[start:stop]
    seq, key = chunk["seq"], chunk["key"]
    arrival = records["arrival_ns"]
    # The record before the chunk is compared too: arrival order spans the chunks' seams.
    before = arrival[max(start - 1, 0) : stop]
    going_back = before[1:] < before[:-1] if start else np.concatenate(([False], before[1:] < before[:-1]))
    rules: list[tuple[np.ndarray, Callable[[int], str]]] = [
        (
            seq != np.arange(start, stop, dtype=np.uint64),
            lambda i: f"seq is {seq[i]}, must equal the record index {start + i}",
        ),
        (
            going_back,
            lambda i: (
                f"arrival_ns {arrival[start + i]} is before the previous record's {arrival[start + i - 1]} "
                "(arrival_ns must be non-decreasing)"
            ),
        ),
        (key >= n_keys, lambda i: f"key {key[i]} must be < n_keys {n_keys}"),
        *scenario.field_rules(chunk),
    ]
    best: tuple[int, str] | None = None
    for bad, describe in rules:
        hits = np.flatnonzero(bad)
        if len(hits) and (best is None or hits[0] < best[0]):
            best = (int(hits[0]), describe(int(hits[0])))
    return None if best is None else (start + best[0], best[1])


def _check_n_keys(n_keys: int, source: str) -> None:
    if not 1 <= n_keys <= MAX_KEYS:
        raise InvalidInput(source, "header", f"n_keys {n_keys} is out of range 1..{MAX_KEYS}")


@dataclass(frozen=True)
class Header:
    n_keys: int
    n_events: int
    size: int  # the header's own size: where the records start
    scenario: Scenario


def parse_header(header: bytes, file_size: int, source: str, lookup: ScenarioLookup) -> Header:
    """Checks a version-1 (SPEC §2) or version-2 (SPEC §7) header and the file's size.

    The size is checked here, before the body is read, so a header that claims 2**60 events
    is refused without allocating anything for them. Header rules come first, then the size.
    """
    if len(header) < HEADER_SIZE:
        raise InvalidInput(source, "header", f"file is {file_size} bytes, shorter than the {HEADER_SIZE}-byte header")
    magic, version = struct.unpack_from("<8sI", header)
    if magic != MAGIC:
        raise InvalidInput(source, "header", f"magic is {magic!r}, must be {MAGIC!r}")
    if version == 1:
        _, _, n_keys, n_events, reserved = HEADER.unpack(header[:HEADER_SIZE])
        _check_n_keys(n_keys, source)
        if reserved != 0:
            raise InvalidInput(source, "header", f"reserved field is {reserved}, must be 0")
        parsed = Header(n_keys, n_events, HEADER_SIZE, _scenario(lookup, V1_SCENARIO[0], source))
    elif version == 2:
        parsed = _parse_v2(header, file_size, source, lookup)
    else:
        raise InvalidInput(source, "header", f"version is {version}, must be 1 or 2")
    expected = parsed.size + parsed.scenario.record_size * parsed.n_events
    if file_size != expected:
        raise InvalidInput(
            source,
            "size",
            f"file is {file_size} bytes; a header of {parsed.n_events} events needs exactly {expected}",
        )
    return parsed


def _scenario(lookup: ScenarioLookup, name: str, source: str) -> Scenario:
    try:
        return lookup(name)
    except KeyError as e:
        raise InvalidInput(source, "scenario", str(e.args[0])) from None


def _parse_v2(header: bytes, file_size: int, source: str, lookup: ScenarioLookup) -> Header:
    if len(header) < HEADER_V2_SIZE:
        raise InvalidInput(
            source, "header", f"file is {file_size} bytes, shorter than the {HEADER_V2_SIZE}-byte version-2 header"
        )
    _, _, n_keys, n_events, record_size, scenario_version, raw_name, reserved = HEADER_V2.unpack(
        header[:HEADER_V2_SIZE]
    )
    _check_n_keys(n_keys, source)
    name = raw_name.rstrip(b"\0")
    if b"\0" in name or not re.fullmatch(rb"[a-z0-9-]{1,24}", name):
        raise InvalidInput(
            source, "header", f"scenario name {raw_name!r} must be 1-24 of a-z, 0-9 and '-', then NUL bytes only"
        )
    scenario = _scenario(lookup, name.decode("ascii"), source)
    if record_size != scenario.record_size:
        raise InvalidInput(
            source, "record_size", f"{record_size} bytes, but a record of {scenario.name} is {scenario.record_size}"
        )
    if scenario_version != scenario.version:
        raise InvalidInput(
            source, "scenario_version",
            f"{scenario.name} version {scenario_version} is not the one this eventbench knows ({scenario.version})",
        )  # fmt: skip
    if reserved != 0:
        raise InvalidInput(source, "header", f"reserved field is {reserved}, must be 0")
    return Header(n_keys, n_events, HEADER_V2_SIZE, scenario)


def stream_from_bytes(data: bytes | bytearray | memoryview, source: str, lookup: ScenarioLookup) -> EventStream:
    """Parses and validates a whole ``.evts`` image held in memory."""
    view = memoryview(data).cast("B")
    header = parse_header(bytes(view[:HEADER_V2_SIZE]), len(view), source, lookup)
    dtype = header.scenario.record_dtype
    records = np.frombuffer(view, dtype=dtype, count=header.n_events, offset=header.size).copy()
    return validated_stream(header.n_keys, records, source, header.scenario)


def read_evts(path: str | os.PathLike[str], lookup: ScenarioLookup) -> EventStream:
    """Maps and validates a ``.evts`` file; raises :class:`InvalidInput` naming the file.

    The records are a read-only view of the file's pages (``mmap``, ``ACCESS_READ``): nothing
    is copied, and the stream's records stay read-only for every contender."""
    source = str(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            header = parse_header(f.read(HEADER_V2_SIZE), size, source, lookup)
            # The mapping outlives the file object (it holds its own reference to the file), and
            # the array below holds the mapping: it is unmapped when the last view of it goes.
            mapped = _map(f.fileno(), source)
    except OSError as e:
        raise InvalidInput(source, "file", e.strerror or str(e)) from None
    if len(mapped) != size:  # the file changed size between fstat and the mapping
        raise InvalidInput(source, "size", f"is {len(mapped)} bytes now, {size} when its header was read")
    records = np.frombuffer(mapped, dtype=header.scenario.record_dtype, count=header.n_events, offset=header.size)
    # The file's SHA-256 (the reference cache's key, harness/reference.py) on a second thread
    # while this one validates: both read the same pages, and hashlib runs without the GIL.
    h = hashlib.sha256(mapped[: header.size])
    hashing = threading.Thread(target=_hash_records, args=(h, records), name="evts-sha256", daemon=True)
    hashing.start()
    try:
        stream = validated_stream(header.n_keys, records, source, header.scenario)
    finally:
        hashing.join()
    return replace(stream, file_sha256=h.hexdigest())


def _map(fd: int, source: str) -> mmap.mmap:
    try:
        return mmap.mmap(fd, 0, access=mmap.ACCESS_READ)  # not empty: it holds a header
    except ValueError as e:  # mmap's own refusal: the file emptied since its header was read
        raise InvalidInput(source, "file", f"cannot be mapped: {e}") from None


def write_evts(stream: EventStream, path: str | os.PathLike[str]) -> Path:
    """Writes a stream as a ``.evts`` file, atomically; the records from where they are (no copy
    of a stream the size of the file, where its records are one block)."""
    records = stream.records
    body = records.view(np.uint8).data if records.flags.c_contiguous else memoryview(records.tobytes())
    return atomic_write_bytes(Path(path), stream.header_bytes(), body)
