"""Judgements of stored result documents: a contender against the baseline, a latency
against the machine's floor. Pure functions of documents; ``harness.report`` words them.

Trials of one round are paired by their ``round`` (both ran in it, in shuffled order), and
each figure's ratio is judged with :func:`harness.stats.paired_ratio` at the level that
lets every figure of the comparison hold together at ``stats.FAMILY_CONFIDENCE``
(docs/statistics.md). A document written before trials existed (schema 3 and older) is
one trial: its ratios come with no confidence, so they never commit to a verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness import stats
from harness.document import FIGURES, ResultDocument, TrialRecord
from harness.trials import figure_values, medians

LATENCIES = tuple(f for f in FIGURES if f.startswith("latency_ns."))


NOT_COMPARABLE = "not comparable"  # a ratio with 0 on one side (no context switch in a trial, say)


@dataclass(frozen=True)
class FigureJudgement:
    figure: str  # a key of harness.document.FIGURES
    ratio: stats.Interval | None  # this contender's figure over the other's; None where undefined
    verdict: str  # stats.BETTER, WORSE or UNCLEAR, or NOT_COMPARABLE, for this contender
    level: float  # the level the figure was judged at (its interval's own coverage is ratio.confidence)

    @property
    def decided(self) -> bool:
        """Whether the trials could have committed at all: an interval reaching the level asked for."""
        return self.ratio is not None and self.ratio.confidence >= self.level


def trials_of(doc: ResultDocument) -> tuple[TrialRecord, ...]:
    """A document's trials; an older document (no ``trials``) is its own single trial."""
    return doc.trials_or_run()


def same_comparison(doc: ResultDocument, other: ResultDocument) -> bool:
    """Whether two documents' trials ran in the same rounds of one compare (same seed and orders):
    only then are trials of one round a pair. Documents of single runs are one trial, and pair."""
    mine, theirs = doc.comparison, other.comparison
    if not mine or not theirs:
        return mine == theirs or len(trials_of(doc)) == len(trials_of(other)) == 1
    return mine.seed == theirs.seed and mine.orders == theirs.orders


def _paired(mine: Sequence[TrialRecord], theirs: Sequence[TrialRecord]) -> tuple[list[TrialRecord], list[TrialRecord]]:
    """Two sets of trials of one comparison, of the rounds both have, in round order."""
    by_round, theirs_by_round = {t.round: t for t in mine}, {t.round: t for t in theirs}
    rounds = sorted(by_round.keys() & theirs_by_round.keys())
    return [by_round[r] for r in rounds], [theirs_by_round[r] for r in rounds]


def compare_figures(
    doc: ResultDocument, other: ResultDocument, figures: tuple[str, ...] = tuple(FIGURES)
) -> list[FigureJudgement]:
    """``doc`` against ``other`` on each of ``figures`` that both have in every paired trial,
    the family judged together. Nothing where either is wrong or no round is shared (none from
    different comparisons)."""
    if not (doc.valid and other.valid) or not same_comparison(doc, other):
        return []
    return _judged(*_paired(trials_of(doc), trials_of(other)), figures)


def _judged(mine: list[TrialRecord], theirs: list[TrialRecord], figures: tuple[str, ...]) -> list[FigureJudgement]:
    """Paired trials judged on each of ``figures`` both have in every pair, the family together."""
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
        verdict = NOT_COMPARABLE if ratio is None else stats.verdict(ratio, FIGURES[figure].higher_is_better, level)
        out.append(FigureJudgement(figure, ratio, verdict, level))
    return out


def against_baseline(doc: ResultDocument, baseline: ResultDocument) -> dict[str, FigureJudgement]:
    """Every figure of ``doc`` against the baseline's, by figure."""
    return {j.figure: j for j in compare_figures(doc, baseline)}


def at_floor(doc: ResultDocument) -> dict[str, bool]:
    """For each latency percentile the trials can decide: True where ``doc``'s cannot be told apart
    from its floor's (it is not clearly above it), False where it is clearly above. Percentiles
    too few trials cannot decide are left out, as is everything where the document holds no floor.
    The floor ran in the document's own rounds: its trials pair with the document's."""
    if not doc.valid or not doc.floor or not doc.floor.trials:
        return {}
    judged = _judged(*_paired(trials_of(doc), doc.floor.trials), LATENCIES)
    return {j.figure: j.verdict != stats.WORSE for j in judged if j.decided}


def floor_p99(doc: ResultDocument) -> float | None:
    """The median p99 of the floor that ran in the document's rounds, if one did."""
    ci = medians(doc.floor.trials).get("latency_ns.p99") if doc.floor and doc.floor.trials else None
    return ci.point if ci else None
