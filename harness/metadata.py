"""What makes two results comparable or not: code, toolchain and machine."""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness import __commit_id__, __version__

_REPO = Path(__file__).resolve().parent.parent


def _command_output(*argv: str, cwd: Path | None = None) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _git_commit() -> str | None:
    """The commit measured: $EVENTBENCH_COMMIT, else the checkout's (``+dirty`` with
    uncommitted changes) when running from one, else the one the package was built from."""
    if os.environ.get("EVENTBENCH_COMMIT"):
        return os.environ["EVENTBENCH_COMMIT"]
    if (_REPO / ".git").exists():
        commit = _command_output("git", "rev-parse", "HEAD", cwd=_REPO)
        if commit and _command_output("git", "status", "--porcelain", "--untracked-files=no", cwd=_REPO):
            commit += "+dirty"
        return commit
    if __commit_id__ is None:
        return None
    # setuptools-scm: a short node ("g1a2b3c4"), and ".dYYYYMMDD" in the version when built dirty.
    commit = __commit_id__.removeprefix("g")
    return commit + "+dirty" if re.search(r"\.d\d{8}$", __version__) else commit


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.lru_cache(maxsize=1)
def collect() -> dict[str, Any]:
    """Collected once per process: a few subprocesses, not worth repeating per run."""
    import numpy

    rustc = _command_output("rustc", "--version")
    return {
        "eventbench": __version__,
        "commit": _git_commit(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "gil_enabled": getattr(sys, "_is_gil_enabled", lambda: True)(),
        "numpy": numpy.__version__,
        "rust": rustc.split()[1] if rustc else None,
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "host": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
    }


# What must match for two results to be compared as like for like, by concern.
COMPARABILITY = {
    "machine": ("host", "cpu_model", "cpu_count", "os"),
    "toolchain": ("python", "python_implementation", "gil_enabled", "rust", "numpy"),
    "code": ("commit",),
}


def differences(metas: list[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """Fields whose values differ among ``metas``, by concern: ``{"machine": {"host": ["a", "b"]}}``."""
    out: dict[str, dict[str, list[str]]] = {}
    for concern, fields in COMPARABILITY.items():
        for name in fields:
            values = sorted({str(m.get(name)) for m in metas})
            if len(values) > 1:
                out.setdefault(concern, {})[name] = values
    return out
