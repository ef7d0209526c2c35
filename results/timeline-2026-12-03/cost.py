"""What the timeline costs a trial: ``harness.timeline.of_run`` against the exact percentiles that
``runner.figures`` computes from the same arrays, side by side, 7 interleaved repetitions, 16 M
events (1 M events/s for 16 s: 160 intervals), lognormal latencies. Run: ``python cost.py``."""

from __future__ import annotations

import statistics
import time

import numpy as np

from harness import stats, timeline

N = 16_000_000
T0 = 10**12


def main() -> None:
    rng = np.random.default_rng(1)
    arrival = np.sort(rng.integers(0, 16 * 10**9, N)).astype(np.uint64)
    done = arrival + np.uint64(T0) + rng.lognormal(10, 1.5, N).astype(np.uint64)
    timeline_s, exact_s = [], []
    for _ in range(7):
        start = time.perf_counter()
        timeline.of_run(done, arrival, T0)
        middle = time.perf_counter()
        stats.latency_summary(stats.latencies_ns(done, arrival, T0), in_place=True)
        timeline_s.append(middle - start)
        exact_s.append(time.perf_counter() - middle)
    ratios = [a / b for a, b in zip(timeline_s, exact_s, strict=True)]
    print(f"of_run: median {statistics.median(timeline_s):.2f} s ({statistics.median(timeline_s) / N * 1e9:.0f} "
          f"ns/event), range {min(timeline_s):.2f}-{max(timeline_s):.2f} s; exact percentiles: median "
          f"{statistics.median(exact_s):.2f} s, range {min(exact_s):.2f}-{max(exact_s):.2f} s; "
          f"ratio median {statistics.median(ratios):.2f}, range {min(ratios):.2f}-{max(ratios):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
