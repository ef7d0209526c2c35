"""Which change of which figure is a regression: the rules `regress` applies, in one place.

Two kinds of figure, judged differently:

* **counts** (allocations and instructions per event) are deterministic: the same build on
  the same input gives the same count (within callgrind's start-up jitter, well under 1 %),
  however loaded the machine is. They gate CI everywhere. Allocations are judged by the
  absolute change per event (one more allocation per event is the unit that matters, and a
  relative rule would miss it on a contender that already allocates 100); instructions by
  the ratio.
* **timings** (time, throughput, latency, peak memory, generation speed) move with the
  machine's load. A change counts only when it exceeds the factor *and* asv's own
  significance test (Mann-Whitney U on the samples, or disjoint confidence intervals) says
  the two sets of samples differ. They gate only with ``--gate all``: on a shared runner a
  neighbour can make any commit look 10 % slower.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

COUNT_UNITS = ("allocations/event", "instructions/event")


@dataclass(frozen=True)
class Thresholds:
    factor: float = 1.10  # timings: worse by more than this ratio (and significant)
    instructions_factor: float = 1.02  # instructions per event: more than 2 % more
    allocations_delta: float = 0.5  # allocations per event: half an allocation more per event


@dataclass(frozen=True)
class Figure:
    """One benchmark's result at one commit: its value (None failed, NaN skipped) and samples."""

    value: float | None
    unit: str
    samples: list[float] | None = None
    stats: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        return self.value is None

    @property
    def skipped(self) -> bool:
        return self.value is not None and math.isnan(self.value)


@dataclass(frozen=True)
class Change:
    benchmark: str
    params: str
    kind: str  # "count" or "timing"
    before: Figure
    after: Figure
    verdict: str  # "regressed", "improved", "failed", "unchanged", "not comparable"
    how_much: str  # human: "+1.00 allocations/event", "1.25x slower", ...

    @property
    def regressed(self) -> bool:
        return self.verdict in ("regressed", "failed")


def kind_of(unit: str) -> str:
    return "count" if unit in COUNT_UNITS else "timing"


def higher_is_better(unit: str) -> bool:
    return unit.endswith("/s")  # throughput and generation speed


def judge(benchmark: str, params: str, before: Figure, after: Figure, limits: Thresholds) -> Change:
    kind = kind_of(after.unit)

    def change(verdict: str, how_much: str) -> Change:
        return Change(benchmark, params, kind, before, after, verdict, how_much)

    if before.failed or before.skipped:
        return change("not comparable", "no result before")
    if after.failed:
        return change("failed", "failed (a wrong result or an error: see asv's log)")
    if after.skipped:
        return change("not comparable", "skipped now")
    assert before.value is not None and after.value is not None
    if after.unit == "allocations/event":
        delta = after.value - before.value
        verdict = _by_threshold(delta, limits.allocations_delta)
        return change(verdict, f"{delta:+.3g} allocations/event")
    worse = _worse_ratio(before.value, after.value, higher_is_better(after.unit))
    how_much = _describe_ratio(worse, after.unit)
    if after.unit == "instructions/event":
        return change(_by_ratio(worse, limits.instructions_factor), how_much)
    verdict = _by_ratio(worse, limits.factor)
    if verdict != "unchanged" and not _significant(before, after):
        verdict = "unchanged"
        how_much += " (not significant)"
    return change(verdict, how_much)


def _by_threshold(delta: float, limit: float) -> str:
    if delta >= limit:
        return "regressed"
    return "improved" if -delta >= limit else "unchanged"


def _by_ratio(worse: float, factor: float) -> str:
    if worse > factor:
        return "regressed"
    return "improved" if worse < 1 / factor else "unchanged"


def _worse_ratio(before: float, after: float, higher_better: bool) -> float:
    """How many times worse ``after`` is (below 1: better). Zero on either side reads as no change or infinity."""
    good, bad = (after, before) if higher_better else (before, after)
    if good == 0:
        return 1.0 if bad == 0 else math.inf
    return bad / good


def _describe_ratio(worse: float, unit: str) -> str:
    if unit == "instructions/event":
        return f"{(worse - 1) * 100:+.1f} % instructions"
    if worse >= 1:
        return f"{worse:.2f}x worse"
    return f"{1 / worse:.2f}x better"


def _significant(before: Figure, after: Figure) -> bool:
    """asv's own test: with samples on both sides, Mann-Whitney U; else the confidence intervals."""
    if before.stats is None or after.stats is None or 1 in (before.stats.get("repeat"), after.stats.get("repeat")):
        return True  # one value each: the factor alone decides, as in `asv compare`
    # the test `asv compare` applies; private in asv 0.6.6, which noxfile.py and pyproject.toml pin
    from asv._stats import is_different

    return bool(is_different(before.samples, after.samples, before.stats, after.stats))
