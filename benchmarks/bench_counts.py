"""asv benchmarks: counts that a noisy machine cannot blur, for gating CI on shared runners.

* Allocations per event: every allocation made while handling (Python and Rust alike),
  counted by the harness's memray pass — a count, so one more allocation per event shows
  as exactly that, however busy the machine is.
* Instructions per event, counted by valgrind's callgrind: the instructions of a run
  handling a long prefix of the stream, minus those of a run handling a short prefix, over
  the difference in events. Start-up, imports and generation are identical in both runs and
  cancel; what remains is the handling. Each contender runs with one worker. Where every
  event is handled on the main thread (``sequential``, ``asyncio``'s one loop,
  ``native-sequential``) only that thread is counted: a helper thread (the native engine's
  signal watcher, a BLAS pool) runs or not before the process exits as valgrind's scheduler
  happens to switch, and counting it made the figure differ by ~3,000 instructions in one
  run of three. ``threaded`` handles on its worker thread and dispatches on the main one, so
  every thread is counted (Python contenders start no helper thread); the hand-offs between
  the two depend a little on scheduling: ~3,000 instructions a run, ~1.5 per event over the
  prefixes' difference, against ~12,000 per event on ``contention``. The contenders with
  several threads per worker, or processes (``native``, ``processes``), have no such figure.
"""

from __future__ import annotations

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
    """Instructions per event under callgrind: deterministic for one build, input and environment."""

    params = (list(INSTRUCTION_PREFIXES), INSTRUCTION_WORKLOADS)
    param_names = ("contender", "workload")
    timeout = 600

    def setup(self, contender: str, workload: str) -> None:
        suite.require_hosted(contender, workload)
        if shutil.which("valgrind") is None:
            raise NotImplementedError("valgrind is not installed")

    def track_instructions_per_event(self, contender: str, workload: str) -> float:
        short, long = INSTRUCTION_PREFIXES[contender]
        counts = [instructions(contender, workload, n, long) for n in (short, long)]
        return (counts[1] - counts[0]) / (long - short)

    track_instructions_per_event.unit = "instructions/event"  # type: ignore[attr-defined]


def instructions(contender: str, workload: str, n_events: int, generated: int) -> int:
    """Instructions callgrind counts in a process handling the first ``n_events`` of ``generated``:
    on its main thread, or on every thread for :data:`EVERY_THREAD`."""
    counted = thread_instructions(contender, workload, n_events, generated)
    return sum(counted) if contender in EVERY_THREAD else counted[0]


def thread_instructions(contender: str, workload: str, n_events: int, generated: int) -> list[int]:
    """The instructions of each thread of that process, the main thread first (``--separate-threads``:
    thread N's file is ``<out>-0N``)."""
    env = {**os.environ, **QUIET}
    with tempfile.TemporaryDirectory(prefix="eventbench-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={out}",
                   sys.executable, str(SUBJECT), contender, workload, str(n_events), str(generated)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"callgrind run failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        threads = sorted(Path(tmp).glob(f"{out.name}-*"), key=lambda path: int(path.name.rpartition("-")[2]))
        if not threads or threads[0].name != f"{out.name}-01":
            raise RuntimeError(f"callgrind wrote no file for the main thread: {[t.name for t in threads]}")
        return [total_instructions(thread.read_text()) for thread in threads]


def total_instructions(callgrind_out: str) -> int:
    """The ``Ir`` total of a callgrind output file (its ``summary:`` or ``totals:`` line)."""
    match = re.search(r"^(?:summary|totals):\s+(\d+)", callgrind_out, re.MULTILINE)
    if match is None:
        raise RuntimeError("callgrind wrote no instruction total")
    return int(match.group(1))
