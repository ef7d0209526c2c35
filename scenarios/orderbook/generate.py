"""The order book's workload generator (docs/scenarios/orderbook.md §4), vectorised.

The harness draws ``seq``, ``arrival_ns`` and ``key`` (the instrument) as for every scenario;
this module fills the rest of each record from the ``[orderbook]`` table's parameters. As in
``harness/workload.py``, every field is drawn from its own counter-based SplitMix64 stream
(``protocol.splitmix.random_stream``, output ``i`` a pure function of the seed, the stream id and ``i``)
and decided by exact integer arithmetic: kinds and the crossing fraction by exact 32-bit
thresholds (Fractions), quantities, offsets, steps and cancel targets by multiply-shift. Only the
accounts' Zipf table goes through floating point, exactly as the harness's Zipf keys do.

What depends on an instrument's past (the random walk of its mid, and "one of its last R limit
orders" for a cancel) is computed for every instrument at once, without a loop per event: the
events in instrument-then-seq order (a stable radix argsort of the keys), cumulative sums over
that order, less each sum at its instrument's first event.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from protocol.errors import InvalidInput
from protocol.splitmix import random_stream
from scenarios.orderbook.layout import RECORD_DTYPE
from scenarios.orderbook.semantics import BUY, CANCEL, LIMIT, N_ACCOUNTS
from scenarios.tables import int_pair, typed

MAX_PRICE = 2**32 - 1
MAX_QTY = 2**32 - 1
MAX_STEP = 1_000_000  # ticks an instrument's mid moves at most per event
MAX_DEPTH = 1_000_000
MAX_REACH = 1_000_000
ACCOUNT_DISTRIBUTIONS = ("uniform", "zipf")

# One stream id per drawn field, clear of the synthetic scenario's 1-4; never renumber (it would
# change every order-book workload's bytes).
_KIND_STREAM, _SIDE_STREAM, _ACCOUNT_STREAM, _PRICE_STREAM, _QTY_STREAM, _TARGET_STREAM, _WALK_STREAM = range(11, 18)
_U = np.uint64
_LOW32 = _U(0xFFFFFFFF)


@dataclass(frozen=True)
class OrderbookParams:
    """The ``[orderbook]`` table: who sends what, and where prices are.

    - ``accounts``: orders come from accounts ``0 .. accounts-1`` (1..65,536), drawn uniformly or
      by Zipf (``account_distribution``, ``account_zipf_exponent``; account 0 the most active).
    - ``limit_weight``, ``market_weight``, ``cancel_weight``: relative weights of the three kinds
      (any non-negative numbers, not all 0). Record 0 is never a cancel: drawn as one, it is a
      limit.
    - ``mid_price``: every instrument's mid starts here, in ticks; at each of the instrument's
      events it moves by a uniform integer in ``-mid_step .. mid_step``: a random walk, reflected
      at ``depth+1`` and ``2^32-1-depth`` so that every price fits (``mid_price`` must lie there).
    - ``depth``: a limit order rests ``1 .. depth`` ticks from the mid on its own side (below it
      to buy, above it to sell); a ``cross_fraction`` of limit orders instead cross the mid by
      ``1 .. depth`` ticks, to take liquidity (and fill against what rests there).
    - ``qty``: ``[low, high]``, quantities uniform in that range (limit and market orders).
    - ``cancel_reach``: a cancel targets one of the last ``cancel_reach`` limit orders of its own
      instrument (uniformly); where the instrument has had none yet, any earlier ``seq``.
    """

    accounts: int = 4096
    account_distribution: str = "zipf"
    account_zipf_exponent: float = 1.0
    limit_weight: float = 46.0
    market_weight: float = 4.0
    cancel_weight: float = 50.0
    mid_price: int = 10_000
    mid_step: int = 1
    depth: int = 10
    cross_fraction: float = 0.1
    qty: tuple[int, int] = (1, 100)
    cancel_reach: int = 16


# ---------------------------------------------------------------- parsing and validation

_NUMBER = (int, float)
_PARAM_TYPES: dict[str, Any] = {
    "accounts": int, "account_distribution": str, "account_zipf_exponent": _NUMBER,
    "limit_weight": _NUMBER, "market_weight": _NUMBER, "cancel_weight": _NUMBER,
    "mid_price": int, "mid_step": int, "depth": int, "cross_fraction": _NUMBER,
    "qty": list, "cancel_reach": int,
}  # fmt: skip


def params_from_table(table: dict[str, Any], source: str) -> OrderbookParams:
    """The ``[orderbook]`` table (as ``tomllib`` gives it), checked; raises :class:`InvalidInput`
    naming ``orderbook.<field>`` and the rule broken. Missing keys take the defaults."""
    values: dict[str, Any] = {}
    for key, value in typed(table, _PARAM_TYPES, "orderbook.", source).items():
        if key == "qty":
            value = int_pair(value, "orderbook.qty", source)
        elif _PARAM_TYPES[key] is _NUMBER:
            value = float(value)
        values[key] = value
    params = OrderbookParams(**values)
    validate_params(params, source)
    return params


def validate_params(params: OrderbookParams, source: str) -> None:
    """Every rule the parameters must keep; raises :class:`InvalidInput` naming the field."""

    def bad(field: str, rule: str) -> InvalidInput:
        return InvalidInput(source, f"orderbook.{field}", rule)

    def in_range(field: str, low: int, high: int) -> None:
        value = getattr(params, field)
        if not low <= value <= high:
            raise bad(field, f"must be in {low}..{high}, got {value}")

    in_range("accounts", 1, N_ACCOUNTS)
    if params.account_distribution not in ACCOUNT_DISTRIBUTIONS:
        choices = ", ".join(ACCOUNT_DISTRIBUTIONS)
        raise bad("account_distribution", f"must be one of {choices}, got {params.account_distribution!r}")
    s = params.account_zipf_exponent
    if not (math.isfinite(s) and 0 < s <= 10):
        raise bad("account_zipf_exponent", f"must be in (0, 10], got {s}")
    for field in ("limit_weight", "market_weight", "cancel_weight"):
        w = getattr(params, field)
        if not (math.isfinite(w) and w >= 0):
            raise bad(field, f"must be finite and >= 0, got {w}")
    if params.limit_weight + params.market_weight + params.cancel_weight <= 0:
        raise bad("cancel_weight", "the three kind weights must not all be 0")
    in_range("depth", 1, MAX_DEPTH)
    if not params.depth < params.mid_price <= MAX_PRICE - params.depth:
        low, high = params.depth + 1, MAX_PRICE - params.depth
        raise bad(
            "mid_price",
            f"must be in {low}..{high} (depth {params.depth} ticks either side fit 1..2^32-1), got {params.mid_price}",
        )
    in_range("mid_step", 0, MAX_STEP)
    if not (math.isfinite(params.cross_fraction) and 0 <= params.cross_fraction <= 1):
        raise bad("cross_fraction", f"must be in [0, 1], got {params.cross_fraction}")
    low, high = params.qty
    if not 1 <= low <= high <= MAX_QTY:
        raise bad("qty", f"must be [low, high] with 1 <= low <= high <= {MAX_QTY}, got [{low}, {high}]")
    in_range("cancel_reach", 1, MAX_REACH)


# ---------------------------------------------------------------- generation


def _uniform_below(draws: np.ndarray, bound: np.ndarray | int) -> np.ndarray:
    """Maps the high 32 bits of each draw onto ``0..bound-1`` by multiply-shift (bound <= 2**32)."""
    return ((draws >> _U(32)) * (bound if isinstance(bound, np.ndarray) else _U(bound))) >> _U(32)


def _threshold(fraction: Fraction) -> int:
    """A probability as an exact 32-bit threshold: ``low32 < threshold`` with that probability."""
    return int(fraction * 2**32)


def _kind_thresholds(params: OrderbookParams) -> tuple[int, int]:
    weights = [Fraction(params.limit_weight), Fraction(params.market_weight), Fraction(params.cancel_weight)]
    total = sum(weights, Fraction(0))
    return _threshold(weights[0] / total), _threshold((weights[0] + weights[1]) / total)


def _zipf_cdf(n: int, exponent: float) -> np.ndarray:
    # Account r (0-based) has weight (r+1)**-s: account 0 is the most active (as the harness's keys).
    cdf = np.cumsum(np.arange(1, n + 1, dtype=np.float64) ** -exponent)
    return cdf / cdf[-1]


def _zipf_ranks(cdf: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """``min(searchsorted(cdf, u, "right"), len(cdf)-1)`` for ``u`` the top 53 bits of each draw as
    a fraction in [0, 1) (as the harness draws Zipf keys), exactly, but mostly by table lookup: the
    top ``bits`` bits of a draw name a bucket of u, and where no entry of the cdf falls inside the
    bucket, every u in it has the same rank. Only the draws in the other buckets are searched: a
    binary search per draw is branchy, and this is 3-8x faster."""
    bits = min(max(len(cdf).bit_length() + 3, 12), 18)
    edges = np.arange(2**bits + 1, dtype=np.float64) * 2.0**-bits  # exact
    low = np.searchsorted(cdf, edges[:-1], side="right")  # the rank of the bucket's smallest u
    high = np.searchsorted(cdf, edges[1:], side="left")  # the rank of its largest u
    table = np.where(low == high, low, -1).astype(np.int32)
    ranks = table[(draws >> _U(64 - bits)).astype(np.intp)]
    unsure = np.flatnonzero(ranks < 0)
    unit = (draws[unsure] >> _U(11)).astype(np.float64) * 2.0**-53
    ranks[unsure] = np.searchsorted(cdf, unit, side="right")
    return np.minimum(ranks, len(cdf) - 1)


def _instrument_order(key: np.ndarray) -> np.ndarray:
    """The seqs sorted by instrument, seq order within each: a stable argsort, by the radix sort
    numpy uses for 16-bit keys (in two passes, low half first, for keys beyond 16 bits)."""
    if int(key.max()) < 2**16:
        return np.argsort(key.astype(np.uint16), kind="stable")
    order = np.argsort((key & 0xFFFF).astype(np.uint16), kind="stable")
    return order[np.argsort((key[order] >> 16).astype(np.uint16), kind="stable")]


def _reflect(walk: np.ndarray, low: int, high: int) -> None:
    """Folds a walk into ``low..high`` in place, as if reflected at both ends (where it leaves them)."""
    if walk.min() >= low and walk.max() <= high:
        return
    width = high - low
    if width == 0:
        walk[:] = low
        return
    folded = np.mod(walk - low, 2 * width)
    walk[:] = low + np.where(folded <= width, folded, 2 * width - folded)


def fill_orderbook_fields(params: OrderbookParams, seed: int, records: np.ndarray) -> None:
    """Fills ``kind, side, account, price, qty, target`` of a whole stream, in place.

    ``records`` is the whole stream (RECORD_DTYPE), its ``seq`` (``0..n-1``), ``arrival_ns`` and
    ``key`` columns already drawn by the harness; every record then keeps the contract's rules
    (``layout.field_rules``). The result depends only on ``params``, ``seed`` and the keys, the same
    on every machine and numpy version. Each field's draws are outputs ``0..n-1`` of its own
    counter-based stream, indexed by ``seq`` (the same numbers whether a stream is computed in one
    call or in chunks), and a record depends only on its own draws and on its instrument's earlier
    events: the first ``m`` records of a stream are the stream of ``m`` events. Give the whole
    stream in one call, though: a piece on its own would start every walk and every instrument's
    list of limit orders afresh. Memory: about 60 bytes an event besides the records.
    """
    if records.dtype != RECORD_DTYPE:
        raise TypeError(f"records must be the order book's RECORD_DTYPE, got {records.dtype}")
    n = len(records)
    if n == 0:
        return
    if n >= 2**32:
        raise ValueError(f"{n} events: the last seq must fit 32 bits (a cancel's draw is below its seq)")
    validate_params(params, "<params>")

    # Per event, in seq order: kind, side, account, quantity, and the limit price's offset from the mid.
    draws = random_stream(seed, _KIND_STREAM, 0, n) & _LOW32
    limit_below, market_below = _kind_thresholds(params)
    # 0 limit, 1 market, 2 cancel: how many of the two thresholds the draw reaches
    kind = (draws >= _U(limit_below)).view(np.uint8) + (draws >= _U(market_below)).view(np.uint8)
    if kind[0] == CANCEL:
        kind[0] = LIMIT  # a cancel needs an earlier order: the stream never starts with one
    limit = kind == LIMIT
    order_kept = (kind != CANCEL).view(np.uint8)  # 0 where a cancel's side, account and qty are 0

    side = (random_stream(seed, _SIDE_STREAM, 0, n) >> _U(63)).astype(np.uint8)
    side &= order_kept

    draws = random_stream(seed, _ACCOUNT_STREAM, 0, n)
    if params.account_distribution == "uniform" or params.accounts == 1:
        account = _uniform_below(draws, params.accounts).astype(np.uint16)
    else:
        account = _zipf_ranks(_zipf_cdf(params.accounts, params.account_zipf_exponent), draws).astype(np.uint16)
    account *= order_kept

    low, high = params.qty
    qty = (_uniform_below(random_stream(seed, _QTY_STREAM, 0, n), high - low + 1) + _U(low)).astype(np.uint32)
    qty *= order_kept

    # Low 32 bits: does this limit cross the mid? High 32 bits: by how many ticks (1..depth).
    draws = random_stream(seed, _PRICE_STREAM, 0, n)
    offset = (_uniform_below(draws, params.depth) + _U(1)).astype(np.int64)
    crosses = (draws & _LOW32) < _U(_threshold(Fraction(params.cross_fraction)))
    # A buy rests below the mid and a sell above it; a crossing order goes the other way.
    np.negative(offset, out=offset, where=(side == BUY) != crosses)

    # Instrument-then-seq order: ``order[p]`` is the seq of the p-th event in that order, and
    # ``group_start[p]`` the position of its instrument's first event.
    key = records["key"]
    order = _instrument_order(key)
    counts = np.bincount(key)  # events per instrument (an array of n_keys counts)
    counts = counts[counts > 0]
    group_start = np.repeat(np.cumsum(counts) - counts, counts)

    # The mid's walk: each event's step, summed over its instrument's events up to and including it,
    # then reflected at the bounds that keep every limit price in 1..2^32-1 on its own side.
    step = _uniform_below(random_stream(seed, _WALK_STREAM, 0, n), 2 * params.mid_step + 1).astype(np.int64)
    step_in_order = step[order] - params.mid_step
    walk = np.cumsum(step_in_order)
    walk -= (walk - step_in_order)[group_start]  # less the sum of the instrument's steps before it
    mid = np.empty(n, dtype=np.int64)
    mid[order] = walk
    mid += params.mid_price
    _reflect(mid, params.depth + 1, MAX_PRICE - params.depth)
    price = (mid + offset).astype(np.uint32)
    price *= limit.view(np.uint8)

    # Cancels: one of the last ``cancel_reach`` limit orders of the same instrument, where it has
    # had one; else any earlier seq (the semantics then find nothing to cancel).
    limit_in_order = limit[order]
    limits_before = np.cumsum(limit_in_order) - limit_in_order  # limit orders before position p, all instruments
    at = np.flatnonzero(kind[order] == CANCEL)  # positions of the cancels, in instrument order
    cancel_seq = order[at]
    own = limits_before[at] - limits_before[group_start[at]]  # limit orders of its instrument before it
    draws = random_stream(seed, _TARGET_STREAM, 0, n)[cancel_seq]
    has_own = own > 0
    back = _uniform_below(draws, np.where(has_own, np.minimum(own, params.cancel_reach), cancel_seq).astype(np.uint64))
    target = np.zeros(n, dtype=np.uint64)
    if has_own.any():
        limit_seqs = order[limit_in_order]  # seqs of limit orders, in instrument-then-seq order
        picked = limit_seqs[np.where(has_own, limits_before[at] - 1 - back.astype(np.intp), 0)]
        target[cancel_seq] = np.where(has_own, picked, back)
    else:
        target[cancel_seq] = back

    records["kind"] = kind
    records["side"] = side
    records["account"] = account
    records["price"] = price
    records["qty"] = qty
    records["target"] = target
