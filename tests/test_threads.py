"""Where each thread's time went: the kernel's per-thread counters, read around a window.

The shares asserted here are of threads whose state is known for the whole window (one that
never blocks, one that mostly sleeps), with margins wide enough for a loaded machine: a thread
that never blocks is on a CPU or waiting for one, whoever else runs, and a thread that wakes
rarely spends most of its time asleep even when every wake-up waits for a CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from harness import threads
from harness.document import Shares, ThreadTime
from harness.runner import run_once
from implementations import native_cffi, processes, sequential, threaded

from strategies import stream_of

pytestmark = pytest.mark.skipif(not threads.AVAILABLE, reason="no per-thread schedstat in /proc here")


@contextmanager
def _running(target: Callable[[threading.Event], None], name: str) -> Iterator[threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=target, args=(stop,), name=name, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join()


def _spin(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(range(1000))  # never blocks: holds the GIL or waits for it (a handful of switches)


def _sleep(stop: threading.Event) -> None:
    # Long sleeps: under `pytest -n auto` each wake-up can wait milliseconds for a CPU, and
    # with 2 ms sleeps that wait (not the sleep) took a quarter of the window.
    while not stop.is_set():
        time.sleep(0.02)


def _window(handling: dict[int, str] | None, seconds: float) -> tuple[tuple[ThreadTime, ...], int]:
    before = threads.snapshot()
    time.sleep(seconds)
    return threads.window(before, threads.snapshot(since=before), handling)


def test_a_sleeping_thread_is_blocked_and_this_one_is_named_by_python() -> None:
    with _running(_sleep, "sleeper") as sleeper:
        assert sleeper.native_id is not None
        found, ended = _window({sleeper.native_id: "the sleeper"}, 0.3)
    assert ended == 0
    mine = [t for t in found if t.handling]
    assert [t.name for t in mine] == ["the sleeper"]
    (t,) = mine
    assert 0.25 < t.span_s < 1.0
    assert t.blocked_s > 0.75 * t.span_s and t.on_cpu_s < 0.1 * t.span_s, t
    assert t.voluntary_switches >= 5, t  # about 15 sleeps of 20 ms; a loaded machine stretches them


def test_a_thread_that_never_blocks_is_on_a_cpu_or_waiting_for_one() -> None:
    with _running(_spin, "spinner") as spinner:
        time.sleep(0.05)  # past its start
        found, _ = _window(None, 0.3)
    (t,) = [t for t in found if t.tid == spinner.native_id]
    assert t.handling and t.name == "spinner"  # None: every thread that ran handles
    # The GIL: this thread's sleep gives it up, and the spinner drops it only when asked.
    assert t.on_cpu_s + t.runnable_s > 0.8 * t.span_s, t
    shares = Shares.of([t])
    assert shares is not None and shares.blocked < 0.2


def test_a_thread_sharing_its_cpu_with_a_busy_process_waits_for_it() -> None:
    """Runnable, told from blocked: pinned to one CPU beside a process that never blocks, a thread
    that never blocks gets about half of that CPU and waits for the rest. More load elsewhere
    can only make it wait longer."""
    cpu = min(os.sched_getaffinity(0))
    # It spins for 30 s at most: if this test dies hard, it is not left spinning for good.
    spin = "import time\nprint(flush=True)\nend = time.monotonic() + 30\nwhile time.monotonic() < end: pass"
    busy = subprocess.Popen([sys.executable, "-c", spin], stdout=subprocess.PIPE)
    try:
        assert busy.stdout is not None and busy.stdout.readline() == b"\n"  # it spins from now on
        os.sched_setaffinity(busy.pid, {cpu})
        with _running(_spin, "pinned") as spinner:
            assert spinner.native_id is not None
            os.sched_setaffinity(spinner.native_id, {cpu})
            if os.sched_getaffinity(spinner.native_id) != {cpu} or os.sched_getaffinity(busy.pid) != {cpu}:
                pytest.skip("this machine does not pin threads to a CPU")
            time.sleep(0.05)  # on that CPU now
            found, _ = _window({spinner.native_id: "pinned"}, 0.3)
    finally:
        busy.kill()
        busy.wait()
    (t,) = [t for t in found if t.handling]
    assert t.runnable_s > 0.2 * t.span_s and t.blocked_s < 0.2 * t.span_s, t


def test_threads_that_did_not_run_are_left_out_unless_they_handle() -> None:
    idle = threading.Event()
    waiter = threading.Thread(target=idle.wait, name="idle", daemon=True)
    waiter.start()
    try:
        found, _ = _window(None, 0.05)
        assert waiter.native_id not in {t.tid for t in found}
        found, _ = _window({waiter.native_id or 0: "idle"}, 0.05)
        (t,) = [t for t in found if t.handling]
        assert t.on_cpu_s == 0 and t.blocked_s > 0.9 * t.span_s
    finally:
        idle.set()
        waiter.join()


def test_a_thread_born_in_the_window_counts_from_its_start_and_one_that_ended_is_counted_apart() -> None:
    release = threading.Event()  # not a timed sleep: under load it could end before it is listed
    doomed = threading.Thread(target=release.wait, name="doomed")
    doomed.start()
    before = threads.snapshot()
    release.set()
    doomed.join()
    time.sleep(0.2)
    with _running(_sleep, "newborn") as newborn:
        time.sleep(0.1)
        after = threads.snapshot(since=before)
    found, ended = threads.window(before, after, None)
    assert ended >= 1  # the doomed thread (another of this process's may have ended too)
    (t,) = [t for t in found if t.tid == newborn.native_id]
    # Born 0.2 s into a 0.3 s window: its span is its own life, to a clock tick (10 ms).
    assert t.name == "newborn" and t.span_s < 0.2, t


def test_shares_add_up_and_an_empty_set_has_none() -> None:
    t = ThreadTime(1, 1, "w", True, 1.0, 0.5, 0.2, 0.3, 0, 0)
    other = ThreadTime(1, 2, "main", False, 1.0, 1.0, 0.0, 0.0, 0, 0)
    shares = Shares.of([t, other])
    assert shares == Shares(0.5, 0.2, pytest.approx(0.3), 1)
    assert Shares.of([other]) is None and Shares.of(None) is None


# ---------------------------------------------------------------- the contenders say which threads handle


def _handling(contender: object, workers: int) -> tuple[list[str], int]:
    stream = stream_of(8, [(i, i * 1000, i, i % 8, 0, 0, 1) for i in range(2000)])
    outcome = run_once(contender, stream, workers=workers, mode="closed")  # type: ignore[arg-type]
    assert outcome.valid and outcome.threads is not None and outcome.threads_ended is not None
    return sorted(t.name for t in outcome.threads if t.handling), outcome.threads_ended


def test_the_thread_pool_s_workers_handle_and_outlive_the_window() -> None:
    names, ended = _handling(threaded.Threaded(), 3)
    assert names == ["eventbench-worker-0", "eventbench-worker-1", "eventbench-worker-2"]
    assert ended == 0  # joined after the window, not in it: their time is read


def test_the_sequential_loop_handles_on_the_calling_thread() -> None:
    names, _ = _handling(sequential.Sequential(), 1)
    assert names == [threading.current_thread().name]


def test_worker_processes_handle() -> None:
    names, _ = _handling(processes.Processes(), 2)
    assert names == ["eventbench-worker-0", "eventbench-worker-1"]


def test_the_native_pool_s_threads_handle() -> None:
    try:
        contender = native_cffi.Native()
    except native_cffi.Unavailable as e:
        pytest.skip(f"native engine unavailable: {e}")
    try:
        names, _ = _handling(contender, 2)
        assert names == ["evb-worker-0", "evb-worker-1"]
        names, _ = _handling(contender, 3)  # a second pool: its own threads only
        assert names == ["evb-worker-0", "evb-worker-1", "evb-worker-2"]
    finally:
        contender.close()


def test_the_reads_fall_outside_the_span_they_measure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Listing the process tree (psutil reads every process on the machine) costs milliseconds:
    it must happen before the opening read's clock and after the closing one's."""
    listed: list[int] = []
    tree = threads.tree
    monkeypatch.setattr(threads, "tree", lambda: (listed.append(time.monotonic_ns()), tree())[1])
    outcome = run_once(sequential.Sequential(), stream_of(1, [(0, 0, 0, 0, 0, 0, 1)]), workers=1, mode="closed")
    assert outcome.threads is not None and len(listed) == 2
    (caller,) = [t for t in outcome.threads if t.handling]
    opened, closed = listed[0], listed[1]
    assert opened < outcome.t0_ns and closed > outcome.end_ns
    # The span runs from after the first listing to before the second.
    assert caller.span_s * 1e9 < closed - opened


def test_without_per_thread_files_a_run_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "AVAILABLE", False)
    outcome = run_once(processes.Processes(), stream_of(2, [(i, 0, i, i % 2, 0, 0, 1) for i in range(50)]),
                       workers=2, mode="closed")  # fmt: skip
    assert outcome.valid and outcome.threads is None and outcome.cpu_s > 0
