"""The second order-book reference against orderbook.md §3's vectors, and hand-checked cases of its own.

The hand-checked cases state the final books, counters and accounts worked out by hand from §2,
and their digest is composed here from those hand-written values (by §2's digest listing), so a
case checks both the handling and the digest's layout; each also pins its digest's hex.
"""

from __future__ import annotations

import hashlib
import random
import time

import pytest

from orderbook_reference import (
    M,
    State,
    apply,
    decode_v2,
    digest_of_state,
    encode_v2,
    orderbook_digest,
    orderbook_digest_of_file_bytes,
    orderbook_state,
    validate,
)
from reference import spec_mix as mix

EIGHT = [
    (0, 0, 0, 0, 1, 1, 101, 5, 0),
    (1, 0, 0, 0, 1, 2, 100, 3, 0),
    (2, 1000, 0, 0, 0, 3, 101, 6, 0),
    (3, 1000, 1, 0, 0, 3, 50, 4, 0),
    (4, 2000, 0, 2, 0, 0, 0, 0, 3),
    (5, 2000, 1, 1, 1, 4, 0, 10, 0),
    (6, 3000, 0, 2, 0, 0, 0, 0, 0),
    (7, 3000, 0, 0, 0, 5, 99, 1, 0),
]


# --- §3's vectors ---------------------------------------------------------------------------------


def test_empty_stream() -> None:
    assert orderbook_digest(1, []) == "00fbfde4bfe8fd68"


def test_eight_records() -> None:
    assert orderbook_digest(2, EIGHT) == "5a57408dd2666bdc"


def test_first_three_records() -> None:
    assert orderbook_digest(2, EIGHT[:3]) == "7d9b099192e351e7"


def test_eight_records_as_a_v2_file() -> None:
    data = encode_v2(2, EIGHT)
    assert len(data) == 384
    assert hashlib.sha256(data).hexdigest() == "4fbc8fe74d60db24c3783769c20fa1cdc79aaed4b64351e0e7a09b2c39bf1928"
    assert orderbook_digest_of_file_bytes(data) == "5a57408dd2666bdc"
    assert decode_v2(data) == (2, EIGHT)


def test_eight_records_state_matches_the_listing_comments() -> None:
    s = orderbook_state(2, EIGHT)
    i0, i1 = s.instruments
    assert (i0.events, i0.fills, i0.volume, i0.cancelled) == (6, 2, 6, 1)
    assert (i1.events, i1.fills, i1.volume, i1.cancelled) == (2, 1, 4, 0)
    assert i0.bid_levels() == [(99, [(7, 5, 1)])]
    assert i0.ask_levels() == []  # #0's remaining 2 @101 cancelled
    assert i1.bid_levels() == i1.ask_levels() == []
    assert i0.h == fill_hash((1, 100, 3), (0, 101, 3))
    assert i1.h == fill_hash((3, 50, 4))
    assert {a: (s.signed_pos(a), s.signed_cash(a)) for a in range(65536) if s.pos[a] or s.cash[a]} == {
        1: (-3, 303),
        2: (-3, 300),
        3: (6 + 4, -603 - 200),
        4: (-4, 200),
    }


# --- hand-composed digests ------------------------------------------------------------------------


def fill_hash(*fills: tuple[int, int, int]) -> int:
    """h[k] after the given fills, each (maker id, price, f), by §2."""
    h = 0
    for maker, price, f in fills:
        h = mix(h ^ maker)
        h = mix(h ^ ((price << 32) | f))
    return h


def compose_digest(n: int, instruments: list[dict], accounts: dict[int, tuple[int, int]]) -> str:
    """§2's digest from hand-written values.

    instruments[k]: counters 'events', 'fills', 'volume', 'h', 'cancelled' and 'bids'/'asks' as lists
    of (id, price, remaining) already in digest order; accounts: a -> (pos, cash) as signed ints.
    """
    d = mix(n)
    for inst in instruments:
        for name in ("events", "fills", "volume", "h", "cancelled"):
            d = mix(d ^ inst[name])
        for id_, price, remaining in inst["bids"]:
            d = mix(d ^ id_)
            d = mix(d ^ ((price << 32) | remaining))
        d = mix(d ^ 1)
        for id_, price, remaining in inst["asks"]:
            d = mix(d ^ id_)
            d = mix(d ^ ((price << 32) | remaining))
        d = mix(d ^ 2)
    for a in sorted(accounts):
        pos, cash = accounts[a]
        assert pos % M or cash % M, "accounts with pos and cash both 0 are left out"
        d = mix(d ^ a)
        d = mix(d ^ (pos % M))
        d = mix(d ^ (cash % M))
    return f"{d:016x}"


def accounts_of(s: State) -> dict[int, tuple[int, int]]:
    return {a: (s.signed_pos(a), s.signed_cash(a)) for a in range(65536) if s.pos[a] or s.cash[a]}


def rows(*events: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Number events (key, kind, side, account, price, qty, target) as records, all at arrival 0."""
    return [(i, 0, *e) for i, e in enumerate(events)]


L, MK, C = 0, 1, 2  # kinds
B, S = 0, 1  # sides


def test_composed_digest_agrees_on_the_eight_records() -> None:
    """compose_digest itself, on §3's vector (so the hand-composed checks below rest on it)."""
    i0 = {"events": 6, "fills": 2, "volume": 6, "h": fill_hash((1, 100, 3), (0, 101, 3)), "cancelled": 1}
    i1 = {"events": 2, "fills": 1, "volume": 4, "h": fill_hash((3, 50, 4)), "cancelled": 0}
    i0 |= {"bids": [(7, 99, 1)], "asks": []}
    i1 |= {"bids": [], "asks": []}
    accounts = {1: (-3, 303), 2: (-3, 300), 3: (10, -803), 4: (-4, 200)}
    assert compose_digest(8, [i0, i1], accounts) == "5a57408dd2666bdc"


# --- hand-checked cases ---------------------------------------------------------------------------


def test_buy_taker_sweeps_several_levels_and_pays_the_makers_prices() -> None:
    evs = rows(
        (0, L, S, 1, 100, 2, 0),
        (0, L, S, 2, 101, 3, 0),
        (0, L, S, 3, 103, 4, 0),
        (0, L, B, 9, 105, 7, 0),  # limit 105: fills 2 @100, 3 @101, 2 @103; #2 keeps 2
    )
    s = orderbook_state(1, evs)
    i = s.instruments[0]
    assert i.ask_levels() == [(103, [(2, 3, 2)])]
    assert i.bid_levels() == []
    assert (i.events, i.fills, i.volume, i.cancelled) == (4, 3, 7, 0)
    assert i.h == fill_hash((0, 100, 2), (1, 101, 3), (2, 103, 2))
    accounts = {1: (-2, 200), 2: (-3, 303), 3: (-2, 206), 9: (7, -709)}
    assert accounts_of(s) == accounts
    inst = {"events": 4, "fills": 3, "volume": 7, "h": i.h, "cancelled": 0, "bids": [], "asks": [(2, 103, 2)]}
    assert orderbook_digest(1, evs) == compose_digest(4, [inst], accounts) == "c4ee54c7bb8f207b"


def test_limit_buy_sweeps_until_its_limit_then_rests() -> None:
    evs = rows(
        (0, L, S, 1, 100, 2, 0),
        (0, L, S, 2, 101, 3, 0),
        (0, L, S, 3, 103, 4, 0),
        (0, L, B, 9, 101, 10, 0),  # 2 @100, 3 @101, stops at 103 > 101: 5 rest @101
    )
    s = orderbook_state(1, evs)
    i = s.instruments[0]
    assert i.ask_levels() == [(103, [(2, 3, 4)])]
    assert i.bid_levels() == [(101, [(3, 9, 5)])]
    assert (i.fills, i.volume) == (2, 5)
    assert accounts_of(s) == {1: (-2, 200), 2: (-3, 303), 9: (5, -503)}
    inst = {"events": 4, "fills": 2, "volume": 5, "h": fill_hash((0, 100, 2), (1, 101, 3)), "cancelled": 0}
    inst |= {"bids": [(3, 101, 5)], "asks": [(2, 103, 4)]}
    assert orderbook_digest(1, evs) == compose_digest(4, [inst], accounts_of(s)) == "27533cee4873437c"


def test_partially_filled_maker_keeps_its_place_at_the_front() -> None:
    evs = rows(
        (0, L, S, 1, 50, 5, 0),
        (0, L, S, 2, 50, 5, 0),
        (0, MK, B, 3, 0, 3, 0),  # 3 from #0, which keeps 2 and stays first
        (0, MK, B, 3, 0, 4, 0),  # 2 from #0, then 2 from #1
    )
    s = orderbook_state(1, evs)
    assert orderbook_state(1, evs[:3]).instruments[0].ask_levels() == [(50, [(0, 1, 2), (1, 2, 5)])]
    i = s.instruments[0]
    assert i.ask_levels() == [(50, [(1, 2, 3)])]
    assert (i.fills, i.volume) == (3, 7)
    assert i.h == fill_hash((0, 50, 3), (0, 50, 2), (1, 50, 2))
    assert accounts_of(s) == {1: (-5, 250), 2: (-2, 100), 3: (7, -350)}
    inst = {"events": 4, "fills": 3, "volume": 7, "h": i.h, "cancelled": 0, "bids": [], "asks": [(1, 50, 3)]}
    assert orderbook_digest(1, evs) == compose_digest(4, [inst], accounts_of(s)) == "297bb636e6cf7775"


@pytest.mark.parametrize("side", [B, S])
def test_market_order_on_an_empty_book_only_counts_the_event(side: int) -> None:
    evs = rows((0, MK, side, 7, 0, 5, 0))
    s = orderbook_state(1, evs)
    i = s.instruments[0]
    assert (i.events, i.fills, i.volume, i.h, i.cancelled) == (1, 0, 0, 0, 0)
    assert i.bid_levels() == i.ask_levels() == []
    assert accounts_of(s) == {}
    inst = {"events": 1, "fills": 0, "volume": 0, "h": 0, "cancelled": 0, "bids": [], "asks": []}
    assert orderbook_digest(1, evs) == compose_digest(1, [inst], {}) == "9aa97dc878417570"


def test_market_remainder_is_dropped_after_emptying_the_side() -> None:
    evs = rows((0, L, B, 1, 10, 2, 0), (0, MK, S, 2, 0, 5, 0), (0, L, B, 3, 9, 1, 0))
    i = orderbook_state(1, evs).instruments[0]
    assert i.ask_levels() == []  # the 3 left of the market sell did not rest
    assert i.bid_levels() == [(9, [(2, 3, 1)])]  # and did not fill the later bid either
    assert (i.fills, i.volume) == (1, 2)


def test_cancels_of_filled_never_rested_and_already_cancelled_orders_do_nothing() -> None:
    evs = rows(
        (0, L, B, 1, 10, 2, 0),
        (0, MK, S, 2, 0, 2, 0),  # fills #0 entirely
        (0, C, 0, 0, 0, 0, 0),  # #0 was filled: nothing
        (0, C, 0, 0, 0, 0, 1),  # #1 was a market order, never rested: nothing
        (0, L, S, 2, 12, 1, 0),  # rests (no bids)
        (0, C, 0, 0, 0, 0, 4),  # cancels #4
        (0, C, 0, 0, 0, 0, 4),  # cancelled before: nothing
        (0, C, 0, 0, 0, 0, 2),  # #2 is a cancel: nothing
    )
    s = orderbook_state(1, evs)
    i = s.instruments[0]
    assert (i.events, i.fills, i.volume, i.cancelled) == (8, 1, 2, 1)
    assert i.bid_levels() == i.ask_levels() == []
    assert accounts_of(s) == {1: (2, -20), 2: (-2, 20)}
    assert s.pos[2] == 2**64 - 2 and s.cash[1] == 2**64 - 20
    inst = {"events": 8, "fills": 1, "volume": 2, "h": fill_hash((0, 10, 2)), "cancelled": 1, "bids": [], "asks": []}
    assert orderbook_digest(1, evs) == compose_digest(8, [inst], accounts_of(s)) == "82d2d492b0028942"


def test_cancel_from_the_middle_of_a_level_keeps_the_others_order() -> None:
    evs = rows(
        (0, L, B, 1, 20, 1, 0),
        (0, L, B, 2, 20, 2, 0),
        (0, L, B, 3, 20, 3, 0),
        (0, L, B, 4, 19, 4, 0),
        (0, C, 0, 0, 0, 0, 1),
        (0, C, 0, 0, 0, 0, 3),  # empties level 19, which leaves the side
    )
    i = orderbook_state(1, evs).instruments[0]
    assert i.bid_levels() == [(20, [(0, 1, 1), (2, 3, 3)])]
    assert i.bids.keys() == {20}
    assert i.cancelled == 2
    inst = {"events": 6, "fills": 0, "volume": 0, "h": 0, "cancelled": 2, "bids": [(0, 20, 1), (2, 20, 3)], "asks": []}
    assert orderbook_digest(1, evs) == compose_digest(6, [inst], {}) == "1494f1f1a5cb6401"


def test_same_account_as_buyer_and_seller_nets_to_nothing() -> None:
    evs = rows((0, L, S, 5, 30, 4, 0), (0, L, B, 5, 30, 4, 0))
    s = orderbook_state(1, evs)
    i = s.instruments[0]
    assert (i.fills, i.volume) == (1, 4)
    assert i.h == fill_hash((0, 30, 4))
    assert s.pos[5] == s.cash[5] == 0
    assert accounts_of(s) == {}  # so account 5 is left out of the digest
    assert i.bid_levels() == i.ask_levels() == []
    inst = {"events": 2, "fills": 1, "volume": 4, "h": i.h, "cancelled": 0, "bids": [], "asks": []}
    assert orderbook_digest(1, evs) == compose_digest(2, [inst], {}) == "e04b9d946c5befc7"


def test_pos_and_cash_wrap_as_u64() -> None:
    top = 2**32 - 1  # the largest price and qty: P * f = 2^64 - 2^33 + 1
    evs = rows(
        (0, L, S, 1, top, top, 0),  # account 1 sells what it never had
        (0, L, S, 1, top, top, 0),
        (0, L, B, 2, top, top, 0),
        (0, L, B, 2, top, top, 0),
    )
    s = orderbook_state(1, evs)
    pf = top * top
    assert s.pos[1] == (-2 * top) % M == 2**64 - 2**33 + 2
    assert s.pos[2] == 2 * top
    assert s.cash[1] == (2 * pf) % M == 2**64 - 2**34 + 2  # wrapped past 2^64
    assert s.cash[2] == (-2 * pf) % M == 2**34 - 2
    i = s.instruments[0]
    assert i.volume == 2 * top
    assert i.h == fill_hash((0, top, top), (1, top, top))
    assert ((top << 32) | top) == M - 1
    inst = {"events": 4, "fills": 2, "volume": 2 * top, "h": i.h, "cancelled": 0, "bids": [], "asks": []}
    accounts = {1: (-2 * top, 2 * pf), 2: (2 * top, -2 * pf)}
    assert orderbook_digest(1, evs) == compose_digest(4, [inst], accounts) == "dec19ee7efff5d3e"


def test_limit_buy_below_the_best_ask_rests_and_bids_digest_highest_first() -> None:
    evs = rows(
        (0, L, S, 1, 100, 5, 0),
        (0, L, B, 2, 99, 3, 0),  # 99 < 100: no fill, rests
        (0, L, B, 3, 97, 1, 0),
        (0, L, B, 4, 99, 2, 0),  # behind #1 at 99
        (0, L, S, 5, 102, 1, 0),
    )
    s = orderbook_state(1, evs)
    i = s.instruments[0]
    assert i.fills == 0 and accounts_of(s) == {}
    assert i.bid_levels() == [(99, [(1, 2, 3), (3, 4, 2)]), (97, [(2, 3, 1)])]
    assert i.ask_levels() == [(100, [(0, 1, 5)]), (102, [(4, 5, 1)])]
    inst = {"events": 5, "fills": 0, "volume": 0, "h": 0, "cancelled": 0}
    inst |= {"bids": [(1, 99, 3), (3, 99, 2), (2, 97, 1)], "asks": [(0, 100, 5), (4, 102, 1)]}
    assert orderbook_digest(1, evs) == compose_digest(5, [inst], {}) == "54b7f7da0ed5d63c"


def test_sell_side_mirrors_the_buy_side() -> None:
    evs = rows(
        (0, L, B, 1, 97, 2, 0),
        (0, L, B, 2, 100, 3, 0),
        (0, L, B, 3, 99, 4, 0),
        (0, L, S, 9, 98, 9, 0),  # best bid first: 3 @100, 4 @99, then 97 < 98 stops: 2 rest @98
        (0, MK, S, 8, 0, 1, 0),  # 1 @97 from #0
    )
    s = orderbook_state(1, evs)
    i = s.instruments[0]
    assert i.bid_levels() == [(97, [(0, 1, 1)])]
    assert i.ask_levels() == [(98, [(3, 9, 2)])]
    assert (i.fills, i.volume) == (3, 8)
    assert i.h == fill_hash((1, 100, 3), (2, 99, 4), (0, 97, 1))
    accounts = {1: (1, -97), 2: (3, -300), 3: (4, -396), 8: (-1, 97), 9: (-7, 696)}
    assert accounts_of(s) == accounts
    inst = {"events": 5, "fills": 3, "volume": 8, "h": i.h, "cancelled": 0}
    inst |= {"bids": [(0, 97, 1)], "asks": [(3, 98, 2)]}
    assert orderbook_digest(1, evs) == compose_digest(5, [inst], accounts) == "97f2b75de8147bf9"


def test_instruments_are_independent_but_share_accounts() -> None:
    evs = rows(
        (0, L, S, 1, 10, 1, 0),
        (1, L, B, 2, 10, 1, 0),  # other instrument: does not cross #0
        (1, L, S, 1, 10, 1, 0),  # crosses #1: account 1 sells on both instruments
        (2, C, 0, 0, 0, 0, 0),  # #0 rests on instrument 0, not 2: nothing
    )
    s = orderbook_state(3, evs)
    i0, i1, i2 = s.instruments
    assert i0.ask_levels() == [(10, [(0, 1, 1)])]
    assert (i1.fills, i1.bid_levels(), i1.ask_levels()) == (1, [], [])
    assert (i2.events, i2.cancelled) == (1, 0)
    assert accounts_of(s) == {1: (-1, 10), 2: (1, -10)}


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "index", "rule"),
    [
        ((5, 0, 0, 0, 0, 1, 5, 1, 0), 1, "seq"),
        ((2, 0, 0, 0, 0, 1, 5, 1, 0), 2, "arrival_ns"),
        ((2, 9, 3, 0, 0, 1, 5, 1, 0), 2, "key"),
        ((2, 9, 0, 3, 0, 1, 5, 1, 0), 2, "kind"),
        ((2, 9, 0, 0, 2, 1, 5, 1, 0), 2, "side"),
        ((2, 9, 0, 0, 0, 1, 0, 1, 0), 2, "limit: price"),
        ((2, 9, 0, 0, 0, 1, 5, 0, 0), 2, "limit: qty"),
        ((2, 9, 0, 0, 0, 1, 5, 1, 1), 2, "limit: target"),
        ((2, 9, 0, 1, 0, 1, 5, 1, 0), 2, "market: price"),
        ((2, 9, 0, 1, 0, 1, 0, 0, 0), 2, "market: qty"),
        ((2, 9, 0, 1, 0, 1, 0, 1, 1), 2, "market: target"),
        ((2, 9, 0, 2, 1, 0, 0, 0, 0), 2, "cancel: side"),
        ((2, 9, 0, 2, 0, 1, 0, 0, 0), 2, "cancel: account"),
        ((2, 9, 0, 2, 0, 0, 1, 0, 0), 2, "cancel: price"),
        ((2, 9, 0, 2, 0, 0, 0, 1, 0), 2, "cancel: qty"),
        ((2, 9, 0, 2, 0, 0, 0, 0, 2), 2, "cancel: target"),
        ((2, 9, 0, 0, 0, 65536, 5, 1, 0), 2, "account"),
        ((2, 9, 0, 0, 0, 1, 5, 2**32, 0), 2, "qty"),
    ],
)
def test_validation_names_the_record_and_the_rule(bad: tuple[int, ...], index: int, rule: str) -> None:
    head = [(0, 0, 0, 0, 0, 1, 5, 1, 0), (1, 5, 1, 0, 1, 2, 6, 1, 0)]
    stream = [*head, bad] if index == 2 else [head[0], bad]
    with pytest.raises(ValueError, match=rf"^record {index}: {rule}"):
        validate(3, stream)


def test_a_stream_never_starts_with_a_cancel() -> None:
    with pytest.raises(ValueError, match=r"^record 0: cancel: target"):
        orderbook_digest(1, [(0, 0, 0, 2, 0, 0, 0, 0, 0)])


@pytest.mark.parametrize(
    ("offset", "value"),
    [
        (0, b"EVTSTRM2"),
        (8, b"\x01"),
        (12, b"\x00"),
        (12, b"\x01\x00\x00\x01"),
        (42, b"x"),
        (24, b"\x20"),
        (28, b"\x02"),
        (32, b"orderbooK"),
        (56, b"\x01"),
    ],
)
def test_header_rules(offset: int, value: bytes) -> None:
    data = bytearray(encode_v2(2, EIGHT))
    data[offset : offset + len(value)] = value
    with pytest.raises(AssertionError):
        orderbook_digest_of_file_bytes(bytes(data))


def test_size_rule() -> None:
    data = encode_v2(2, EIGHT)
    for bad in (data[:-1], data + b"\0", data[:64]):
        with pytest.raises(AssertionError):
            orderbook_digest_of_file_bytes(bad)


def test_encode_refuses_a_bad_scenario_name() -> None:
    for name in ("", "Orderbook", "order_book", "x" * 25):
        with pytest.raises(AssertionError):
            encode_v2(1, [], scenario=name)
    assert encode_v2(1, [], scenario="x" * 24)[32:56] == b"x" * 24


# --- a realistic stream: speed, invariants, interleavings ----------------------------------------


def random_stream(n: int, n_keys: int, seed: int) -> list[tuple[int, ...]]:
    rng = random.Random(seed)
    out: list[tuple[int, ...]] = []
    t = 0
    for seq in range(n):
        t += rng.choice((0, 0, 0, 500, 20_000))
        key = min(int(rng.paretovariate(1.2)) - 1, n_keys - 1)
        r = rng.random()
        if seq > 0 and r < 0.45:
            out.append((seq, t, key, C, 0, 0, 0, 0, rng.randrange(max(0, seq - 50), seq)))
        elif r < 0.5:
            out.append((seq, t, key, MK, rng.randrange(2), rng.randrange(40), 0, rng.randrange(1, 20), 0))
        else:
            side = rng.randrange(2)
            off = rng.choice((0, 1, 1, 2, 3, 5, -1, -2))  # mostly on its own side, some crossing
            price = 1000 - off if side == B else 1000 + off
            out.append((seq, t, key, L, side, rng.randrange(40), price, rng.randrange(1, 50), 0))
    return out


def test_twenty_thousand_events_quickly_with_invariants() -> None:
    stream = random_stream(20_000, 8, seed=1)
    start = time.perf_counter()
    s = orderbook_state(8, stream)
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"{elapsed:.2f} s for 20,000 events"
    assert sum(s.pos) % M == 0 and sum(s.cash) % M == 0
    assert sum(i.events for i in s.instruments) == 20_000
    assert sum(i.fills for i in s.instruments) > 1000 and sum(i.cancelled for i in s.instruments) > 1000
    for i in s.instruments:
        for levels in (i.bid_levels(), i.ask_levels()):
            assert all(orders and all(r > 0 for _, _, r in orders) for _, orders in levels)
        if i.bids and i.asks:
            assert max(i.bids) < min(i.asks), "a resting book is never crossed"
    assert orderbook_digest_of_file_bytes(encode_v2(8, stream)) == digest_of_state(s)


def test_any_interleaving_that_keeps_per_instrument_order_gives_the_same_digest() -> None:
    stream = random_stream(3000, 4, seed=2)
    expected = orderbook_digest(4, stream)
    rng = random.Random(3)
    for _ in range(3):
        queues = [[r for r in stream if r[2] == k] for k in range(4)]
        s = State(4)
        while any(queues):
            q = rng.choice([q for q in queues if q])
            apply(s, q.pop(0))
        assert digest_of_state(s) == expected
    assert orderbook_digest(4, stream[:-1]) != expected
