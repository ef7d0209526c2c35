"""The five main jobs side by side: each contender's verdict on each figure in each run.

Run from the repository's root: ``python results/compare-2026-12-02/summarize.py``.
"""

import sys
from pathlib import Path

from harness import judgement, report, results

SHORT = {"better": "better", "worse": "worse", "no clear difference": "-", "not comparable": "n/a"}


def main() -> None:
    verdicts: dict[tuple[str, str], list[str]] = {}
    figures: list[str] = []
    runs = sorted(Path("results/compare-2026-12-02").glob("main-*/runs/*/"))
    for run in runs:
        docs = {d.implementation: d for d in results.load_many([run])[0]}
        for name, doc in docs.items():
            if name == "sequential" or doc.model == "floor":
                continue
            for j in judgement.compare_figures(doc, docs["sequential"]):
                verdicts.setdefault((name, j.figure), []).append(j.verdict)
                figures += [] if j.figure in figures else [j.figure]
    print("| contender | " + " | ".join(report.FIGURE_NAMES[f] for f in figures) + " |")
    print("|---|" + "---|" * len(figures))
    same = 0
    for name in dict.fromkeys(n for n, _ in verdicts):
        cells = []
        for figure in figures:
            seen = verdicts.get((name, figure), [])
            same += len(set(seen)) == 1
            cells.append(f"{SHORT[seen[0]]} ×{len(seen)}" if len(set(seen)) == 1 else ", ".join(map(SHORT.get, seen)))
        print(f"| `{name}` | " + " | ".join(cells) + " |")
    print(f"\n{same} of {len(verdicts)} contender-figure verdicts the same in all {len(runs)} runs", file=sys.stderr)


if __name__ == "__main__":
    main()
