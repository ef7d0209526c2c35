"""A second reference for scenario ``orderbook`` v1, written straight from docs/scenarios/orderbook.md.

It shares no code with eventbench (only ``spec_mix`` from the tests' own SPEC reference): rows are
plain 9-tuples ``(seq, arrival_ns, key, kind, side, account, price, qty, target)``, file images are
written and read with ``struct``, and §2's rules are applied literally, one event at a time in
``seq`` order, so that the production implementation is checked against the contract rather than
against itself. Simple rather than fast: a side is a dict ``price -> list of orders``, oldest first.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

from reference import spec_mix

M = 2**64
N_ACCOUNTS = 65536

LIMIT, MARKET, CANCEL = 0, 1, 2
BUY, SELL = 0, 1

HEADER = struct.Struct("<8sIIQII24sQ")  # SPEC §7: 64 bytes
RECORD = struct.Struct("<QQIBBHIIQ")  # orderbook.md §1: 40 bytes
assert HEADER.size == 64 and RECORD.size == 40

SCENARIO = "orderbook"
SCENARIO_VERSION = 1
RECORD_SIZE = 40

Row = tuple[int, int, int, int, int, int, int, int, int]

# (name, bits) for each field of a row, to check that every value fits its type.
FIELDS = (
    ("seq", 64),
    ("arrival_ns", 64),
    ("key", 32),
    ("kind", 8),
    ("side", 8),
    ("account", 16),
    ("price", 32),
    ("qty", 32),
    ("target", 64),
)


class Order:
    """A resting order: id (the seq of the limit that placed it), account, remaining > 0."""

    __slots__ = ("account", "id", "remaining")

    def __init__(self, id: int, account: int, remaining: int) -> None:
        self.id = id
        self.account = account
        self.remaining = remaining

    def __repr__(self) -> str:
        return f"Order(id={self.id}, account={self.account}, remaining={self.remaining})"


class Instrument:
    """One instrument's book (bids and asks: price -> orders, oldest first) and its counters."""

    def __init__(self) -> None:
        self.bids: dict[int, list[Order]] = {}
        self.asks: dict[int, list[Order]] = {}
        self.events = 0
        self.fills = 0
        self.volume = 0
        self.cancelled = 0
        self.h = 0
        # id -> (side, price) of every resting order, so that a cancel finds its level directly.
        self.where: dict[int, tuple[int, int]] = {}

    def side(self, side: int) -> dict[int, list[Order]]:
        return self.bids if side == BUY else self.asks

    def bid_levels(self) -> list[tuple[int, list[tuple[int, int, int]]]]:
        """Resting bids as [(price, [(id, account, remaining), ...]), ...], highest price first."""
        return [(p, [(o.id, o.account, o.remaining) for o in self.bids[p]]) for p in sorted(self.bids, reverse=True)]

    def ask_levels(self) -> list[tuple[int, list[tuple[int, int, int]]]]:
        """Resting asks as [(price, [(id, account, remaining), ...]), ...], lowest price first."""
        return [(p, [(o.id, o.account, o.remaining) for o in self.asks[p]]) for p in sorted(self.asks)]


class State:
    """The whole §2 state: one Instrument per key, pos and cash per account (u64)."""

    def __init__(self, n_keys: int) -> None:
        self.n_keys = n_keys
        self.instruments = [Instrument() for _ in range(n_keys)]
        self.pos = [0] * N_ACCOUNTS
        self.cash = [0] * N_ACCOUNTS
        self.n = 0

    def signed_pos(self, a: int) -> int:
        """pos[a] read as a two's-complement i64, for readable test assertions."""
        return self.pos[a] - M if self.pos[a] >= 2**63 else self.pos[a]

    def signed_cash(self, a: int) -> int:
        return self.cash[a] - M if self.cash[a] >= 2**63 else self.cash[a]


def _fail(i: int, rule: str) -> ValueError:
    return ValueError(f"record {i}: {rule}")


def validate(n_keys: int, rows: Sequence[Row]) -> None:
    """SPEC §2/§7's seq, arrival_ns and key rules and orderbook.md §1's rules; the first broken is raised."""
    if not 1 <= n_keys <= 16_777_216:
        raise ValueError(f"n_keys must be in 1..16777216, got {n_keys}")
    prev_arrival = 0
    for i, row in enumerate(rows):
        if len(row) != 9:
            raise _fail(i, f"a record has 9 fields, got {len(row)}")
        for (name, bits), v in zip(FIELDS, row, strict=True):
            if not (isinstance(v, int) and 0 <= v < 2**bits):
                raise _fail(i, f"{name} must be a u{bits}, got {v!r}")
        seq, arrival, key, kind, side, account, price, qty, target = row
        if seq != i:
            raise _fail(i, f"seq must equal the record's index, got {seq}")
        if arrival < prev_arrival:
            raise _fail(i, f"arrival_ns must be non-decreasing, {arrival} < {prev_arrival}")
        prev_arrival = arrival
        if key >= n_keys:
            raise _fail(i, f"key must be < n_keys ({n_keys}), got {key}")
        if kind > 2:
            raise _fail(i, f"kind must be <= 2, got {kind}")
        if side > 1:
            raise _fail(i, f"side must be <= 1, got {side}")
        if kind == LIMIT:
            if price < 1:
                raise _fail(i, "limit: price must be >= 1")
            if qty < 1:
                raise _fail(i, "limit: qty must be >= 1")
            if target != 0:
                raise _fail(i, "limit: target must be 0")
        elif kind == MARKET:
            if price != 0:
                raise _fail(i, "market: price must be 0")
            if qty < 1:
                raise _fail(i, "market: qty must be >= 1")
            if target != 0:
                raise _fail(i, "market: target must be 0")
        else:
            if side != 0:
                raise _fail(i, "cancel: side must be 0")
            if account != 0:
                raise _fail(i, "cancel: account must be 0")
            if price != 0:
                raise _fail(i, "cancel: price must be 0")
            if qty != 0:
                raise _fail(i, "cancel: qty must be 0")
            if not target < seq:
                raise _fail(i, f"cancel: target must be < seq, got target {target}")


def apply(state: State, row: Row) -> None:
    """Handle one (already validated) event by §2."""
    seq, _arrival, k, kind, side, account, price, qty, target = row
    inst = state.instruments[k]
    state.n += 1
    inst.events += 1

    if kind == CANCEL:
        if target in inst.where:  # else: filled, cancelled before, never rested, or in another book
            on_side, p = inst.where.pop(target)
            book_side = inst.side(on_side)
            level = book_side[p]
            level[:] = [o for o in level if o.id != target]
            if not level:
                del book_side[p]
            inst.cancelled += 1
        return

    q = qty
    opposite = inst.asks if side == BUY else inst.bids
    while q > 0 and opposite:
        p = min(opposite) if side == BUY else max(opposite)
        if kind == LIMIT and ((side == BUY and p > price) or (side == SELL and p < price)):
            break
        level = opposite[p]
        m = level[0]
        f = min(q, m.remaining)

        inst.fills += 1
        inst.volume = (inst.volume + f) % M
        inst.h = spec_mix(inst.h ^ m.id)
        inst.h = spec_mix(inst.h ^ ((p << 32) | f))

        buyer, seller = (account, m.account) if side == BUY else (m.account, account)
        state.pos[buyer] = (state.pos[buyer] + f) % M
        state.pos[seller] = (state.pos[seller] - f) % M
        state.cash[buyer] = (state.cash[buyer] - p * f) % M
        state.cash[seller] = (state.cash[seller] + p * f) % M

        m.remaining -= f
        q -= f
        if m.remaining == 0:
            del level[0]
            del inst.where[m.id]
        if not level:
            del opposite[p]

    if kind == LIMIT and q > 0:
        inst.side(side).setdefault(price, []).append(Order(seq, account, q))
        inst.where[seq] = (side, price)
    # a market order's remainder is dropped


def digest_of_state(state: State) -> str:
    d = spec_mix(state.n)
    for k in range(state.n_keys):
        inst = state.instruments[k]
        for x in (inst.events, inst.fills, inst.volume, inst.h, inst.cancelled):
            d = spec_mix(d ^ x)
        for p in sorted(inst.bids, reverse=True):
            for o in inst.bids[p]:
                d = spec_mix(d ^ o.id)
                d = spec_mix(d ^ ((p << 32) | o.remaining))
        d = spec_mix(d ^ 1)
        for p in sorted(inst.asks):
            for o in inst.asks[p]:
                d = spec_mix(d ^ o.id)
                d = spec_mix(d ^ ((p << 32) | o.remaining))
        d = spec_mix(d ^ 2)
    for a in range(N_ACCOUNTS):
        if state.pos[a] != 0 or state.cash[a] != 0:
            d = spec_mix(d ^ a)
            d = spec_mix(d ^ state.pos[a])
            d = spec_mix(d ^ state.cash[a])
    return f"{d:016x}"


def orderbook_state(n_keys: int, rows: Iterable[Row]) -> State:
    """Validate the stream, then handle its events in seq order; the final §2 state."""
    rows = [tuple(r) for r in rows]
    validate(n_keys, rows)  # type: ignore[arg-type]
    state = State(n_keys)
    for row in rows:
        apply(state, row)  # type: ignore[arg-type]
    return state


def orderbook_digest(n_keys: int, rows: Iterable[Row]) -> str:
    return digest_of_state(orderbook_state(n_keys, rows))


def _check_name(name: str) -> None:
    assert 1 <= len(name) <= 24, f"scenario name must be 1-24 characters, got {name!r}"
    assert all(c in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in name), f"scenario name {name!r}: [a-z0-9-] only"


def encode_v2(
    n_keys: int,
    rows: Sequence[Row],
    scenario: str = SCENARIO,
    scenario_version: int = SCENARIO_VERSION,
    record_size: int = RECORD_SIZE,
) -> bytes:
    """The SPEC §7 version-2 file image: a 64-byte header, then one 40-byte record per row."""
    _check_name(scenario)
    assert record_size == RECORD.size, "the orderbook record is 40 bytes"
    name = scenario.encode("ascii").ljust(24, b"\0")
    out = [HEADER.pack(b"EVTSTRM1", 2, n_keys, len(rows), record_size, scenario_version, name, 0)]
    out += [RECORD.pack(*row) for row in rows]
    return b"".join(out)


def decode_v2(data: bytes) -> tuple[int, list[Row]]:
    """Check SPEC §7's header rules (header first, then size) and return (n_keys, rows)."""
    assert len(data) >= 64, f"a version-2 file has a 64-byte header, got {len(data)} bytes"
    magic, version, n_keys, n_events, record_size, scenario_version, name, reserved = HEADER.unpack_from(data, 0)
    assert magic == b"EVTSTRM1", f"magic must be EVTSTRM1, got {magic!r}"
    assert version == 2, f"version must be 2, got {version}"
    assert 1 <= n_keys <= 16_777_216, f"n_keys must be in 1..16777216, got {n_keys}"
    text = name.rstrip(b"\0")
    assert b"\0" not in text, "scenario name: NUL bytes only after the name"
    _check_name(text.decode("ascii", errors="replace"))
    assert reserved == 0, "reserved must be 0"
    assert text == SCENARIO.encode(), f"unknown scenario {text!r}"
    assert scenario_version == SCENARIO_VERSION, f"scenario_version must be 1, got {scenario_version}"
    assert record_size == RECORD_SIZE, f"record_size must be 40, got {record_size}"
    assert len(data) == 64 + record_size * n_events, f"size must be 64 + 40 * {n_events}, got {len(data)}"
    rows: list[Row] = [RECORD.unpack(data[64 + 40 * i : 104 + 40 * i]) for i in range(n_events)]  # type: ignore[misc]
    return n_keys, rows


def orderbook_digest_of_file_bytes(data: bytes) -> str:
    n_keys, rows = decode_v2(data)
    return orderbook_digest(n_keys, rows)
