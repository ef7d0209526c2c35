"""Hypothesis strategies: every strategy the tests use, in one place."""

from __future__ import annotations

from hypothesis import strategies as st

from harness.events import EventStream, empty_records, validated_stream

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
    records = empty_records(len(rows))
    for i, row in enumerate(rows):
        records[i] = row
    return validated_stream(n_keys, records, "<test>")


@st.composite
def streams(draw: st.DrawFn, max_events: int = 60, max_gap_ns: int = 0) -> EventStream:
    """Valid streams: one key or many, empty or not, every kind, edge values."""
    n_keys = draw(st.one_of(st.just(1), st.integers(1, 8), st.integers(1, 5000)))
    return stream_of(n_keys, draw(event_rows(n_keys, max_events, max_gap_ns)))
