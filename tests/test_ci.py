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


def test_every_package_of_the_source_tree_is_in_the_wheel() -> None:
    """pyproject.toml lists packages by hand: a package missing there works from the checkout
    (the tests import it from the tree) and is missing from every installed eventbench."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("harness", "implementations", "scenarios")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found <= listed, f"packages missing from pyproject.toml's [tool.setuptools] packages: {found - listed}"
