"""asv benchmarks: counts that a noisy machine cannot blur, for gating CI on shared runners.

* Allocations per event: every allocation made while handling (Python and Rust alike),
  counted by the harness's memray pass — a count, so one more allocation per event shows
  as exactly that, however busy the machine is.
* Instructions per event, for the single-threaded contenders, counted by valgrind's
  callgrind: the instructions of a run handling a long prefix of the stream, minus those
  of a run handling a short prefix, over the difference in events. Start-up, imports and
  generation are identical in both runs and cancel; what remains is the handling. Only the
  main thread is counted, which is where these contenders handle every event: a helper thread
  (the native engine's signal watcher, a BLAS pool) runs or not before the process exits as
  valgrind's scheduler happens to switch, and counting it made the figure differ by ~3,000
  instructions in one run of three. (Threads make a pool's count depend on scheduling, so the
  parallel contenders have no such figure.)
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

ALLOCATION_EVENTS = {"cpu-bound": 20_000, "contention": 50_000, "mixed": 20_000}

INSTRUCTION_WORKLOADS = ["cpu-bound", "contention"]  # no `block` events: no waits to count
# (short prefix, long prefix) per contender. With a fixed hash seed and OpenBLAS held to one
# thread (its idle threads spin a different number of times per run), a run's count
# repeats exactly, so the difference is the handling of the events in between.
INSTRUCTION_PREFIXES = {"sequential": (1_000, 3_000), "native-sequential": (100_000, 300_000)}
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
        if not getattr(suite.contender(contender).info, "in_process", True):  # the field is new at schema 3
            raise NotImplementedError(f"{contender} handles events in worker processes, which memray does not see")
        try:
            from harness.allocations import count_allocations  # noqa: F401 - present from the measurement issue on
        except ImportError as e:
            raise NotImplementedError(f"this commit cannot count allocations: {e}") from None

    def track_allocations_per_event(self, digests: dict[str, str], contender: str, workload: str) -> float:
        from harness.allocations import count_allocations

        n_events = ALLOCATION_EVENTS[workload]
        suite.checked_run(contender, workload, n_events, "closed", digests[workload])  # right before counted
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
        suite.contender(contender)
        if shutil.which("valgrind") is None:
            raise NotImplementedError("valgrind is not installed")

    def track_instructions_per_event(self, contender: str, workload: str) -> float:
        short, long = INSTRUCTION_PREFIXES[contender]
        counts = [instructions(contender, workload, n, long) for n in (short, long)]
        return (counts[1] - counts[0]) / (long - short)

    track_instructions_per_event.unit = "instructions/event"  # type: ignore[attr-defined]


def instructions(contender: str, workload: str, n_events: int, generated: int) -> int:
    """Instructions callgrind counts on the main thread of a process handling the first ``n_events``
    of ``generated`` (``--separate-threads``: thread 1's file is ``<out>-01``)."""
    env = {**os.environ, **QUIET}
    with tempfile.TemporaryDirectory(prefix="eventbench-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={out}",
                   sys.executable, str(SUBJECT), contender, workload, str(n_events), str(generated)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"callgrind run failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        return total_instructions(out.with_name(out.name + "-01").read_text())


def total_instructions(callgrind_out: str) -> int:
    """The ``Ir`` total of a callgrind output file (its ``summary:`` or ``totals:`` line)."""
    match = re.search(r"^(?:summary|totals):\s+(\d+)", callgrind_out, re.MULTILINE)
    if match is None:
        raise RuntimeError("callgrind wrote no instruction total")
    return int(match.group(1))
