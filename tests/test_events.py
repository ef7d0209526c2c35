"""The .evts format (SPEC §2): round trips, and every validation rule with its message."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given

from protocol.errors import InvalidInput
from protocol.events import HEADER, MAGIC, EventStream, validated_stream, write_evts
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
