"""Contenders and scenarios from other packages: the entry-point groups, their failure modes, and the examples.

The one-file example (examples/one-file/eventbench_yours.py, the guide in docs/contenders.md) is
installed here as a real distribution would be: a ``*.dist-info`` with its entry point,
on ``sys.path``. The C example (examples/c-contender) is built and installed by
``nox -s tests``; there, ``EVENTBENCH_REQUIRE_EXAMPLES=1`` makes its absence a failure,
and the differential tests take it in with every other registered contender. The scenario
example (examples/scenario-ratelimit) likewise: installed by ``nox -s tests``, else here as
a distribution, and taken in by the differential tests with every other registered scenario.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import implementations
import scenarios
from harness import workload
from harness.reference import reference_digest
from harness.runner import run_once

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
REQUIRED = os.environ.get("EVENTBENCH_REQUIRE_EXAMPLES") == "1"


def _install(
    site: Path, dist: str, module: str, source: str, entry_points: dict[str, str],
    group: str = implementations.ENTRY_POINT_GROUP,
) -> None:  # fmt: skip
    """A distribution as pip leaves it: the module (a file, or a package already copied to
    ``site`` where ``source`` is empty), and METADATA and entry_points.txt."""
    if source:
        (site / f"{module}.py").write_text(source)
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{lines}")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


def test_the_one_file_example_is_found_and_matches_the_reference(site: Path) -> None:
    source = (EXAMPLES / "one-file" / "eventbench_yours.py").read_text()
    _install(site, "eventbench_yours", "eventbench_yours", source, {"yours": "eventbench_yours:Yours"})
    found = {r.name: r for r in implementations.registry()}
    assert found["yours"].available, found["yours"].reason
    assert found["yours"].origin == "plugin eventbench_yours:Yours from eventbench_yours 0.1"
    for name in workload.builtin_names(scenarios.get("synthetic")):  # the one scenario it hosts
        stream = workload.generate(workload.builtin(name).with_events(3000))
        outcome = run_once(implementations.get("yours"), stream, workers=1, mode="closed",
                           reference_digest=reference_digest(stream))  # fmt: skip
        assert outcome.valid, (name, outcome.failures())


def test_broken_plugins_are_listed_with_the_reason_and_stop_nothing(site: Path) -> None:
    source = (
        "from implementations.sequential import Sequential\n"
        "raise_here = 1 / 0 if False else None\n"
        "class NoInfo(Sequential.__mro__[1]):\n"  # a Contender subclass that forgot its info
        "    def open(self, stream, workers): ...\n"
    )
    _install(site, "broken_plugins", "broken_plugins", source, {
        "missing": "no_such_module:Thing",
        "threaded": "broken_plugins:Sequential",  # a built-in's name
        "not-a-contender": "broken_plugins:raise_here",
        "misnamed": "broken_plugins:Sequential",  # calls itself "sequential"
        "no-info": "broken_plugins:NoInfo",
        "a,b": "broken_plugins:Sequential",  # --impl could never name it
    })  # fmt: skip
    found = {r.name: r for r in implementations.registry()}
    assert "failed to load: ModuleNotFoundError" in found["missing"].reason
    assert "not-a-contender" in found and "TypeError" in found["not-a-contender"].reason
    assert "calls itself 'sequential', not 'misnamed'" in found["misnamed"].reason
    assert "has no ContenderInfo" in found["no-info"].reason
    assert "is not a usable name" in found["a,b"].reason
    assert found["threaded"].available and found["threaded"].origin == "built-in"  # the built-in wins
    assert "is ignored: 'threaded' is a built-in contender's name" in found["threaded (plugin)"].reason
    assert implementations.get("threaded").info.description == found["threaded"].contender.info.description
    assert {"sequential", "threaded", "native"} <= {c.info.name for c in implementations.available()}


def test_a_plugin_that_exits_or_raises_over_lines_is_one_listed_reason(site: Path) -> None:
    _install(site, "exits_on_import", "exits_on_import", "raise SystemExit('no\\nlicence')\n",
             {"exits": "exits_on_import:Thing"})  # fmt: skip
    found = {r.name: r for r in implementations.registry()}
    assert found["exits"].reason.endswith("failed to load: SystemExit: no licence"), found["exits"].reason
    assert found["sequential"].available


OLD_PROTOCOL = """
from protocol.contender import Contender, ContenderInfo, PreparedRun, check_open


class OldRun(PreparedRun):
    def run(self, done_ns, t0_ns, open_loop):
        return 0  # the digest, as handle returned it before issue 16


class Old(Contender):
    info = ContenderInfo("old", "python", "sequential", parallel=False)

    def open(self, stream, workers):
        check_open(stream, workers)
        return OldRun()
"""


def test_a_plugin_written_for_the_old_protocol_is_listed_with_one_line_saying_so(site: Path, tmp_path: Path) -> None:
    _install(site, "old_protocol", "old_protocol", OLD_PROTOCOL, {"old": "old_protocol:Old"})
    found = {r.name: r for r in implementations.registry()}
    reason = found["old"].reason
    assert not found["old"].available
    assert "implements an older protocol: OldRun has no digest()" in reason, reason
    assert "\n" not in reason and "docs/measurement-window.md" in reason
    assert found["sequential"].available
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    listed = subprocess.run([sys.executable, "-m", "harness.cli", "list"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert "implements an older protocol" in " ".join(listed.stdout.split()), listed.stdout


HANDLE_PROTOCOL = """
from protocol.contender import Contender, ContenderInfo, PreparedRun, check_open


class HandleRun(PreparedRun):
    def handle(self, done_ns, t0_ns, open_loop):  # the window's name before PreparedRun.run
        pass

    def digest(self):
        return 0


class Handles(Contender):
    info = ContenderInfo("handles", "python", "sequential", parallel=False)

    def open(self, stream, workers):
        check_open(stream, workers)
        return HandleRun()
"""


def test_a_plugin_whose_window_is_still_called_handle_is_told_to_rename_it(site: Path) -> None:
    _install(site, "handle_protocol", "handle_protocol", HANDLE_PROTOCOL, {"handles": "handle_protocol:Handles"})
    reason = {r.name: r for r in implementations.registry()}["handles"].reason
    assert "HandleRun has no run() (the window, once called handle(): rename it)" in reason, reason


def test_a_plugin_importing_a_moved_module_is_told_where_it_went(site: Path) -> None:
    _install(site, "moved_import", "moved_import", "from harness.events import EventStream\n",
             {"moved": "moved_import:Thing"})  # fmt: skip
    reason = {r.name: r for r in implementations.registry()}["moved"].reason
    assert "No module named 'harness.events' (now protocol.events;" in reason, reason


def test_verify_is_the_gate_on_the_command_line(site: Path, tmp_path: Path) -> None:
    source = (EXAMPLES / "one-file" / "eventbench_yours.py").read_text()
    wrong = source.replace("counts[key] = counts.get(key, 0) + 1", "counts[key] = counts.get(key, 0) + 2")
    assert wrong != source
    _install(site, "eventbench_yours", "eventbench_yours", source, {"yours": "eventbench_yours:Yours"})
    _install(site, "eventbench_wrong", "eventbench_wrong", wrong.replace('"yours"', '"wrong"'),
             {"wrong": "eventbench_wrong:Yours"})  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}

    def verify(name: str) -> subprocess.CompletedProcess[str]:
        args = ["verify", "--impl", name, "--workload", "contention", "--n-events", "2000"]
        return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    good, bad, unknown = verify("yours"), verify("wrong"), verify("nobody")
    assert good.returncode == 0 and "yours" in good.stdout, good.stderr
    assert bad.returncode == 1 and "wrong" in bad.stdout + bad.stderr
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1


def _c_example() -> implementations.Contender:
    try:
        return implementations.get("c-sequential")
    except (KeyError, implementations.Unavailable) as e:
        if REQUIRED:
            raise AssertionError(f"the C example is not installed here (nox -s tests installs it): {e!r}") from e
        pytest.skip("the C example is not installed (pip install ./examples/c-contender; nox -s tests does)")


@pytest.mark.parametrize("name", workload.builtin_names(scenarios.get("synthetic")))
def test_the_c_example_passes_verify_on_every_built_in_workload(name: str) -> None:
    contender = _c_example()
    stream = workload.generate(workload.builtin(name).with_events(20_000))
    outcome = run_once(contender, stream, workers=1, mode="closed", reference_digest=reference_digest(stream))
    assert outcome.valid, outcome.failures()


def test_the_c_example_stops_on_ctrl_c_inside_its_c_loop() -> None:
    contender = _c_example()
    stream = workload.generate(workload.load_workload("paced").with_events(400_000))  # 40 s open loop
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        run_once(contender, stream, workers=1, mode="open")
    # join() has returned; the thread leaves threading's table a moment after its end
    for _ in range(100):
        if not any(t.name == "eventbench-c-example" for t in threading.enumerate()):
            break
        time.sleep(0.01)
    else:
        raise AssertionError("the C loop's thread outlived the interrupted run")


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler")
def test_the_c_example_compiles_without_warnings(tmp_path: Path) -> None:
    """handlers.c is strict C11 with no warning (-Wall -Wextra -Wpedantic -Werror, here without Python);
    its build uses -Wall -Wextra without -Werror, so that a newer compiler cannot break pip install."""
    source = EXAMPLES / "c-contender" / "eventbench_c_example" / "handlers.c"
    flags = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-c"]
    subprocess.run(["gcc", *flags, str(source), "-o", str(tmp_path / "handlers.o")], check=True)


RATELIMIT = EXAMPLES / "scenario-ratelimit"


def _install_ratelimit(site: Path, scenario: str = "ratelimit", declare_native: bool = False) -> Path:
    """The scenario example as pip leaves it, by its own pyproject.toml's entry point, less its handler
    in Rust: a copy is not built, so it declares no native library (the native contenders then leave
    it out) unless ``declare_native``. Under another scenario name (a copy to break), its package is
    renamed to match, with its smoke workload alone."""
    project = tomllib.loads((RATELIMIT / "pyproject.toml").read_text())["project"]
    (target,) = project["entry-points"][scenarios.ENTRY_POINT_GROUP].values()
    package = "eventbench_" + scenario.replace("-", "_")
    copy = site / package
    shutil.copytree(RATELIMIT / "eventbench_ratelimit", copy, ignore=shutil.ignore_patterns("__pycache__", "_evb_*"))
    if not declare_native:
        init = copy / "__init__.py"
        lines = init.read_text().splitlines(keepends=True)
        init.write_text("".join(line for line in lines if "native_library=" not in line))
        assert len(init.read_text().splitlines()) == len(lines) - 1
    dist = project["name"].replace("-", "_")
    if scenario != "ratelimit":
        dist = package
        for path in copy.rglob("*.py"):
            path.write_text(path.read_text().replace("eventbench_ratelimit", package))
        record = copy / "record.py"
        record.write_text(record.read_text().replace('NAME = "ratelimit"', f'NAME = "{scenario}"'))
        smoke = (copy / "workloads" / "ratelimit-smoke.toml").read_text()
        smoke = smoke.replace('name = "ratelimit-smoke"', f'name = "{scenario}-smoke"')
        smoke = smoke.replace('scenario = "ratelimit"', f'scenario = "{scenario}"')
        for toml in (copy / "workloads").glob("*.toml"):
            toml.unlink()
        (copy / "workloads" / f"{scenario}-smoke.toml").write_text(smoke)
    entry_point = {scenario: target.replace("eventbench_ratelimit", package)}
    _install(site, dist, package, "", entry_point, scenarios.ENTRY_POINT_GROUP)
    return copy


def test_a_scenario_whose_native_library_did_not_build_is_refused_saying_so(site: Path, tmp_path: Path) -> None:
    """Named, it is refused in one line; not named, it is left out saying so (verify, list): a Rust
    handler that stopped building never passes for a verified run without native figures."""
    _install_ratelimit(site, "ratelimit-unbuilt", declare_native=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    why = "cannot host scenario ratelimit-unbuilt here: scenario ratelimit-unbuilt's native library was not built"
    run = cli("run", "--workload", "ratelimit-unbuilt-smoke", "--impl", "native", "--n-events", "100")
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stdout + run.stderr
    assert why in run.stderr, run.stderr
    verified = cli("verify", "--workload", "ratelimit-unbuilt-smoke", "--n-events", "300", "--workers", "1")
    assert verified.returncode == 0 and f"left out: native {why}" in verified.stderr, verified.stdout + verified.stderr
    listed = cli("list", "--scenario", "ratelimit-unbuilt")
    assert "cannot host it here: native (scenario ratelimit-unbuilt's native library was not built" in " ".join(
        listed.stdout.split()
    ), listed.stdout


def test_the_scenario_example_installs_and_passes_verify_on_the_command_line(site: Path, tmp_path: Path) -> None:
    installed = any(r.name == "ratelimit" and r.scenario is not None for r in scenarios.registry())
    if REQUIRED:
        assert installed, "the scenario example is not installed here (nox -s tests installs it)"
    if not installed:  # a second copy of an installed one would be a second plugin claiming the name
        _install_ratelimit(site)
    # The same, with a worker process's ledger lost when the parent merges them: only processes can tell.
    handler = _install_ratelimit(site, "ratelimit-broken") / "handler.py"
    source = handler.read_text()
    handler.write_text(source.replace("for part in parts:", "for part in parts[:1]:"))
    assert handler.read_text() != source
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    listed = cli("list")
    assert listed.returncode == 0 and "ratelimit-smoke" in listed.stdout, listed.stdout + listed.stderr
    for name in ("ratelimit-smoke", "ratelimit", "ratelimit-paced"):  # closed loop, and open loop (paced)
        good = cli("verify", "--workload", name, "--n-events", "1500", "--workers", "1,2")
        assert good.returncode == 0, good.stdout + good.stderr
        assert {"sequential", "threaded", "asyncio", "processes"} <= set(good.stdout.split()), good.stdout
    bad = cli("verify", "--workload", "ratelimit-broken-smoke", "--workers", "2")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    wrong = [line.split()[0] for line in bad.stdout.splitlines() if "WRONG" in line]
    assert wrong == ["processes"], bad.stdout
