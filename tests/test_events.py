"""The .evts format (SPEC §2): round trips, and every validation rule with its message."""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import InvalidInput
from protocol.events import HEADER, MAGIC, EventStream, first_bad_record, validated_stream, write_evts
from scenarios import SYNTHETIC, read_evts, stream_from_bytes
from scenarios.synthetic.layout import RECORD_DTYPE

from strategies import stream_of, streams

GOOD = [(0, 0, 5, 0, 0, 0, 0), (1, 10, 6, 1, 1, 0, 2), (2, 10, 7, 2, 3, 0, 0)]


def test_record_layout_matches_the_spec() -> None:
    assert RECORD_DTYPE.itemsize == 32
    offsets = {name: RECORD_DTYPE.fields[name][1] for name in RECORD_DTYPE.names}
    assert offsets == {"seq": 0, "arrival_ns": 8, "value": 16, "key": 24, "kind": 28, "flags": 29, "work": 30}
    one = stream_of(3, GOOD[:1]).to_bytes()[32:]
    assert one == struct.pack("<QQQIBBH", *GOOD[0])


@given(stream=streams())
def test_bytes_round_trip(stream: EventStream) -> None:
    data = stream.to_bytes()
    again = stream_from_bytes(data)
    assert again.n_keys == stream.n_keys
    assert again.to_bytes() == data


def test_file_round_trip(tmp_path: Path) -> None:
    stream = stream_of(3, GOOD)
    path = write_evts(stream, tmp_path / "s.evts")
    assert path.read_bytes() == stream.to_bytes()
    assert read_evts(path).to_bytes() == stream.to_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["s.evts"]  # no temporary left behind


def _file(n_keys: int = 3, rows: list[tuple[int, ...]] = GOOD, **header: object) -> bytes:
    fields = {"magic": MAGIC, "version": 1, "n_keys": n_keys, "n_events": len(rows), "reserved": 0} | header
    body = b"".join(struct.pack("<QQQIBBH", *row) for row in rows)
    return HEADER.pack(*fields.values()) + body


def _replace(index: int, **changes: int) -> list[tuple[int, ...]]:
    rows = [list(r) for r in GOOD]
    names = ["seq", "arrival_ns", "value", "key", "kind", "flags", "work"]
    for name, value in changes.items():
        rows[index][names.index(name)] = value
    return [tuple(r) for r in rows]


@pytest.mark.parametrize(
    ("data", "where", "rule"),
    [
        (_file(magic=b"EVTSTRM2"), "header", "magic is b'EVTSTRM2', must be b'EVTSTRM1'"),
        (_file(version=3), "header", "version is 3, must be 1 or 2"),
        (_file(version=2), "header", "must be 1-24 of a-z, 0-9 and '-', then NUL bytes only"),  # read as SPEC §7
        (_file(n_keys=0), "header", "n_keys 0 is out of range 1..16777216"),
        (_file(n_keys=16_777_217), "header", "n_keys 16777217 is out of range"),
        (_file(reserved=9), "header", "reserved field is 9, must be 0"),
        (_file()[:-1], "size", "file is 127 bytes; a header of 3 events needs exactly 128"),
        (_file() + b"\0", "size", "file is 129 bytes"),
        (_file()[:20], "header", "shorter than the 32-byte header"),
        (_file(n_events=2**60), "size", "a header of 1152921504606846976 events needs exactly"),
        (_file(rows=_replace(1, seq=7)), "record 1", "seq is 7, must equal the record index 1"),
        (_file(rows=_replace(2, arrival_ns=3)), "record 2", "arrival_ns 3 is before the previous record's 10"),
        (_file(rows=_replace(1, key=3)), "record 1", "key 3 must be < n_keys 3"),
        (_file(rows=_replace(2, kind=4)), "record 2", "kind 4 is not one of"),
        (_file(rows=_replace(0, flags=1)), "record 0", "flags 1 must be 0"),
    ],
)
def test_every_rule_is_named(tmp_path: Path, data: bytes, where: str, rule: str) -> None:
    path = tmp_path / "bad.evts"
    path.write_bytes(data)
    for load, source in ((lambda: read_evts(path), str(path)), (lambda: stream_from_bytes(data, "mem"), "mem")):
        with pytest.raises(InvalidInput) as info:
            load()
        assert info.value.source == source
        assert info.value.where == where
        assert rule in info.value.rule
        assert "\n" not in str(info.value)


def test_the_earliest_bad_record_is_reported() -> None:
    rows = _replace(2, kind=9)
    rows[1] = (1, 10, 6, 99, 1, 1, 2)  # record 1 breaks two rules: the key rule comes first
    with pytest.raises(InvalidInput, match=r"record 1: key 99 must be < n_keys 3"):
        stream_from_bytes(_file(rows=rows))


def test_huge_claims_allocate_nothing(tmp_path: Path) -> None:
    """A header that claims 2**60 events is refused on its size, before any read of the body."""
    path = tmp_path / "liar.evts"
    path.write_bytes(_file(rows=[], n_events=2**60))
    with pytest.raises(InvalidInput, match="size"):
        read_evts(path)


def test_missing_file_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="No such file"):
        read_evts(tmp_path / "nope.evts")


def test_validated_stream_accepts_plain_arrays() -> None:
    stream = stream_of(3, GOOD)
    raw = np.frombuffer(stream.records.tobytes(), dtype=np.uint8)
    assert validated_stream(3, raw, "raw", SYNTHETIC).to_bytes() == stream.to_bytes()


# ---------------------------------------------------------------- bounded memory


def test_a_file_is_mapped_not_read(tmp_path: Path) -> None:
    """The records are the file's pages (read-only), not a copy of them on the heap."""
    path = write_evts(stream_of(3, GOOD), tmp_path / "s.evts")
    records = read_evts(path).records
    assert isinstance(records.base, memoryview) and isinstance(records.base.obj, mmap.mmap)
    assert not records.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        records["value"][0] = 1


_BREAKS = {  # a field and a value that breaks a rule wherever it is put (seq and arrival: relative)
    "seq": lambda rows, i: rows[i]["seq"] + 1,
    "arrival_ns": lambda rows, i: rows[i - 1]["arrival_ns"] - 1 if i and rows[i - 1]["arrival_ns"] else None,
    "key": lambda rows, i: 2**32 - 1,
    "kind": lambda rows, i: 4,
    "flags": lambda rows, i: 1,
}


@given(stream=streams(max_events=40, max_gap_ns=5), data=st.data())
def test_validation_in_chunks_finds_what_one_pass_finds(stream: EventStream, data: st.DataObject) -> None:
    """Chunks of 1, 2, 7 records and the whole stream report the same record and rule, across
    the chunks' seams too (arrival order compares a record with the one before it)."""
    records = stream.records.copy()
    for _ in range(data.draw(st.integers(0, 3))):
        if not len(records):
            break
        i = data.draw(st.integers(0, len(records) - 1))
        field = data.draw(st.sampled_from(sorted(_BREAKS)))
        value = _BREAKS[field](records, i)
        if value is not None:
            records[field][i] = value
    found = {size: first_bad_record(records, stream.n_keys, SYNTHETIC, size) for size in (1, 2, 7, len(records) or 1)}
    assert len(set(found.values())) == 1, found


def test_validation_in_chunks_names_the_whole_streams_index() -> None:
    rows = [(i, 10 * i, 0, 0, 0, 0, 0) for i in range(9)]
    rows[7] = (7, 5, 0, 0, 0, 0, 0)  # before record 6's 60: the seam between chunks 6..7 and 7..8 of size 1
    records = np.array(rows, dtype=RECORD_DTYPE)
    for size in (1, 2, 7, 9):
        assert first_bad_record(records, 1, SYNTHETIC, size) == (
            7,
            "arrival_ns 5 is before the previous record's 60 (arrival_ns must be non-decreasing)",
        )
