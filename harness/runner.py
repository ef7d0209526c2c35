"""One run of one contender on one stream: the clock, resource usage and checks.

The runner owns everything that must be measured the same way for everyone:
it allocates ``done_ns``, takes ``t0``, reads resource usage around the handling,
and applies the checks of SPEC §4. One window (docs/measurement-window.md): setup
(``Contender.open``) happens before ``t0``, for every contender alike, and is timed
apart (``setup_ns``), since for some (worker processes) it is the price of the model
and must be seen, never hidden in or added to the handling figures; ``PreparedRun.run``
is the window, and every figure covers it and nothing else; ``PreparedRun.digest`` comes
after the resource usage is read, unmeasured.

Resource usage is that of the whole process tree: ``getrusage`` of this process,
plus its descendants' CPU time and context switches — the change over the
handling for those alive before and after it, everything for those started during
it — plus, for children that ended and were reaped meanwhile, ``getrusage`` of
reaped children (their whole life: it cannot be split). So a contender that handles
events in worker processes is charged for them like one that uses threads. Other
contenders have no such children beyond idle helpers (a forkserver,
multiprocessing's resource tracker).

A descendant is read thread by thread on Linux, from ``/proc/PID/task/*``: its
threads' CPU time in nanoseconds (``schedstat``) and their context switches
(``status``). psutil, the fallback elsewhere, reads CPU time in clock ticks (10 ms on
Linux: a worker's share of a short run would vanish) and context switches of the
main thread only. A thread of a descendant that ends during the handling takes its
CPU time and switches with it (Linux keeps no per-thread record of it); today's
workers have one thread each. The same reads give each thread's share of the window on a CPU,
runnable and blocked (``harness.threads``).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
import psutil

from harness import stats, threads
from harness.checks import CheckResult, check_run
from harness.document import ThreadTime
from protocol.contender import Contender, ContenderError
from protocol.events import EventStream
from protocol.splitmix import digest_hex

MODES = ("open", "closed")


@dataclass(frozen=True)
class RunOutcome:
    """What one run produced, before any judgement of its figures."""

    implementation: str
    model: str  # sequential, threads, event loop, processes, native ...
    workers: int
    mode: str
    n_events: int
    n_keys: int
    digest: str
    t0_ns: int
    end_ns: int  # when run returned: the end of the window CPU time and switches cover
    setup_ns: int  # Contender.open: decoding, starting pools and worker processes
    done_ns: np.ndarray
    cpu_s: float
    ctx_switches: int
    checks: list[CheckResult]
    reference_digest: str | None = None
    scenario: str = "synthetic"  # the stream's scenario and its version: a digest means nothing without them
    scenario_version: int = 1
    # Each thread's time in the window (harness.threads); None where the kernel gives none.
    threads: tuple[ThreadTime, ...] | None = None
    threads_ended: int | None = None
    # When each event's handling began (PreparedRun.run), for a contender that records it
    # (ContenderInfo.records_start); None for one that does not: its waiting and service are unknown.
    start_ns: np.ndarray | None = None

    @property
    def tail_ns(self) -> int:
        """The window's tail: from the last completion to ``run``'s return (joining workers,
        a last message). Counted in CPU time and switches, not in wall time or throughput."""
        last = int(self.done_ns.max()) if self.n_events else self.t0_ns
        return max(0, self.end_ns - last)

    @property
    def digest_ok(self) -> bool | None:
        return None if self.reference_digest is None else self.digest == self.reference_digest

    @property
    def valid(self) -> bool:
        """True when every check passed (and the digest matched, where a reference is known)."""
        return all(c.passed for c in self.checks) and self.digest_ok is not False

    def failures(self) -> list[str]:
        out = [f"{c.name}: {c.detail}" for c in self.checks if not c.passed]
        if self.digest_ok is False:
            out.append(f"digest {self.digest} differs from the reference {self.reference_digest}")
        return out


@dataclass(frozen=True)
class _TreeUsage:
    """CPU seconds and context switches so far: this process's, and each live child's by pid."""

    cpu_s: float
    ctx_switches: int
    children: dict[int, tuple[float, int]]  # live descendants, by pid
    reaped_cpu_s: float  # children that ended and were waited for
    reaped_ctx_switches: int

    @classmethod
    def now(cls, snapshot: threads.Snapshot) -> _TreeUsage:
        """This process's usage now, and its descendants' as ``snapshot`` read them."""
        return cls.of(snapshot, resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))

    @classmethod
    def of(
        cls, snapshot: threads.Snapshot, usage: resource.struct_rusage, reaped: resource.struct_rusage
    ) -> _TreeUsage:
        """This process's ``usage`` and its ``reaped`` children's, and its live descendants' from ``snapshot``."""
        children = _descendants_usage(snapshot)
        return cls(
            usage.ru_utime + usage.ru_stime,
            usage.ru_nvcsw + usage.ru_nivcsw,
            children,
            reaped.ru_utime + reaped.ru_stime,
            reaped.ru_nvcsw + reaped.ru_nivcsw,
        )

    def since(self, before: _TreeUsage) -> tuple[float, int]:
        """CPU seconds and context switches of the whole tree between ``before`` and this."""
        cpu = self.cpu_s - before.cpu_s + self.reaped_cpu_s - before.reaped_cpu_s
        ctx = self.ctx_switches - before.ctx_switches + self.reaped_ctx_switches - before.reaped_ctx_switches
        for pid, (child_cpu, child_ctx) in self.children.items():
            earlier_cpu, earlier_ctx = before.children.get(pid, (0.0, 0))  # started during the handling: all of it
            cpu += child_cpu - earlier_cpu
            ctx += child_ctx - earlier_ctx
        return cpu, ctx


def _descendants_usage(snapshot: threads.Snapshot) -> dict[int, tuple[float, int]]:
    """CPU seconds and context switches of each live descendant, by pid: from ``snapshot``'s
    threads on Linux (nanoseconds, every thread), else from psutil."""
    own = os.getpid()
    usage: dict[int, tuple[float, int]] = {}
    if threads.AVAILABLE:
        for (pid, _), c in snapshot.threads.items():
            if pid != own:
                cpu, ctx = usage.get(pid, (0.0, 0))
                usage[pid] = (cpu + c.on_cpu_ns / 1e9, ctx + c.voluntary + c.involuntary)
        return usage
    for child in psutil.Process().children(recursive=True):
        try:
            with child.oneshot():
                times, switches = child.cpu_times(), child.num_ctx_switches()
            usage[child.pid] = (times.user + times.system, switches.voluntary + switches.involuntary)
        except psutil.Error:  # exited meanwhile: not a worker of this run
            pass
    return usage


def run_once(
    contender: Contender,
    stream: EventStream,
    *,
    workers: int,
    mode: str,
    reference_digest: str | None = None,
    around_window: Callable[[], AbstractContextManager[object]] | None = None,
) -> RunOutcome:
    """The one way a run is driven, for every caller: ``open`` (setup, untimed), the timed
    window (``run``, and nothing else), the digest after it, and SPEC §4's checks.

    ``around_window`` wraps the window and nothing else, for the passes that observe a run
    rather than time it (memray's tracker, say); its own cost falls outside ``t0``..``end``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not contender.info.hosts(stream.scenario.name):
        raise ContenderError(f"{contender.info.name} {contender.info.not_hosting(stream.scenario.name)}")
    workers = contender.effective_workers(workers)
    open_loop = mode == "open"
    if open_loop:
        stream.check_open_loop()
    done_ns = np.zeros(stream.n_events, dtype=np.uint64)
    # np.zeros maps untouched pages: written now, they fault here rather than under the first
    # writes of the window (where a pool's workers would also queue on each other's faults).
    done_ns.fill(0)
    records_start = contender.info.records_start
    start_ns = np.zeros(stream.n_events, dtype=np.uint64) if records_start else None
    if start_ns is not None:
        start_ns.fill(0)  # as done_ns: its pages fault here, not in the window
    setup_start_ns = time.monotonic_ns()
    with contender.open(stream, workers) as prepared:
        setup_ns = time.monotonic_ns() - setup_start_ns
        handling = prepared.handling_threads()
        # Reading the threads costs this process CPU time: before the window's usage is read,
        # and after it, so that it falls outside.
        threads_before = threads.snapshot()
        before = _TreeUsage.now(threads_before)
        with around_window() if around_window else nullcontext():
            t0_ns = time.monotonic_ns()
            if start_ns is not None:
                prepared.run(done_ns, t0_ns, open_loop, start_ns)
            else:  # written before start times: called as it always was
                prepared.run(done_ns, t0_ns, open_loop)
            end_ns = time.monotonic_ns()
        after_self = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        threads_after = threads.snapshot(since=threads_before)
        after = _TreeUsage.of(threads_after, *after_self)
        digest = prepared.digest()  # after the window, unmeasured
    cpu_s, ctx_switches = after.since(before)
    thread_times, ended = threads.window(threads_before, threads_after, handling)
    return RunOutcome(
        implementation=contender.info.name,
        model=contender.info.model,
        workers=workers,
        mode=mode,
        n_events=stream.n_events,
        n_keys=stream.n_keys,
        digest=digest_hex(digest),
        t0_ns=t0_ns,
        end_ns=end_ns,
        setup_ns=setup_ns,
        done_ns=done_ns,
        cpu_s=cpu_s,
        ctx_switches=ctx_switches,
        checks=check_run(stream, done_ns, t0_ns, open_loop, start_ns=start_ns),
        reference_digest=reference_digest,
        scenario=stream.scenario.name,
        scenario_version=stream.scenario.version,
        threads=thread_times if threads.AVAILABLE else None,
        threads_ended=ended if threads.AVAILABLE else None,
        start_ns=start_ns,
    )


class WrongRun(ContenderError):
    """A run that failed a check (or the digest, where a reference was given): it has no figure."""

    def __init__(self, outcome: RunOutcome) -> None:
        super().__init__(f"{outcome.implementation} is wrong, so it has no figure: {'; '.join(outcome.failures())}")
        self.outcome = outcome


def checked_run(
    contender: Contender,
    stream: EventStream,
    *,
    workers: int,
    mode: str = "closed",
    reference_digest: str | None = None,
    around_window: Callable[[], AbstractContextManager[object]] | None = None,
) -> RunOutcome:
    """:func:`run_once` for the callers that take something from the run (a digest, allocations,
    pyperf's timings, instruction counts, a soak's rounds): a run that fails a check (or the
    digest, where ``reference_digest`` is given) raises :class:`WrongRun`, never gives a figure.
    Closed loop unless told: those passes measure the handling, not the pacing."""
    outcome = run_once(contender, stream, workers=workers, mode=mode, reference_digest=reference_digest,
                       around_window=around_window)  # fmt: skip
    if not outcome.valid:
        raise WrongRun(outcome)
    return outcome


@dataclass(frozen=True)
class Figures:
    """SPEC §5's figures of one valid run, all computed here, the same way for everyone."""

    wall_s: float
    throughput_eps: float | None
    latency_ns: stats.LatencySummary | None  # open loop only
    cpu_s_per_event: float | None
    ctx_switches_per_event: float | None
    # The latency's two parts, for a contender that records starts (else None). Waiting, start -
    # intended arrival, is open loop's only: in closed loop every event "arrives" at t0, so its
    # waiting would be its place in the stream (a ramp from 0 to the wall time), a fact of the
    # stream's length and not of the contender. Service, done - start, means the same in both
    # modes (the handler, its I/O wait, the completion's write), so it is given in both.
    waiting_ns: stats.LatencySummary | None = None
    service_ns: stats.LatencySummary | None = None


def figures(outcome: RunOutcome, stream: EventStream) -> Figures:
    """The figures of a run; refuses a run that failed a check (it is wrong, not fast)."""
    if not outcome.valid:
        raise ValueError(f"{outcome.implementation}: a run that failed its checks has no figures")
    n = outcome.n_events
    span_ns = int(outcome.done_ns.max()) - outcome.t0_ns if n else outcome.end_ns - outcome.t0_ns
    latency = waiting = service = None
    if outcome.mode == "open":
        latencies = stats.latencies_ns(outcome.done_ns, stream.column("arrival_ns"), outcome.t0_ns)
        latency = stats.latency_summary(latencies, in_place=True)  # its own array: partitioned where it is
    if outcome.start_ns is not None and n:
        if outcome.mode == "open":
            waits = stats.latencies_ns(outcome.start_ns, stream.column("arrival_ns"), outcome.t0_ns)
            waiting = stats.latency_summary(waits, in_place=True)
        service = stats.latency_summary(stats.service_ns(outcome.start_ns, outcome.done_ns), in_place=True)
    return Figures(
        wall_s=span_ns / 1e9,
        throughput_eps=stats.throughput_eps(n, span_ns),
        latency_ns=latency,
        cpu_s_per_event=outcome.cpu_s / n if n else None,
        ctx_switches_per_event=outcome.ctx_switches / n if n else None,
        waiting_ns=waiting,
        service_ns=service,
    )
