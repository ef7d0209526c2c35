"""What the robustness tests tried and how each try ended, for ``nox -s robustness``'s report.

Tests call :func:`record` for every malformed input or fault they try, and
:func:`measure` for figures such as how long a worker took to stop. When
``$EVENTBENCH_ROBUSTNESS_TALLY`` names a directory, each pytest process writes its
counts there at the end (``conftest.py``) and ``tools/robustness_report.py`` adds
them up. Otherwise nothing is written: the counts cost a dictionary update.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

ENV = "EVENTBENCH_ROBUSTNESS_TALLY"

_outcomes: Counter[tuple[str, str]] = Counter()
_measures: dict[str, list[float]] = {}


def record(entry_point: str, outcome: str) -> None:
    """One input tried at ``entry_point`` and how it ended (``exit 2``, ``InvalidInput``, ``ok`` ...)."""
    _outcomes[(entry_point, outcome)] += 1


def measure(name: str, value: float) -> None:
    _measures.setdefault(name, []).append(value)


def dump() -> Path | None:
    """Writes this process's counts into ``$EVENTBENCH_ROBUSTNESS_TALLY``, if set."""
    directory = os.environ.get(ENV)
    if not directory or not (_outcomes or _measures):
        return None
    path = Path(directory) / f"tally-{os.getpid()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    outcomes = [{"entry_point": e, "outcome": o, "count": n} for (e, o), n in sorted(_outcomes.items())]
    path.write_text(json.dumps({"outcomes": outcomes, "measures": _measures}, indent=1))
    return path
