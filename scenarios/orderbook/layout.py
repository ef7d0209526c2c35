"""The order book's record (docs/scenarios/orderbook.md §1) and its validation rules."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scenarios.orderbook.semantics import BUY, CANCEL, LIMIT, MARKET

NAME = "orderbook"
VERSION = 1

RECORD_DTYPE = np.dtype(
    {
        "names": ["seq", "arrival_ns", "key", "kind", "side", "account", "price", "qty", "target"],
        "formats": ["<u8", "<u8", "<u4", "u1", "u1", "<u2", "<u4", "<u4", "<u8"],
        "offsets": [0, 8, 16, 20, 21, 22, 24, 28, 32],
        "itemsize": 40,
    }
)
RECORD_SIZE = 40
assert RECORD_DTYPE.itemsize == RECORD_SIZE


def field_rules(records: np.ndarray) -> list[tuple[np.ndarray, Callable[[int], str]]]:
    """The scenario's own rules (§1), each a mask of the records that break it and how to say so;
    the harness checks ``seq``, ``arrival_ns`` and ``key`` and reports the earliest record broken."""
    kind, side, account = records["kind"], records["side"], records["account"]
    price, qty, target, seq = records["price"], records["qty"], records["target"], records["seq"]
    limit, market, cancel = kind == LIMIT, kind == MARKET, kind == CANCEL
    return [
        (kind > CANCEL, lambda i: f"kind {kind[i]} is not one of 0 limit, 1 market, 2 cancel"),
        (side > 1, lambda i: f"side {side[i]} is not one of 0 buy, 1 sell"),
        (limit & (price < 1), lambda i: "a limit order's price must be >= 1"),
        ((limit | market) & (qty < 1), lambda i: f"a {_kind(kind[i])} order's qty must be >= 1"),
        ((limit | market) & (target != 0), lambda i: f"a {_kind(kind[i])} order's target must be 0, got {target[i]}"),
        (market & (price != 0), lambda i: f"a market order's price must be 0, got {price[i]}"),
        (cancel & (side != BUY), lambda i: f"a cancel's side must be 0, got {side[i]}"),
        (cancel & (account != 0), lambda i: f"a cancel's account must be 0, got {account[i]}"),
        (cancel & (price != 0), lambda i: f"a cancel's price must be 0, got {price[i]}"),
        (cancel & (qty != 0), lambda i: f"a cancel's qty must be 0, got {qty[i]}"),
        (cancel & (target >= seq), lambda i: f"a cancel's target {target[i]} must be < its seq {seq[i]}"),
    ]


def _kind(kind: int) -> str:
    return "limit" if kind == LIMIT else "market"
