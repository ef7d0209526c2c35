"""Benchmark versions: what ties a stored result to the suite, and the move onto explicit ones.

    python -m asvtrack.versions adopt [RESULTS_DIR]     stored asv source hashes -> explicit versions
    python -m asvtrack.versions check [RESULTS_DIR]     stored results the suite no longer shows

asv (0.6.6) stores beside every result the version of the benchmark that measured it, and
shows, compares and judges a stored result only while that version equals the suite's
(``asv.results.Results.get_result_keys``: a plain string comparison). Without a ``version``
attribute, asv_runner (0.3.2, ``Benchmark.__init__``) takes the SHA-256 of the benchmark's
source: the method, its ``setup`` methods and ``setup_cache``, not the helpers they call. An
edit there orphans the whole stored history of the figure even when it means what it meant (a
skip for a new contender did, in f9e1269), and a change in a helper that does change the
figure leaves the hash alone. So the suite sets explicit versions (``benchmarks/suite.py``,
``VERSIONS``, where the rule for bumping them is written; docs/regression-tracking.md).

:data:`LEGACY` lists, for each benchmark, the source hashes under which stored results were
measured that mean what its explicit version means. ``adopt`` rewrites those version strings in
a results store, and nothing else. ``publish`` runs it on the store it publishes, so that a
store kept elsewhere (CI's ``asv-results`` branch) moves the same way.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import defaultdict
from pathlib import Path

from . import asvcli

# benchmark -> {asv_runner's source hash: the explicit version it stands for}. Only hashes whose
# figures were checked to mean the same belong here (docs/regression-tracking.md says how):
# - every one: the suite as it measured results/asv (228cace), unchanged to 6781ec6 but for
# - Allocations: 6c48c863 at 228cace, c694dc45 from f9e1269 on, whose setup only adds a skip
#   for a contender that handles events in other processes (which did not exist before);
# - Instructions: one hash throughout, though 17daf3f (in a helper the hash does not cover)
#   counts the main thread only: the sometimes-counted signal watcher thread (~3,000
#   instructions a run) is at most 1.5 of 8,954 instructions per event (sequential,
#   contention) and 0.015 of 105 (native-sequential, contention), far inside the 2 % rule.
LEGACY: dict[str, dict[str, str]] = {
    "bench_contenders.Handle.peakmem_handle": {
        "7d4243ef701121ad4753d8529f12348a1ca92fb3bd97736a060bb9114897f30b": "1",
    },
    "bench_contenders.Handle.sample_throughput": {
        "d6008b84ba6b854fecea5c95c65954554d417c40e743816362f1fa15e70678d1": "1",
    },
    "bench_contenders.Handle.time_handle": {
        "479416c128c96fe7f8e72d9dcdf17f630f7c239d471249547b2b5bb0e17029a7": "1",
    },
    "bench_contenders.OpenLoopLatency.sample_latency_p50": {
        "fc6d2c3f43b3a009617357871d3f840319fd010ffef46ed6eb5502182c71dd08": "1",
    },
    "bench_contenders.OpenLoopLatency.sample_latency_p99": {
        "e2ca9e462304953a2a9c4892ee96dbada8a4f9357857bf2bfdca8195da4ed629": "1",
    },
    "bench_counts.Allocations.track_allocations_per_event": {
        "6c48c863b33d06c7367be27199c1ba3aac904da512bc25e59ae3c60dbadc80fc": "1",
        "c694dc45fa2d752f7139d0e9f1230645b157cd255f43a0bda5b29b5917e03ce0": "1",
    },
    "bench_counts.Instructions.track_instructions_per_event": {
        "2a24f8bd73350de4ed09c3715eed7fc8cdbda367985438a9afb6b5b015a5fc9b": "1",
    },
    "bench_generation.GenerateWorkload.time_generate": {
        "29bb7c7db6abdda01d3b01dbdeca6fae84d3c56856ac1afd75987e1b0d06041f": "1",
    },
    "bench_generation.GenerateWorkload.track_events_per_second": {
        "8b5fea0be15e627095cf8091544d65f3d6e14cddb485a986c892f382cc773f7a": "1",
    },
}

# (benchmark, version) whose stored history was ended on purpose, by a bump or a removal -> why.
# Results stored under these stay in the store (asv ignores them) and are not orphans.
RETIRED: dict[tuple[str, str], str] = {
    ("bench_counts.Instructions.track_instructions_per_event", "1"): (
        "counted from before open to the child's exit, after a gc.collect(), unchecked; version 2 "
        "counts the checked run's window only (docs/regression-tracking.md)"
    ),
}


def result_files(results_dir: Path) -> list[Path]:
    """Every stored result file: one per machine, commit and environment (machine.json aside)."""
    return sorted(p for p in results_dir.glob("*/*.json") if p.name != "machine.json")


API_VERSION = 2  # asv 0.6's format of result files and benchmarks.json (Results.api_version)


def _load(path: Path) -> dict:  # type: ignore[type-arg]
    from asv import util

    return dict(util.load_json(str(path), api_version=API_VERSION))


def stored(results_dir: Path) -> dict[tuple[str, str], list[str]]:
    """(benchmark, version) -> the result files (relative to ``results_dir``) that hold it."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in result_files(results_dir):
        data = _load(path)
        column = data["result_columns"].index("version")
        for name, row in data["results"].items():
            found[(name, str(row[column]))].append(str(path.relative_to(results_dir)))
    return dict(found)


def orphans(in_store: dict[tuple[str, str], list[str]], suite: dict[str, str]) -> list[str]:
    """One line per stored (benchmark, version) that the suite ``suite`` (name -> version) no longer
    shows and that was not retired on purpose; empty when the whole history stays in view."""
    lines = []
    for (name, version), files in sorted(in_store.items()):
        if suite.get(name) == version or (name, version) in RETIRED:
            continue
        now = f"the suite has it at version {suite[name]!r}" if name in suite else "the suite has no such benchmark"
        lines.append(
            f"{name}: {len(files)} stored result file(s) at version {version[:16]!r}, but {now}; "
            "that history would vanish from the site and from regress. If the figure means what it "
            "meant, keep its version (benchmarks/suite.py VERSIONS); if not, bump it deliberately and "
            "list the old one in tools/asvtrack/versions.py RETIRED, or map it in LEGACY and adopt"
        )
    return lines


def stored_params(results_dir: Path) -> dict[str, set[tuple[str, ...]]]:
    """benchmark -> every parameter combination stored for it (asv's ``repr`` strings)."""
    found: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for path in result_files(results_dir):
        data = _load(path)
        column = data["result_columns"].index("params")
        for name, row in data["results"].items():
            found[name].update(itertools.product(*row[column]))
    return dict(found)


def unplaced(in_store: dict[str, set[tuple[str, ...]]], suite: dict[str, list[list[str]]]) -> list[str]:
    """One line per benchmark of the suite (name -> its parameters' values) whose stored parameter
    combinations it no longer offers; empty when every one keeps its place.

    asv matches a stored value to the suite by the whole tuple of its parameters
    (``asv.results._compatible_results``), whatever the version: a parameter added to a benchmark,
    or a value dropped from one, leaves its stored results without a match, out of every graph
    and verdict as surely as a changed version. A new parameter *value* is harmless."""
    lines = []
    for name, combinations in sorted(in_store.items()):
        if name not in suite:
            continue  # a benchmark gone is orphans()'s to report
        offered = set(itertools.product(*suite[name]))
        lost = sorted(c for c in combinations if c not in offered)
        if lost:
            dims = {len(c) for c in lost}
            lines.append(
                f"{name}: {len(lost)} stored parameter combination(s), such as ({', '.join(lost[0])}), that the "
                f"suite's {len(suite[name])} parameter(s) no longer offer"
                + (f" (stored with {', '.join(map(str, sorted(dims)))})" if dims != {len(suite[name])} else "")
                + "; keep a benchmark's parameters and their values, add a benchmark for a new dimension"
            )
    return lines


def suite_params(results_dir: Path) -> dict[str, list[list[str]]]:
    """The suite's parameters as asv last discovered them beside ``results_dir`` (``benchmarks.json``)."""
    described = _load(results_dir / "benchmarks.json")
    return {name: list(info["params"]) for name, info in described.items() if isinstance(info, dict)}


def suite_versions(results_dir: Path) -> dict[str, str]:
    """The suite as asv last discovered it beside ``results_dir`` (``benchmarks.json``): name -> version."""
    described = _load(results_dir / "benchmarks.json")
    return {name: str(info["version"]) for name, info in described.items() if isinstance(info, dict)}


def adopt(results_dir: Path) -> list[str]:
    """Rewrites every stored version that :data:`LEGACY` maps to its explicit version, in the result
    files and ``benchmarks.json``; returns one line per file changed. Idempotent."""
    from asv import util

    notes = []
    for path in result_files(results_dir):
        data = _load(path)
        column = data["result_columns"].index("version")
        moved = [name for name, row in data["results"].items() if str(row[column]) in LEGACY.get(name, {})]
        for name in moved:
            data["results"][name][column] = LEGACY[name][data["results"][name][column]]
        if moved:
            util.write_json(str(path), data, api_version=API_VERSION, compact=True)
            notes.append(f"{path.relative_to(results_dir)}: {len(moved)} benchmark(s) onto explicit versions")
    described = results_dir / "benchmarks.json"
    if described.exists():
        data = _load(described)
        moved = [n for n, info in data.items() if isinstance(info, dict) and info["version"] in LEGACY.get(n, {})]
        for name in moved:
            data[name]["version"] = LEGACY[name][data[name]["version"]]
        if moved:
            util.write_json(str(described), data, api_version=API_VERSION)
            notes.append(f"benchmarks.json: {len(moved)} benchmark(s) onto explicit versions")
    return notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="versions", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("adopt", "check"))
    parser.add_argument("results_dir", type=Path, nargs="?", default=None, help="default: asv.conf.json's")
    args = parser.parse_args(argv)
    results_dir = args.results_dir or asvcli.results_dir()
    if not results_dir.is_dir():
        print(f"versions: {results_dir} is not a directory", file=sys.stderr)
        return 2
    from asv.util import UserError

    try:
        if args.command == "adopt":
            for note in adopt(results_dir):
                print(f"versions: {note}")
            return 0
        problems = orphans(stored(results_dir), suite_versions(results_dir))
        problems += unplaced(stored_params(results_dir), suite_params(results_dir))
    except (OSError, KeyError, ValueError, UserError) as e:  # a missing or malformed file of the store
        print(f"versions: {results_dir}: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"versions: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
