"""Where each thread's time went in the window: on a CPU, waiting for one, or blocked.

The kernel keeps, for every thread, the time it ran on a CPU and the time it was runnable
but waited on a run queue (``/proc/PID/task/TID/schedstat``: ``se.sum_exec_runtime`` and
``sched_info.run_delay``, which need only ``CONFIG_SCHED_INFO``), and its voluntary and
involuntary context switches (``status``). Read just before and just after the window, they
split each thread's time in the window three ways:

* **on a CPU**: running (handling, or spinning);
* **waiting for a CPU**: runnable, but every core was busy (another thread of the run, or
  another tenant of the machine);
* **blocked**: the rest. Asleep: waiting for the GIL or a lock, on a queue or a channel, for
  pacing or I/O. The diagnosis pass (``--diagnose``) tells those apart; the kernel cannot.

These are read by :func:`snapshot` outside the window, like the resource usage (the reads
cost the harness's thread a few µs each). Their precision: the on-CPU time of a thread that
is running when it is read is up to a scheduler tick old (4 ms at HZ=250; the kernel prints
it without bringing it up to date), and a wait still in progress is counted only when it
ends; either error is at most a tick per thread per read, well under 1 % of a window of a
second. A thread that ends inside the window takes its counters with it (Linux keeps no
record of an ended thread): it is left out, and the trial counts it in ``ended``.

Which threads *handle* events, the contender says (``PreparedRun.handling_threads``); where
it does not, every thread of the process tree that ran in the window counts. The shares of
the handling threads together (:func:`handling_shares`) are what tables show: a pool whose
workers are blocked 60 % of the window waits on something, and ``--diagnose`` says on what.

Elsewhere than Linux there is no such file: no thread is read, and documents say so.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import psutil

from harness.document import ThreadTime

AVAILABLE = (
    Path("/proc/self/task").is_dir() and Path(f"/proc/self/task/{threading.get_native_id()}/schedstat").is_file()
)
# The kernel's clock ticks a second (USER_HZ), the unit of a thread's start time in /proc/.../stat.
_TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _thread_cpu_clock(tid: int) -> int:
    """Linux's clock id of a thread's CPU time (``MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)``):
    readable for the threads of this process only."""
    return ((~tid) << 3) | 6


@dataclass(frozen=True)
class Counters:
    """One thread's counters since it started, as one read saw them."""

    on_cpu_ns: int
    runnable_ns: int
    voluntary: int
    involuntary: int
    name: str  # Python's name for a thread of this process, else the kernel's (``comm``)
    started_ns: int | None = None  # when it started, for one born since the opening read (else None)


@dataclass(frozen=True)
class Snapshot:
    """Every thread of a process tree, by (pid, tid), and the monotonic clock when it was read."""

    at_ns: int
    threads: Mapping[tuple[int, int], Counters]


def tree() -> list[int]:
    """This process and every live descendant (worker processes, a forkserver)."""
    pids = [os.getpid()]
    for child in psutil.Process().children(recursive=True):
        pids.append(child.pid)
    return pids


def snapshot(since: Snapshot | None = None) -> Snapshot:
    """Every thread of this process and its descendants (one that ended meanwhile is left out):
    the read that opens a window, or given the opening one (``since``), the read that closes it.

    Reading costs the calling thread CPU time: the list of descendants (psutil reads every
    process on the machine), two files a thread. So the span between two snapshots is kept clear
    of it: opening, everything is read before the clock and the calling thread last; closing,
    the clock is read first, then the calling thread, then the others; processes started since
    the opening read are looked for last. A thread born since then has its start time read too."""
    if not AVAILABLE:
        return Snapshot(time.monotonic_ns(), {})
    own, caller = os.getpid(), threading.get_native_id()
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    threads: dict[tuple[int, int], Counters] = {}

    def read(pid: int, tids: Iterable[int]) -> None:
        for tid in tids:
            counters = _thread(pid, tid, names.get(tid) if pid == own else None)
            if counters is None:
                continue
            if since and (pid, tid) not in since.threads:
                counters = replace(counters, started_ns=_started_ns(pid, tid))
            threads[(pid, tid)] = counters

    if since is None:
        for pid in tree():
            read(pid, [tid for tid in _tids(pid) if tid != caller])
        read(own, [caller])
        return Snapshot(time.monotonic_ns(), threads)
    at_ns = time.monotonic_ns()
    read(own, [caller])
    known = sorted({pid for pid, _ in since.threads} | {own})
    for pid in known:
        read(pid, [tid for tid in _tids(pid) if tid != caller])
    for pid in sorted(set(tree()) - set(known)):
        read(pid, _tids(pid))
    return Snapshot(at_ns, threads)


def _tids(pid: int) -> list[int]:
    try:
        return [int(entry) for entry in os.listdir(f"/proc/{pid}/task")]
    except (FileNotFoundError, ProcessLookupError):
        return []


def _thread(pid: int, tid: int, name: str | None) -> Counters | None:
    task = f"/proc/{pid}/task/{tid}"
    try:
        with open(f"{task}/schedstat") as f:
            schedstat = f.read()
        with open(f"{task}/status") as f:
            status = f.read()
    except (FileNotFoundError, ProcessLookupError):  # it ended between the listing and the read
        return None
    on_cpu, runnable = (int(field) for field in schedstat.split()[:2])
    if pid == os.getpid():
        on_cpu = _cpu_clock_ns(tid, on_cpu)
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return Counters(
        on_cpu_ns=on_cpu,
        runnable_ns=runnable,
        voluntary=int(fields.get("voluntary_ctxt_switches", "0")),
        involuntary=int(fields.get("nonvoluntary_ctxt_switches", "0")),
        name=name or fields.get("Name", "").strip(),
    )


def _cpu_clock_ns(tid: int, otherwise: int) -> int:
    """A thread of this process's time on a CPU, up to date: its CPU-time clock, which the kernel
    brings up to date when it is read (schedstat's may be a tick old, most of a short window)."""
    try:
        return time.clock_gettime_ns(_thread_cpu_clock(tid))
    except OSError:  # it ended meanwhile, or no such clock here
        return otherwise


def _started_ns(pid: int, tid: int) -> int | None:
    """When a thread started, on the monotonic clock (to a clock tick, 10 ms): for one born in
    the window, whose time counts from its start, not the window's."""
    try:
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    after_name = stat.rsplit(")", 1)[1].split()  # the name may hold spaces and parentheses
    ticks = int(after_name[19])  # field 22, starttime, counted from field 3
    since_boot_ns = ticks * 1_000_000_000 // _TICKS_PER_S
    # /proc counts from boot on CLOCK_BOOTTIME; the window is on CLOCK_MONOTONIC (equal but for suspend).
    return since_boot_ns - (time.clock_gettime_ns(time.CLOCK_BOOTTIME) - time.monotonic_ns())


def window(before: Snapshot, after: Snapshot, handling: Mapping[int, str] | None) -> tuple[tuple[ThreadTime, ...], int]:
    """Each thread's time between two snapshots, and how many threads ended in between (lost).

    ``handling``: the handling threads' ids (a worker process's pid is its main thread's id)
    and names, or None for "every thread that ran". Threads that neither handle nor ran (idle
    helpers: a forkserver, the resource tracker) are left out. Names come from ``handling``,
    then from the snapshot (Python's, else the kernel's).
    """
    own = os.getpid()
    out = []
    for (pid, tid), now in after.threads.items():
        then = before.threads.get((pid, tid))
        start_ns = before.at_ns
        if then is None:  # born in the window: all of its time is the window's
            then = Counters(0, 0, 0, 0, now.name)
            start_ns = max(before.at_ns, now.started_ns or before.at_ns)
        span = max(0, after.at_ns - start_ns)
        on_cpu, runnable = now.on_cpu_ns - then.on_cpu_ns, now.runnable_ns - then.runnable_ns
        voluntary, involuntary = now.voluntary - then.voluntary, now.involuntary - then.involuntary
        ran = on_cpu > 0 or voluntary + involuntary > 0
        is_handling = tid in handling if handling is not None else ran
        if not (is_handling or ran):
            continue
        name = (handling or {}).get(tid) or now.name
        out.append(
            ThreadTime(
                pid=pid,
                tid=tid,
                name=name,
                handling=is_handling,
                span_s=span / 1e9,
                on_cpu_s=on_cpu / 1e9,
                runnable_s=runnable / 1e9,
                # Clipped: the counters cover slightly more than the span (module doc).
                blocked_s=max(0, span - on_cpu - runnable) / 1e9,
                voluntary_switches=voluntary,
                involuntary_switches=involuntary,
            )
        )
    ended = sum(1 for key in before.threads if key not in after.threads)
    out.sort(key=lambda t: (not t.handling, t.pid != own, t.pid, t.tid))
    return tuple(out), ended
