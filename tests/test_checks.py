"""A run that breaks SPEC §4 is reported as wrong, never as fast.

Each fake contender below is wrong in exactly one way; the runner must catch it.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.checks import CheckResult, check_run
from harness.runner import RunOutcome, figures, run_once
from protocol.events import EventStream

from fakes import Fake
from reference import spec_digest_of_file_bytes
from strategies import stream_of, streams

ROWS = [(i, i * 1_000_000, i, i % 2, 0, 0, 0) for i in range(6)]  # 1 ms apart, keys 0 and 1


def _run(fault: str, mode: str = "open") -> tuple[RunOutcome, EventStream]:
    stream = stream_of(2, ROWS)
    reference = spec_digest_of_file_bytes(stream.to_bytes())
    return run_once(Fake(fault), stream, workers=1, mode=mode, reference_digest=reference), stream


def test_an_honest_run_passes_and_has_figures() -> None:
    outcome, stream = _run("none")
    assert outcome.valid and outcome.failures() == []
    f = figures(outcome, stream)
    assert f.latency_ns is not None and f.latency_ns.p50 >= 0
    assert f.throughput_eps is not None and f.throughput_eps > 0


@pytest.mark.parametrize(
    ("fault", "check", "mode"),
    [("missing", "all_done", "open"), ("early", "not_before_arrival", "open"), ("reorder", "per_key_order", "closed")],
)
def test_each_broken_rule_is_caught(fault: str, check: str, mode: str) -> None:
    outcome, stream = _run(fault, mode)
    assert not outcome.valid
    assert [c.name for c in outcome.checks if not c.passed] == [check]
    with pytest.raises(ValueError, match="has no figures"):
        figures(outcome, stream)


def test_a_wrong_digest_is_caught() -> None:
    outcome, _ = _run("digest", mode="closed")
    assert outcome.digest_ok is False and not outcome.valid
    assert "differs from the reference" in outcome.failures()[0]


def test_closed_loop_ignores_arrivals() -> None:
    outcome, stream = _run("early", mode="closed")
    assert outcome.valid
    assert figures(outcome, stream).latency_ns is None  # latency is an open-loop figure


# ---------------------------------------------------------------- in chunks, as in one pass


def _checks_in_one_pass(stream: EventStream, done_ns: np.ndarray, t0_ns: int, open_loop: bool) -> list[CheckResult]:
    """SPEC §4's checks over the whole run at once, as the harness made them before it went in
    chunks: the oracle the chunked checks must agree with, finding for finding."""
    n = stream.n_events
    arrival = stream.column("arrival_ns").astype(np.int64) if open_loop else np.zeros(n, dtype=np.int64)
    done = done_ns.astype(np.int64)
    missing = np.flatnonzero(done_ns == 0)
    detail = f"{len(missing)} events have no done_ns (first: {missing[0]})" if len(missing) else ""
    all_done = CheckResult("all_done", len(missing) == 0, detail)
    early = np.flatnonzero((done != 0) & (done < t0_ns + arrival))
    rule = "its intended arrival" if open_loop else "t0"
    detail = f"{len(early)} events finished before {rule} (first: {early[0]})" if len(early) else ""
    not_early = CheckResult("not_before_arrival", len(early) == 0, detail)
    by_key = np.argsort(stream.column("key"), kind="stable")
    keys, done_by_key = stream.column("key")[by_key], done[by_key]
    written = (done_by_key[1:] != 0) & (done_by_key[:-1] != 0)
    back = np.flatnonzero((keys[1:] == keys[:-1]) & written & (done_by_key[1:] < done_by_key[:-1]))
    detail = f"{len(back)} events finished before an earlier event of their key (first: {by_key[back[0] + 1]})" \
        if len(back) else ""  # fmt: skip
    per_key = CheckResult("per_key_order", len(back) == 0, detail)
    return [all_done, not_early, per_key]


# Completions near t0 + arrival, unwritten ones, and values past 2^63 (signed: before t0).
_done_values = st.one_of(st.integers(0, 60), st.just(0), st.sampled_from([2**63, 2**64 - 1]))


@given(stream=streams(max_events=50, max_gap_ns=5), data=st.data())
def test_checks_in_chunks_find_what_one_pass_finds(stream: EventStream, data: st.DataObject) -> None:
    done_ns = np.array(data.draw(st.lists(_done_values, min_size=stream.n_events, max_size=stream.n_events)),
                       dtype=np.uint64)  # fmt: skip
    t0 = data.draw(st.integers(0, 20))
    for open_loop in (True, False):
        expected = _checks_in_one_pass(stream, done_ns, t0, open_loop)
        for size in (1, 2, 7, max(1, stream.n_events)):
            assert check_run(stream, done_ns, t0, open_loop, size) == expected, (size, open_loop)


def test_per_key_order_spans_the_chunks() -> None:
    """Key 1's events 1 and 4 lie in different chunks of 2: 4 completing before 1 is found."""
    stream = stream_of(2, ROWS)
    done_ns = np.array([10, 50, 11, 12, 13, 40], dtype=np.uint64)  # key 1: events 1, 3, 5 at 50, 12, 40
    (_, _, per_key) = check_run(stream, done_ns, 1, False, 2)
    assert not per_key.passed and per_key.detail == "1 events finished before an earlier event of their key (first: 3)"


@pytest.mark.parametrize(
    "done",
    [
        [10, 20, 30, 40, 25, 50],  # one thread's order, then event 4 (key 0) before event 2 (key 0)
        [10, 20, 30, 40, 35, 50],  # one thread's order, then out of it but each key's in order
        [10, 20, 30, 40, 50, 60],  # one thread's order throughout
        [10, 20, 0, 40, 45, 15],  # an unwritten event between: event 5 (key 1) before event 3
    ],
)
def test_chunks_completed_in_order_carry_each_keys_last(done: list[int]) -> None:
    """A chunk completed in seq order skips the sort; the next chunk still sees each key's last."""
    stream = stream_of(2, ROWS)
    done_ns = np.array(done, dtype=np.uint64)
    for size in (1, 2, 3, 4):
        assert check_run(stream, done_ns, 1, False, size) == _checks_in_one_pass(stream, done_ns, 1, False), size
