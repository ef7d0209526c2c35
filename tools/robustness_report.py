"""``nox -s robustness``'s report: what was tried, how it ended, what memory did.

Reads what the session left in one directory and writes ``summary.md`` there:

* ``tally/tally-*.json``: the robustness tests' counts (``tests/tally.py``), one file per
  pytest process, added up here: malformed inputs per entry point and how each ended,
  fault and interrupt cases, and measured stop times;
* ``soak-*.json``: ``eventbench soak --json`` documents;
* ``memcheck.log``: valgrind's output over the engine's tests and the fuzz corpus;
* ``cargo-fuzz.log``: libFuzzer's output, when cargo-fuzz ran.

Usage: ``python tools/robustness_report.py DIR``.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def tally_sections(directory: Path) -> list[str]:
    outcomes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    measures: dict[str, list[float]] = defaultdict(list)
    for path in sorted((directory / "tally").glob("tally-*.json")):
        data = json.loads(path.read_text())
        for row in data["outcomes"]:
            outcomes[row["entry_point"]][row["outcome"]] += row["count"]
        for name, values in data["measures"].items():
            measures[name].extend(values)
    lines = ["## Inputs and faults tried, by entry point", ""]
    lines += ["| entry point | tried | how they ended |", "|---|---:|---|"]
    for entry, ends in sorted(outcomes.items()):
        ended = "; ".join(f"{n} {outcome}" for outcome, n in sorted(ends.items(), key=lambda kv: -kv[1]))
        lines.append(f"| {entry} | {sum(ends.values())} | {ended} |")
    if measures:
        lines += ["", "## Measured", "", "| figure | n | median | max |", "|---|---:|---:|---:|"]
        for name, values in sorted(measures.items()):
            lines.append(f"| {name} | {len(values)} | {statistics.median(values):.3f} | {max(values):.3f} |")
    return lines


def soak_section(directory: Path) -> list[str]:
    lines = ["## Soak runs", "", "| contender | events | rounds | RSS after warm-up | RSS at end | growth | "
             "throughput last/first tenth | CPU/event last/first | noise band | verdict |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    for path in sorted(directory.glob("soak-*.json")):
        doc = json.loads(path.read_text())
        figures = {f["name"]: f for f in doc["figures"]}
        mib = 1024 * 1024
        throughput, cpu = figures["throughput_eps"], figures["cpu_s_per_event"]
        lines.append(
            f"| {doc['implementation']} ({doc['workers']} workers) | {doc['total_events']:,} | {len(doc['rounds'])} | "
            f"{doc['rss_after_warmup_bytes'] / mib:.1f} MiB | {doc['rss_at_end_bytes'] / mib:.1f} MiB | "
            f"{doc['rss_growth']:+.2%} | {throughput['change']:+.2%} | {cpu['change']:+.2%} | "
            f"±{throughput['noise']:.1%} / ±{cpu['noise']:.1%} | {'steady' if doc['steady'] else 'NOT steady'} |"
        )
    return lines


def memcheck_section(directory: Path) -> list[str]:
    log = directory / "memcheck.log"
    if not log.exists():
        return ["## valgrind memcheck", "", "not run"]
    text = log.read_text()
    summaries = re.findall(r"==\d+== (ERROR SUMMARY: .*)", text)
    leaks = re.findall(r"==\d+==\s+(definitely lost: .*)", text)
    tests = re.findall(r"test result: (.*?)(?:; finished.*)?$", text, flags=re.MULTILINE)
    lines = ["## valgrind memcheck (the engine's tests and the fuzz corpus replay)", ""]
    lines += [f"- `{s}` · `{leak}`" for s, leak in zip(summaries, leaks, strict=False)]
    lines += [f"- test binaries: {t}" for t in tests]
    return lines


def fuzz_section(directory: Path) -> list[str]:
    log = directory / "cargo-fuzz.log"
    if not log.exists():
        return ["## cargo-fuzz", "", "not run (needs a nightly toolchain)"]
    text = log.read_text()
    done = re.findall(r"^(Done \d+ runs in \d+ second\(s\))", text, flags=re.MULTILINE)
    last = re.findall(r"^#\d+\s+DONE .*$", text, flags=re.MULTILINE)
    crashes = re.findall(r"^(==\d+== ERROR: .*|thread '.*' panicked.*)$", text, flags=re.MULTILINE)
    lines = ["## cargo-fuzz (target `evts`: the engine's decoder and validator, and every engine on what passes)", ""]
    lines += [f"- {d}" for d in done] + [f"- `{line.strip()}`" for line in last]
    lines.append(f"- crashes: {len(crashes)}" + ("".join(f"\n  - `{c}`" for c in crashes)))
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    directory = Path(argv[0])
    body = ["# eventbench robustness run", ""]
    for section in (tally_sections, fuzz_section, memcheck_section, soak_section):
        body += [*section(directory), ""]
    (directory / "summary.md").write_text("\n".join(body))
    print(directory / "summary.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
