"""Same-run interleaved A/B of `eventbench run` at two commits (each installed in its own venv).

    python interleaved_ab.py OUT.json ROUNDS LABEL=VENV LABEL=VENV

Each round runs every (contender, workload) once per commit, in a random (seeded) order, each
run a fresh `eventbench run ... --mode closed --alloc-events 0` process; the figure is the
handling's wall time (`wall_s`) and CPU time per event of the result document.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = [("sequential", "contention", 200_000), ("asyncio", "contention", 200_000), ("sequential", "cpu-bound", 20_000)]


def main(out: str, rounds: int, venvs: dict[str, str]) -> None:
    rng = random.Random(20261203)
    runs: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            order = [(label, case) for label in venvs for case in CASES]
            rng.shuffle(order)
            for label, (impl, workload, n) in order:
                doc = Path(tmp) / "run.json"
                command = [f"{venvs[label]}/bin/eventbench", "run", "--impl", impl, "--workload", workload,
                           "--n-events", str(n), "--mode", "closed", "--alloc-events", "0",
                           "--json", str(doc)]  # fmt: skip
                subprocess.run(command, check=True, capture_output=True)
                result = json.loads(doc.read_text())
                assert result["valid"] and result["digest_ok"], result["failures"]
                runs.append({"round": r, "commit": label, "impl": impl, "workload": workload, "events": n,
                             "wall_s": result["wall_s"], "cpu_s_per_event": result["cpu_s_per_event"]})  # fmt: skip
    Path(out).write_text(json.dumps(runs, indent=1) + "\n")
    a, b = list(venvs)
    for impl, workload, n in CASES:
        case = (impl, workload)
        walls = {
            c: [x["wall_s"] for x in runs if (x["commit"], (x["impl"], x["workload"])) == (c, case)] for c in venvs
        }
        ratios = sorted(wb / wa for wa, wb in zip(walls[a], walls[b], strict=True))  # paired by round
        print(f"{impl} {workload} {n}: median wall {a} {statistics.median(walls[a]) * 1e3:.1f} ms, "
              f"{b} {statistics.median(walls[b]) * 1e3:.1f} ms; "
              f"{b}/{a} per round: median {statistics.median(ratios):.3f}, "
              f"middle half {ratios[len(ratios) // 4]:.3f}..{ratios[(3 * len(ratios)) // 4]:.3f}, "
              f"range {ratios[0]:.3f}..{ratios[-1]:.3f} ({len(ratios)} rounds)")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), dict(arg.split("=", 1) for arg in sys.argv[3:]))
