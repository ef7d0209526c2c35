"""Latency percentiles of a 16 M-event open-loop run: time and peak temporaries, as the harness
made them before this change (int64 copies, then a full sort) against now (one int64 array,
partitioned in place), interleaved, on made-up completions: arrivals 1 µs apart, each event
done 0-2 ms after its arrival.

    python results/verify-scale-2026-12-03/latency_cost.py
"""

from __future__ import annotations

import statistics
import time
import tracemalloc

import numpy as np

from harness import stats

N = 16_000_000


def before(done_ns: np.ndarray, arrival_ns: np.ndarray, t0_ns: int) -> stats.LatencySummary | None:
    """harness/stats.py as it was (commit d205fb6)."""
    latencies = done_ns.astype(np.int64) - (np.int64(t0_ns) + arrival_ns.astype(np.int64))
    ordered = np.sort(latencies)
    values = {name: stats.nearest_rank(ordered, p) for name, p in stats.PERCENTILES.items()}
    return stats.LatencySummary(**values, max=int(ordered[-1]))


def now(done_ns: np.ndarray, arrival_ns: np.ndarray, t0_ns: int) -> stats.LatencySummary | None:
    return stats.latency_summary(stats.latencies_ns(done_ns, arrival_ns, t0_ns), in_place=True)


def main() -> None:
    rng = np.random.default_rng(18)
    arrival = np.arange(N, dtype=np.uint64) * np.uint64(1000)
    t0 = 10**12
    done = arrival + np.uint64(t0) + rng.integers(0, 2_000_000, N).astype(np.uint64)
    runs: dict[str, list[tuple[float, int]]] = {"sort": [], "partition": []}
    found = {}
    for _ in range(5):
        for name, summary in (("sort", before), ("partition", now)):
            tracemalloc.start()
            start = time.perf_counter()
            found[name] = summary(done, arrival, t0)
            seconds = time.perf_counter() - start
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            runs[name].append((seconds, peak))
    assert found["sort"] == found["partition"], found
    for name, values in runs.items():
        times = sorted(t for t, _ in values)
        peak = max(p for _, p in values)
        print(
            f"{name:<9} {N} events: median {statistics.median(times):.3f} s (min {times[0]:.3f}, "
            f"max {times[-1]:.3f}); peak temporaries {peak / N:.1f} bytes/event"
        )


if __name__ == "__main__":
    main()
