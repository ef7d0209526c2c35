"""Waiting, the same way for every Python executor: until an intended arrival (pacing), and
for as long as a handler asks (its I/O). Never returns early; sleeps in slices."""

from __future__ import annotations

import time

__all__ = ["wait_at_least_us", "wait_until"]

_clock = time.monotonic_ns
_LONGEST_SLEEP_S = 1.0  # long waits in slices: time.sleep overflows on huge values


def wait_until(deadline_ns: int) -> int:
    """Sleeps until the monotonic clock reaches ``deadline_ns`` (never returns early). Returns
    the clock read that ended the wait: the caller's start of handling, with no second read."""
    while (now := _clock()) < deadline_ns:
        time.sleep(min((deadline_ns - now) / 1e9, _LONGEST_SLEEP_S))
    return now


def wait_at_least_us(microseconds: int) -> None:
    """A handler's wait for I/O: at least ``microseconds``, holding no lock."""
    if microseconds:
        wait_until(_clock() + microseconds * 1000)
