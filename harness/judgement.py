"""Judgements of stored result documents: a contender against the baseline, a latency
against the machine's floor. Pure functions of documents; ``harness.report`` words them.

Trials of one round are paired by their ``round`` (both ran in it, in shuffled order), and
each figure's ratio is judged with :func:`harness.stats.paired_ratio` at the level that
lets every figure of the comparison hold together at ``stats.FAMILY_CONFIDENCE``
(docs/statistics.md). A document written before trials existed (schema 3 and older) is
one trial: its ratios come with no confidence, so they never commit to a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness import stats
from harness.trials import FIGURES, figure_values, medians

LATENCIES = tuple(f for f in FIGURES if f.startswith("latency_ns."))


NOT_COMPARABLE = "not comparable"  # a ratio with 0 on one side (no context switch in a trial, say)


@dataclass(frozen=True)
class FigureJudgement:
    figure: str  # a key of harness.trials.FIGURES
    ratio: stats.Interval | None  # this contender's figure over the other's; None where undefined
    verdict: str  # stats.BETTER, WORSE or UNCLEAR, or NOT_COMPARABLE, for this contender
    level: float  # the level the figure was judged at (its interval's own coverage is ratio.confidence)

    @property
    def decided(self) -> bool:
        """Whether the trials could have committed at all: an interval reaching the level asked for."""
        return self.ratio is not None and self.ratio.confidence >= self.level


def trials_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """A document's trials; an older document (no ``trials``) is its own single trial."""
    trials = doc.get("trials")
    return list(trials) if trials else [{**doc, "round": 0}]


def same_comparison(doc: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether two documents' trials ran in the same rounds of one compare (same seed and orders):
    only then are trials of one round a pair. Documents of single runs are one trial, and pair."""
    mine, theirs = doc.get("comparison"), other.get("comparison")
    if not mine or not theirs:
        return mine == theirs or len(trials_of(doc)) == len(trials_of(other)) == 1
    return bool(mine.get("seed") == theirs.get("seed") and mine.get("orders") == theirs.get("orders"))


def _paired(doc: dict[str, Any], other: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The two documents' trials of the rounds both have, in round order; none from different comparisons."""
    if not same_comparison(doc, other):
        return [], []
    mine = {t["round"]: t for t in trials_of(doc)}
    theirs = {t["round"]: t for t in trials_of(other)}
    rounds = sorted(mine.keys() & theirs.keys())
    return [mine[r] for r in rounds], [theirs[r] for r in rounds]


def compare_figures(
    doc: dict[str, Any], other: dict[str, Any], figures: tuple[str, ...] = tuple(FIGURES)
) -> list[FigureJudgement]:
    """``doc`` against ``other`` on each of ``figures`` that both have in every paired trial,
    the family judged together. Nothing where either is wrong or no round is shared."""
    if not (doc["valid"] and other["valid"]):
        return []
    mine, theirs = _paired(doc, other)
    if not mine:
        return []
    present = []
    for figure in figures:
        a, b = figure_values(mine, figure), figure_values(theirs, figure)
        if a is not None and b is not None:
            present.append((figure, a, b))
    if not present:
        return []
    level = stats.per_figure_confidence(len(present))
    out = []
    for figure, a, b in present:
        ratio = stats.paired_ratio(a, b, level)
        verdict = NOT_COMPARABLE if ratio is None else stats.verdict(ratio, FIGURES[figure][1], level)
        out.append(FigureJudgement(figure, ratio, verdict, level))
    return out


def against_baseline(doc: dict[str, Any], baseline: dict[str, Any]) -> dict[str, FigureJudgement]:
    """Every figure of ``doc`` against the baseline's, by figure."""
    return {j.figure: j for j in compare_figures(doc, baseline)}


def at_floor(doc: dict[str, Any]) -> dict[str, bool]:
    """For each latency percentile the trials can decide: True where ``doc``'s cannot be told apart
    from its floor's (it is not clearly above it), False where it is clearly above. Percentiles
    too few trials cannot decide are left out, as is everything where the document holds no floor."""
    floor = doc.get("floor") or {}
    if not floor.get("trials"):
        return {}
    floor_doc = {"valid": True, "trials": floor["trials"], "comparison": doc.get("comparison")}
    return {j.figure: j.verdict != stats.WORSE for j in compare_figures(doc, floor_doc, LATENCIES) if j.decided}


def floor_p99(doc: dict[str, Any]) -> float | None:
    """The median p99 of the floor that ran in the document's rounds, if one did."""
    floor_trials = (doc.get("floor") or {}).get("trials")
    ci = medians(floor_trials).get("latency_ns.p99") if floor_trials else None
    return ci.point if ci else None
