"""The order book's Python semantics against the contract's vectors and the second reference.

``scenarios.orderbook`` is what every Python executor will run; ``tests/orderbook_reference.py``
is written straight from docs/scenarios/orderbook.md and shares no code with it. Hypothesis
streams (few instruments and accounts, prices near one another, cancels of earlier orders) must
give both the same digest.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pytest
from hypothesis import given, settings

from protocol.splitmix import mix
from scenarios.orderbook.layout import RECORD_DTYPE, field_rules
from scenarios.orderbook.semantics import Accounts, Book, Columns, bind, digest

from orderbook_reference import Row, orderbook_digest
from strategies import order_streams

EIGHT: list[Row] = [
    (0, 0, 0, 0, 1, 1, 101, 5, 0), (1, 0, 0, 0, 1, 2, 100, 3, 0), (2, 1000, 0, 0, 0, 3, 101, 6, 0),
    (3, 1000, 1, 0, 0, 3, 50, 4, 0), (4, 2000, 0, 2, 0, 0, 0, 0, 3), (5, 2000, 1, 1, 1, 4, 0, 10, 0),
    (6, 3000, 0, 2, 0, 0, 0, 0, 0), (7, 3000, 0, 0, 0, 5, 99, 1, 0),
]  # fmt: skip


def semantics_digest(n_keys: int, rows: list[Row], guard_calls: list[tuple[int, ...]] | None = None) -> str:
    fields = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(9)]
    columns = Columns(fields[0], *fields[2:])  # every field but arrival_ns
    books, accounts = [Book() for _ in range(n_keys)], Accounts()

    def guard(*ids: int) -> nullcontext[None]:
        if guard_calls is not None:
            guard_calls.append(ids)
        return nullcontext()

    handle = bind(columns, books, accounts, guard)
    assert all(handle(i) == 0 for i in range(len(rows)))  # the order book never waits
    return f"{digest(len(rows), books, accounts):016x}"


def test_the_contract_vectors() -> None:
    assert semantics_digest(1, []) == "00fbfde4bfe8fd68"
    assert semantics_digest(2, EIGHT) == "5a57408dd2666bdc"
    assert semantics_digest(2, EIGHT[:3]) == "7d9b099192e351e7"


def test_positions_change_only_inside_the_guard_of_both_accounts() -> None:
    calls: list[tuple[int, ...]] = []
    semantics_digest(2, EIGHT, calls)
    assert calls == [(3, 2), (3, 1), (3, 4)]  # (buyer, seller) of each of the three fills


@settings(max_examples=400, deadline=None)
@given(order_streams())
def test_agrees_with_the_contracts_reference(stream: tuple[int, list[Row]]) -> None:
    n_keys, rows = stream
    assert semantics_digest(n_keys, rows) == orderbook_digest(n_keys, rows)


def _records(rows: list[Row]) -> np.ndarray:
    return np.array(rows, dtype=[(name, RECORD_DTYPE.fields[name][0]) for name in RECORD_DTYPE.names]).astype(
        RECORD_DTYPE
    )


def test_the_record_is_40_bytes_as_the_contract_lays_it_out() -> None:
    assert _records(EIGHT).tobytes()[40:80] == bytes.fromhex(
        "0100000000000000" "0000000000000000" "00000000" "00" "01" "0200" "64000000" "03000000" "0000000000000000"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("row", "rule"),
    [
        ((1, 0, 0, 3, 0, 0, 1, 1, 0), "kind 3 is not one of"),
        ((1, 0, 0, 0, 2, 0, 1, 1, 0), "side 2 is not one of"),
        ((1, 0, 0, 0, 0, 0, 0, 1, 0), "a limit order's price must be >= 1"),
        ((1, 0, 0, 1, 0, 0, 0, 0, 0), "a market order's qty must be >= 1"),
        ((1, 0, 0, 0, 0, 0, 5, 1, 7), "a limit order's target must be 0, got 7"),
        ((1, 0, 0, 1, 0, 0, 5, 1, 0), "a market order's price must be 0, got 5"),
        ((1, 0, 0, 2, 1, 0, 0, 0, 0), "a cancel's side must be 0, got 1"),
        ((1, 0, 0, 2, 0, 9, 0, 0, 0), "a cancel's account must be 0, got 9"),
        ((1, 0, 0, 2, 0, 0, 3, 0, 0), "a cancel's price must be 0, got 3"),
        ((1, 0, 0, 2, 0, 0, 0, 4, 0), "a cancel's qty must be 0, got 4"),
        ((1, 0, 0, 2, 0, 0, 0, 0, 1), "a cancel's target 1 must be < its seq 1"),
    ],
)
def test_each_record_rule_names_itself(row: Row, rule: str) -> None:
    records = _records([EIGHT[0], row])
    broken = [describe(1) for bad, describe in field_rules(records) if bad[1]]
    assert broken and broken[0].startswith(rule), broken
    assert not any(bad[0] for bad, _ in field_rules(records))


def test_an_orders_id_is_its_seq_not_its_place_among_the_events_decoded() -> None:
    """A worker process decodes its own keys' events only: ids must come from ``seq``."""
    instrument_1 = [row for row in EIGHT if row[2] == 1]  # (3, ...) rests as #3, (5, ...) fills it
    books, accounts = [Book(), Book()], Accounts()
    fields = [list(c) for c in zip(*instrument_1, strict=True)]
    handle = bind(Columns(fields[0], *fields[2:]), books, accounts, lambda *_: nullcontext())
    handle(0)
    assert list(books[1].where) == [3]
    handle(1)
    assert books[1].fills == 1 and books[1].h == mix(mix(0 ^ 3) ^ ((50 << 32) | 4))
