"""asv benchmarks: workload generation speed (the goal: >= 5 M events/s on a 2-core machine).

Every built-in workload of every scenario (``synthetic``'s and the order book's); a commit
measured that lacks one skips it.
"""

from __future__ import annotations

import time

from harness.workload import builtin, builtin_names, generate

from . import suite

EVENTS = 2_000_000


@suite.versioned
class GenerateWorkload:
    params = (builtin_names(),)
    param_names = ("workload",)

    def setup(self, workload: str) -> None:
        suite.scenario_of(workload)  # NotImplementedError (skipped) where this commit lacks it
        self.spec = builtin(workload).with_events(EVENTS)

    def time_generate(self, workload: str) -> None:
        generate(self.spec)

    def track_events_per_second(self, workload: str) -> float:
        best = min(_timed(self.spec) for _ in range(3))
        return EVENTS / best

    track_events_per_second.unit = "events/s"  # type: ignore[attr-defined]


def _timed(spec: object) -> float:
    start = time.perf_counter()
    generate(spec)  # type: ignore[arg-type]
    return time.perf_counter() - start
