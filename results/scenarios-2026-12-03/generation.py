"""Workload generation speed: 2,000,000 events of each order-book workload (and two synthetic
ones beside them), best of 5, in this process (harness.workload.generate, vectorised numpy)."""

import time

from harness import workload

N = 2_000_000
for name in ("book", "book-contention", "book-paced", "mixed", "contention"):
    spec = workload.builtin(name).with_events(N)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        workload.generate(spec)
        times.append(time.perf_counter() - start)
    best = min(times)
    print(
        f"{name:<16} {N:,} events: best of 5 {best:.3f} s = {N / best / 1e6:.2f} M events/s "
        f"(slowest {max(times):.3f} s)"
    )
