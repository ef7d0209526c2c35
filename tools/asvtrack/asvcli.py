"""asv, run the same way by every session: from this checkout's asv.conf.json, one named machine."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "asv.conf.json"


class AsvFailed(RuntimeError):
    pass


def config(root: Path = ROOT) -> dict[str, object]:
    """asv.conf.json (asv's JSON allows // comments on their own lines)."""
    text = (root / CONFIG.name).read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("//")]
    return dict(json.loads("\n".join(lines)))


def results_dir(root: Path = ROOT) -> Path:
    return root / str(config(root)["results_dir"])


def html_dir(root: Path = ROOT) -> Path:
    return root / str(config(root)["html_dir"])


def default_machine() -> str:
    """``EVENTBENCH_ASV_MACHINE`` if set (CI names its runners), else this host's name."""
    return os.environ.get("EVENTBENCH_ASV_MACHINE") or socket.gethostname()


def asv(*args: str, cwd: Path = ROOT, check: bool = True) -> int:
    """Runs ``asv ARGS`` in ``cwd`` (output straight to the terminal); returns its exit status."""
    command = [sys.executable, "-m", "asv", *args]
    print("$ asv " + " ".join(args), flush=True)
    status = subprocess.run(command, cwd=cwd, check=False).returncode
    if check and status != 0:
        raise AsvFailed(f"asv {args[0]} exited with status {status}")
    return status


def ensure_machine(machine: str, cwd: Path = ROOT) -> None:
    """Records ``machine`` in ~/.asv-machine.json with what asv detects (no questions asked)."""
    asv("machine", "--yes", "--machine", machine, cwd=cwd)


# asv discards the samples unless asked; without them `asv compare` and `regress` can only
# compare confidence intervals, not run the Mann-Whitney test the samples are kept for.
RUN_OPTIONS = ["--record-samples"]
BENCHMARKS_FAILED = 2  # `asv run`'s exit status when a benchmark failed: a result, judged later


def run(machine: str, revisions: str, bench: list[str], cwd: Path = ROOT, rerun: bool = False) -> None:
    """Measures ``revisions`` (an asv range: ``A..B``, ``SHA^!``); results already stored are kept
    unless ``rerun`` (failed ones are measured again: a failure may have been passing trouble)."""
    skip = [] if rerun else ["--skip-existing-successful"]
    selection = [arg for regex in bench for arg in ("--bench", regex)]
    status = asv("run", "--machine", machine, *RUN_OPTIONS, *skip, *selection, revisions, cwd=cwd, check=False)
    if status not in (0, BENCHMARKS_FAILED):
        raise AsvFailed(f"asv run {revisions} exited with status {status}")


def run_commit(machine: str, commit: str, bench: list[str], cwd: Path = ROOT, rerun: bool = False) -> None:
    run(machine, f"{commit}^!", bench, cwd, rerun)


def git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AsvFailed(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def resolve(revision: str, cwd: Path = ROOT) -> str:
    return git("rev-parse", "--verify", f"{revision}^{{commit}}", cwd=cwd)
