"""The order book's semantics in Python (docs/scenarios/orderbook.md §2), once.

Per instrument, a :class:`Book`: each side maps a price to its level, a dict of resting
orders by id in arrival order (a dict keeps insertion order, so the oldest is the first
key, and a cancel removes from the middle in O(1)); a sorted list of the side's prices
finds the best level. Positions and cash per account are shared by every instrument:
:class:`Accounts`, changed only inside ``guard(buyer, seller)``, which an executor makes a
lock (or locks by account) where several threads handle events at once, and nothing where
one thread does.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np

from protocol.splitmix import MASK64, mix

LIMIT, MARKET, CANCEL = 0, 1, 2
BUY, SELL = 0, 1
N_ACCOUNTS = 65_536

Guard = Callable[..., AbstractContextManager[object]]  # guard(account, ...) -> a context


class Book:
    """One instrument: both sides, where each resting order is, and the instrument's counters."""

    __slots__ = ("cancelled", "events", "fills", "h", "levels", "prices", "volume", "where")

    def __init__(self) -> None:
        # levels[side][price] = {order id: [account, remaining]}, oldest first
        self.levels: tuple[dict[int, dict[int, list[int]]], dict[int, dict[int, list[int]]]] = ({}, {})
        self.prices: tuple[list[int], list[int]] = ([], [])  # ascending; the best bid is the last
        self.where: dict[int, tuple[int, int]] = {}  # order id -> (side, price)
        self.events = self.fills = self.volume = self.cancelled = self.h = 0

    def best(self, side: int) -> int | None:
        prices = self.prices[side]
        if not prices:
            return None
        return prices[-1] if side == BUY else prices[0]

    def rest(self, side: int, price: int, order_id: int, account: int, remaining: int) -> None:
        level = self.levels[side].get(price)
        if level is None:
            level = self.levels[side][price] = {}
            insort(self.prices[side], price)
        level[order_id] = [account, remaining]
        self.where[order_id] = (side, price)

    def remove(self, order_id: int) -> None:
        side, price = self.where.pop(order_id)
        level = self.levels[side][price]
        del level[order_id]
        if not level:
            del self.levels[side][price]
            prices = self.prices[side]
            del prices[bisect_left(prices, price)]

    def resting(self, side: int) -> list[tuple[int, int, int]]:
        """``(id, price, remaining)`` of every resting order on ``side``, in the digest's order:
        bids from the highest price down, asks from the lowest up, oldest first in a level."""
        prices = self.prices[side]
        ordered = reversed(prices) if side == BUY else iter(prices)
        return [(oid, p, o[1]) for p in ordered for oid, o in self.levels[side][p].items()]


class Accounts:
    """Positions and cash of all 65,536 accounts, modulo 2^64."""

    __slots__ = ("cash", "pos")

    def __init__(self) -> None:
        self.pos = [0] * N_ACCOUNTS
        self.cash = [0] * N_ACCOUNTS

    @staticmethod
    def merged(parts: Sequence[Accounts]) -> Accounts:
        """The sum of partial accounts (one per worker process): sums do not depend on the order."""
        out = Accounts()
        for part in parts:
            out.pos = [(a + b) & MASK64 for a, b in zip(out.pos, part.pos, strict=True)]
            out.cash = [(a + b) & MASK64 for a, b in zip(out.cash, part.cash, strict=True)]
        return out


@dataclass(frozen=True)
class Columns:
    """The stream's fields as Python lists (per-event access is far cheaper than on numpy). An
    executor may decode some of the events only (a worker process, its keys'): an order's id is
    its event's ``seq``, never its index here."""

    seq: list[int]
    key: list[int]
    kind: list[int]
    side: list[int]
    account: list[int]
    price: list[int]
    qty: list[int]
    target: list[int]


def bind(columns: Columns, books: list[Book], accounts: Accounts, guard: Guard) -> Callable[[int], int]:
    """The handler of event ``i`` over these books and accounts; returns the microseconds the
    event then waits for I/O (always 0: the order book only computes)."""
    seq, key, kind, side, account = columns.seq, columns.key, columns.kind, columns.side, columns.account
    price, qty, target = columns.price, columns.qty, columns.target
    pos, cash = accounts.pos, accounts.cash

    def fill(book: Book, maker_id: int, level_price: int, f: int, buyer: int, seller: int) -> None:
        book.fills += 1
        book.volume = (book.volume + f) & MASK64
        book.h = mix(mix(book.h ^ maker_id) ^ ((level_price << 32) | f))
        notional = level_price * f
        with guard(buyer, seller):
            pos[buyer] = (pos[buyer] + f) & MASK64
            pos[seller] = (pos[seller] - f) & MASK64
            cash[buyer] = (cash[buyer] - notional) & MASK64
            cash[seller] = (cash[seller] + notional) & MASK64

    def take(book: Book, i: int, s: int, q: int, market: bool) -> int:
        """Matches the taker against the opposite side; returns the quantity left."""
        opposite, limit, taker = 1 - s, price[i], account[i]
        levels = book.levels[opposite]
        while q > 0:
            best = book.best(opposite)
            if best is None or (not market and (best > limit if s == BUY else best < limit)):
                break
            level = levels[best]
            maker_id = next(iter(level))
            maker = level[maker_id]
            f = min(q, maker[1])
            buyer, seller = (taker, maker[0]) if s == BUY else (maker[0], taker)
            fill(book, maker_id, best, f, buyer, seller)
            maker[1] -= f
            q -= f
            if maker[1] == 0:
                book.remove(maker_id)
        return q

    def handle(i: int) -> int:
        book = books[key[i]]
        book.events += 1
        k = kind[i]
        if k == CANCEL:
            if target[i] in book.where:
                book.remove(target[i])
                book.cancelled += 1
            return 0
        s = side[i]
        left = take(book, i, s, qty[i], k == MARKET)
        if left and k == LIMIT:
            book.rest(s, price[i], seq[i], account[i], left)
        return 0

    return handle


def digest(n_events: int, books: Sequence[Book], accounts: Accounts) -> int:
    """The contract's digest (§2) of the final books and accounts."""
    d = mix(n_events)
    for book in books:
        for x in (book.events, book.fills, book.volume, book.h, book.cancelled):
            d = mix(d ^ x)
        for marker, side in ((1, BUY), (2, SELL)):
            for order_id, p, remaining in book.resting(side):
                d = mix(d ^ order_id)
                d = mix(d ^ ((p << 32) | remaining))
            d = mix(d ^ marker)
    for a, (p, c) in enumerate(zip(accounts.pos, accounts.cash, strict=True)):
        if p or c:
            d = mix(d ^ a)
            d = mix(d ^ p)
            d = mix(d ^ c)
    return d


class OrderbookPython:
    """:class:`protocol.scenario.PythonSemantics` for the order book."""

    def columns(self, records: np.ndarray) -> Columns:
        names = ("seq", "key", "kind", "side", "account", "price", "qty", "target")
        return Columns(*(records[name].tolist() for name in names))

    def new_keys(self, n_keys: int) -> list[Book]:
        return [Book() for _ in range(n_keys)]

    def new_shared(self) -> Accounts:
        return Accounts()

    bind = staticmethod(bind)

    def keys_part(self, keys: list[Book], owned: Sequence[int]) -> list[Book]:
        return [keys[k] for k in owned]

    def merge(
        self, n_keys: int, parts: Sequence[tuple[Sequence[int], list[Book]]], shared: Sequence[Accounts]
    ) -> tuple[list[Book], Accounts]:
        books = self.new_keys(n_keys)
        for owned, owned_books in parts:
            for k, book in zip(owned, owned_books, strict=True):
                books[k] = book
        return books, Accounts.merged(shared)

    def digest(self, n_events: int, keys: list[Book], shared: Accounts) -> int:
        return digest(n_events, keys, shared)
