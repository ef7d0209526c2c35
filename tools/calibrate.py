"""Calibration and power of compare's verdicts, measured here: ``nox -s calibrate``.

Runs the real ``eventbench compare`` again and again (docs/statistics.md says what it must show):

* **calibration**: the main job's default (``mixed``, open loop, 10 trials) with ``sequential``
  against ``sequential-twin``, a second registration of itself: every figure must come out
  "no clear difference" in at least 95 % of comparisons;
* **power**: the main job's size in closed loop with ``sequential`` against
  ``sequential-slowed-P`` (P % more time, implementations/calibration.py) for each P: throughput
  must come out "worse" in at least 95 % of comparisons at 10 %; the smallest P that is called
  worse that often is what the default main job detects reliably on this machine.

Writes ``summary.md`` and ``calibration.json`` under ``results/calibration/STAMP/`` and exits 1
when either promise failed. ``--runs N`` comparisons of each kind (default 20; 95 % of 20 is 19).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import judgement, results, stats

BASELINE = "sequential"
SLOWDOWNS = (2.0, 5.0, 10.0)
REQUIRED = 0.95
PROMISED_SLOWDOWN = 10.0


def compare(contender: str, mode: str, env: dict[str, str]) -> dict[str, str] | None:
    """One real ``eventbench compare`` of the baseline and ``contender``: each figure's verdict; None
    where the compare failed (kept as a failure: it holds neither promise)."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "harness.cli", "compare", "--impl", f"{BASELINE},{contender}",
                   "--mode", mode, "--alloc-events", "0", "--results-dir", tmp]  # fmt: skip
        done = subprocess.run(command, env=env, check=False, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"compare failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            return None
        docs = {d.implementation: d for d in results.load_many([Path(tmp)])[0]}
    return {j.figure: j.verdict for j in judgement.compare_figures(docs[contender], docs[BASELINE])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20, help="comparisons of each kind (default 20)")
    parser.add_argument("--out", default="results/calibration", help="a STAMP directory is made under it")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be 1 or more, got {args.runs}")
    slowed = ",".join(f"{BASELINE}:{p:g}" for p in SLOWDOWNS)
    env = {**os.environ, "EVENTBENCH_CALIBRATE": f"{BASELINE}:twin,{slowed}"}
    out = Path(args.out) / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out.mkdir(parents=True)
    started = time.monotonic()

    twin: list[dict[str, str] | None] = []
    power: dict[float, list[dict[str, str] | None]] = {p: [] for p in SLOWDOWNS}
    for run in range(args.runs):  # interleaved, so that the machine's drift falls on every kind alike
        print(f"run {run + 1}/{args.runs}", file=sys.stderr, flush=True)
        twin.append(compare(f"{BASELINE}-twin", "open", env))
        for percent in SLOWDOWNS:
            power[percent].append(compare(f"{BASELINE}-slowed-{percent:g}", "closed", env))

    clean = sum(v is not None and len(v) > 0 and all(w == stats.UNCLEAR for w in v.values()) for v in twin)
    detected = {
        p: sum(v is not None and v.get("throughput_eps") == stats.WORSE for v in runs) for p, runs in power.items()
    }
    reliable = [p for p in SLOWDOWNS if detected[p] >= REQUIRED * args.runs]
    summary = {
        "runs": args.runs,
        "self_comparison": {
            "clean": clean,
            "figures": sorted({f for v in twin if v for f in v}),
            "verdicts": twin,
        },
        "slowdowns": {f"{p:g}": {"worse": detected[p], "verdicts": power[p]} for p in SLOWDOWNS},
        "smallest_reliable_slowdown_percent": min(reliable) if reliable else None,
        "duration_s": time.monotonic() - started,
        "method": stats.METHOD,
    }
    ok = clean >= REQUIRED * args.runs and detected[PROMISED_SLOWDOWN] >= REQUIRED * args.runs
    (out / "calibration.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "summary.md").write_text(_markdown(summary, ok))
    print((out / "summary.md").read_text())
    return 0 if ok else 1


def _held(count: int, n: int) -> str:
    """``19/20 (≥ 78 %)``: the count, and the rate it shows with 95 % confidence (Clopper-Pearson)."""
    return f"{count}/{n} (rate ≥ {stats.proportion_lower_bound(count, n):.0%} at 95 % confidence)"


def _markdown(summary: dict[str, Any], ok: bool) -> str:
    n = summary["runs"]
    smallest = summary["smallest_reliable_slowdown_percent"]
    lines = [
        "# compare's verdicts, calibrated on this machine",
        "",
        f"{n} comparisons of each kind, interleaved, {summary['duration_s'] / 60:.0f} minutes in all "
        "(tools/calibrate.py; `nox -s calibrate`).",
        "",
        "| comparison | held | promise |",
        "|---|---:|---|",
        f"| `{BASELINE}` against itself (`{BASELINE}-twin`), `mixed` open loop, every figure | "
        f"{_held(summary['self_comparison']['clean'], n)} | no clear difference on every figure in ≥ 95 % |",
    ]
    for percent, found in summary["slowdowns"].items():
        promise = "called worse in ≥ 95 %" if float(percent) == PROMISED_SLOWDOWN else "(measured, not promised)"
        held = _held(found["worse"], n)
        lines.append(f"| `{BASELINE}` {percent} % slower, `mixed` closed loop, throughput | {held} | {promise} |")
    lines += [
        "",
        f"Smallest slowdown called worse in ≥ 95 % of comparisons: "
        f"{f'{smallest:g} %' if smallest is not None else 'none of those tried'}.",
        "",
        f"Verdict: {'both promises held' if ok else 'a promise FAILED'} in at least 95 % of the comparisons run.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
