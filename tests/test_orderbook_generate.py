"""The order book's workload generator: valid, deterministic, what its docstring says, realistic.

``scalar_fields`` below is the generator's rule written one event at a time in plain Python (a
dict per instrument for the walk and for its limit orders): the vectorised generator, with its
sorts and group sums, must give exactly the same fields. The built-in workloads' bytes are
pinned, as the synthetic ones are in ``test_workload.py``: the same spec must give the same bytes
on every machine and numpy version.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import replace
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.workload import WorkloadSpec, builtin, generate
from protocol.errors import InvalidInput
from protocol.splitmix import random_stream
from scenarios.orderbook.generate import (
    MAX_PRICE,
    OrderbookParams,
    fill_orderbook_fields,
    params_from_table,
)
from scenarios.orderbook.layout import RECORD_DTYPE, field_rules
from scenarios.orderbook.semantics import (
    BUY,
    CANCEL,
    LIMIT,
    MARKET,
    SELL,
    Accounts,
    Book,
    OrderbookPython,
    bind,
    digest,
)

from orderbook_reference import orderbook_digest
from strategies import orderbook_params

WORKLOADS = ("book", "book-paced", "book-contention", "book-smoke")

# The bytes of every built-in order-book workload (the harness's seq, arrival_ns and key, then
# this generator's fields), pinned. A change here changes history.
GOLDEN_SHA256 = {
    "book": "838097b7cba0662d0275f609d671f789a4918155a82b65ef2071981bc2636a27",
    "book-paced": "2f16baaf9ffa4ebe8ede0c10375c94781b73ac0cc528bd80fad007663d790d1c",
    "book-contention": "e61f36dd55dea07c5892001e4e7d8bfe28910fa6c6261c204ce5ad424fb0c00e",
    "book-smoke": "d0c82495f15f6acef6fd53b1221dcae750d7d3deadc4800d8ca355564e7e1a2e",
}


def _records(keys: np.ndarray) -> np.ndarray:
    records = np.zeros(len(keys), dtype=RECORD_DTYPE)
    records["seq"] = np.arange(len(keys), dtype=np.uint64)
    records["key"] = keys
    return records


def _generated(params: OrderbookParams, seed: int, keys: np.ndarray) -> np.ndarray:
    records = _records(keys)
    fill_orderbook_fields(params, seed, records)
    return records


def _broken(records: np.ndarray) -> list[str]:
    return [describe(int(np.flatnonzero(bad)[0])) for bad, describe in field_rules(records) if bad.any()]


def builtin_workload(name: str) -> tuple[WorkloadSpec, OrderbookParams]:
    """A built-in order-book workload as the harness reads it, and its [orderbook] table."""
    spec = builtin(name)
    assert spec.scenario.name == "orderbook"
    return spec, spec.params


def stream_of(spec: WorkloadSpec, params: OrderbookParams) -> np.ndarray:
    """The harness draws seq, arrival_ns and key; the scenario's generator the rest."""
    return generate(replace(spec, params=params)).records


# ---------------------------------------------------------------- the generator's rule, one event at a time


def scalar_fields(params: OrderbookParams, seed: int, keys: list[int]) -> list[tuple[int, ...]]:
    """``(kind, side, account, price, qty, target)`` of each event, by the rule in generate.py's docs."""
    n = len(keys)
    kind_d, side_d, account_d, price_d, qty_d, target_d, walk_d = (
        random_stream(seed, stream_id, 0, n).tolist() for stream_id in range(11, 18)
    )
    total = Fraction(params.limit_weight) + Fraction(params.market_weight) + Fraction(params.cancel_weight)
    limit_below = int(Fraction(params.limit_weight) / total * 2**32)
    market_below = int((Fraction(params.limit_weight) + Fraction(params.market_weight)) / total * 2**32)
    cross_below = int(Fraction(params.cross_fraction) * 2**32)
    weights = np.arange(1, params.accounts + 1, dtype=np.float64) ** -params.account_zipf_exponent
    cdf = np.cumsum(weights) / np.cumsum(weights)[-1]
    low, high = params.depth + 1, MAX_PRICE - params.depth

    def below(draw: int, bound: int) -> int:
        return ((draw >> 32) * bound) >> 32

    def reflected(x: int) -> int:
        width = high - low
        if width == 0:
            return low
        folded = (x - low) % (2 * width)
        return low + (folded if folded <= width else 2 * width - folded)

    walk: dict[int, int] = defaultdict(int)
    limits: dict[int, list[int]] = defaultdict(list)
    rows: list[tuple[int, ...]] = []
    for i, k in enumerate(keys):
        low32 = kind_d[i] & 0xFFFFFFFF
        kind = LIMIT if low32 < limit_below else MARKET if low32 < market_below else CANCEL
        if i == 0 and kind == CANCEL:
            kind = LIMIT
        walk[k] += below(walk_d[i], 2 * params.mid_step + 1) - params.mid_step
        mid = reflected(params.mid_price + walk[k])
        if kind == CANCEL:
            own = limits[k]  # one of its last cancel_reach limit orders, else any earlier seq
            reach = min(len(own), params.cancel_reach)
            target = own[-1 - below(target_d[i], reach)] if own else below(target_d[i], i)
            rows.append((CANCEL, BUY, 0, 0, 0, target))
            continue
        side = side_d[i] >> 63
        if params.account_distribution == "uniform":
            account = below(account_d[i], params.accounts)
        else:
            unit = float(account_d[i] >> 11) * 2.0**-53
            account = min(int(np.searchsorted(cdf, unit, side="right")), params.accounts - 1)
        qty = params.qty[0] + below(qty_d[i], params.qty[1] - params.qty[0] + 1)
        offset = 1 + below(price_d[i], params.depth)
        crosses = (price_d[i] & 0xFFFFFFFF) < cross_below
        price = mid + (-offset if (side == BUY) != crosses else offset)
        rows.append((kind, side, account, price if kind == LIMIT else 0, qty, 0))
        if kind == LIMIT:
            limits[k].append(i)
    return rows


def _fields(records: np.ndarray) -> list[tuple[int, ...]]:
    names = ("kind", "side", "account", "price", "qty", "target")
    return list(zip(*(records[name].tolist() for name in names), strict=True))


@settings(max_examples=150)
@given(
    params=orderbook_params,
    seed=st.integers(0, 2**64 - 1),
    keys=st.one_of(st.lists(st.integers(0, 3), max_size=120), st.lists(st.sampled_from([0, 70_000, 2**24 - 1]))),
)
def test_every_stream_is_valid_and_follows_the_rule(params: OrderbookParams, seed: int, keys: list[int]) -> None:
    records = _generated(params, seed, np.array(keys, dtype=np.uint32))
    assert _broken(records) == []
    assert len(records) == 0 or records["kind"][0] != CANCEL
    assert _fields(records) == scalar_fields(params, seed, keys)
    assert np.array_equal(records["key"], keys) and np.array_equal(records["seq"], np.arange(len(keys)))


@settings(max_examples=30)
@given(params=orderbook_params, seed=st.integers(0, 2**64 - 1))
def test_streams_of_thousands_are_valid(params: OrderbookParams, seed: int) -> None:
    """Beyond one 64 Ki chunk of the random streams, on keys beyond 16 bits (two radix passes)."""
    keys = (random_stream(seed, 99, 0, 70_000) >> np.uint64(40)).astype(np.uint32)
    records = _generated(params, seed, keys)
    assert _broken(records) == []
    cancels = records["kind"] == CANCEL
    assert np.all(records["target"][cancels] < records["seq"][cancels])


# ---------------------------------------------------------------- determinism


def test_same_params_and_seed_give_the_same_bytes_and_another_seed_others() -> None:
    keys = (random_stream(1, 1, 0, 50_000) >> np.uint64(54)).astype(np.uint32)
    one = _generated(OrderbookParams(), 7, keys).tobytes()
    assert _generated(OrderbookParams(), 7, keys).tobytes() == one
    assert _generated(OrderbookParams(), 8, keys).tobytes() != one
    assert _generated(replace(OrderbookParams(), depth=11), 7, keys).tobytes() != one


def test_a_shorter_stream_is_a_prefix_of_a_longer_one() -> None:
    """Every field depends only on its own seq and its instrument's past: the first m events of a
    stream are the stream of m events (as the harness's keys and arrivals are)."""
    keys = (random_stream(2, 1, 0, 100_000) >> np.uint64(57)).astype(np.uint32)
    whole = _generated(OrderbookParams(), 3, keys)
    for m in (1, 2, 1000, 65_537):
        assert _generated(OrderbookParams(), 3, keys[:m]).tobytes() == whole[:m].tobytes()


def test_empty_and_wrong_input() -> None:
    records = np.zeros(0, dtype=RECORD_DTYPE)
    fill_orderbook_fields(OrderbookParams(), 1, records)
    with pytest.raises(TypeError, match="RECORD_DTYPE"):
        fill_orderbook_fields(OrderbookParams(), 1, np.zeros(3, dtype=np.uint64))
    with pytest.raises(InvalidInput, match=r"orderbook\.accounts"):
        fill_orderbook_fields(OrderbookParams(accounts=0), 1, _records(np.zeros(3, dtype=np.uint32)))


@pytest.mark.parametrize("name", WORKLOADS)
def test_builtin_bytes_are_pinned(name: str) -> None:
    records = stream_of(*builtin_workload(name))
    assert hashlib.sha256(records.tobytes()).hexdigest() == GOLDEN_SHA256[name]


# ---------------------------------------------------------------- what §4 says a workload looks like


@pytest.fixture(scope="module")
def book() -> np.ndarray:
    return stream_of(*builtin_workload("book"))


def test_the_kind_mix_is_as_weighted(book: np.ndarray) -> None:
    share = np.bincount(book["kind"], minlength=3) / len(book)
    assert np.allclose(share, [0.46, 0.04, 0.50], atol=0.005)
    keys = (random_stream(5, 1, 0, 100_000) >> np.uint64(60)).astype(np.uint32)
    no_cancels = _generated(OrderbookParams(limit_weight=3, market_weight=1, cancel_weight=0), 5, keys)
    assert np.allclose(np.bincount(no_cancels["kind"]) / 100_000, [0.75, 0.25], atol=0.005)


def test_cancels_target_recent_limit_orders_of_their_own_instrument(book: np.ndarray) -> None:
    kind, key, target = book["kind"], book["key"], book["target"].astype(np.intp)
    cancels = np.flatnonzero(kind == CANCEL)
    first_limit = {}
    for k in np.unique(key):
        limits = np.flatnonzero((key == k) & (kind == LIMIT))
        first_limit[int(k)] = int(limits[0]) if len(limits) else len(book)
    has_own = np.array([first_limit[int(key[i])] < i for i in cancels])
    assert has_own.mean() > 0.99
    mine = cancels[has_own]
    assert np.all(kind[target[mine]] == LIMIT) and np.all(key[target[mine]] == key[mine])
    # "recent": one of the instrument's last 16 limit orders
    for i in mine[:2000]:
        limits = np.flatnonzero((key[:i] == key[i]) & (kind[:i] == LIMIT))
        assert target[i] in limits[-16:]


def test_limit_prices_rest_on_their_own_side_but_for_the_crossing_fraction() -> None:
    """With a still mid (mid_step 0) every limit is within ``depth`` of it, on its own side unless
    it crosses: a buy below, a sell above, never at the mid."""
    keys = (random_stream(6, 1, 0, 200_000) >> np.uint64(58)).astype(np.uint32)
    params = OrderbookParams(mid_step=0, mid_price=500, depth=7, cross_fraction=0.2)
    records = _generated(params, 6, keys)
    limit = records["kind"] == LIMIT
    price, side = records["price"][limit].astype(np.int64), records["side"][limit]
    assert np.all((np.abs(price - 500) >= 1) & (np.abs(price - 500) <= 7))
    crossing = np.where(side == BUY, price > 500, price < 500)
    assert abs(crossing.mean() - 0.2) < 0.005
    assert abs((side == SELL).mean() - 0.5) < 0.005


def test_prices_follow_each_instruments_walk_and_stay_in_range(book: np.ndarray) -> None:
    limit = book["kind"] == LIMIT
    assert np.all(book["price"][limit] >= 1)
    assert not np.any(book["price"][~limit])
    for k in (0, 1, 50):
        prices = book["price"][limit & (book["key"] == k)].astype(np.int64)
        assert len(prices) > 10
        assert np.all(np.abs(np.diff(prices)) < 200)  # a walk of 1-tick steps, not jumps
    # at the floor the walk is reflected: prices stay >= 1, and the mid does not stick there
    keys = np.zeros(20_000, dtype=np.uint32)
    records = _generated(OrderbookParams(mid_price=3, depth=2, mid_step=5), 9, keys)
    price = records["price"][records["kind"] == LIMIT]
    assert price.min() >= 1 and np.median(price) > 20
    high = _generated(OrderbookParams(mid_price=MAX_PRICE - 2, depth=2, mid_step=5), 9, keys)
    assert high["price"].max() == MAX_PRICE and _broken(high) == []


def test_accounts_are_skewed_or_uniform(book: np.ndarray) -> None:
    orders = book["kind"] != CANCEL
    counts = np.bincount(book["account"][orders], minlength=5000)
    assert len(counts) == 5000 and np.argmax(counts) == 0 and (counts > 0).sum() > 3000
    keys = np.zeros(100_000, dtype=np.uint32)
    uniform = _generated(OrderbookParams(accounts=4, account_distribution="uniform", cancel_weight=0), 1, keys)
    assert np.allclose(np.bincount(uniform["account"]) / 100_000, 0.25, atol=0.005)


# ---------------------------------------------------------------- through the semantics and the reference


def _handled(n_keys: int, records: np.ndarray) -> tuple[list[Book], Accounts]:
    """The stream through the Python semantics, one thread (as tests/test_orderbook.py drives it)."""
    columns = OrderbookPython().columns(records)
    books, accounts = [Book() for _ in range(n_keys)], Accounts()
    handle = bind(columns, books, accounts, lambda *ids: nullcontext())
    for i in range(len(records)):
        handle(i)
    return books, accounts


def test_book_smoke_digest_agrees_with_the_reference_and_makes_trades_and_cancels() -> None:
    spec, params = builtin_workload("book-smoke")
    records = stream_of(spec, params)
    books, accounts = _handled(spec.keys, records)
    assert f"{digest(spec.events, books, accounts):016x}" == orderbook_digest(spec.keys, records.tolist())
    fills, cancelled = sum(b.fills for b in books), sum(b.cancelled for b in books)
    cancels = int((records["kind"] == CANCEL).sum())
    assert fills >= 0.05 * spec.events, fills  # trades happen: about 0.18 fills an event
    assert cancelled >= 0.25 * cancels, (cancelled, cancels)  # about half the cancels find their order
    assert all(b.events and b.fills and b.cancelled for b in books)


@pytest.mark.parametrize("name", ["book-contention"])
def test_the_contention_workload_trades_among_few_accounts(name: str) -> None:
    spec, params = builtin_workload(name)
    records = stream_of(replace(spec, events=20_000), params)
    books, _ = _handled(spec.keys, records)
    assert sum(b.fills for b in books) >= 0.3 * 20_000
    assert set(np.unique(records["account"][records["kind"] != CANCEL]).tolist()) == {0, 1, 2, 3}


# ---------------------------------------------------------------- the [orderbook] table


def test_builtin_workloads_parse() -> None:
    for name in WORKLOADS:
        spec, params = builtin_workload(name)
        assert spec.name == name and params.accounts >= 1
    assert builtin_workload("book-smoke")[0].events == 2000
    assert builtin_workload("book-paced")[0].default_mode == "open"
    assert builtin_workload("book")[1] == OrderbookParams(accounts=5000)  # the defaults, with more accounts


def test_an_empty_table_gives_the_defaults() -> None:
    assert params_from_table({}, "t.toml") == OrderbookParams()
    assert params_from_table({"qty": [2, 2], "cross_fraction": 0, "limit_weight": 1}, "t.toml") == OrderbookParams(
        qty=(2, 2), cross_fraction=0.0, limit_weight=1.0
    )


@pytest.mark.parametrize(
    ("table", "where", "rule"),
    [
        ({"acounts": 3}, "orderbook.acounts", "unknown key (expected one of: account_distribution, "),
        ({"accounts": True}, "orderbook.accounts", "must be int, got bool True"),
        ({"accounts": 2.0}, "orderbook.accounts", "must be int, got float 2.0"),
        ({"cross_fraction": "0.1"}, "orderbook.cross_fraction", "must be int or float, got str '0.1'"),
        ({"limit_weight": False}, "orderbook.limit_weight", "must be int or float, got bool False"),
        ({"accounts": 0}, "orderbook.accounts", "must be in 1..65536, got 0"),
        ({"accounts": 65_537}, "orderbook.accounts", "must be in 1..65536, got 65537"),
        ({"account_distribution": "pareto"}, "orderbook.account_distribution", "must be one of uniform, zipf"),
        ({"account_zipf_exponent": 0}, "orderbook.account_zipf_exponent", "must be in (0, 10], got 0.0"),
        ({"account_zipf_exponent": float("nan")}, "orderbook.account_zipf_exponent", "must be in (0, 10]"),
        ({"market_weight": -1}, "orderbook.market_weight", "must be finite and >= 0, got -1.0"),
        ({"cancel_weight": float("inf")}, "orderbook.cancel_weight", "must be finite and >= 0, got inf"),
        (
            {"limit_weight": 0, "market_weight": 0, "cancel_weight": 0},
            "orderbook.cancel_weight",
            "the three kind weights must not all be 0",
        ),
        ({"depth": 0}, "orderbook.depth", "must be in 1..1000000, got 0"),
        ({"mid_price": 10}, "orderbook.mid_price", "must be in 11..4294967285 (depth 10 ticks either side"),
        ({"mid_price": 2**32 - 10}, "orderbook.mid_price", "must be in 11..4294967285"),
        ({"mid_step": -1}, "orderbook.mid_step", "must be in 0..1000000, got -1"),
        ({"cross_fraction": 1.5}, "orderbook.cross_fraction", "must be in [0, 1], got 1.5"),
        ({"qty": [0, 5]}, "orderbook.qty", "must be [low, high] with 1 <= low <= high <= 4294967295, got [0, 5]"),
        ({"qty": [5, 4]}, "orderbook.qty", "must be [low, high] with 1 <= low <= high"),
        ({"qty": [1, 2**32]}, "orderbook.qty", "must be [low, high] with 1 <= low <= high"),
        ({"qty": [1]}, "orderbook.qty", "must be [low, high] integers, got [1]"),
        ({"qty": [1, 2.5]}, "orderbook.qty", "must be [low, high] integers, got [1, 2.5]"),
        ({"qty": [True, 2]}, "orderbook.qty", "must be [low, high] integers"),
        ({"qty": 5}, "orderbook.qty", "must be list, got int 5"),
        ({"cancel_reach": 0}, "orderbook.cancel_reach", "must be in 1..1000000, got 0"),
    ],
)
def test_each_rule_names_its_field(table: dict[str, Any], where: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        params_from_table(table, "mine.toml")
    assert caught.value.source == "mine.toml" and caught.value.where == where
    assert caught.value.rule.startswith(rule), caught.value.rule
    assert "\n" not in str(caught.value)
