"""A run that breaks SPEC §4 is reported as wrong, never as fast.

Each fake contender below is wrong in exactly one way; the runner must catch it.
"""

from __future__ import annotations

import pytest

from harness.runner import RunOutcome, figures, run_once
from protocol.events import EventStream

from fakes import Fake
from reference import spec_digest_of_file_bytes
from strategies import stream_of

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
