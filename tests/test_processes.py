"""The ``processes`` contender: what its model adds to the differential tests' contract.

Its workers are other processes, so it must leave none behind and no shared memory
either, whatever way the run ends; its start-up must show as setup, apart from
handling; and the harness must charge it for its workers' CPU time.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest

import implementations
from harness import workload
from harness.allocations import CountingUnavailable, count_allocations
from harness.reference import reference_digest
from harness.runner import run_once
from implementations import faults, processes
from protocol.contender import ContenderError
from protocol.events import EventStream

SHM = Path("/dev/shm")
pytestmark = pytest.mark.skipif(not SHM.is_dir(), reason="POSIX shared memory in /dev/shm, as on Linux")


def _stream(name: str, n_events: int) -> EventStream:
    return workload.generate(workload.load_workload(name).with_events(n_events))


def _workers_alive() -> list[str]:
    return [p.name for p in multiprocessing.active_children() if p.name.startswith("eventbench-worker")]


@pytest.fixture
def leaves_nothing_behind(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Asserts, after the test, that no worker process is left, nor any shared memory segment the
    test made (those only: other test processes make their own meanwhile)."""
    made: list[str] = []

    def recording(*args: Any, **kwargs: Any) -> SharedMemory:
        segment = SharedMemory(*args, **kwargs)
        if kwargs.get("create"):
            made.append(segment.name)
        return segment

    monkeypatch.setattr(processes, "SharedMemory", recording)
    yield
    assert _workers_alive() == []
    assert made, "the test made no shared memory: is it still testing the contender?"
    assert [name for name in made if (SHM / name.lstrip("/")).exists()] == []


@pytest.mark.usefixtures("leaves_nothing_behind")
@pytest.mark.parametrize("workers", [1, 2, 7])
def test_matches_the_reference_on_a_built_in_workload(workers: int) -> None:
    stream = _stream("contention", 5000)
    outcome = run_once(
        implementations.get("processes"), stream, workers=workers, mode="closed",
        reference_digest=reference_digest(stream),
    )  # fmt: skip
    assert outcome.valid, outcome.failures()
    assert outcome.setup_ns > 0  # starting the workers is timed, apart from handling


@pytest.mark.usefixtures("leaves_nothing_behind")
def test_its_workers_cpu_time_is_counted() -> None:
    """The parent only waits; without its children's CPU time the figure would read near zero."""
    stream = _stream("cpu-bound", 20_000)
    sequential = run_once(implementations.get("sequential"), stream, workers=1, mode="closed")
    processes = run_once(implementations.get("processes"), stream, workers=2, mode="closed")
    assert processes.cpu_s > 0.5 * sequential.cpu_s, (processes.cpu_s, sequential.cpu_s)


@pytest.mark.usefixtures("leaves_nothing_behind")
def test_a_failing_worker_stops_the_others_and_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(faults.ENV, "processes:10")
    stream = _stream("paced", 200_000)  # 20 s open loop unless the failure stops it
    with pytest.raises(ContenderError, match=r"^processes: handling event 10 failed: InjectedFault"):
        run_once(implementations.get("processes"), stream, workers=3, mode="open")


@pytest.mark.usefixtures("leaves_nothing_behind")
def test_a_worker_that_dies_is_an_error_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    contender = implementations.get("processes")
    with contender.open(_stream("contention", 1000), 2) as prepared:
        victim = next(p for p in multiprocessing.active_children() if p.name == "eventbench-worker-1")
        os.kill(victim.pid, signal.SIGKILL)  # type: ignore[arg-type]
        victim.join()  # dead before "go" is sent: the send itself fails
        with pytest.raises(ContenderError, match=r"^processes: worker 1: the worker process exited \(code -9\)"):
            prepared.run(np.zeros(1000, dtype=np.uint64), 0, False)


@pytest.mark.usefixtures("leaves_nothing_behind")
def test_ctrl_c_stops_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The signal is sent once handling has begun (starting the workers can take seconds here)."""
    real_run = processes.ProcessesRun.run

    def interrupted_run(self: processes.ProcessesRun, *args: Any) -> None:
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        real_run(self, *args)

    monkeypatch.setattr(processes.ProcessesRun, "run", interrupted_run)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_once(implementations.get("processes"), _stream("paced", 200_000), workers=2, mode="open")  # 20 s
    assert time.monotonic() - started < 15, "the run was not stopped"


def test_allocations_are_not_counted_and_the_reason_given() -> None:
    with pytest.raises(CountingUnavailable, match="worker processes"):
        count_allocations(implementations.get("processes"), _stream("contention", 100), 2)


def test_workers_end_when_the_process_that_started_them_is_killed(tmp_path: Path) -> None:
    """SIGKILL leaves no one to cancel an open loop: the workers must notice and end by themselves."""
    script = (
        "import implementations\n"
        "from harness import workload\n"
        "from harness.runner import run_once\n"
        "stream = workload.generate(workload.load_workload('paced').with_events(400_000))\n"  # 40 s
        "print('running', flush=True)\n"
        "run_once(implementations.get('processes'), stream, workers=2, mode='open')\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None and parent.stdout.readline() == "running\n"
    tree = psutil.Process(parent.pid)
    for _ in range(300):  # wait for the run: its workers are the forkserver's children
        workers = [p for p in tree.children(recursive=True) if _parent_pid(p) != parent.pid]
        if len(workers) == 2:
            break
        time.sleep(0.1)
    assert len(workers) == 2, "the run's two workers did not start"
    time.sleep(1.0)  # into the open loop
    descendants = tree.children(recursive=True)
    parent.kill()
    parent.wait()
    _, alive = psutil.wait_procs(descendants, timeout=20)
    assert alive == [], f"left running after their parent was killed: {[_cmdline(p) for p in alive]}"


def _parent_pid(process: psutil.Process) -> int | None:
    try:
        return process.ppid()
    except psutil.Error:
        return None


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


class _ShellsOut(implementations.Contender):
    """sequential, but each run also starts a short CPU-bound child process and waits for it."""

    info = implementations.ContenderInfo("shells-out", "python", "sequential", parallel=False)

    def open(self, stream: EventStream, workers: int) -> implementations.PreparedRun:
        inner = implementations.get("sequential").open(stream, workers)
        original = inner.run

        def run(done_ns: np.ndarray, t0_ns: int, open_loop: bool) -> None:
            burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
            subprocess.run([sys.executable, "-c", burn], check=True)
            original(done_ns, t0_ns, open_loop)

        inner.run = run  # type: ignore[method-assign]
        return inner


def test_a_child_process_that_ends_during_the_run_is_charged_too() -> None:
    """Reaped children count through getrusage(RUSAGE_CHILDREN): their 0.3 s of CPU are in the figure."""
    outcome = run_once(_ShellsOut(), _stream("contention", 100), workers=1, mode="closed")
    assert outcome.valid
    assert outcome.cpu_s >= 0.25, outcome.cpu_s


def test_a_session_never_closed_is_released_at_exit(tmp_path: Path) -> None:
    """Python's API lets a caller drop a prepared run without close(): the interpreter must still exit
    (multiprocessing's exit hook joins daemon workers with no timeout, and they ignore SIGTERM),
    and the shared memory must go with it."""
    script = (
        "import implementations\n"
        "from harness import workload\n"
        "if __name__ == '__main__':\n"
        "    stream = workload.generate(workload.load_workload('smoke'))\n"
        "    prepared = implementations.get('processes').open(stream, 2)\n"
        "    print(*(s.name for s in prepared.segments), flush=True)\n"
    )
    (tmp_path / "unclosed.py").write_text(script)
    done = subprocess.run([sys.executable, "unclosed.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    names = done.stdout.split()
    assert len(names) == 2, done.stdout
    assert [name for name in names if (SHM / name.lstrip("/")).exists()] == []
    assert "leaked" not in done.stderr, done.stderr  # the resource tracker found nothing to clean up


@pytest.mark.usefixtures("leaves_nothing_behind")
def test_a_worker_that_cannot_start_says_why_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A segment a worker cannot map (here: one removed before it starts) is named by the parent."""
    start_workers = processes.ProcessesRun._start_workers

    def without_the_stream(self: processes.ProcessesRun, stream_name: str, results_name: str) -> None:
        start_workers(self, "eventbench-no-such-segment", results_name)

    monkeypatch.setattr(processes.ProcessesRun, "_start_workers", without_the_stream)
    with pytest.raises(ContenderError) as failure:
        implementations.get("processes").open(_stream("contention", 1000), 2)
    message = str(failure.value)
    assert message.startswith("processes: worker ") and "did not start: FileNotFoundError" in message, message
    assert "\n" not in message


def test_every_thread_of_a_worker_process_is_counted() -> None:
    """A worker with threads: their context switches are counted, not only its main thread's (what
    psutil reads on Linux), and its CPU time comes at nanosecond resolution, not in 10 ms ticks."""
    from harness import runner, threads

    if not threads.AVAILABLE:
        pytest.skip("no per-thread /proc here: psutil's figures are used")
    script = (
        "import sys, threading, time\n"
        "go, slept, done = threading.Event(), threading.Barrier(5), threading.Event()\n"
        "def sleeper():\n"
        "    go.wait()\n"
        "    for _ in range(100): time.sleep(0.0005)\n"
        "    slept.wait(); done.wait()\n"
        "threads = [threading.Thread(target=sleeper) for _ in range(4)]\n"
        "for t in threads: t.start()\n"
        "print('started', flush=True); sys.stdin.readline(); go.set()\n"
        "slept.wait(); print('slept', flush=True)\n"
        "sys.stdin.read(); done.set()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline() == "started\n"
        main_before = sum(psutil.Process(child.pid).num_ctx_switches())  # the main thread's alone
        before = runner._descendants_usage(threads.snapshot())[child.pid]
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline() == "slept\n"
        after = runner._descendants_usage(threads.snapshot())[child.pid]
        main_thread_only = sum(psutil.Process(child.pid).num_ctx_switches()) - main_before
    finally:
        child.communicate("")
    switches = after[1] - before[1]
    # Every thread's, over the same stretch: the main thread's, and the sleepers' 400 blocking sleeps
    # at least (a loaded machine adds preemptions to either, so only the sleeps are a floor).
    assert switches >= main_thread_only + 4 * 100, (switches, main_thread_only)
    assert after[0] > before[0] and round(after[0] * 1e9) % 10_000_000 != 0  # not in 10 ms ticks
