"""Long runs hold steady: one contender, one stream, many rounds; memory and figures per round.

A soak run repeats a verified run of the same stream until ``total_events`` have
been handled, each round through the contender's own entry point (``open``,
``run``, ``close``) and checked against the reference digest, and reads the
process's resident memory after every round. The first tenth of the rounds is
warm-up (allocator pools and caches filling, the first rounds measurably slower);
the rest, the measured rounds, are cut into ten tenths. It is steady when

* **memory is flat after warm-up**: resident memory after the last round is less
  than ``MAX_RSS_GROWTH`` (5 %) above what it was at the end of the warm-up;
* **the end performs like the start**: for throughput and CPU per event, the gap
  between the medians of the first and the last measured tenth is no wider than
  the run's own noise: the typical spread of rounds within a tenth (the median,
  over the tenths, of each tenth's interquartile ratio), and at least ``MIN_NOISE``
  (5 %). Measured within tenths, the noise does not grow with a change between
  them: a step anywhere before the last tenth that lasts to the end is caught.

Why these choices, from soak runs on the 2-core CI machine: the first tenth of rounds
ran 2-4 % slower than the rest (hence the warm-up); tenth medians wander by 2-4 %
with no drift at all (hence the 5 % floor, the memory limit's too). The 2-worker
native pool sometimes switches between two throughput levels (~30 and ~36 M
events/s) for seconds at a time; a switch between the first and last tenth fails
the check, as it should: the run did not measure the same thing at both ends. A
slowdown that recovers before the last tenth is not what this compares. The rule is
written by hand: it compares a run with itself, and needs no library.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness import stats
from harness.runner import WrongRun, checked_run, figures
from implementations import Contender, ContenderError
from protocol.events import EventStream

MAX_RSS_GROWTH = 0.05
MIN_NOISE = 0.05
TENTHS = 10
MIN_ROUNDS = 2 * TENTHS  # a warm-up round or more, and at least one round in each measured tenth


def _gap(a: float, b: float) -> float:
    """The relative gap between two positive figures: how much larger the larger is."""
    low, high = sorted((a, b))
    return high / low - 1 if low > 0 else math.inf


def _interquartile_gap(values: list[float]) -> float:
    """How much larger the upper quartile is than the lower (0 for fewer than two values)."""
    if len(values) < 2:
        return 0.0
    low, _, high = statistics.quantiles(values, n=4, method="inclusive")
    return _gap(low, high)


def resident_bytes() -> int:
    """This process's resident memory now (Linux ``/proc/self/statm``); 0 where unknown."""
    try:
        resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Round:
    index: int
    throughput_eps: float
    cpu_s_per_event: float
    rss_bytes: int  # after the round, its buffers released


# The figures a soak compares between its first and last tenth, read from a round.
FIGURES: dict[str, Callable[[Round], float]] = {
    "throughput_eps": lambda r: r.throughput_eps,
    "cpu_s_per_event": lambda r: r.cpu_s_per_event,
}


@dataclass(frozen=True)
class FigureVerdict:
    name: str
    first: float  # median over the first tenth of the rounds
    last: float  # median over the last tenth
    noise: float  # the median over tenths of each tenth's interquartile ratio, at least MIN_NOISE

    @property
    def change(self) -> float:
        return self.last / self.first - 1 if self.first else math.inf

    @property
    def steady(self) -> bool:
        return _gap(self.first, self.last) <= self.noise


@dataclass(frozen=True)
class SoakResult:
    implementation: str
    workers: int
    workload: str
    events_per_round: int
    rounds: list[Round] = field(repr=False)  # every round, warm-up first

    @property
    def total_events(self) -> int:
        return self.events_per_round * len(self.rounds)

    @property
    def warmup(self) -> list[Round]:
        return self.rounds[: len(self.rounds) // TENTHS]

    @property
    def measured(self) -> list[Round]:
        return self.rounds[len(self.rounds) // TENTHS :]

    def tenths(self) -> list[list[Round]]:
        """The measured rounds (after warm-up) in ten parts."""
        rounds = self.measured
        n = len(rounds)
        return [rounds[n * t // TENTHS : n * (t + 1) // TENTHS] for t in range(TENTHS)]

    @property
    def rss_after_warmup(self) -> int:
        return self.warmup[-1].rss_bytes

    @property
    def rss_at_end(self) -> int:
        return self.rounds[-1].rss_bytes

    @property
    def rss_growth(self) -> float:
        return self.rss_at_end / self.rss_after_warmup - 1 if self.rss_after_warmup else 0.0

    def tenth_medians(self, figure: str) -> list[float]:
        """The median of ``figure`` (a key of ``FIGURES``) in each measured tenth."""
        get = FIGURES[figure]
        return [statistics.median(get(r) for r in tenth) for tenth in self.tenths()]

    def tenth_intervals(self, figure: str) -> list[stats.Interval]:
        """Each measured tenth's median of ``figure`` with the median's 95 % interval (as compare states
        its trials'); with few rounds a tenth, the interval reaches less, and says so."""
        get = FIGURES[figure]
        return [stats.median_interval([get(r) for r in tenth], 0.95) for tenth in self.tenths()]

    def figure_verdicts(self) -> list[FigureVerdict]:
        out = []
        for name, get in FIGURES.items():
            medians = self.tenth_medians(name)
            spreads = [_interquartile_gap([get(r) for r in tenth]) for tenth in self.tenths()]
            out.append(FigureVerdict(name, medians[0], medians[-1], max(MIN_NOISE, statistics.median(spreads))))
        return out

    @property
    def steady(self) -> bool:
        return self.rss_growth < MAX_RSS_GROWTH and all(v.steady for v in self.figure_verdicts())

    def as_dict(self) -> dict[str, Any]:
        return {
            "soak_schema_version": 1,  # not a run document: `report` passes it over
            "implementation": self.implementation,
            "workers": self.workers,
            "workload": self.workload,
            "events_per_round": self.events_per_round,
            "warmup_rounds": len(self.warmup),
            "total_events": self.total_events,
            "rss_after_warmup_bytes": self.rss_after_warmup,
            "rss_at_end_bytes": self.rss_at_end,
            "rss_growth": self.rss_growth,
            "max_rss_growth": MAX_RSS_GROWTH,
            "figures": [asdict(v) | {"change": v.change, "steady": v.steady} for v in self.figure_verdicts()],
            "steady": self.steady,
            "rounds": [asdict(r) for r in self.rounds],
        }


def rounds_for(total_events: int, events_per_round: int) -> int:
    """How many rounds a soak of ``total_events`` takes (at least ``MIN_ROUNDS``)."""
    return max(MIN_ROUNDS, math.ceil(total_events / events_per_round))


def soak(
    contender: Contender,
    stream: EventStream,
    *,
    workers: int,
    total_events: int,
    reference: str,
    workload_name: str,
    progress: Callable[[int, int], None] | None = None,
) -> SoakResult:
    """Rounds of ``stream`` until ``total_events`` are handled (at least ``MIN_ROUNDS`` rounds)."""
    if stream.n_events == 0:
        raise ValueError("a soak needs a stream with at least one event")
    n_rounds = rounds_for(total_events, stream.n_events)
    # Figures go into arrays made before the first round: a Python object kept per round
    # would land in the heap among the contender's short-lived ones and hold pages resident.
    figures_by_round = np.zeros((n_rounds, 3))
    for index in range(n_rounds):
        try:
            outcome = checked_run(contender, stream, workers=workers, reference_digest=reference)
        except WrongRun as e:  # which round: a leak or a corruption shows only after many
            raise ContenderError(
                f"{contender.info.name}: round {index} of the soak failed: {e.outcome.failures()}"
            ) from None
        f = figures(outcome, stream)
        del outcome  # its done_ns goes before memory is read
        figures_by_round[index] = (f.throughput_eps or 0.0, f.cpu_s_per_event or 0.0, resident_bytes())
        if progress:
            progress(index + 1, n_rounds)
    rounds = [Round(i, float(t), float(c), int(r)) for i, (t, c, r) in enumerate(figures_by_round)]
    return SoakResult(contender.info.name, contender.effective_workers(workers), workload_name, stream.n_events, rounds)
