"""CI runs what the README promises: `.ci/run` is the Quick start's test command, lint included."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"^## Quick start\n+```sh\n(.*?)```", readme, re.MULTILINE | re.DOTALL)
    assert block, "README.md has no Quick start code block"
    return block.group(1).strip().splitlines()


def test_ci_runs_the_readmes_test_command_with_lint() -> None:
    commands = _quick_start_commands()
    assert len(commands) == 2, f"the Quick start is two commands, the main job and the tests: {commands}"
    test_command = commands[1]
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines, f".ci/run does not run the README's test command {test_command!r}"
    sessions = test_command.split("nox -s", 1)[1].split()
    assert {"lint", "tests", "rust", "memcheck"} <= set(sessions), sessions
