"""Scenarios (SPEC §7): the registry, version-2 event files, and each scenario's own rules."""

from __future__ import annotations

import hashlib
import struct
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
from test_orderbook import EIGHT

import scenarios
from protocol.errors import InvalidInput
from protocol.events import HEADER_V2, validated_stream, write_evts
from scenarios import SYNTHETIC, read_evts, stream_from_bytes

from orderbook_reference import encode_v2, orderbook_digest

ORDERBOOK = scenarios.get("orderbook")


def _orderbook_records(rows: list[tuple[int, int, int, int, int, int, int, int, int]]) -> np.ndarray:
    image = encode_v2(2, rows)
    return np.frombuffer(image, dtype=ORDERBOOK.record_dtype, offset=64).copy()


def test_the_registry_holds_both_built_ins() -> None:
    names = [(r.name, r.scenario is not None) for r in scenarios.registry()]
    assert names[:2] == [("synthetic", True), ("orderbook", True)]
    assert scenarios.get("synthetic").record_size == 32 and ORDERBOOK.record_size == 40
    with pytest.raises(KeyError, match="no scenario 'nope'"):
        scenarios.get("nope")


def test_the_contracts_version_2_file_to_the_bit(tmp_path: Path) -> None:
    stream = validated_stream(2, _orderbook_records(EIGHT), "eight", ORDERBOOK)
    image = stream.to_bytes()
    assert len(image) == 384 and image == encode_v2(2, EIGHT)
    assert hashlib.sha256(image).hexdigest() == "4fbc8fe74d60db24c3783769c20fa1cdc79aaed4b64351e0e7a09b2c39bf1928"
    back = read_evts(write_evts(stream, tmp_path / "eight.evts"))
    assert back.scenario is ORDERBOOK and back.n_keys == 2 and back.records.tobytes() == image[64:]
    semantics = ORDERBOOK.python
    books, accounts = semantics.new_keys(2), semantics.new_shared()
    handle = semantics.bind(semantics.columns(back.records), books, accounts, lambda *_: nullcontext())
    for i in range(back.n_events):
        handle(i)
    assert f"{semantics.digest(8, books, accounts):016x}" == orderbook_digest(2, EIGHT) == "5a57408dd2666bdc"


def test_a_synthetic_stream_is_still_written_as_version_1() -> None:
    records = np.zeros(1, dtype=scenarios.get("synthetic").record_dtype)
    assert validated_stream(1, records, "one", SYNTHETIC).to_bytes()[8:12] == struct.pack("<I", 1)


def _header(**fields: object) -> bytes:
    values = {"magic": b"EVTSTRM1", "version": 2, "n_keys": 2, "n_events": 8, "record_size": 40,
              "scenario_version": 1, "name": b"orderbook", "reserved": 0} | fields  # fmt: skip
    return HEADER_V2.pack(*values.values())


@pytest.mark.parametrize(
    ("header", "where", "rule"),
    [
        (_header(name=b"nope"), "scenario", "no scenario 'nope'"),
        (_header(name=b"Order book"), "header", "must be 1-24 of a-z"),
        (_header(name=b"order\0book"), "header", "then NUL bytes only"),
        (_header(record_size=32), "record_size", "32 bytes, but a record of orderbook is 40"),
        (_header(scenario_version=2), "scenario_version", "orderbook version 2 is not the one"),
        (_header(reserved=1), "header", "reserved field is 1"),
        (_header(n_keys=0), "header", "n_keys 0 is out of range"),
        (_header(version=3), "header", "version is 3, must be 1 or 2"),
        (_header(n_events=9), "size", "needs exactly 424"),
    ],
)
def test_a_bad_version_2_header_is_named(header: bytes, where: str, rule: str) -> None:
    image = header + encode_v2(2, EIGHT)[64:]
    with pytest.raises(InvalidInput) as caught:
        stream_from_bytes(image, "f.evts")
    assert caught.value.where == where and rule in caught.value.rule, caught.value


def test_a_short_version_2_file_is_a_header_error() -> None:
    with pytest.raises(InvalidInput, match="shorter than the 64-byte version-2 header"):
        stream_from_bytes(_header()[:40], "short.evts")


def test_an_orderbook_record_breaking_its_rule_is_named_with_its_index() -> None:
    bad = list(EIGHT)
    bad[5] = (5, 2000, 1, 1, 1, 4, 7, 10, 0)  # a market order with a price
    with pytest.raises(InvalidInput) as caught:
        stream_from_bytes(encode_v2(2, bad), "bad.evts")
    assert caught.value.where == "record 5" and "a market order's price must be 0, got 7" in caught.value.rule
