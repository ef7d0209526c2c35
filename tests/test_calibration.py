"""The calibration switch (implementations/calibration.py): what it registers, and an exact slowdown."""

from __future__ import annotations

import time

import numpy as np
import pytest

import implementations
from harness.reference import reference_digest
from harness.runner import run_once
from harness.workload import builtin, generate
from implementations import calibration
from protocol.contender import PreparedRun


def test_nothing_is_registered_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(calibration.ENV, raising=False)
    names = [r.name for r in implementations.registry()]
    assert not any("twin" in n or "slowed" in n for n in names)
    monkeypatch.setenv(calibration.ENV, "nope:twin, sequential:-5, sequential:abc, sequential:nan, threaded:twin")
    asked = [r.name for r in implementations.registry()]
    assert len(asked) == len(names) + 1 and set(asked) - set(names) == {"threaded-twin"}  # plugins may follow


def test_a_twin_is_the_same_contender_under_a_second_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(calibration.ENV, "sequential:twin")
    twin = implementations.get("sequential-twin")
    assert twin.info.name == "sequential-twin" and twin.info.model == "sequential"
    stream = generate(builtin("smoke").with_events(300))
    outcome = run_once(twin, stream, workers=1, mode="closed", reference_digest=reference_digest(stream))
    assert outcome.valid


class _Known(PreparedRun):
    """Completes its events at fixed offsets from t0, then returns."""

    def __init__(self, offsets_ns: list[int]) -> None:
        self.offsets_ns = offsets_ns

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool) -> None:
        done_ns[:] = [t0_ns + o for o in self.offsets_ns]

    def digest(self) -> int:
        return 7


def test_a_slowed_session_stretches_every_completion_and_spends_the_time() -> None:
    t0 = time.monotonic_ns()
    done = np.zeros(3, dtype=np.uint64)
    slowed = calibration._Slowed(_Known([1_000_000, 2_000_000, 4_000_000]), 1.1)
    slowed.run(done, t0, False)
    assert (done - np.uint64(t0)).tolist() == [1_100_000, 2_200_000, 4_400_000]
    assert time.monotonic_ns() >= t0 + 4_400_000  # the run really lasted that long
    assert slowed.digest() == 7


def test_a_slowed_contender_is_still_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(calibration.ENV, "native-sequential:25")
    slowed = implementations.get("native-sequential-slowed-25")
    stream = generate(builtin("contention").with_events(2000))
    outcome = run_once(slowed, stream, workers=1, mode="closed", reference_digest=reference_digest(stream))
    assert outcome.valid and "25 % slower" in slowed.info.description
