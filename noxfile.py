"""nox sessions: what CI and developers run.

    nox -s lint             ruff (lint and format), mypy, cargo fmt --check, cargo clippy -D warnings, actionlint
    nox -s tests            pytest: the full suite on Python 3.13, what can differ between versions on 3.10-3.12
    nox -s rust             cargo test: the workspace's tests (the engine, the capture reader), the example's crate
    nox -s memcheck         the same test binaries under valgrind memcheck (zero errors)

CI (.ci/run) runs the README's test command, ``nox -s lint tests rust memcheck``, on a fresh clone.
Where its time goes, and why (the rule for the Python matrix is in ``tests``'s docstring):

- the project's wheel is built once per nox run and installed into every session's environment
  (the engine is the same library for every Python); cargo's ``target/`` is shared by every build;
- the full suite runs on one Python, the version checks (a selection, few hypothesis examples) on the others;
- ``rust`` and ``memcheck`` run the same test binaries (cargo's test profile): one build.
    nox -s compare          the main job: `eventbench compare --report` (pass arguments after --)
    nox -s bench            pyperf timings: `eventbench bench` (arguments after --)
    nox -s sweep            latency against load: `eventbench sweep` (default --impl native)
    nox -s verify           every contender against the reference on every built-in workload
    nox -s robustness       tries to break it: fuzzing, faults, interrupts, valgrind, soak runs (results/robustness/)
    nox -s freethreaded     threaded on a Python without the GIL (3.13t+), beside the rest; skips where none is here
    nox -s calibrate        compare's verdicts proven: self-comparisons, known slowdowns (results/calibration/)

Regression tracking with asv (README "Regression tracking"; tools/asvtrack):

    nox -s asv-check        the asv suite imports and is well-formed
    nox -s regress          main against HEAD: markdown summary, exit 1 on a regression (--gate counts: counts only)
    nox -s history          asv run over a commit range (default: the last 4 commits of main)
    nox -s publish          the history site into .asv/html (scripts vendored: works offline)
    nox -s preview          publish, then serve it on http://127.0.0.1:8080/
    nox -s pages            two machines merged into one site, looked at in headless Chromium
    nox -s canary           a scratch history with known regressions: regress must flag exactly those

Sessions install the project from this checkout into their own environments;
nothing needs installing by hand beyond nox itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]

nox.options.sessions = ["lint", "tests", "rust", "memcheck"]
nox.options.reuse_existing_virtualenvs = True
nox.options.download_python = "never"  # offline machines: use the interpreters that are here
nox.options.default_venv_backend = "uv|virtualenv"
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")


def _select_pyenv_versions() -> None:
    """pyenv's shims answer only for selected versions: select every installed 3.10-3.13.

    Without this, ``python3.12`` fails on a pyenv machine whose global version is
    3.11 and nox would skip (or, on CI, fail) those sessions. A version already
    selected (``pyenv exec`` exports PYENV_VERSION) stays first.
    """
    if shutil.which("pyenv") is None:
        return
    try:
        bare = subprocess.run(["pyenv", "versions", "--bare"], capture_output=True, text=True, check=True).stdout
        current = subprocess.run(["pyenv", "version-name"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return
    wanted = [v for v in bare.split() if any(v.startswith(p + ".") for p in PYTHONS)]
    selected = os.environ.get("PYENV_VERSION", current.strip()).split(":")
    os.environ["PYENV_VERSION"] = ":".join(dict.fromkeys([*selected, *wanted]))


_select_pyenv_versions()


_WHEELS: dict[str, Path] = {}  # the project's wheel, built once per nox run (by the first session that needs it)


def _wheel(session: nox.Session) -> Path:
    """The project's wheel, built once per nox run and installed into every session's environment.

    The engine does not depend on the Python version (cffi ABI mode, ``NoBinding``: the library
    calls nothing of Python's), so one build serves 3.10-3.13: tagged abi3 from cp310, the wheel
    installs into each of them. Built by uv from this checkout, so cargo reuses ``target/``.
    """
    if "project" not in _WHEELS:
        out = Path(".nox/wheel").resolve()
        shutil.rmtree(out, ignore_errors=True)
        session.run("uv", "build", "--wheel", "--quiet", "--out-dir", str(out),
                    "-C--build-option=--py-limited-api=cp310", ".")  # fmt: skip
        (_WHEELS["project"],) = out.glob("eventbench-*.whl")
    return _WHEELS["project"]


def _install(session: nox.Session, *extras: str) -> None:
    """The project with ``extras``: from the wheel built once (uv sessions), else built here."""
    uv = session.venv_backend == "uv"
    source = str(_wheel(session)) if uv else "."
    session.install(f"{source}[{','.join(extras)}]" if extras else source)


# Found through the entry-point groups: a contender built with the C compiler, and a scenario.
EXAMPLE_PLUGINS = ["./examples/c-contender", "./examples/scenario-ratelimit"]
EXAMPLE_TESTS = ["examples/scenario-ratelimit/tests"]  # the scenario example's own suite, run with the project's


def _install_examples(session: nox.Session) -> None:
    """The example plugins, after the project (they depend on it); the tests then require them."""
    session.install(*EXAMPLE_PLUGINS)
    session.env["EVENTBENCH_REQUIRE_EXAMPLES"] = "1"


# The full suite runs on the newest Python; each older one runs what can differ between versions.
FULL_SUITE_PYTHON = PYTHONS[-1]
# What differs between Pythons: how the interpreter runs the contenders (threads, asyncio, processes,
# signals), what the standard library and each version's wheels (numpy, cffi, memray) do, and the C
# example's build against this Python. Every test module is still imported (collection), so every
# module of the project is too.
VERSION_CHECKS = [
    "test_differential.py",  # every contender at several worker counts, at the 'versions' size
    "test_spec_vectors.py",  # every contender, open and closed loop, on the SPEC's vectors
    "test_plugins.py",  # entry points, the C example built by cffi for this Python, Ctrl-C in its loop
    "test_cli.py",  # argparse, the installed command, one-line errors, TOML (tomllib or tomli)
    "test_workload.py",  # the built-in streams, byte for byte, with this Python's numpy
    "test_threaded.py", "test_processes.py", "test_faults.py",  # interrupts, joins, failing workers, shared memory
    "test_allocations.py",  # memray's counting under this interpreter's allocators
    "test_a_known_workload_is_attributed_as_it_behaves",  # the diagnosis rules on this interpreter's stacks
]  # fmt: skip
# ... less what those modules check again at a size, with nothing of the version's own in it.
VERSION_CHECKS_LEFT_TO_THE_FULL_RUN = [
    "test_verify_every_builtin_workload",  # every contender through the CLI, per workload: the differential's
    "test_verify_any_valid_file_written_elsewhere",  # the same per random file, 2.5 s an example
    "SIGTERM",  # the harness raises it as Ctrl-C: the SIGINT runs show the interpreter's part
    "test_compare_with_a_failing_contender",  # the CLI's exit code; each contender's part is in-process
]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite, one pytest worker per core: in full on the newest Python, the version checks on the others.

    The rule: the full suite (hypothesis profile 'ci' under CI=true) runs once, on the newest
    Python, where the interpreter's behaviour changes first (threads, asyncio, signals,
    multiprocessing, deprecations) and what most users will have. Every older Python runs
    VERSION_CHECKS: what can differ between versions, with the hypothesis profile 'versions'
    (fewer examples: each version's own behaviour shows in a few, the properties' strength is the
    full run's). What cannot differ is checked once: the engine (one wheel, one library for every
    Python), the statistics, reports and asv tooling (pure Python of the oldest syntax, which
    ruff and mypy, at Python 3.10, check in ``lint``).

    The full suite is the project's tests and the scenario example's own (``EXAMPLE_TESTS``: its
    contract's vectors and generator; its differential test runs in ``test_differential.py`` too,
    with every registered scenario). Extra arguments go to pytest in place of that choice
    (``-- -k differential``, ``-- -n 0``).
    """
    _install(session, "test")
    _install_examples(session)
    if session.posargs or session.python == FULL_SUITE_PYTHON:
        session.run("pytest", "-n", "auto", "--durations=8", *(session.posargs or ["tests", *EXAMPLE_TESTS]))
    else:
        selection = f"({' or '.join(VERSION_CHECKS)}) and not ({' or '.join(VERSION_CHECKS_LEFT_TO_THE_FULL_RUN)})"
        session.run("pytest", "-n", "auto", "--durations=8", "-k", selection, env={"HYPOTHESIS_PROFILE": "versions"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check, mypy (strict); cargo fmt, clippy on the workspace and example crate; actionlint."""
    _install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("cargo", "fmt", "--all", "--check", external=True)
    session.run("cargo", "fmt", "--check", *EXAMPLE_CRATE, external=True)
    for features in CARGO_FEATURE_SETS:
        session.run("cargo", "clippy", "--all-targets", "--release", *features, "--", "-D", "warnings", external=True)
    if shutil.which("go"):  # the GitHub Actions workflow, checked by actionlint (from the Go module proxy)
        session.run("go", "run", "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12", external=True)
    else:
        session.warn("go is not installed: the workflow was not checked by actionlint")


# The engine's tests run twice: as shipped, and with the test-only fault switch compiled in (each
# scenario crate's `engine` tests only: the fuzz corpus replay needs no second build, and takes long
# under valgrind). `--features` applies to every crate of the workspace that has the feature.
# The scenario example's crate is a user's crate, outside the root workspace (Cargo.toml's
# `exclude`): clippy, fmt, its tests and memcheck reach it by its manifest, as shipped.
EXAMPLE_CRATE = ["--manifest-path", "examples/scenario-ratelimit/native/Cargo.toml"]
CARGO_FEATURE_SETS = [[], ["--features", "fault-injection"], EXAMPLE_CRATE]
CARGO_TEST_SETS = [[], ["--features", "fault-injection", "--test", "engine"], EXAMPLE_CRATE]


@nox.session(venv_backend="none")
def rust(session: nox.Session) -> None:
    """The engine's own tests (spec vectors, engines, session, C ABI misuse), with and without the fault switch,
    and the capture reader's (harness/memray_reader: captures as memray writes them, broken ones, its C ABI):
    ``cargo test`` at the workspace's root tests every member; then the scenario example's crate, as shipped.

    In the test profile (debug assertions and overflow checks on), the very binaries that ``memcheck``
    then runs under valgrind: one build for both. The shipped release build is what the Python tests load.
    """
    for selection in CARGO_TEST_SETS:
        session.run("cargo", "test", *selection, external=True)


def _cargo_test_binaries(session: nox.Session, features: list[str]) -> list[str]:
    """The test binaries ``cargo test`` (test profile, as in ``rust``) builds for ``features``: built once for both."""
    out = session.run("cargo", "test", "--no-run", *features, "--message-format=json", external=True, silent=True)
    artifacts = (json.loads(line) for line in str(out).splitlines() if line.startswith("{"))
    return [
        a["executable"]
        for a in artifacts
        if a.get("reason") == "compiler-artifact" and a.get("executable") and a["profile"]["test"]
    ]


VALGRIND = ["valgrind", "--error-exitcode=1", "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite"]  # fmt: skip
# Tells the fuzz corpus replay that it runs under valgrind: of its inputs of very many keys (each
# costs minutes there, and they are near-copies) it replays one (`evb_engine::fuzzing::replay_corpus`).
VALGRIND_ENV = {"EVB_UNDER_VALGRIND": "1"}


def _memcheck(session: nox.Session, log: Path | None = None) -> None:
    """Every test binary of the engine (the fuzz corpus replay included) under valgrind; with
    ``log``, valgrind's output is kept there too (the robustness report quotes its summaries)."""
    if shutil.which("valgrind") is None:
        session.skip("valgrind is not installed (Debian: apt-get install valgrind)")
    binaries = [b for selection in CARGO_TEST_SETS for b in _cargo_test_binaries(session, selection)]
    failed = []
    for binary in dict.fromkeys(binaries):
        command = [*VALGRIND, binary, "--test-threads=1"]
        if log is None:
            session.run(*command, external=True, env=VALGRIND_ENV)
            continue
        done = subprocess.run(command, capture_output=True, text=True, check=False, env={**os.environ, **VALGRIND_ENV})
        with log.open("a") as f:
            f.write(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}\n")
        failed += [binary] if done.returncode else []
    if failed:
        session.error(f"valgrind found errors or leaks in {', '.join(failed)} (see {log})")


@nox.session(venv_backend="none")
def memcheck(session: nox.Session) -> None:
    """The workspace's tests (the engine's, the capture reader's) under valgrind memcheck: any error, or
    any definite leak, fails."""
    _memcheck(session)


@nox.session
def compare(session: nox.Session) -> None:
    """The main job: every available contender on the default workload, side by side, with its report,
    and the diagnosis pass that says why (what each contender's handling threads wait for)."""
    _install(session)
    session.run("eventbench", "compare", "--report", "--diagnose", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Rigorous pyperf timings (seconds per event) into results/pyperf/ (arguments after -- go to bench)."""
    _install(session)
    session.run("eventbench", "bench", *session.posargs)


@nox.session
def sweep(session: nox.Session) -> None:
    """Latency against load for one contender (default: native on the paced workload)."""
    _install(session)
    session.run("eventbench", "sweep", *(session.posargs or ["--impl", "native"]))


@nox.session
def verify(session: nox.Session) -> None:
    """Every contender (the example plugins too) against the reference on every built-in workload, at full size."""
    _install(session)
    _install_examples(session)
    names = session.run("python", "-c", "from harness.workload import builtin_names; print(*builtin_names())",
                        silent=True)  # fmt: skip
    for name in str(names).split():
        session.run("eventbench", "verify", "--workload", name, *session.posargs)


FREE_THREADED = ["python3.13t", "python3.14t", "python3.15t"]  # CPython built without the GIL (PEP 703)
FREE_THREADED_WORKLOADS = {"cpu-bound": 2, "blocking": 16, "contention": 2}  # workload: workers, as in the README


def _free_threaded_interpreters() -> list[str]:
    """Free-threaded interpreters on PATH (pyenv's ``3.13t`` versions included): those whose
    ``sys._is_gil_enabled()`` is false, since a ``t`` build can still be started with the GIL on."""
    found = []
    for name in FREE_THREADED:
        path = shutil.which(name)
        if path is None:
            continue
        probe = subprocess.run([path, "-X", "gil=0", "-c", "import sys; print(sys._is_gil_enabled())"],
                               capture_output=True, text=True)  # fmt: skip
        if probe.returncode == 0 and probe.stdout.strip() == "False":
            found.append(path)
    return found


def _check_gil_was_off(session: nox.Session, folder: Path) -> None:
    documents = list(folder.glob("runs/*/*.json"))
    if not documents:
        session.error(f"{folder}: compare wrote no result document to check")
    for document in documents:
        if json.loads(document.read_text())["metadata"].get("gil_enabled") is not False:
            session.error(f"{document} ran with the GIL on: it would be labelled as a free-threaded run")


@nox.session(venv_backend="none")
def freethreaded(session: nox.Session) -> None:
    """``threaded`` on a Python without the GIL (3.13t or later), beside the usual build: one report.

    For each free-threaded interpreter found, a virtual environment under .nox/ gets the project,
    and ``eventbench compare --impl sequential,threaded`` runs on cpu-bound, blocking and contention;
    then every contender runs on the Python running nox, with its GIL, and ``eventbench report``
    writes one report with a table per workload: "(no GIL)" marks the free-threaded rows. Ratios
    there are against the usual build's ``sequential``; read ``threaded (no GIL)`` against
    ``sequential (no GIL)`` in the same table too, since the builds differ (a free-threaded build
    runs one thread slower, and the versions may differ, which the report notes). With no such
    interpreter, it says so and skips.
    """
    interpreters = _free_threaded_interpreters()
    if not interpreters:
        session.skip(f"no free-threaded Python here (looked for {', '.join(FREE_THREADED)} on PATH, "
                     "with sys._is_gil_enabled() false): nothing to compare")  # fmt: skip
    out = Path("results") / "free-threaded" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    runs = []
    for python in [*interpreters, sys.executable]:  # then the Python running nox, with its GIL
        venv = Path(".nox") / f"freethreaded-{Path(python).name}"
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        session.run(python, "-m", "venv", "--clear", str(venv), external=True)
        if python in interpreters:
            # Not every dependency has a free-threaded wheel yet (memray, cffi): what compare of
            # sequential and threaded needs is installed first; the rest is tried, and what is
            # missing shows as "allocations not counted" or an unavailable contender.
            session.run(*pip, "--no-deps", ".", external=True)
            session.run(*pip, "numpy", "rich", "psutil", "tomli", external=True)
            for optional in ("memray", "cffi", "pyperf", "matplotlib"):
                session.run(*pip, optional, external=True, success_codes=list(range(256)))
        else:
            session.run(*pip, ".", external=True)
        free_threaded = python in interpreters
        impl = ["--impl", "sequential,threaded"] if free_threaded else []
        # An extension module that does not declare itself free-threading-safe turns the GIL back on
        # when imported; PYTHON_GIL=0 keeps it off, and each document's gil_enabled is checked below.
        env = {"PYTHON_GIL": "0"} if free_threaded else {}
        for name, workers in FREE_THREADED_WORKLOADS.items():
            folder = out / f"{Path(python).name}-{name}"
            session.run(str(venv / "bin" / "eventbench"), "compare", *impl, "--workload", name, "--workers",
                        str(workers), "--results-dir", str(folder), *session.posargs, env=env,
                        external=True)  # fmt: skip
            if free_threaded:
                _check_gil_was_off(session, folder)
            runs.append(str(folder / "runs"))
    usual = Path(".nox") / f"freethreaded-{Path(sys.executable).name}"
    session.run(str(usual / "bin" / "eventbench"), "report", *runs,
                "--out", str(out / "report"), external=True)  # fmt: skip


ROBUSTNESS_TESTS = ["tests/test_fuzz.py", "tests/test_faults.py", "tests/test_soak.py", "tests/test_native.py",
                    "tests/test_threaded.py"]  # fmt: skip
CARGO_FUZZ = "cargo-fuzz@0.13.2"
FUZZ_TARGETS = ("evts", "orderbook")  # implementations/native/fuzz: synthetic's .evts files, the order book's
# Soak sizes (issue 6): 20 M events through the engine, 2 M through the Python contenders; 100 rounds each.
SOAKS = {"native": 20_000_000, "native-sequential": 20_000_000, "threaded": 2_000_000, "asyncio": 2_000_000,
         "processes": 2_000_000, "sequential": 2_000_000}  # fmt: skip


@nox.session
def robustness(session: nox.Session) -> None:
    """Tries to break eventbench and writes what happened to results/robustness/STAMP/summary.md.

    Thousands of malformed inputs per entry point (hypothesis profile 'robustness';
    EVENTBENCH_FUZZ_EXAMPLES sets how many), faults and interrupts, cargo-fuzz on the
    engine for EVENTBENCH_FUZZ_SECONDS (default 120; needs a nightly toolchain), valgrind
    over the engine's tests and the fuzz corpus, and soak runs. Fails if any part failed.
    """
    _install(session, "test")
    out = Path("results/robustness") / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out.mkdir(parents=True)
    env = {"HYPOTHESIS_PROFILE": "robustness", "EVENTBENCH_ROBUSTNESS_TALLY": str(out.resolve() / "tally")}
    problems = []
    try:
        session.run("pytest", "-n", "auto", *ROBUSTNESS_TESTS, env=env)
    except nox.command.CommandFailed:
        problems.append("the robustness tests")
    problems += _cargo_fuzz(session, out, int(os.environ.get("EVENTBENCH_FUZZ_SECONDS", "120")))
    try:
        _memcheck(session, out / "memcheck.log")
    except nox.command.CommandFailed:
        problems.append("valgrind memcheck")
    for name, events in SOAKS.items():
        session.run("eventbench", "soak", "--impl", name, "--n-events", str(events), "--round-events",
                    str(events // 100), "--json", str(out / f"soak-{name}.json"), success_codes=[0, 1])  # fmt: skip
        document = out / f"soak-{name}.json"
        if not document.exists() or not json.loads(document.read_text())["steady"]:
            problems.append(f"the {name} soak")  # no document: a round failed (the soak says which)
    session.run("python", "tools/robustness_report.py", str(out))
    if problems:
        session.error(f"robustness: {', '.join(problems)} failed (see {out / 'summary.md'})")


def _cargo_fuzz(session: nox.Session, out: Path, seconds: int) -> list[str]:
    """Runs each scenario's fuzz target for ``seconds``; returns what failed (nothing, or the fuzz runs)."""
    nightly = subprocess.run(["rustup", "run", "nightly", "rustc", "--version"], capture_output=True, check=False)
    if shutil.which("rustup") is None or nightly.returncode != 0:
        session.warn("no nightly Rust toolchain: cargo-fuzz skipped (rustup toolchain install nightly)")
        return []
    tools = Path(".nox/cargo-tools").resolve()
    if not (tools / "bin" / "cargo-fuzz").exists():
        session.run("cargo", "install", "--locked", CARGO_FUZZ, "--root", str(tools), external=True)
    fuzz = Path("implementations/native/fuzz")  # no Cargo.toml above it any more: hence --fuzz-dir
    path = os.pathsep.join([str(tools / "bin"), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path}
    failed = []
    for target in FUZZ_TARGETS:  # one per scenario crate, its seconds each
        command = ["cargo", "+nightly", "fuzz", "run", "--fuzz-dir", "fuzz", target, "--release",
                   f"fuzz/corpus/{target}", f"fuzz/seeds/{target}", "--", f"-max_total_time={seconds}", "-max_len=4096",
                   "-rss_limit_mb=4096"]  # fmt: skip
        done = subprocess.run(command, cwd=fuzz.parent, env=env, capture_output=True, text=True, check=False)
        (out / f"cargo-fuzz-{target}.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            failed.append(f"cargo-fuzz {target} (a crash: see cargo-fuzz-{target}.log and fuzz/artifacts/)")
            continue
        # The corpus is committed and replayed under valgrind in CI: keep only inputs that add coverage.
        cmin = ["cargo", "+nightly", "fuzz", "cmin", "--fuzz-dir", "fuzz", target, "--release", f"fuzz/corpus/{target}"]
        subprocess.run(cmin, cwd=fuzz.parent, env=env, capture_output=True, check=True)
    return failed


# asv on the host side, pinned with the suite; what runs *inside* asv's environments
# (asv_runner, numpy, cffi, memray) is pinned in asv.conf.json.
# asv_runner on the host computes every stored statistic, so it is pinned with asv (and with the
# asv_runner of the environments, in asv.conf.json). pyproject.toml's test extra pins asv too.
ASV_HOST = ["asv==0.6.6", "asv_runner==0.3.2", "virtualenv>=20.26"]
SITE_CHECK = ["playwright>=1.45", "pillow>=10", "numpy>=1.26"]  # Chromium driven, screenshots read
ASV_TOOLS_ENV = {"PYTHONPATH": "tools"}  # tools/asvtrack: run from the checkout, never installed


@nox.session(name="asv-check")
def asv_check(session: nox.Session) -> None:
    """The asv suite imports and every benchmark is well-formed (asv check, in this session's Python)."""
    session.install(".", "./benchmarks/plugin", *ASV_HOST)
    session.run("python", "-m", "asv", "check", "--python=same")


@nox.session
def regress(session: nox.Session) -> None:
    """main against HEAD (or --base/--head): markdown summary; fails on a regression (--gate counts: counts only)."""
    session.install(*ASV_HOST)
    session.run("python", "-m", "asvtrack.regress", *session.posargs, env=ASV_TOOLS_ENV)


@nox.session
def history(session: nox.Session) -> None:
    """asv run over commit ranges, samples kept (arguments after -- : ranges, default main~4..main)."""
    session.install(*ASV_HOST)
    session.run("python", "-m", "asvtrack.history", *session.posargs, env=ASV_TOOLS_ENV)


@nox.session
def publish(session: nox.Session) -> None:
    """The history site (every machine's results) into .asv/html, its scripts served from the site itself."""
    session.install(*ASV_HOST)
    session.run("python", "-m", "asvtrack.site", "publish", env=ASV_TOOLS_ENV)


@nox.session
def preview(session: nox.Session) -> None:
    """Publish, then serve the site on http://127.0.0.1:8080/ until Ctrl-C."""
    session.install(*ASV_HOST)
    session.run("python", "-m", "asvtrack.site", "publish", env=ASV_TOOLS_ENV)
    session.run("python", "-m", "asvtrack.site", "serve", *session.posargs, env=ASV_TOOLS_ENV)


def _ensure_chromium(session: nox.Session) -> None:
    """Debian's Chromium, installed with apt-get where it is missing and this session may (root)."""
    if any(shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")) or os.environ.get(
        "CHROMIUM"
    ):
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        session.skip("no Chromium here, and no root apt-get to install it (set CHROMIUM to a Chromium binary)")
    session.run("apt-get", "update", "-qq", external=True)
    session.run("apt-get", "install", "-y", "-qq", "chromium", external=True, env={"DEBIAN_FRONTEND": "noninteractive"})


@nox.session
def pages(session: nox.Session) -> None:
    """Stored results plus a second machine, published into one site and checked in headless Chromium."""
    _ensure_chromium(session)
    session.install(*ASV_HOST, *SITE_CHECK)
    out = session.posargs[0] if session.posargs else "results/site-check"
    session.run("python", "-m", "asvtrack.site", "pages", "--out", out, env=ASV_TOOLS_ENV)


@nox.session
def canary(session: nox.Session) -> None:
    """A scratch git history with known regressions: regress and the published page must flag exactly those."""
    _ensure_chromium(session)
    session.install(*ASV_HOST, *SITE_CHECK)
    session.run("python", "-m", "asvtrack.canary", *session.posargs, env=ASV_TOOLS_ENV)


@nox.session
def calibrate(session: nox.Session) -> None:
    """compare's verdicts proven here: a contender against itself, and slowed by known amounts, N times
    (tools/calibrate.py; `-- --runs N`, default 20; about 25 minutes) into results/calibration/STAMP/."""
    _install(session)
    session.run("python", "tools/calibrate.py", *session.posargs, env={"PYTHONPATH": "tools"})
