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

MACHINE = "canary"
BENCH = ["track_allocations_per_event", "track_instructions_per_event", r"Handle\.time_handle"]
CAUGHT_BY = ["Allocations.track_allocations_per_event", "Instructions.track_instructions_per_event"]


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
    should_fail: bool  # does regress (gate: counts) have to flag this commit?


STEPS = (
    Step(
        "alloc",
        "native engine: one more allocation per event (canary)",
        (
            Edit(
                "implementations/native/src/engine.rs",
                "pub fn handle(e: &Event, state: &mut u64, count: &mut u64, g: &AtomicU64) {\n",
                "pub fn handle(e: &Event, state: &mut u64, count: &mut u64, g: &AtomicU64) {\n"
                "    std::hint::black_box(Box::new(e.value)); // canary: one allocation per event\n",
            ),
        ),
        should_fail=True,
    ),
    Step(
        "slow",
        "python handlers: compute 25 % slower (canary)",
        (
            Edit(
                "implementations/python_handlers.py",
                "        for _ in range(work):\n            value = mix(value)\n",
                "        for _ in range(work):\n            value = mix(value)\n"
                "        wasted = value  # canary: 25 % more rounds, result thrown away\n"
                "        for _ in range(work // 4):\n            wasted = mix(wasted)\n",
            ),
        ),
        should_fail=True,
    ),
    Step(
        "noop",
        "docs: reword a comment and a sentence (canary: changes nothing that runs)",
        (
            Edit(
                "implementations/python_handlers.py",
                '"""``s[k]`` after one event.',
                '"""The state ``s[k]`` after one event.',
            ),
            Edit("README.md", "## Quick start\n", "## Quick start\n\n<!-- canary: nothing that runs changed -->\n"),
        ),
        should_fail=False,
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
    library = repo / ".asv" / "cargo-target" / "release" / "libevb_native.so"
    return library.stat().st_mtime if library.exists() else None


def busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="canary", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None, help="keep the scratch repository here")
    parser.add_argument("--out", type=Path, default=asvcli.ROOT / "results" / "canary", help="verdicts go here")
    parser.add_argument("--load", type=int, default=0, help="busy processes kept running while measuring")
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
    seen = site.check(html, args.out / "site", [MACHINE], CAUGHT_BY, every_benchmark=False)
    lines = [f"- {name}: the crate was {'compiled' if again else 'reused from the Cargo target directory'}"
             for name, again in rebuilt.items()]  # fmt: skip
    return report(args.out, repo, commits, verdicts, regressions, seen, lines, time.monotonic() - started, args.load)


def judge_steps(repo: Path, commits: dict[str, str]) -> dict[str, tuple[int, str]]:
    """regress on each step against its parent: (exit status, markdown)."""
    verdicts = {}
    names = list(commits)
    for parent, name in itertools.pairwise(names):
        summary = repo / f"regress-{name}.md"
        status = regress.main(
            [
                "--base",
                commits[parent],
                "--head",
                commits[name],
                "--machine",
                MACHINE,
                "--summary",
                str(summary),
                *[a for b in BENCH for a in ("--bench", b)],
            ],
            root=repo,
        )
        verdicts[name] = (status, summary.read_text())
    return verdicts


def report(
    out: Path,
    repo: Path,
    commits: dict[str, str],
    verdicts: dict[str, tuple[int, str]],
    regressions: list[dict[str, object]],
    seen: site.Seen,
    builds: list[str],
    seconds: float,
    load: int,
) -> int:
    out.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# Canary: {len(STEPS)} commits judged against their parents ({seconds / 60:.1f} min, "
        f"{load} busy processes alongside)",
        "",
    ]
    ok = True
    for step in STEPS:
        status, summary = verdicts[step.name]
        flagged = status == 1
        right = flagged == step.should_fail
        ok &= right
        lines += [
            f"## {step.name}: {step.message}",
            "",
            f"regress exit {status}: {'flagged' if flagged else 'passed'} — {'as it should' if right else 'WRONG'}",
            "",
            summary,
            "",
        ]
    # Counts decide the page's verdict; a timing step asv finds on a noisy machine is shown, not judged.
    counted = {r["commit"] for r in regressions if any(n in str(r["benchmark"]) for n in CAUGHT_BY)}
    for step in STEPS:
        on_page = commits[step.name] in counted
        ok &= on_page == step.should_fail
        timings = sorted(
            {
                str(r["benchmark"])
                for r in regressions
                if r["commit"] == commits[step.name] and not any(n in str(r["benchmark"]) for n in CAUGHT_BY)
            }
        )
        lines.append(
            f"- published regressions (counts) {'list' if on_page else 'do not list'} {step.name} "
            f"({commits[step.name][:8]})" + (f"; timings listed there too: {', '.join(timings)}" if timings else "")
        )
    problems = seen.problems
    ok &= not problems
    lines += [
        "",
        f"- rendered regressions page (screenshot `{out / 'site' / 'regressions.png'}`) lists: "
        + ", ".join(sorted(set(seen.regressions))),
        *[f"- site problem: {p}" for p in problems],
    ]
    lines += ["", "Builds (one `pip wheel` per commit, release mode, persistent Cargo target directory):", *builds]
    lines += ["", "```json", json.dumps(regressions, indent=1), "```", ""]
    lines.append(f"**Canary {'passed' if ok else 'FAILED'}.** Scratch repository: {repo}")
    (out / "verdicts.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
