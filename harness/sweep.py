"""Load sweeps: one contender, open loop, at a series of offered rates.

The curve people ask of an event system: latency against achieved throughput,
and the highest rate at which the contender still meets a latency objective
(p99 at or below a bound). Every point is several trials, each a full, checked
run of the workload's events (only arrival times change with the rate, so one
reference digest serves every point of the same size); a point with a wrong
trial has no figures and cannot meet the objective.

A point is decided by the 95 % interval of its median p99 over the trials, never by
one run: **met** when the whole interval lies at or below the objective, **missed**
when it lies wholly above, **unclear** otherwise. Unclear counts as not met: the
sustained rate is one the measurements support, not one a lucky run allows. With
the default 9 trials the interval runs from the second-lowest to the second-highest
p99, so one disturbed trial neither makes nor breaks a point; fewer than 6 trials cannot
give a 95 % interval of a median, and a sweep refuses them.

A point's trials run one after another, not interleaved with other rates' (as
``compare`` interleaves contenders): a point is judged against a fixed objective, not
paired with another point, and running rates lowest first is what lets a sweep stop
past the knee instead of running the overloaded rates every round.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from harness.document import ResultDocument, SweepSettings
from harness.stats import Interval
from protocol.errors import InvalidInput

DEFAULT_OBJECTIVE_P99_NS = 1_000_000
DEFAULT_TRIALS = 9  # the fewest at which the median's 95 % interval leaves out the highest trial
MIN_TRIALS = 6  # the fewest whose median interval reaches 95 % at all (from the lowest to the highest)
STOP_AFTER_MISSES = 2  # past the knee, each further point only takes longer to fail
MET, MISSED, UNCLEAR = "met", "MISSED", "unclear"


def parse_rates(text: str) -> list[float]:
    """``"1000,5000,20000"`` or a geometric series ``"LOW:HIGH:STEPS"`` (``"1000:100000:7"``)."""
    try:
        if ":" in text:
            low_s, high_s, steps_s = text.split(":")
            low, high, steps = float(low_s), float(high_s), int(steps_s)
            if not (0 < low < high and 2 <= steps <= 100):
                raise ValueError
            return [low * (high / low) ** (i / (steps - 1)) for i in range(steps)]
        rates = [float(part) for part in text.split(",")]
    except ValueError:
        raise InvalidInput(
            "--rates", text, "must be rates in events/s, comma-separated, or LOW:HIGH:STEPS with 0 < LOW < HIGH"
        ) from None
    if not rates or any(not math.isfinite(r) or r <= 0 for r in rates) or rates != sorted(set(rates)):
        raise InvalidInput("--rates", text, "rates must be positive, finite and increasing")
    return rates


@dataclass(frozen=True)
class SweepPoint:
    offered_eps: float
    achieved_eps: float | None
    p99_ns: Interval | None  # the median p99 over the point's trials, with its interval
    valid: bool
    one_run: bool = False  # a point stored before sweeps ran trials: decided by its one p99

    def decision(self, objective_p99_ns: int) -> str:
        """:data:`MET`, :data:`MISSED` or :data:`UNCLEAR`, from where the p99 interval lies; an
        interval short of 95 % decides nothing (unclear), unless the point is one old run."""
        if not self.valid or self.p99_ns is None:
            return MISSED
        if self.p99_ns.confidence < 0.95 and not self.one_run:
            return UNCLEAR
        if self.p99_ns.high <= objective_p99_ns:
            return MET
        return MISSED if self.p99_ns.low > objective_p99_ns else UNCLEAR

    def meets(self, objective_p99_ns: int) -> bool:
        return self.decision(objective_p99_ns) == MET

    @classmethod
    def of(cls, doc: ResultDocument) -> SweepPoint:
        """A point from its result document; one of a single run (a document from before sweeps
        ran trials) has an interval of its one p99 and is decided by it, as it was then."""
        interval = doc.intervals.get("latency_ns.p99")
        if interval is None and doc.latency_ns is not None:
            p99 = doc.latency_ns.p99
            interval = Interval(p99, p99, p99, 0.0, 1)
        return cls(settings(doc).offered_eps, doc.throughput_eps, interval, doc.valid, one_run=doc.trials is None)


def settings(doc: ResultDocument) -> SweepSettings:
    """A sweep point's settings; refuses a document that is no sweep point."""
    if doc.sweep is None:
        raise ValueError(f"{doc.origin} is not a sweep point")
    return doc.sweep


def sustained_rate(points: list[SweepPoint], objective_p99_ns: int) -> float | None:
    """The highest offered rate that met the objective, with every lower rate meeting it too.

    A rate met after a miss is luck on a noisy machine, not capacity: the knee is the
    first point not met.
    """
    best = None
    for point in sorted(points, key=lambda p: p.offered_eps):
        if not point.meets(objective_p99_ns):
            break
        best = point.offered_eps
    return best


def should_stop(points: list[SweepPoint], objective_p99_ns: int) -> bool:
    """True once the last ``STOP_AFTER_MISSES`` points all failed to meet the objective."""
    tail = points[-STOP_AFTER_MISSES:]
    return len(tail) == STOP_AFTER_MISSES and not any(p.meets(objective_p99_ns) for p in tail)


def run_sweep(
    rates: list[float],
    run_point: Callable[[float], ResultDocument],
    objective_p99_ns: int,
) -> tuple[list[ResultDocument], float | None]:
    """Runs ``run_point(rate)`` (which runs the point's trials and returns its result document)
    at each rate, lowest first, until ``STOP_AFTER_MISSES`` points in a row are not met.
    Returns every point's document and the sustained rate."""
    docs: list[ResultDocument] = []
    points: list[SweepPoint] = []
    for rate in rates:
        docs.append(run_point(rate))
        points.append(SweepPoint.of(docs[-1]))
        if should_stop(points, objective_p99_ns):
            break
    return docs, sustained_rate(points, objective_p99_ns)


def deciding(docs: list[ResultDocument]) -> list[ResultDocument]:
    """One document per rate. Sweeps stored before points ran trials confirmed a miss with a
    second run (``"attempt": 2``), which decided the rate: the last attempt is kept."""
    last: dict[float, ResultDocument] = {}
    for doc in sorted(docs, key=lambda d: (settings(d).offered_eps, settings(d).attempt or 1)):
        last[settings(doc).offered_eps] = doc
    return list(last.values())
