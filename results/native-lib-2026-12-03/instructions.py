"""Instructions per event on `contention`: native-sequential against c-sequential.

asv's callgrind count (benchmarks/bench_counts.py), summed over every thread: c-sequential
handles on a helper thread of its own, which callgrind counts over its whole life (the main
thread's count is the checked run's window alone). Taken for N1 and N2 events handled of the
same generated stream; the difference divided by N2 - N1 is the per-event figure, with start-up,
thread creation and end effects cancelled.

    python results/native-lib-2026-12-03/instructions.py [N1 N2]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks import bench_counts

N1, N2 = (int(a) for a in sys.argv[1:3]) if len(sys.argv) > 2 else (100_000, 300_000)
contenders = ("native-sequential", "c-sequential")
plan = [(c, "contention", n, N2) for c in contenders for n in (N1, N2)]
digests = bench_counts.reference_digests(plan)
counts = [c if isinstance(c, str) else sum(c) for c in bench_counts.thread_instructions(plan, digests)]
per_event = {}
for i, name in enumerate(contenders):
    a, b = counts[2 * i], counts[2 * i + 1]
    if isinstance(a, str) or isinstance(b, str):
        raise SystemExit(f"{name}: {a if isinstance(a, str) else b}")
    per_event[name] = (b - a) / (N2 - N1)
    print(f"{name:<18} {per_event[name]:8.2f} instructions/event  ({a:,} at {N1:,}, {b:,} at {N2:,})")
ratio = per_event["native-sequential"] / per_event["c-sequential"]
print(f"native-sequential / c-sequential: {ratio:.3f}x (goal <= 1.15x)")
