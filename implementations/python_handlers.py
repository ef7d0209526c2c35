"""The SPEC's handlers (§3) and waiting, shared by the pure-Python contenders.

One place for the arithmetic keeps the contenders about their *model*
(sequential, threads, ...) and makes them agree by construction on the maths;
the tests check this module against a second reference written from the SPEC.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from harness.events import BLOCK, COMPUTE, EventStream
from harness.mix import mix

__all__ = ["BLOCK", "COMPUTE", "DecodedStream", "next_state", "wait_at_least_us", "wait_until"]

_clock = time.monotonic_ns


def next_state(state: int, kind: int, value: int, work: int) -> int:
    """``s[k]`` after one event. The caller adds to ``G`` (aggregate) and waits (block)."""
    if kind == COMPUTE:
        for _ in range(work):
            value = mix(value)
    return mix(state ^ value)


_LONGEST_SLEEP_S = 1.0  # long waits in slices: time.sleep overflows on huge values


def wait_until(deadline_ns: int) -> None:
    """Sleeps until the monotonic clock reaches ``deadline_ns`` (never returns early)."""
    while (remaining := deadline_ns - _clock()) > 0:
        time.sleep(min(remaining / 1e9, _LONGEST_SLEEP_S))


def wait_at_least_us(microseconds: int) -> None:
    """The ``block`` event's wait: at least ``microseconds``, holding no lock."""
    if microseconds:
        wait_until(_clock() + microseconds * 1000)


@dataclass(frozen=True)
class DecodedStream:
    """The stream's columns as Python lists: per-event access in Python is far
    cheaper on a list than on a numpy array. Built in ``open``, before the clock."""

    n_keys: int
    arrival_ns: list[int]
    value: list[int]
    key: list[int]
    kind: list[int]
    work: list[int]

    @classmethod
    def of(cls, stream: EventStream) -> DecodedStream:
        r = stream.records
        return cls(
            stream.n_keys,
            r["arrival_ns"].tolist(),
            r["value"].tolist(),
            r["key"].tolist(),
            r["kind"].tolist(),
            r["work"].tolist(),
        )

    def __len__(self) -> int:
        return len(self.kind)
