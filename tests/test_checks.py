"""A run that breaks SPEC §4 is reported as wrong, never as fast.

Each fake contender below is wrong in exactly one way; the runner must catch it.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.checks import CheckResult, check_run
from harness.runner import RunOutcome, WrongRun, checked_run, figures, run_once
from protocol.events import EventStream

from fakes import BeforeStarts, Fake
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
    ("fault", "failed", "mode"),
    [
        ("missing", ["all_done"], "open"),
        # finished before its arrival: it cannot have started after it either
        ("early", ["not_before_arrival", "start_not_before_arrival"], "open"),
        ("reorder", ["per_key_order"], "closed"),
        ("no-start", ["all_started"], "open"),
        ("start-early", ["start_not_before_arrival"], "open"),
        ("start-early", ["start_not_before_arrival"], "closed"),
        ("start-after-done", ["start_not_after_done"], "open"),
        ("start-after-done", ["start_not_after_done"], "closed"),
    ],
)
def test_each_broken_rule_is_caught(fault: str, failed: list[str], mode: str) -> None:
    outcome, stream = _run(fault, mode)
    assert not outcome.valid
    assert [c.name for c in outcome.checks if not c.passed] == failed
    with pytest.raises(ValueError, match="has no figures"):
        figures(outcome, stream)


@pytest.mark.parametrize(
    ("fault", "mode", "reason"),
    [
        ("no-start", "open", "all_started: 1 events have no start_ns (first: 3)"),
        ("start-early", "open", "start_not_before_arrival: 1 events started before its intended arrival (first: 2)"),
        ("start-early", "closed", "start_not_before_arrival: 1 events started before t0 (first: 2)"),
        ("start-after-done", "closed", "start_not_after_done: 1 events started after they finished (first: 4)"),
    ],
)
def test_a_wrong_start_is_reported_in_one_line(fault: str, mode: str, reason: str) -> None:
    outcome, _ = _run(fault, mode)
    assert outcome.failures() == [reason]
    with pytest.raises(WrongRun, match=re.escape(f"fake-{fault} is wrong, so it has no figure: {reason}") + "$"):
        checked_run(Fake(fault), stream_of(2, ROWS), workers=1, mode=mode)


def test_starts_split_each_latency_into_waiting_and_service() -> None:
    outcome, stream = _run("none")
    assert outcome.start_ns is not None
    f = figures(outcome, stream)
    assert f.latency_ns is not None and f.waiting_ns is not None and f.service_ns is not None
    # every event's waiting and service add up to its latency: so do neither's maxima exceed it
    assert f.waiting_ns.max <= f.latency_ns.max and f.service_ns.max <= f.latency_ns.max
    closed, stream = _run("none", mode="closed")
    f = figures(closed, stream)
    assert f.waiting_ns is None and f.service_ns is not None  # waiting is an open-loop figure


def test_a_contender_written_before_starts_still_runs_and_records_none() -> None:
    stream = stream_of(2, ROWS)
    outcome = run_once(BeforeStarts(), stream, workers=1, mode="open",
                       reference_digest=spec_digest_of_file_bytes(stream.to_bytes()))  # fmt: skip
    assert outcome.valid and outcome.start_ns is None
    assert not {c.name for c in outcome.checks} & {"all_started", "start_not_before_arrival", "start_not_after_done"}
    f = figures(outcome, stream)
    assert f.latency_ns is not None and f.waiting_ns is None and f.service_ns is None


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


def _start_checks_in_one_pass(
    stream: EventStream, done_ns: np.ndarray, start_ns: np.ndarray, t0_ns: int, open_loop: bool
) -> list[CheckResult]:
    """The start checks over the whole run at once: the oracle for the chunked ones."""
    n = stream.n_events
    arrival = stream.column("arrival_ns").astype(np.int64) if open_loop else np.zeros(n, dtype=np.int64)
    start, done = start_ns.view(np.int64), done_ns.view(np.int64)
    out = []
    missing = np.flatnonzero(start_ns == 0)
    detail = f"{len(missing)} events have no start_ns (first: {missing[0]})" if len(missing) else ""
    out.append(CheckResult("all_started", len(missing) == 0, detail))
    early = np.flatnonzero((start != 0) & (start < t0_ns + arrival))
    rule = "its intended arrival" if open_loop else "t0"
    detail = f"{len(early)} events started before {rule} (first: {early[0]})" if len(early) else ""
    out.append(CheckResult("start_not_before_arrival", len(early) == 0, detail))
    late = np.flatnonzero((start != 0) & (done != 0) & (start > done))
    detail = f"{len(late)} events started after they finished (first: {late[0]})" if len(late) else ""
    out.append(CheckResult("start_not_after_done", len(late) == 0, detail))
    return out


@given(stream=streams(max_events=50, max_gap_ns=5), data=st.data())
def test_start_checks_in_chunks_find_what_one_pass_finds(stream: EventStream, data: st.DataObject) -> None:
    n = stream.n_events
    done_ns = np.array(data.draw(st.lists(_done_values, min_size=n, max_size=n)), dtype=np.uint64)
    start_ns = np.array(data.draw(st.lists(_done_values, min_size=n, max_size=n)), dtype=np.uint64)
    t0 = data.draw(st.integers(0, 20))
    for open_loop in (True, False):
        expected = _checks_in_one_pass(stream, done_ns, t0, open_loop) + _start_checks_in_one_pass(
            stream, done_ns, start_ns, t0, open_loop
        )
        for size in (1, 2, 7, max(1, n)):
            assert check_run(stream, done_ns, t0, open_loop, size, start_ns=start_ns) == expected, (size, open_loop)
