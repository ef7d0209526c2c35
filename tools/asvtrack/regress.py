"""`nox -s regress`: does HEAD regress against a base commit? A markdown summary and an exit status.

    python -m asvtrack.regress [--base main] [--head HEAD] [--machine NAME] [--gate all|counts]
                               [--factor 1.10] [--instructions-factor 1.02] [--allocations-delta 0.5]
                               [--bench REGEX ...] [--summary FILE] [--rerun]

Measures both commits with asv (a commit already measured on this machine is reused unless
``--rerun``), judges every figure with :mod:`asvtrack.verdict`, prints the summary (and writes
it to ``--summary``, e.g. ``$GITHUB_STEP_SUMMARY``). Exit status: 0 no gating regression,
1 a gating figure regressed, a benchmark that passed at the base fails at HEAD, nothing was
measured at both commits, or asv itself failed (all of which must stop a merge), 2 bad
arguments (an unknown revision, say).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import asvcli, figures
from .verdict import Change, Figure, Thresholds, judge

GATES = ("counts", "all")


def compare(before: dict[figures.Key, Figure], after: dict[figures.Key, Figure], limits: Thresholds) -> list[Change]:
    """Every figure present at both commits, judged; in benchmark and parameter order."""
    return [
        judge(name, params, before[(name, params)], after[(name, params)], limits)
        for name, params in sorted(before.keys() & after.keys())
    ]


def gating(changes: list[Change], gate: str) -> list[Change]:
    """The regressions that fail the check: failures always, counts always, timings with ``--gate all``."""
    return [c for c in changes if c.regressed and (c.verdict == "failed" or gate == "all" or c.kind == "count")]


def exit_status(changes: list[Change], gate: str) -> int:
    """1 when a figure fails the check under ``gate``, or when nothing was measured at both ends (not a pass)."""
    return 1 if not changes or gating(changes, gate) else 0


def summary(changes: list[Change], gate: str, title: str) -> str:
    failing = gating(changes, gate)
    counts = [c for c in changes if c.kind == "count"]
    timings = [c for c in changes if c.kind == "timing"]
    moved = [c for c in timings if c.verdict in ("regressed", "improved", "failed")]
    lines = [f"## {title}", ""]
    if not changes:
        lines += ["**Nothing to compare**: no benchmark has a result at both commits.", ""]
    elif failing:
        lines += [f"**{len(failing)} regression(s)** that fail the check (gate: {gate}):", ""]
        lines += _table(failing)
    else:
        lines += ["**No regression** that fails the check " + f"(gate: {gate}).", ""]
    timing_gate = "gating" if gate == "all" else "reported, not gating: `--gate all` gates them"
    lines += [
        f"{len(changes)} figures compared: {len(counts)} counts (deterministic, gating) and "
        f"{len(timings)} timings ({timing_gate}).",
        "",
    ]
    lines += ["### Counts", "", *_table(counts)]
    lines += ["### Timings beyond the factor", ""]
    lines += _table(moved) if moved else ["None: every timing is within the factor or not significant.", ""]
    return "\n".join(lines)


MARKS = {"regressed": "❌", "failed": "❌", "improved": "✅", "unchanged": "", "not comparable": "–"}


def _table(changes: list[Change]) -> list[str]:
    rows = ["| | benchmark | parameters | before | after | change |", "|---|---|---|---:|---:|---|"]
    for c in changes:
        rows.append(
            f"| {MARKS[c.verdict]} | `{c.benchmark}` | {c.params or '–'} | {_value(c.before)} | "
            f"{_value(c.after)} | {c.how_much} |"
        )
    return [*rows, ""]


def _value(figure: Figure) -> str:
    if figure.failed:
        return "failed"
    if figure.skipped:
        return "skipped"
    from asv.util import human_value

    value = human_value(figure.value, figure.unit)
    return value if figure.unit in ("seconds", "bytes") else f"{value} {figure.unit}"


def changes_between(
    root: Path, machine: str, base: str, head: str, bench: list[str], limits: Thresholds, rerun: bool = False
) -> list[Change]:
    """Measures ``base`` and ``head`` where not yet measured (asv) and judges every figure they share."""
    asvcli.ensure_machine(machine, root)
    for commit in dict.fromkeys([base, head]):
        asvcli.run_commit(machine, commit, bench, root, rerun=rerun)
    results = asvcli.results_dir(root)
    return compare(figures.load(results, machine, base), figures.load(results, machine, head), limits)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="regress", description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="the commit compared against (default: main)")
    parser.add_argument("--head", default="HEAD", help="the commit under test (default: HEAD)")
    parser.add_argument("--machine", default=None, help="asv machine name (default: $EVENTBENCH_ASV_MACHINE or host)")
    parser.add_argument("--gate", choices=GATES, default="all",
                        help="what fails the check besides failures: every figure (default), or only the counts "
                             "(for shared CI runners, where a neighbour's load can move any timing)")  # fmt: skip
    parser.add_argument("--factor", type=float, default=Thresholds.factor)
    parser.add_argument("--instructions-factor", type=float, default=Thresholds.instructions_factor)
    parser.add_argument("--allocations-delta", type=float, default=Thresholds.allocations_delta)
    parser.add_argument("--bench", action="append", default=[], help="only benchmarks matching (asv -b)")
    parser.add_argument("--summary", type=Path, default=None, help="also write the markdown here")
    parser.add_argument("--rerun", action="store_true", help="measure again even where results exist")
    args = parser.parse_args(argv)
    if min(args.factor, args.instructions_factor) <= 1 or args.allocations_delta <= 0:
        parser.error("factors must be above 1 and --allocations-delta above 0")
    return args


def main(argv: list[str] | None = None, root: Path = asvcli.ROOT) -> int:
    args = parse_args(argv)
    machine = args.machine or asvcli.default_machine()
    try:
        base, head = asvcli.resolve(args.base, root), asvcli.resolve(args.head, root)
    except asvcli.AsvFailed as e:
        print(f"regress: {e}", file=sys.stderr)
        return 2
    if base == head:
        print(f"regress: {args.base} and {args.head} are the same commit ({head[:8]}): it is compared with itself",
              file=sys.stderr)  # fmt: skip
    if args.head == "HEAD" and asvcli.git("status", "--porcelain", "--untracked-files=no", cwd=root):
        print("regress: the working tree has uncommitted changes; asv measures commits, so HEAD is what is judged",
              file=sys.stderr)  # fmt: skip
    limits = Thresholds(args.factor, args.instructions_factor, args.allocations_delta)
    try:
        changes = changes_between(root, machine, base, head, args.bench, limits, args.rerun)
    except (asvcli.AsvFailed, figures.NoResults) as e:
        print(f"regress: {e}", file=sys.stderr)
        return 1
    title = f"eventbench regress: `{args.base}` {base[:8]} → `{args.head}` {head[:8]} on `{machine}`"
    text = summary(changes, args.gate, title)
    print(text)
    if args.summary is not None:
        args.summary.write_text(text + "\n")
    return exit_status(changes, args.gate)


if __name__ == "__main__":
    sys.exit(main())
