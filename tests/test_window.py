"""One window (docs/measurement-window.md): every figure of a run covers ``PreparedRun.run`` only.

The stream that showed the old fault: a few thousand events over a million keys. Making a
million keys' state and digesting it is far more work than handling 3,000 events; inside
``handle`` it was counted in CPU time and allocations but not in wall time (cpu_s 1.51 against
wall_s 0.057, 9,469 allocations an event). Now it is setup and after-window work, and the
figures of the handling agree with each other whatever the number of keys.
"""

from __future__ import annotations

import numpy as np
import pytest

import implementations
from harness.runner import figures, run_once
from implementations import Contender, Unavailable
from protocol.events import EventStream, empty_records, validated_stream
from scenarios import SYNTHETIC

from reference import spec_digest_of_file_bytes

MILLION_KEYS = 1 << 20
EVENTS = 3000
# getrusage reads whole microseconds; the reads just before t0 and just after handle fall
# partly inside; a pytest worker's idle helper thread may wake once. None of it is per event.
RUSAGE_SLACK_S = 0.005
SINGLE_THREADED = ["sequential", "native-sequential", "c-sequential"]


def _spread_over(n_keys: int) -> EventStream:
    """EVENTS update events, each on a different key spread over ``n_keys`` keys (or cycling)."""
    records = empty_records(EVENTS, SYNTHETIC)
    records["seq"] = np.arange(EVENTS)
    records["value"] = np.arange(EVENTS) * 0x9E3779B9
    records["key"] = (np.arange(EVENTS) * 349) % n_keys
    return validated_stream(n_keys, records, f"<{EVENTS} events over {n_keys} keys>", SYNTHETIC)


@pytest.fixture(scope="module")
def million_keys() -> EventStream:
    return _spread_over(MILLION_KEYS)


@pytest.fixture(scope="module")
def million_keys_digest(million_keys: EventStream) -> str:
    return spec_digest_of_file_bytes(million_keys.to_bytes())


def _contender(name: str) -> Contender:
    try:
        return implementations.get(name)
    except (KeyError, Unavailable) as e:
        pytest.skip(f"{name} is not available here: {e}")


@pytest.mark.parametrize("name", SINGLE_THREADED)
def test_a_single_threaded_contender_spends_no_more_cpu_than_wall_time(
    name: str, million_keys: EventStream, million_keys_digest: str
) -> None:
    contender = _contender(name)
    expected = million_keys_digest
    outcome = run_once(contender, million_keys, workers=1, mode="closed", reference_digest=expected)
    assert outcome.valid, outcome.failures()  # the digest, computed after the window, is still right
    window_s = (outcome.end_ns - outcome.t0_ns) / 1e9
    wall_s = figures(outcome, million_keys).wall_s
    assert outcome.cpu_s <= window_s + RUSAGE_SLACK_S, (outcome.cpu_s, window_s)
    # No tail: the last completion is the end of the handling, so wall time bounds CPU time too.
    assert outcome.cpu_s <= wall_s + RUSAGE_SLACK_S, (outcome.cpu_s, wall_s, outcome.tail_ns)


@pytest.mark.parametrize("name", ["sequential", "native-sequential"])
def test_the_allocation_pass_counts_the_handling_not_the_state(name: str, million_keys: EventStream) -> None:
    """The same events over a million keys or over 64: the same allocations an event."""
    pytest.importorskip("memray")
    from harness.allocations import count_allocations

    contender = _contender(name)
    many = count_allocations(contender, million_keys, 1)
    few = count_allocations(contender, _spread_over(64), 1)
    assert many.per_event is not None and few.per_event is not None
    # Before: 9,469 an event (the state and digest of a million keys). Each event allocates the
    # same objects whatever key it updates, so the two agree to within fixed per-window costs.
    assert many.per_event <= few.per_event + 64 / EVENTS, (many, few)


def test_a_prepared_run_runs_once() -> None:
    """State is made in open, so a second run would start from the first run's state."""
    stream = _spread_over(64)
    for name in ["sequential", "threaded", "asyncio", "native", "native-sequential"]:
        with _contender(name).open(stream, 2) as prepared:
            prepared.run(np.zeros(EVENTS, dtype=np.uint64), 0, False)
            with pytest.raises((implementations.ContenderError, ValueError), match=r"runs once|handled already"):
                prepared.run(np.zeros(EVENTS, dtype=np.uint64), 0, False)
            assert prepared.digest() == int(spec_digest_of_file_bytes(stream.to_bytes()), 16)
