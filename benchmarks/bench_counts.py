"""asv benchmarks: counts that a noisy machine cannot blur, for gating CI on shared runners.

* Allocations per event: every allocation made while handling (Python and Rust alike),
  counted by the harness's memray pass — a count, so one more allocation per event shows
  as exactly that, however busy the machine is.
* Instructions per event, counted by valgrind's callgrind: the instructions of a process
  handling a long prefix of the stream, minus those of one handling a short prefix, over
  the difference in events. What is the same in both cancels; what remains is the handling
  in the window, as every figure covers. One callgrind process starts, imports and generates
  once for every (contender, workload), then forks a child per run through the harness's
  checked driver; callgrind zeroes each child's count as its window begins and writes it as
  the window ends, so ``open``, the digest, ``close`` and the run's checks are not counted
  (``callgrind_subject.py``). Version 1 of this figure counted from before ``open`` to the
  child's exit, after a ``gc.collect()``, unchecked: that put a collection of the whole state
  (a full traversal of every object the order book holds) into the order book's figure; the
  figures of both versions on one commit are in docs/regression-tracking.md. Until
  December 2026 each run was a process of its own, started, importing and generating under
  callgrind: 14 pairs took 353 s that way, ~50 s forked. Both ways give the same figure to
  within 0.25 % (docs/regression-tracking.md has the comparison), less than an unrelated
  change of start-up moves either (holding 5,000 more objects from start-up moved a
  process-per-run figure by 0.5 %). Each contender runs with one worker. Where every
  event is handled on the main thread (``sequential``, ``asyncio``'s one loop,
  ``native-sequential``) only that thread is counted: a helper thread (the native engine's
  signal watcher, a BLAS pool) runs or not before the process exits as valgrind's scheduler
  happens to switch, and counting it made the figure differ by ~3,000 instructions in one
  run of three. ``threaded`` handles on its worker thread and dispatches on the main one, so
  every thread is counted (Python contenders start no helper thread), the worker over its
  whole life (callgrind cuts only the main thread at the window; the worker's start in
  ``open`` and its end in ``close`` are the same for both prefixes); the hand-offs between
  the two depend a little on scheduling: ~3,000 instructions a run, ~1.5 per event over the
  prefixes' difference, against ~12,000 per event on ``contention``. The contenders with
  several threads per worker, or processes (``native``, ``processes``), have no such figure.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import suite

ALLOCATION_EVENTS = {
    "cpu-bound": 20_000, "contention": 50_000, "mixed": 20_000, "book": 20_000, "book-contention": 20_000,
}  # fmt: skip

# No `block` events: no waits to count. The order book's workloads have none.
INSTRUCTION_WORKLOADS = ["cpu-bound", "contention", "book", "book-contention"]
# (short prefix, long prefix) per contender. With a fixed hash seed and OpenBLAS held to one
# thread (its idle threads spin a different number of times per run), a run's count
# repeats exactly, so the difference is the handling of the events in between.
INSTRUCTION_PREFIXES = {
    "sequential": (1_000, 3_000),
    "threaded": (1_000, 3_000),
    "asyncio": (1_000, 3_000),
    "native-sequential": (100_000, 300_000),
}
# The contenders whose every thread is counted (the docstring says why); the others: the main thread.
EVERY_THREAD = {"threaded"}
QUIET = {"PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
SUBJECT = Path(__file__).with_name("callgrind_subject.py")


@suite.versioned
class Allocations:
    """Allocations per event of a closed-loop pass (memray; the harness's own counting method)."""

    params = (suite.contender_names(), list(ALLOCATION_EVENTS))
    param_names = ("contender", "workload")
    timeout = 600

    def setup_cache(self) -> dict[str, str]:
        return suite.reference_digests(ALLOCATION_EVENTS)

    def setup(self, digests: dict[str, str], contender: str, workload: str) -> None:
        suite.require_hosted(contender, workload)
        suite.expected_digest(digests, workload)
        if not getattr(suite.contender(contender).info, "in_process", True):  # the field is new at schema 3
            raise NotImplementedError(f"{contender} handles events in worker processes, which memray does not see")
        try:
            from harness.allocations import count_allocations  # noqa: F401 - present from the measurement issue on
        except ImportError as e:
            raise NotImplementedError(f"this commit cannot count allocations: {e}") from None

    def track_allocations_per_event(self, digests: dict[str, str], contender: str, workload: str) -> float:
        from harness.allocations import count_allocations

        n_events = ALLOCATION_EVENTS[workload]
        expected = suite.expected_digest(digests, workload)
        suite.checked_run(contender, workload, n_events, "closed", expected)  # right before counted
        count = count_allocations(suite.contender(contender), suite.stream(workload, n_events), suite.WORKERS)
        return float(count.per_event)

    track_allocations_per_event.unit = "allocations/event"  # type: ignore[attr-defined]


@suite.versioned
class Instructions:
    """Instructions per event under callgrind: deterministic for one build, input and environment.

    Every (contender, workload) that can be counted at the commit measured is counted once per
    commit, in ``setup_cache``, by one callgrind process (:func:`per_event`)."""

    params = (list(INSTRUCTION_PREFIXES), INSTRUCTION_WORKLOADS)
    param_names = ("contender", "workload")
    timeout = 600

    def setup_cache(self) -> dict[str, float | str]:
        if shutil.which("valgrind") is None:
            return {}  # setup says so, for every parameter
        hosted = []
        for contender, workload in itertools.product(*self.params):
            try:
                suite.require_hosted(contender, workload)
            except NotImplementedError:
                continue
            hosted.append((contender, workload))
        return per_event(hosted)

    def setup(self, counted: dict[str, float | str], contender: str, workload: str) -> None:
        suite.require_hosted(contender, workload)
        if shutil.which("valgrind") is None:
            raise NotImplementedError("valgrind is not installed")
        figure = counted[_key(contender, workload)]
        if isinstance(figure, str):
            raise RuntimeError(figure)

    def track_instructions_per_event(self, counted: dict[str, float], contender: str, workload: str) -> float:
        return counted[_key(contender, workload)]

    track_instructions_per_event.unit = "instructions/event"  # type: ignore[attr-defined]


def _key(contender: str, workload: str) -> str:
    return f"{contender} {workload}"


def per_event(pairs: list[tuple[str, str]]) -> dict[str, float | str]:
    """Instructions per event of each (contender, workload), keyed ``"contender workload"``: the
    count of a child handling the long prefix minus that of one handling the short prefix
    (:data:`INSTRUCTION_PREFIXES`), over the events in between; where a child failed, why."""
    plan = [(c, w, n, INSTRUCTION_PREFIXES[c][1]) for c, w in pairs for n in INSTRUCTION_PREFIXES[c]]
    counted = instructions(plan)
    figures: dict[str, float | str] = {}
    for (contender, workload), short, long in zip(pairs, counted[::2], counted[1::2], strict=True):
        first, last = INSTRUCTION_PREFIXES[contender]
        failed = [count for count in (short, long) if isinstance(count, str)]
        figures[_key(contender, workload)] = failed[0] if failed else (int(long) - int(short)) / (last - first)
    return figures


def instructions(plan: list[tuple[str, str, int, int]]) -> list[int | str]:
    """For each run (contender, workload, events handled, events generated): the instructions
    counted on its main thread, or on every thread for :data:`EVERY_THREAD`; or why it failed."""
    digests = reference_digests(plan)
    checkable = [run for run in plan if not digests[run[1:]].startswith(suite.NO_DIGEST)]
    by_run = dict(zip(checkable, thread_instructions(checkable, digests) if checkable else [], strict=True))
    return [_instructions(run, by_run.get(run), digests[run[1:]]) for run in plan]


def _instructions(run: tuple[str, str, int, int], counted: list[int] | str | None, digest: str) -> int | str:
    """One run's figure from its threads' counts, or why there is none."""
    if counted is None:  # no reference to check it against
        return digest[len(suite.NO_DIGEST) :]
    if isinstance(counted, str):
        return counted
    return sum(counted) if run[0] in EVERY_THREAD else counted[0]


def thread_instructions(
    plan: list[tuple[str, str, int, int]], digests: dict[tuple[str, int, int], str]
) -> list[list[int] | str]:
    """The instructions of each thread of each run's child, its main thread first, or why the run
    failed. One callgrind process runs the subject, which forks a child per run
    (``benchmarks/callgrind_subject.py``); ``--zero-before=getppid`` zeroes the count as the
    window begins and ``--dump-before=getpgrp`` writes it as the window ends, to
    ``callgrind.P.1-01`` for process P. Both act on the thread that calls them, the main one;
    ``--separate-threads`` writes any other thread N's whole life, at exit, to
    ``callgrind.P-0N``."""
    env = {**os.environ, **QUIET}
    with tempfile.TemporaryDirectory(prefix="eventbench-callgrind-") as tmp:
        out = Path(tmp) / "callgrind"
        runs = [",".join(map(str, (*run, digests[run[1:]]))) for run in plan]
        command = ["valgrind", "--tool=callgrind", "--separate-threads=yes", "--zero-before=getppid",
                   "--dump-before=getpgrp", f"--callgrind-out-file={out}.%p", sys.executable, str(SUBJECT),
                   *runs]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        children = [json.loads(line) for line in done.stdout.splitlines()]
        if done.returncode != 0 or len(children) != len(plan):
            raise RuntimeError(f"callgrind run failed ({done.returncode}): {_said(done.stderr)}")
        counted: list[list[int] | str] = []
        for run, child in zip(plan, children, strict=True):
            if child["status"] != 0:
                counted.append(f"{run[0]} on {run[1]} ({run[2]} events) exited {child['status']}: {_said(done.stderr)}")
                continue
            window = Path(tmp) / f"{out.name}.{child['pid']}.1-01"
            if not window.is_file():
                raise RuntimeError(f"callgrind wrote no count of {child}'s window: {sorted(os.listdir(tmp))}")
            others = sorted(
                (p for p in Path(tmp).glob(f"{out.name}.{child['pid']}-*") if not p.name.endswith("-01")),
                key=lambda p: int(p.name.rpartition("-")[2]),
            )
            counted.append([total_instructions(thread.read_text()) for thread in (window, *others)])
        return counted


def reference_digests(plan: list[tuple[str, str, int, int]]) -> dict[tuple[str, int, int], str]:
    """The reference's digest of each run's stream (workload, events handled, events generated),
    outside callgrind, for the subject to check its runs against; where the reference failed,
    :data:`suite.NO_DIGEST` and why, which fails the runs of that stream alone.
    The harness's own (``harness.reference.reference_digest``, ``harness.runner``'s before it)
    does this for one stream, but only from c8bbf9f on; ``run_once`` measures older commits too."""
    digests = {}
    for workload, n_events, generated in sorted({run[1:] for run in plan}):
        stream = suite.stream(workload, generated).prefix(n_events)
        outcome = suite.run_once(suite.implementations.get(suite.REFERENCE), stream, workers=1, mode="closed")
        digests[workload, n_events, generated] = (
            str(outcome.digest) if outcome.valid
            else f"{suite.NO_DIGEST}the reference failed its own checks on {workload}: {outcome.failures()}"
        )  # fmt: skip
    return digests


def _said(stderr: str) -> str:
    """What the subject printed, without valgrind's own lines."""
    return "\n".join(line for line in stderr.splitlines() if not line.startswith("==")).strip()[-2000:]


def total_instructions(callgrind_out: str) -> int:
    """The ``Ir`` total of a callgrind output file: its ``summary:`` line, else its ``totals:`` line.
    In a file written after ``--zero-before`` the two differ: ``summary:`` is the count since the
    zeroing (it matches a ``--dump-before`` at the same call to within a few hundred instructions),
    while ``totals:`` came out 0.7 to 1.0 million higher in a small forked child."""
    match = re.search(r"^summary:\s+(\d+)", callgrind_out, re.MULTILINE) or re.search(
        r"^totals:\s+(\d+)", callgrind_out, re.MULTILINE
    )
    if match is None:
        raise RuntimeError("callgrind wrote no instruction total")
    return int(match.group(1))
