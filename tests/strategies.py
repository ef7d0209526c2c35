"""Hypothesis strategies: every strategy the tests use, in one place."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from protocol.events import EventStream, empty_records, validated_stream
from scenarios import SYNTHETIC, stream_from_bytes
from scenarios.orderbook.generate import MAX_PRICE, OrderbookParams
from scenarios.orderbook.layout import CANCEL, LIMIT, MARKET

from orderbook_reference import Row, encode_v2

U64_MAX = 2**64 - 1

values = st.one_of(st.sampled_from([0, 1, U64_MAX, U64_MAX - 1, 2**63]), st.integers(0, U64_MAX))
# Compute rounds: small ones mostly, the edges sometimes (65535 rounds is ~20 ms in Python).
compute_rounds = st.one_of(st.integers(0, 40), st.sampled_from([0, 1, 65535]))
# Block waits in µs: kept short so a test run stays short; the edge 0 is always in reach.
block_us = st.integers(0, 60)


@st.composite
def event_rows(draw: st.DrawFn, n_keys: int, max_events: int, max_gap_ns: int) -> list[tuple[int, ...]]:
    """Valid records (seq, arrival_ns, value, key, kind, flags, work) for ``n_keys`` keys."""
    n = draw(st.integers(0, max_events))
    rows, arrival = [], 0
    key_strategy = st.one_of(st.just(0), st.just(n_keys - 1), st.integers(0, n_keys - 1))
    for seq in range(n):
        arrival += draw(st.integers(0, max_gap_ns)) if max_gap_ns else 0
        kind = draw(st.integers(0, 3))
        work = draw(compute_rounds) if kind == 1 else draw(block_us) if kind == 2 else draw(st.integers(0, 65535))
        rows.append((seq, arrival, draw(values), draw(key_strategy), kind, 0, work))
    return rows


def stream_of(n_keys: int, rows: list[tuple[int, ...]]) -> EventStream:
    records = empty_records(len(rows), SYNTHETIC)
    for i, row in enumerate(rows):
        records[i] = row
    return validated_stream(n_keys, records, "<test>", SYNTHETIC)


@st.composite
def streams(draw: st.DrawFn, max_events: int = 60, max_gap_ns: int = 0) -> EventStream:
    """Valid streams: one key or many, empty or not, every kind, edge values."""
    n_keys = draw(st.one_of(st.just(1), st.integers(1, 8), st.integers(1, 5000)))
    return stream_of(n_keys, draw(event_rows(n_keys, max_events, max_gap_ns)))


# ---------------------------------------------------------------- scenario orderbook


def _orderbook_params(
    depth: int, mid_offset: int, weights: tuple[float, float, float], **fields: Any
) -> OrderbookParams:
    # mid_price anywhere its depth allows: at either bound (where the walk is reflected) or between.
    low, high = depth + 1, MAX_PRICE - depth
    limit, market, cancel = weights
    return OrderbookParams(
        depth=depth, mid_price=min(low + mid_offset, high),
        limit_weight=limit, market_weight=market, cancel_weight=cancel, **fields,
    )  # fmt: skip


# The order book's generation parameters: every field across its range, with the edges in reach
# (one account, Zipf over all 65,536, no cancels, nothing but cancels after record 0, a walk that
# reaches the price bounds, the widest quantities, a cancel reaching back to the start).
orderbook_params = st.builds(
    _orderbook_params,
    depth=st.one_of(st.integers(1, 20), st.sampled_from([1, 1_000_000])),
    mid_offset=st.one_of(st.integers(0, 50), st.sampled_from([0, 2**32])),
    weights=st.one_of(
        st.just((46.0, 4.0, 50.0)),
        st.sampled_from([(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 0.0, 1.0)]),
        st.tuples(*[st.floats(0.0, 100.0)] * 3).filter(lambda w: sum(w) > 0),
    ),
    accounts=st.one_of(st.integers(1, 20), st.sampled_from([1, 4096, 65_536])),
    account_distribution=st.sampled_from(["uniform", "zipf"]),
    account_zipf_exponent=st.one_of(st.floats(0.1, 3.0), st.just(10.0)),
    mid_step=st.one_of(st.integers(0, 3), st.sampled_from([0, 1_000_000])),
    cross_fraction=st.one_of(st.sampled_from([0.0, 1.0, 0.1]), st.floats(0.0, 1.0)),
    qty=st.one_of(
        st.just((1, 100)), st.tuples(st.integers(1, 2**32 - 1), st.integers(1, 2**32 - 1)).map(sorted).map(tuple)
    ),
    cancel_reach=st.one_of(st.integers(1, 20), st.just(1_000_000)),
)


@st.composite
def order_streams(draw: st.DrawFn, max_events: int = 60, max_gap_ns: int = 0) -> tuple[int, list[Row]]:
    """Valid order-book rows built to collide: 1-3 instruments, 1-4 accounts (up to 65,535),
    prices within 4 ticks or at the top, and cancels aimed at earlier orders of any instrument
    (or at ids that are no longer resting). Arrivals ``max_gap_ns`` apart at most."""
    n_keys = draw(st.integers(1, 3))
    rows: list[Row] = []
    arrival = 0
    for seq in range(draw(st.integers(0, max_events))):
        arrival += draw(st.integers(0, max_gap_ns)) if max_gap_ns else 0
        kind = draw(st.sampled_from([LIMIT, LIMIT, LIMIT, MARKET, CANCEL, CANCEL])) if seq else LIMIT
        key = draw(st.integers(0, n_keys - 1))
        if kind == CANCEL:
            rows.append((seq, arrival, key, kind, 0, 0, 0, 0, draw(st.integers(0, seq - 1))))
            continue
        side, account = draw(st.integers(0, 1)), draw(st.integers(0, 3)) * 21_845  # accounts up to 65,535
        qty = draw(st.integers(1, 6) | st.just(2**32 - 1))
        price = draw(st.integers(98, 102) | st.just(2**32 - 1)) if kind == LIMIT else 0
        rows.append((seq, arrival, key, kind, side, account, price, qty, 0))
    return n_keys, rows


def orderbook_stream_of(n_keys: int, rows: list[Row]) -> EventStream:
    """The stream the harness reads from the version-2 file the tests' own encoder writes:
    a file the project's writer had no part in (SPEC §7)."""
    return stream_from_bytes(encode_v2(n_keys, rows), "<test v2>")


@st.composite
def orderbook_streams(draw: st.DrawFn, max_events: int = 60, max_gap_ns: int = 0) -> tuple[EventStream, bytes]:
    """An order-book stream and its file image, for the differential tests."""
    n_keys, rows = draw(order_streams(max_events, max_gap_ns))
    data = encode_v2(n_keys, rows)
    return stream_from_bytes(data, "<test v2>"), data
