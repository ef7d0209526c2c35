"""pass_time.jsonl as a markdown table: seconds of the whole pass, before and after, per workload and contender.

Usage: ``python summarise.py pass_time.jsonl``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _cell(row: dict[str, object] | None) -> str:
    if row is None:
        return "–"
    if "not_counted" in row:
        return "not counted"
    seconds, events, total = float(row["seconds"]), int(row["events"]), int(row["stream_events"])  # type: ignore[arg-type]
    covered = "" if events == total else f" ({events:,} of {total:,})"
    return f"{seconds:.1f} s{covered}"


def main(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    by_key = {(r["workload"], r["contender"], r["which"]): r for r in rows}
    pairs = sorted({(r["workload"], r["contender"]) for r in rows}, key=lambda k: (k[0], k[1]))
    print("| workload | contender | before: first 100,000 events, memray's reader "
          "| after: whole stream, native reader | allocations/event before → after |")  # fmt: skip
    print("|---|---|---:|---:|---|")
    for workload, contender in pairs:
        before, after = by_key.get((workload, contender, "before")), by_key.get((workload, contender, "after"))
        per_event = (
            f"{before['per_event']:.4g} → {after['per_event']:.4g}"
            if before and after and "per_event" in before and "per_event" in after
            else "–"
        )
        print(f"| {workload} | {contender} | {_cell(before)} | {_cell(after)} | {per_event} |")
    totals = {
        which: sum(float(r["seconds"]) for r in rows if r["which"] == which and "not_counted" not in r)
        for which in ("before", "after")
    }
    print(f"\nAll passes: {totals['before']:.0f} s before, {totals['after']:.0f} s after.")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
