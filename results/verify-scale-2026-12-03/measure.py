"""Issue 18 item 4's goals, measured: a 16 M-event `contention` run's peak resident memory (bytes
an event) and, with the reference-digest cache warm, its end-to-end time against the engine's
own window.

    python results/verify-scale-2026-12-03/measure.py [--rounds 5] [--baseline DIR]

Every figure is one whole ``eventbench run`` under ``/usr/bin/time -v``: "Elapsed (wall clock)"
and "Maximum resident set size" (nothing subtracted), and the window the run itself reports
("wall", t0 to the last completion). Warm runs are interleaved in shuffled rounds. ``--baseline``
runs the same command once on another checkout (the commit before this work) for comparison.
The 16 M-event file is made in /tmp with ``eventbench export`` and never committed.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

EVENTS = 16_000_000
FILE = Path("/tmp/verify-c16m.evts")
CACHE = Path("/tmp/verify-scale-cache")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def eventbench(*args: str, cwd: Path = ROOT) -> list[str]:
    return [sys.executable, "-m", "harness.cli", *args]


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run(["/usr/bin/time", "-v", *command], cwd=cwd, env=env, capture_output=True, text=True,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    elapsed = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    window = re.search(r"wall\s+([\d.]+) (m?s)", done.stdout)
    assert elapsed and rss and window, done.stdout + done.stderr
    hours, minutes, seconds = elapsed.groups()
    window_s = float(window.group(1)) / (1000 if window.group(2) == "ms" else 1)
    return {
        "elapsed_s": int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds),
        "rss_bytes": int(rss.group(1)) * 1024,
        "window_s": window_s,
    }


def spread(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} [{format(min(values), fmt)}–{format(max(values), fmt)}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="a checkout of the commit before (run once, for comparison)")
    args = parser.parse_args()
    env = dict(os.environ, EVENTBENCH_CACHE_DIR=str(CACHE))
    env.pop("EVENTBENCH_NO_REFERENCE_CACHE", None)
    if not FILE.exists():
        subprocess.run(eventbench("export", "--workload", "contention", "--n-events", str(EVENTS), "-o", str(FILE)),
                       cwd=ROOT, env=env, check=True)  # fmt: skip
    shutil.rmtree(CACHE, ignore_errors=True)
    started_load = os.getloadavg()[0]
    run = ["run", "--events", str(FILE)]
    configs = {
        "native w2": [*run, "--impl", "native", "--workers", "2"],
        "native-sequential": [*run, "--impl", "native-sequential"],
        "native w2, --alloc-events 0": [*run, "--impl", "native", "--workers", "2", "--alloc-events", "0"],
        "native-sequential, --alloc-events 0": [*run, "--impl", "native-sequential", "--alloc-events", "0"],
    }
    rows: list[tuple[str, list[dict[str, float]]]] = []
    if args.baseline:
        rows.append(("before (baseline), native w2", [timed(eventbench(*configs["native w2"]), args.baseline, env)]))
    rows.append(("cold cache, native w2", [timed(eventbench(*configs["native w2"]), ROOT, env)]))
    warm: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
    rng = random.Random(18)
    for _ in range(args.rounds):
        for name in rng.sample(list(configs), len(configs)):
            warm[name].append(timed(eventbench(*configs[name]), ROOT, env))
    rows += [(f"warm cache, {name}", runs) for name, runs in warm.items()]

    load = os.getloadavg()[0]
    print(f"{EVENTS:,} contention events, {args.rounds} interleaved rounds of the warm runs; median [min–max]; "
          f"load average {started_load:.1f} at the start, {load:.1f} at the end (2 cores)")  # fmt: skip
    header = f"{'run':<46} {'n':>2} {'end to end s':>20} {'window s':>20} {'end/window':>19} {'max RSS B/event':>16}"
    print(header)
    print("-" * len(header))
    for name, runs in rows:
        elapsed = [r["elapsed_s"] for r in runs]
        window = [r["window_s"] for r in runs]
        ratio = [r["elapsed_s"] / r["window_s"] for r in runs]
        rss = [r["rss_bytes"] / EVENTS for r in runs]
        print(f"{name:<46} {len(runs):>2} {spread(elapsed, '.2f'):>20} {spread(window, '.3f'):>20} "
              f"{spread(ratio, '.2f'):>19} {max(rss):>16.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
