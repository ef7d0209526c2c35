"""Load sweeps: one contender, open loop, at a series of offered rates.

The curve people ask of an event system: latency against achieved throughput,
and the highest rate at which the contender still meets a latency objective
(p99 at or below a bound). Every point is a full, checked run of the workload's
events (only arrival times change with the rate, so one reference digest serves every
point of the same size); a point that fails its checks has no figures and cannot meet
the objective.

On a shared machine one disturbance can push a single run's p99 past the bound at
a rate the contender handles easily. So a miss is confirmed by running the same
rate once more, and the second run decides the point; both documents are kept
(the first marked ``"attempt": 1``). A real knee misses twice; a disturbance
rarely strikes twice in a row.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.errors import InvalidInput

DEFAULT_OBJECTIVE_P99_NS = 1_000_000
STOP_AFTER_MISSES = 2  # past the knee, each further point only takes longer to fail


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
    p99_ns: int | None
    valid: bool

    def meets(self, objective_p99_ns: int) -> bool:
        return self.valid and self.p99_ns is not None and self.p99_ns <= objective_p99_ns

    @classmethod
    def of(cls, doc: dict[str, Any]) -> SweepPoint:
        latency = doc.get("latency_ns") or {}
        return cls(doc["sweep"]["offered_eps"], doc.get("throughput_eps"), latency.get("p99"), bool(doc["valid"]))


def sustained_rate(points: list[SweepPoint], objective_p99_ns: int) -> float | None:
    """The highest offered rate whose p99 met the objective, with every lower rate meeting it too.

    A rate met after a miss is luck on a noisy machine, not capacity: the knee is the
    first miss.
    """
    best = None
    for point in sorted(points, key=lambda p: p.offered_eps):
        if not point.meets(objective_p99_ns):
            break
        best = point.offered_eps
    return best


def should_stop(points: list[SweepPoint], objective_p99_ns: int) -> bool:
    """True once the last ``STOP_AFTER_MISSES`` points all missed the objective."""
    tail = points[-STOP_AFTER_MISSES:]
    return len(tail) == STOP_AFTER_MISSES and not any(p.meets(objective_p99_ns) for p in tail)


def run_sweep(
    rates: list[float],
    run_point: Callable[[float, int], dict[str, Any]],
    objective_p99_ns: int,
) -> tuple[list[dict[str, Any]], float | None]:
    """Runs ``run_point(rate, attempt)`` (which returns a result document) at each rate, lowest
    first, confirming each miss with a second attempt, until ``STOP_AFTER_MISSES`` confirmed
    misses in a row. Returns every document (first attempts included) and the sustained rate."""
    docs: list[dict[str, Any]] = []
    points: list[SweepPoint] = []
    for rate in rates:
        doc = run_point(rate, 1)
        if not SweepPoint.of(doc).meets(objective_p99_ns) and doc["valid"]:
            docs.append(doc)
            doc = run_point(rate, 2)  # confirm the miss (a wrong run needs no second opinion)
        docs.append(doc)
        points.append(SweepPoint.of(doc))
        if should_stop(points, objective_p99_ns):
            break
    return docs, sustained_rate(points, objective_p99_ns)


def deciding(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents that decide each rate: the last attempt at each."""
    last: dict[float, dict[str, Any]] = {}
    for doc in sorted(docs, key=lambda d: (d["sweep"]["offered_eps"], d["sweep"].get("attempt", 1))):
        last[doc["sweep"]["offered_eps"]] = doc
    return list(last.values())
