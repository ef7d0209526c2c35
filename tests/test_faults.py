"""Faults inside a run, and interrupts: each ends cleanly, naming what failed, writing nothing.

* A handler that fails (the test-only switch ``EVENTBENCH_FAULT_AT``: a Python exception
  in a Python worker, a panic in a Rust worker of a library built with the crate's
  ``fault-injection`` feature) ends the run with an error naming the contender and the
  event; every thread is joined; the CLI exits 1 and writes no result.
* Ctrl-C or SIGTERM during a long run stops every worker and the CLI exits 130 or 143,
  leaving no result file and no staging directory behind.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gc
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import pytest
import tally

import implementations
from harness import cli, diagnosis, workload
from harness.runner import run_once
from implementations import ContenderError, event_loop, faults, native_cffi
from protocol.contender import PreparedRun
from protocol.events import EventStream

ROOT = Path(__file__).resolve().parent.parent
CONTENDERS = ["sequential", "threaded", "asyncio", "processes", "native", "native-sequential"]
NATIVE = {"native", "native-sequential"}
LINUX = Path("/proc/self/task").exists()


def _threads() -> int:
    """The threads of this process, native ones included (Rust workers are invisible to threading),
    but for the engine's signal watcher: one per loaded library, started once and kept for good."""
    if not LINUX:
        return threading.active_count()
    count = 0
    for task in Path("/proc/self/task").iterdir():
        try:
            count += not (task / "comm").read_text().startswith("evb-signals")
        except FileNotFoundError:  # a thread that ended after it was listed
            continue
    return count


def _threads_back_to(count: int) -> bool:
    """True once the process has ``count`` threads again. Python's join returns when the thread's
    Python state is gone; the kernel task ends a moment later, hence a short wait."""
    deadline = time.monotonic() + 5
    while _threads() != count and time.monotonic() < deadline:
        time.sleep(0.01)
    return _threads() == count


@pytest.fixture(scope="session")
def fault_library() -> Path:
    """The engine built with the fault switch, beside (never instead of) the normal build."""
    if shutil.which("cargo") is None:
        pytest.skip("cargo is not installed: no fault-injection build of the engine")
    target = ROOT / "target" / "fault-injection"
    command = ["cargo", "build", "--release", "--quiet", "-p", "evb-synthetic", "--features", "fault-injection",
               "--target-dir", str(target)]  # fmt: skip
    subprocess.run(command, cwd=ROOT, check=True)
    return target / "release" / "libevb_synthetic.so"


@contextmanager
def native_library(path: Path) -> Iterator[None]:
    """This process's native contenders use ``path`` inside the block (every engine must be freed in it)."""
    before = os.environ.get(native_cffi.LIBRARY_ENV)
    os.environ[native_cffi.LIBRARY_ENV] = str(path)
    try:
        yield
    finally:
        if before is None:
            del os.environ[native_cffi.LIBRARY_ENV]
        else:
            os.environ[native_cffi.LIBRARY_ENV] = before


def _stream(n_events: int = 6000) -> object:
    return workload.generate(workload.load_workload("contention").with_events(n_events))


@pytest.mark.parametrize("name", CONTENDERS)
@pytest.mark.parametrize("workers", [1, 3])
def test_a_failing_handler_names_contender_and_event_and_joins_every_thread(
    name: str, workers: int, fault_library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = _stream()
    monkeypatch.setenv(faults.ENV, f"{name}:4321")
    before = _threads()
    library = native_library(fault_library) if name in NATIVE else nullcontext()
    with library:
        contender = implementations.get(name)
        try:
            with pytest.raises(ContenderError) as failure:
                run_once(contender, stream, workers=workers, mode="closed")
            if name in NATIVE:  # the engine's pool outlives a failed run, and serves the next one
                monkeypatch.delenv(faults.ENV)
                assert run_once(contender, _stream(500), workers=workers, mode="closed").valid
        finally:
            contender.close()  # a native contender's pool lives until then
    message = str(failure.value)
    assert message.startswith(f"{name}: handling event 4321 failed"), message
    assert "fault injected at event 4321" in message
    assert not any(t.name.startswith("eventbench-worker") for t in threading.enumerate())
    assert _threads_back_to(before), "a worker outlived the failed run"
    tally.record(f"fault: {name}", "ContenderError naming contender and event; threads joined")


def test_the_switch_does_nothing_in_a_normal_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library pip built has no switch: the variable set, the run is still right."""
    stream = _stream(2000)
    monkeypatch.setenv(faults.ENV, "native:10")
    outcome = run_once(implementations.get("native"), stream, workers=2, mode="closed")
    assert outcome.valid
    monkeypatch.setenv(faults.ENV, "threaded:10")  # another contender's fault leaves this one alone
    assert run_once(implementations.get("sequential"), stream, workers=1, mode="closed").valid


def _eventbench(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """The installed command in a child process, Ctrl-C left at its default (a shell may ignore it).

    Run from ``cwd`` (a temporary directory), never the checkout: from there ``python -m`` would
    import the source tree, which has no native library built into it when nox installed a wheel.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _stacks(pid: int) -> str:
    """Every thread's stack in a hung child, Python and native frames, for the failure message."""
    try:
        command = [diagnosis.py_spy(), "dump", "--native", "--pid", str(pid)]
        dump = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (diagnosis.SamplerUnavailable, OSError, subprocess.TimeoutExpired) as e:
        return f"(py-spy dump failed: {e})"
    return dump.stdout + dump.stderr


def _left_behind(results_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(results_dir)) for p in results_dir.rglob("*")) if results_dir.exists() else []


@pytest.mark.parametrize("name", CONTENDERS)
def test_compare_with_a_failing_contender_exits_1_and_writes_nothing(
    name: str, fault_library: Path, tmp_path: Path
) -> None:
    env = {faults.ENV: f"{name}:1500", native_cffi.LIBRARY_ENV: str(fault_library)}
    args = ["compare", "--impl", f"sequential,{name}" if name != "sequential" else "sequential"]
    process = _eventbench(*args, "--workload", "contention", "--n-events", "3000", "--workers", "2",
                          "--results-dir", str(tmp_path / "results"), cwd=tmp_path, env=env)  # fmt: skip
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == cli.EXIT_WRONG
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"eventbench: {name}: handling event 1500 failed"), stderr
    assert "Traceback" not in stderr
    assert _left_behind(tmp_path / "results") == ["runs"]  # the runs directory, empty: no staging left
    tally.record(f"fault via CLI compare: {name}", "exit 1, one line, nothing written")


# A long open-loop run (paced, 10,000 events/s): 40 s unless stopped.
LONG_RUN = ["--workload", "paced", "--n-events", "400000", "--mode", "open", "--workers", "2", "--alloc-events", "0"]


@pytest.mark.skipif(not LINUX, reason="signals to a child process, as on Linux")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("name", CONTENDERS)
def test_an_interrupt_during_a_long_run_stops_it_and_writes_nothing(
    name: str, signum: signal.Signals, tmp_path: Path
) -> None:
    results_dir = tmp_path / "results"
    process = _eventbench(
        "compare", "--impl", name, "--baseline", name, *LONG_RUN, "--results-dir", str(results_dir), cwd=tmp_path
    )
    assert process.stderr is not None
    for line in process.stderr:  # wait until the contender's run is under way
        if "running" in line:
            break
    time.sleep(1.0)
    assert process.poll() is None, "the run ended before it was interrupted"
    sent = time.monotonic()
    process.send_signal(signum)
    try:
        _, rest = process.communicate(timeout=30)  # a hang fails here, not in CI's time limit
    except subprocess.TimeoutExpired:
        try:
            stacks = _stacks(process.pid)
        finally:
            process.kill()
        pytest.fail(f"still running 30 s after {signum.name}; its threads were at:\n{stacks}")
    stopped_s = time.monotonic() - sent
    expected = cli.EXIT_INTERRUPTED if signum == signal.SIGINT else cli.EXIT_TERMINATED
    assert process.returncode == expected, rest
    assert "Traceback" not in rest
    what = "interrupted" if signum == signal.SIGINT else "terminated"
    assert rest.strip().splitlines()[-1].startswith(f"eventbench: {what}")
    assert _left_behind(results_dir) == ["runs"]
    tally.record(f"{signum.name} during a run: {name}", f"exit {expected}, nothing written")
    tally.measure(f"seconds from {signum.name} to exit: {name}", round(stopped_s, 3))


@functools.cache
def _long_paced() -> EventStream:
    """The paced workload, 10,000 events/s: a 40 s open loop unless stopped (generated once)."""
    return workload.generate(workload.load_workload("paced").with_events(400_000))


def _run_open(prepared: PreparedRun, stream: EventStream) -> None:
    prepared.run(np.zeros(stream.n_events, dtype=np.uint64), time.monotonic_ns(), True)


def test_the_native_engine_is_cancelled_while_the_main_thread_is_inside_it() -> None:
    """In process: SIGINT lands while the main thread sits in one native call (a 40 s open loop)."""
    stream = _long_paced()
    before = _threads()
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        run_once(implementations.get("native"), stream, workers=2, mode="open")
    assert time.monotonic() - started < 20
    assert _threads_back_to(before)
    assert signal.set_wakeup_fd(-1) == -1  # the session gave the wakeup fd back
    assert np.__name__  # numpy stays importable (the interrupt did not leave the interpreter broken)


class _Stopped(KeyboardInterrupt):
    """What this test's SIGTERM handler raises, as the CLI's raises ``Terminated``."""


def _raise_stopped(signum: int, frame: object) -> None:
    raise _Stopped


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_event_loop_is_interrupted_outside_the_loop_with_every_task_ended(signum: signal.Signals) -> None:
    """In process, 0.5 s into a 40 s open loop. Raised inside the loop, the interrupt could lose a
    task's wake-up (the cancelled run then waited for ever); it must be raised once the loop has
    stopped, by the handler that was in place, which is put back."""
    previous = signal.signal(signal.SIGTERM, _raise_stopped) if signum == signal.SIGTERM else None
    handler = signal.getsignal(signum)
    stream = _long_paced()
    prepared = implementations.get("asyncio").open(stream, 2)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signum))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt) as caught:
            _run_open(prepared, stream)
        assert time.monotonic() - started < 20
        assert caught.type is (_Stopped if signum == signal.SIGTERM else KeyboardInterrupt)
        inside = [f.f_code.co_filename for f, _ in traceback.walk_tb(caught.tb)]
        assert not [name for name in inside if f"{os.sep}asyncio{os.sep}" in name], inside
        assert not asyncio.all_tasks(prepared.loop)  # type: ignore[attr-defined]
        assert signal.getsignal(signum) is handler
    finally:
        timer.cancel()
        prepared.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def test_a_second_interrupt_leaves_a_stuck_handler_and_every_task_still_ends() -> None:
    """The first SIGINT waits for the handler call in progress, which here does not return; the
    second is raised inside it. The tasks are then cancelled and waited for, the first
    signal's cancelling (still queued: the loop never got to it) notwithstanding."""
    stream = _long_paced()
    prepared = implementations.get("asyncio").open(stream, 2)
    tasks = prepared.tasks  # type: ignore[attr-defined]
    handler, calls = tasks.handling.handler, [0]

    def stuck(i: int) -> int:
        calls[0] += 1
        if calls[0] == 100:  # signalled from here, so that neither can come before it is stuck
            os.kill(os.getpid(), signal.SIGINT)
            second_at, end = time.monotonic() + 0.2, time.monotonic() + 20
            while time.monotonic() < end:  # a long Python computation, which signals interrupt
                if second_at and time.monotonic() > second_at:
                    second_at = 0  # the first has been handled by now: the two cannot merge
                    os.kill(os.getpid(), signal.SIGINT)
        return int(handler(i))

    tasks.handling = dataclasses.replace(tasks.handling, handler=stuck)
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            _run_open(prepared, stream)
        assert time.monotonic() - started < 10
        assert not asyncio.all_tasks(prepared.loop)  # type: ignore[attr-defined]
    finally:
        prepared.close()


# The task that lost its wake-up is abandoned, still pending: its coroutine is closed when collected.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.timeout(60)  # a hang's failure, well before the suite's
@pytest.mark.parametrize("inside_a_step", [False, True], ids=["between-task-steps", "inside-a-task-step"])
def test_an_interrupt_raised_inside_the_event_loop_that_loses_a_wake_up_does_not_hang_the_run(
    monkeypatch: pytest.MonkeyPatch, inside_a_step: bool
) -> None:
    """A second Ctrl-C is raised inside the loop, where it can land as a future schedules a task's
    wake-up and lose it: that task then never ends. Injected there (with no first signal), the
    run must still end, after bounded waits, with the interrupt. Between task steps (a timer
    waking its task), the interrupt leaves the loop at once; inside a step (the dispatcher waking
    a consumer), it first runs that task's cleanup, which waits for the consumer that never
    wakes."""
    monkeypatch.setattr(event_loop, "CLEANUP_S", 0.5)
    stream = _long_paced()
    prepared = implementations.get("asyncio").open(stream, 2)
    loop = prepared.loop  # type: ignore[attr-defined]
    call_soon, armed_at = loop.call_soon, time.monotonic() + 0.3

    def losing_a_wake_up(callback: object, *args: object, **kwargs: object) -> object:
        woken, current = getattr(callback, "__self__", None), asyncio.current_task(loop)
        # Another task: a task's step scheduling its own next step (sleep(0)) loses nothing.
        waking = isinstance(woken, asyncio.Task) and woken is not current
        if waking and time.monotonic() > armed_at and (current is not None) == inside_a_step:
            loop.call_soon = call_soon  # once
            raise KeyboardInterrupt("as a task's wake-up was scheduled")
        return call_soon(callback, *args, **kwargs)

    loop.call_soon = losing_a_wake_up
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt, match="wake-up"):
            _run_open(prepared, stream)
        took = time.monotonic() - started
        assert took < 10
        assert loop.call_soon == call_soon, "the wake-up was never scheduled: nothing was injected"
        if inside_a_step:  # the dispatcher's clean-up waited for the consumer that never woke
            assert took >= 0.3 + event_loop.CLEANUP_S, took
    finally:
        prepared.close()
        gc.collect()  # the abandoned tasks, collected here rather than in a later test
