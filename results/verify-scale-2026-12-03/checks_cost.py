"""SPEC §4's checks over a 16 M-event run: time and peak temporaries, in one pass (the harness
before this change) against in chunks (harness/checks.py), interleaved.

    python results/verify-scale-2026-12-03/checks_cost.py /tmp/verify-c16m.evts
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc

import numpy as np

import scenarios
from harness.checks import CheckResult, check_run


def one_pass(stream, done_ns, t0_ns, open_loop):  # type: ignore[no-untyped-def]
    """harness/checks.py as it was (commit d205fb6)."""
    n = stream.n_events
    arrival = stream.column("arrival_ns").astype(np.int64) if open_loop else np.zeros(n, dtype=np.int64)
    done = done_ns.astype(np.int64)
    missing = np.flatnonzero(done_ns == 0)
    all_done = CheckResult("all_done", len(missing) == 0)
    early = np.flatnonzero((done != 0) & (done < t0_ns + arrival))
    not_early = CheckResult("not_before_arrival", len(early) == 0)
    by_key = np.argsort(stream.column("key"), kind="stable")
    keys, done_by_key = stream.column("key")[by_key], done[by_key]
    written = (done_by_key[1:] != 0) & (done_by_key[:-1] != 0)
    back = np.flatnonzero((keys[1:] == keys[:-1]) & written & (done_by_key[1:] < done_by_key[:-1]))
    return [all_done, not_early, CheckResult("per_key_order", len(back) == 0)]


def measure(check, stream, done_ns):  # type: ignore[no-untyped-def]
    tracemalloc.start()
    start = time.perf_counter()
    results = check(stream, done_ns, 1, False)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert all(r.passed for r in results)
    return seconds, peak


def main() -> None:
    stream = scenarios.read_evts(sys.argv[1])
    n = stream.n_events
    in_order = np.arange(10, 10 + n, dtype=np.uint64)  # one thread's completions, in seq order
    # Two workers' (by key parity, one 5 µs behind): each key's in order, the whole run not.
    by_two = in_order + (stream.column("key") % 2).astype(np.uint64) * np.uint64(5000)
    for label, done_ns in (("completed in seq order", in_order), ("by two workers", by_two)):
        runs: dict[str, list[tuple[float, int]]] = {"one pass": [], "chunks": []}
        for _ in range(5):
            runs["one pass"].append(measure(one_pass, stream, done_ns))
            runs["chunks"].append(measure(check_run, stream, done_ns))
        for name, values in runs.items():
            times = sorted(t for t, _ in values)
            peak = max(p for _, p in values)
            print(
                f"{label:<22} {name:<9} {n} events: median {statistics.median(times):.3f} s (min {times[0]:.3f}, "
                f"max {times[-1]:.3f}); peak temporaries {peak / n:.1f} bytes/event ({peak / 2**20:.0f} MiB)"
            )


if __name__ == "__main__":
    main()
