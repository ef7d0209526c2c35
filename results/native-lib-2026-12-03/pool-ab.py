"""Two builds of a scenario library side by side: `native-sequential`, and pools of 1 and 2 workers,
on one stream, closed loop, in shuffled interleaved rounds (every engine of both builds once a round).

Each build's pools are given as the ratio of its own `native-sequential` time to theirs, round by
round: median and quartiles over the rounds. The host's steal time over the whole measurement is
printed first: a virtual machine whose host takes its cores makes every 2-worker figure lower.

    python results/native-lib-2026-12-03/pool-ab.py OLD.so NEW.so [--scenario S --workload W --events N --rounds R]

Builds of another commit: `git worktree add /tmp/old <commit>`, then in it
`cargo build --release -p evb-synthetic` (or `-p evb-orderbook`): target/release/libevb_*.so.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

import numpy as np

import scenarios
from harness import workload
from implementations.native_cffi import Engine, Library, StreamHandle

ENGINES = (("native-sequential", "sequential", 1), ("pool 1", "pool", 1), ("pool 2", "pool", 2))


def cpu_ticks() -> tuple[int, int]:
    """All CPU time and the host's steal, in ticks since boot (/proc/stat's first line)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(fields), fields[7]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("libraries", nargs=2, type=Path)
    parser.add_argument("--scenario", default="synthetic")
    parser.add_argument("--workload", default="cpu-bound")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    scenario = scenarios.get(args.scenario)
    stream = workload.generate(workload.load_workload(args.workload, scenario=scenario).with_events(args.events))
    engines, handles = {}, {}
    for path in args.libraries:
        library = Library(path, scenario)
        handles[path] = StreamHandle(library, stream.records, stream.n_keys)
        for name, model, workers in ENGINES:
            engines[(path, name)] = Engine(model, workers, library=library)
    done = np.zeros(len(stream.records), dtype=np.uint64)
    times: dict[tuple[Path, str], list[int]] = {key: [] for key in engines}
    all0, steal0 = cpu_ticks()
    for _ in range(args.rounds):
        order = list(engines)
        random.shuffle(order)
        for key in order:
            engines[key].prepare(handles[key[0]])
            start = time.perf_counter_ns()
            engines[key].run(done, time.monotonic_ns(), False)
            times[key].append(time.perf_counter_ns() - start)
    all1, steal1 = cpu_ticks()
    steal = 100 * (steal1 - steal0) / (all1 - all0)
    print(f"{args.workload}, {args.events} events, {args.rounds} rounds; host steal {steal:.1f} %")
    for path in args.libraries:
        sequential = times[(path, "native-sequential")]
        print(f"{path}: native-sequential {statistics.median(sequential) / 1e6:.2f} ms")
        for name, _, _ in ENGINES[1:]:
            ratios = sorted(s / t for s, t in zip(sequential, times[(path, name)], strict=True))
            q1, median, q3 = statistics.quantiles(ratios, n=4)
            print(f"  {name}: {statistics.median(times[(path, name)]) / 1e6:.2f} ms, "
                  f"{median:.2f}x native-sequential [quartiles {q1:.2f}-{q3:.2f}]")  # fmt: skip


if __name__ == "__main__":
    main()
