"""The heart of the suite: hypothesis streams through every contender, at several worker counts.

Every registered contender must give the digest of the tests' own reference for the scenario
(``tests/reference.py`` for SPEC §3, ``tests/orderbook_reference.py`` for the order book, each
written from its contract and sharing no code with the project) and pass the runner's checks
(every event done, none early, per-key order; every start written, between the event's due time
and its completion). A contender that does not host a scenario is
skipped for it; every executor hosts both.

Then every registered scenario (the built-ins, and any installed, as ``nox -s tests`` installs
examples/scenario-ratelimit) through every contender that hosts it, on streams its own generator
draws: the test a scenario package gets from ``harness.testing`` in one line, here with the
tests' own references and strategies as well.
"""

from __future__ import annotations

import pytest
from hypothesis import given

import implementations
import scenarios
from harness.runner import run_once
from harness.testing import differential_tests
from protocol.events import EventStream

from orderbook_reference import orderbook_digest_of_file_bytes
from reference import spec_digest_of_file_bytes
from strategies import orderbook_streams, streams

WORKER_COUNTS = [1, 2, 3, 5]
START_CHECKS = {"all_started", "start_not_before_arrival", "start_not_after_done"}
CONTENDERS = implementations.registry()


def _check(
    contender: implementations.Contender, stream: EventStream, workers: int, mode: str, expected: str | None = None
) -> None:
    expected = expected or spec_digest_of_file_bytes(stream.to_bytes())
    outcome = run_once(contender, stream, workers=workers, mode=mode, reference_digest=expected)
    assert outcome.valid, f"{contender.info.name} w={workers} {mode}: {outcome.failures()}"
    # Every contender here records starts, so its run was checked for them too (valid above
    # covers: every start written, none before it was due, none after its done).
    assert contender.info.records_start, f"{contender.info.name} records no start_ns"
    assert outcome.start_ns is not None and {c.name for c in outcome.checks} >= START_CHECKS


@pytest.mark.parametrize("registration", CONTENDERS, ids=lambda r: r.name)
@pytest.mark.parametrize("workers", WORKER_COUNTS)
@given(stream=streams())
def test_closed_loop_matches_the_spec(
    registration: implementations.Registration, workers: int, stream: EventStream
) -> None:
    if registration.contender is None:
        pytest.skip(registration.reason)
    _check(registration.contender, stream, workers, "closed")


@pytest.mark.parametrize("registration", CONTENDERS, ids=lambda r: r.name)
@pytest.mark.parametrize("workers", [1, 3])
@given(stream=streams(max_events=30, max_gap_ns=200_000))
def test_open_loop_matches_the_spec_and_is_paced(
    registration: implementations.Registration, workers: int, stream: EventStream
) -> None:
    if registration.contender is None:
        pytest.skip(registration.reason)
    _check(registration.contender, stream, workers, "open")


def _hosting_orderbook(registration: implementations.Registration) -> implementations.Contender:
    if registration.contender is None:
        pytest.skip(registration.reason)
    if not registration.contender.info.hosts("orderbook"):
        pytest.skip(f"{registration.name} does not host the order book")
    return registration.contender


@pytest.mark.parametrize("registration", CONTENDERS, ids=lambda r: r.name)
@pytest.mark.parametrize("workers", WORKER_COUNTS)
@given(drawn=orderbook_streams())
def test_orderbook_closed_loop_matches_the_contract(
    registration: implementations.Registration, workers: int, drawn: tuple[EventStream, bytes]
) -> None:
    stream, data = drawn
    _check(_hosting_orderbook(registration), stream, workers, "closed", orderbook_digest_of_file_bytes(data))


@pytest.mark.parametrize("registration", CONTENDERS, ids=lambda r: r.name)
@pytest.mark.parametrize("workers", [1, 3])
@given(drawn=orderbook_streams(max_events=30, max_gap_ns=200_000))
def test_orderbook_open_loop_matches_the_contract_and_is_paced(
    registration: implementations.Registration, workers: int, drawn: tuple[EventStream, bytes]
) -> None:
    stream, data = drawn
    _check(_hosting_orderbook(registration), stream, workers, "open", orderbook_digest_of_file_bytes(data))


REFERENCES = {"synthetic": spec_digest_of_file_bytes, "orderbook": orderbook_digest_of_file_bytes}
STREAMS = {"synthetic": streams(), "orderbook": orderbook_streams().map(lambda drawn: drawn[0])}
for _scenario in scenarios.registry():
    if _scenario.scenario is not None:
        globals()[f"test_scenario_{_scenario.name.replace('-', '_')}"] = differential_tests(
            _scenario.name, reference=REFERENCES.get(_scenario.name), streams=STREAMS.get(_scenario.name)
        )
