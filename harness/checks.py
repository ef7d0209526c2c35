"""The checks of SPEC §4, applied to every run before any figure is taken from it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protocol.events import EventStream


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str = ""


def check_run(stream: EventStream, done_ns: np.ndarray, t0_ns: int, open_loop: bool) -> list[CheckResult]:
    """Every event written; none finished before it was due; per-key completion in seq order."""
    n = stream.n_events
    arrival = stream.column("arrival_ns").astype(np.int64) if open_loop else np.zeros(n, dtype=np.int64)
    done = done_ns.astype(np.int64)

    missing = np.flatnonzero(done_ns == 0)
    all_done = CheckResult(
        "all_done",
        len(missing) == 0,
        f"{len(missing)} events have no done_ns (first: {missing[0]})" if len(missing) else "",
    )

    early = np.flatnonzero((done != 0) & (done < t0_ns + arrival))
    rule = "its intended arrival" if open_loop else "t0"
    not_early = CheckResult(
        "not_before_arrival",
        len(early) == 0,
        f"{len(early)} events finished before {rule} (first: {early[0]})" if len(early) else "",
    )

    # Stable sort by key keeps seq order within each key; completion must not go back.
    # (Unwritten events are all_done's finding, not this check's.)
    by_key = np.argsort(stream.column("key"), kind="stable")
    keys, done_by_key = stream.column("key")[by_key], done[by_key]
    written = (done_by_key[1:] != 0) & (done_by_key[:-1] != 0)
    back = np.flatnonzero((keys[1:] == keys[:-1]) & written & (done_by_key[1:] < done_by_key[:-1]))
    per_key = CheckResult(
        "per_key_order",
        len(back) == 0,
        f"{len(back)} events finished before an earlier event of their key (first: {by_key[back[0] + 1]})"
        if len(back)
        else "",
    )
    return [all_done, not_early, per_key]
