"""`nox -s canary`: proof that regression tracking catches what it should, and only that.

Builds a scratch git repository from this checkout and four commits on its ``main``:

1. ``baseline`` — the tree as it is;
2. ``alloc`` — the native engine's handler allocates (and frees) one box per event;
3. ``slow`` — the Python ``compute`` handler does 25 % more mixing rounds, thrown away;
4. ``noop`` — a comment and a README sentence change, nothing that runs.

Every commit computes the same digests (the contenders stay correct; only their cost moves).
asv measures each commit on machine ``canary`` in the scratch repository, with the
benchmarks that can see these changes (``--bench``). Then ``regress`` judges each commit
against its parent, and the site is published and opened in headless Chromium. The canary
passes when ``alloc`` and ``slow`` fail the check and ``noop`` does not, when asv's published
regressions name the ``alloc`` and ``slow`` commits and no other, and when the regressions
page, as rendered, lists the benchmarks that caught them. ``--out`` gets the verdicts and
the screenshots.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import asvcli, regress, site
from .verdict import Thresholds

MACHINE = "canary"
BENCH = ["track_allocations_per_event", "track_instructions_per_event", r"Handle\.time_handle"]


@dataclass(frozen=True)
class Edit:
    path: str
    anchor: str  # must occur exactly once
    replacement: str


@dataclass(frozen=True)
class Step:
    name: str
    message: str
    edits: tuple[Edit, ...]
    caught_by: tuple[tuple[str, str], ...]  # (benchmark, parameters) regress must flag; none: must pass

    @property
    def should_fail(self) -> bool:
        return bool(self.caught_by)


ALLOCATIONS = "bench_counts.Allocations.track_allocations_per_event"
INSTRUCTIONS = "bench_counts.Instructions.track_instructions_per_event"
NATIVE_ALLOCATIONS = tuple(
    (ALLOCATIONS, f"{contender}, {workload}")
    for contender in ("native", "native-sequential")
    for workload in ("cpu-bound", "contention", "mixed")
)


STEPS = (
    Step(
        "alloc",
        "native engine: one more allocation per event (canary)",
        (
            Edit(
                "implementations/native/synthetic/src/lib.rs",
                "    fn handle(e: &Event, keys: &mut Vec<KeyState>, slot: usize, g: &AtomicU64) -> u64 {\n",
                "    fn handle(e: &Event, keys: &mut Vec<KeyState>, slot: usize, g: &AtomicU64) -> u64 {\n"
                "        std::hint::black_box(Box::new(e.value)); // canary: one allocation per event\n",
            ),
        ),
        caught_by=NATIVE_ALLOCATIONS,
    ),
    Step(
        "slow",
        "python handlers: compute 25 % slower (canary)",
        (
            Edit(
                "scenarios/synthetic/semantics.py",
                "            for _ in range(work[i]):\n                v = mix(v)\n",
                "            for _ in range(work[i]):\n                v = mix(v)\n"
                "            wasted = v  # canary: 25 % more rounds, result thrown away\n"
                "            for _ in range(work[i] // 4):\n                wasted = mix(wasted)\n",
            ),
        ),
        caught_by=((INSTRUCTIONS, "sequential, cpu-bound"),),
    ),
    Step(
        "noop",
        "docs: reword a comment and a sentence (canary: changes nothing that runs)",
        (
            Edit(
                "scenarios/synthetic/semantics.py",
                '"""The handler of event ``i``:',
                '"""The handler of the event at index ``i``:',
            ),
            Edit("README.md", "## Quick start\n", "## Quick start\n\n<!-- canary: nothing that runs changed -->\n"),
        ),
        caught_by=(),
    ),
)


def git(repo: Path, *args: str) -> str:
    return asvcli.git(*args, cwd=repo)


def scratch_repository(repo: Path) -> str:
    """A fresh repository holding this checkout's files (committed or not, minus ignored ones)."""
    listed = asvcli.git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, listed):
        source = asvcli.ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "canary@eventbench.invalid")
    git(repo, "config", "user.name", "eventbench canary")
    return commit(repo, "baseline (canary)")


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def apply(repo: Path, step: Step) -> str:
    for edit in step.edits:
        path = repo / edit.path
        text = path.read_text()
        if text.count(edit.anchor) != 1:
            raise SystemExit(f"canary: {edit.path} no longer has exactly one {edit.anchor!r}; update canary.py")
        path.write_text(text.replace(edit.anchor, edit.replacement))
    return commit(repo, step.message)


def published_regressions(repo: Path) -> list[dict[str, object]]:
    """What the published regressions page lists: benchmark, parameters, values, and the commit it starts at."""
    html = asvcli.html_dir(repo)
    data = json.loads((html / "regressions.json").read_text())
    to_hash = json.loads((html / "index.json").read_text())["revision_to_hash"]
    found = []
    # asv's entries: [name, graph path, graph params, param index, last value, best value, jumps]
    for name, _graph, params, _index, _last, _best, jumps in data["regressions"]:
        for _first_rev, rev, before, after in jumps:
            found.append(
                {"benchmark": name, "params": params, "before": before, "after": after, "commit": to_hash[str(rev)]}
            )
    return found


def crate_build_time(repo: Path) -> float | None:
    """When the native library in asv's persistent Cargo target directory was last linked (None: not yet)."""
    library = repo / ".asv" / "cargo-target" / "release" / "libevb_synthetic.so"
    return library.stat().st_mtime if library.exists() else None


def busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="canary", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None, help="keep the scratch repository here")
    parser.add_argument("--out", type=Path, default=asvcli.ROOT / "results" / "canary", help="verdicts go here")
    parser.add_argument(
        "--load",
        type=int,
        default=1,
        help="busy processes competing with the measurements (default 1: a noisy neighbour)",
    )
    args = parser.parse_args(argv)
    repo = args.workdir or Path(tempfile.mkdtemp(prefix="eventbench-canary-"))
    repo.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    rebuilt: dict[str, bool] = {}
    hogs = [multiprocessing.Process(target=busy, args=(24 * 3600,), daemon=True) for _ in range(args.load)]
    for hog in hogs:
        hog.start()
    try:
        commits = {"baseline": scratch_repository(repo)}
        for step in STEPS:
            commits[step.name] = apply(repo, step)
        asvcli.ensure_machine(MACHINE, repo)
        for name, sha in commits.items():
            print(f"canary: measuring {name} ({sha[:8]})", flush=True)
            before = crate_build_time(repo)
            asvcli.run_commit(MACHINE, sha, BENCH, repo)
            rebuilt[name] = crate_build_time(repo) != before
    finally:
        for hog in hogs:
            hog.terminate()
    verdicts = judge_steps(repo, commits)
    html = site.publish(root=repo)
    regressions = published_regressions(repo)
    must_list = [page_name(b, p) for step in STEPS for b, p in step.caught_by]
    seen = site.check(html, args.out / "site", [MACHINE], must_list, every_benchmark=False)
    lines = [
        f"- {name}: the crate was {'compiled' if again else 'reused from the Cargo target directory'}"
        for name, again in rebuilt.items()
    ]
    return report(args.out, repo, commits, verdicts, regressions, seen, lines, time.monotonic() - started, args.load)


@dataclass(frozen=True)
class StepVerdict:
    counts_exit: int  # `regress --gate counts`: what CI on shared runners runs
    all_exit: int  # `regress` with its default gate (timings too), reported
    summary: str  # the markdown of the counts run
    flagged: frozenset[tuple[str, str]]  # (benchmark, parameters) that failed the counts check


def judge_steps(repo: Path, commits: dict[str, str]) -> dict[str, StepVerdict]:
    """regress on each step against its parent: measured and judged once, then decided as CI
    would decide it (``--gate counts``) and with regress's default gate (timings too)."""
    verdicts = {}
    for parent, name in itertools.pairwise(list(commits)):
        base, head = commits[parent], commits[name]
        changes = regress.changes_between(repo, MACHINE, base, head, BENCH, Thresholds())
        title = f"eventbench regress: {base[:8]} → {head[:8]} on `{MACHINE}`"
        flagged = frozenset((c.benchmark, c.params) for c in regress.gating(changes, "counts"))
        verdicts[name] = StepVerdict(
            regress.exit_status(changes, "counts"),
            regress.exit_status(changes, "all"),
            regress.summary(changes, "counts", title),
            flagged,
        )
    return verdicts


def shown(path: Path) -> str:
    """A path as the report names it: relative to the checkout when inside it (the report is committed)."""
    return str(path.relative_to(asvcli.ROOT)) if path.is_relative_to(asvcli.ROOT) else str(path)


def page_name(benchmark: str, params: str) -> str:
    """How asv's regressions page names a benchmark with its parameters: ``name('a', 'b')``."""
    return f"{benchmark}({', '.join(repr(p) for p in params.split(', '))})"


def report(
    out: Path,
    repo: Path,
    commits: dict[str, str],
    verdicts: dict[str, StepVerdict],
    regressions: list[dict[str, object]],
    seen: site.Seen,
    builds: list[str],
    seconds: float,
    load: int,
) -> int:
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# Canary: {len(STEPS)} commits, each judged against its parent",
        "",
        f"{seconds / 60:.1f} min in all, with {load} busy process(es) competing for the 2 cores.",
        "",
    ]
    ok = True
    for step in STEPS:
        verdict = verdicts[step.name]
        missed = [f"{b} ({p})" for b, p in step.caught_by if (b, p) not in verdict.flagged]
        right = (verdict.counts_exit == 1) == step.should_fail and not missed
        ok &= right
        lines += [
            f"## {step.name}: {step.message}",
            "",
            f"- `regress --gate counts`: exit {verdict.counts_exit} "
            f"({'flagged' if verdict.counts_exit == 1 else 'passed'}) — {'as it should' if right else 'WRONG'}",
            *[f"- expected to be caught by {m}, and was not" for m in missed],
            f"- `regress` (default gate: timings too): exit {verdict.all_exit}",
            "",
            verdict.summary,
            "",
        ]
    # The published page: the counts that must catch each step are listed at its commit, and no
    # count is listed at a commit that must pass. Timings asv lists there are shown, not judged.
    for step in STEPS:
        at_commit = {str(r["benchmark"]) for r in regressions if r["commit"] == commits[step.name]}
        missing = [page_name(b, p) for b, p in step.caught_by if page_name(b, p) not in at_commit]
        counts = sorted(n for n in at_commit if n.startswith((ALLOCATIONS, INSTRUCTIONS)))
        right = not missing and (step.should_fail or not counts)
        ok &= right
        lines.append(
            f"- published regressions at {step.name} ({commits[step.name][:8]}): {len(at_commit)} listed, "
            f"{len(counts)} of them counts — {'as it should' if right else 'WRONG'}"
            + "".join(f"; missing {m}" for m in missing)
        )
    ok &= not seen.problems
    lines += [
        "",
        f"Rendered regressions page (`{shown(out / 'site' / 'regressions.png')}`): {len(seen.regressions)} rows; "
        f"screenshots of every graph in `{shown(out / 'site')}`.",
        *[f"- site problem: {p}" for p in seen.problems],
    ]
    lines += ["", "Builds (one `pip wheel` per commit, release mode, persistent Cargo target directory):", *builds]
    lines += ["", "asv's published regressions (`regressions.json`):", "", "```json", json.dumps(regressions, indent=1)]
    lines += ["```", "", f"**Canary {'passed' if ok else 'FAILED'}.** Scratch repository: {repo}"]
    (out / "verdicts.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
