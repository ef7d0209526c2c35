"""asv benchmarks: every available contender on built-in workloads, through the harness.

Each figure is taken by the harness's own runner (the same code `eventbench`
uses), so asv's history and `eventbench compare` never disagree on method.
Streams are cut to a size that keeps one commit's suite short on a 2-core machine.
"""

from __future__ import annotations

import implementations
from harness.runner import figures, run_once
from harness.workload import builtin, generate

CONTENDERS = [c.info.name for c in implementations.available()]
WORKLOADS = {"cpu-bound": 20_000, "contention": 50_000, "blocking": 1_000}
WORKERS = 2


def _stream(workload: str):  # type: ignore[no-untyped-def]
    return generate(builtin(workload).with_events(WORKLOADS[workload]))


class HandleWorkload:
    """Closed loop: time to handle the whole stream, and throughput."""

    params = (CONTENDERS, list(WORKLOADS))
    param_names = ("contender", "workload")
    timeout = 120

    def setup(self, contender: str, workload: str) -> None:
        self.contender = implementations.get(contender)
        self.stream = _stream(workload)

    def time_handle(self, contender: str, workload: str) -> None:
        outcome = run_once(self.contender, self.stream, workers=WORKERS, mode="closed")
        if not outcome.valid:
            raise RuntimeError(f"{contender} failed its checks: {outcome.failures()}")

    def track_throughput(self, contender: str, workload: str) -> float:
        outcome = run_once(self.contender, self.stream, workers=WORKERS, mode="closed")
        tput = figures(outcome, self.stream).throughput_eps
        return float(tput or 0.0)

    track_throughput.unit = "events/s"  # type: ignore[attr-defined]
