"""Trials: every contender run several times, interleaved, each trial a checked run.

A single run states a figure from one stretch of a shared machine's time; whichever
contender runs during a noisy stretch loses. So ``compare`` runs each contender
``trials`` times in rounds: every round runs every contender once, in an order
shuffled per round from a recorded seed, so that drift and noisy stretches spread
over all of them instead of landing on one. Trials of one round are later paired
(``harness.judgement``), which removes the drift between rounds.

Every trial is a whole run through :func:`harness.runner.run_once`, judged against the
reference digest and SPEC §4's checks; a contender wrong in any trial is wrong. Only a
trial's figures are kept (a trial's ``done_ns`` of millions of events, kept for every
trial, would take gigabytes), and in open loop its latency over time: per-interval
HdrHistograms, encoded (``harness.timeline``; about 1.5 MB for 16 M events).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from harness import stats
from harness.document import FIGURES, PARTS, SHARES, TrialRecord
from harness.runner import Figures, RunOutcome, figures, run_once
from harness.timeline import INTERVAL_NS, Timeline, of_run
from implementations import Contender
from protocol.events import EventStream

DEFAULT_TRIALS = 10  # 9 is the fewest that let 8 figures be judged together at 95 % (docs/statistics.md)
MAX_TRIALS = 1000


@dataclass(frozen=True)
class Trial:
    """One checked run of one contender: where it ran in the comparison, what it did, its figures."""

    round: int
    position: int  # its place in the round's shuffled order (0 first)
    outcome: RunOutcome  # without its done_ns and start_ns: the figures below are what is kept of them
    figures: Figures | None  # None for a wrong run: it has no figures
    timeline: Timeline | None = None  # open loop, valid runs: latency over the run's time

    @classmethod
    def of(
        cls, outcome: RunOutcome, stream: EventStream, round_index: int = 0, position: int = 0,
        interval_ns: int = INTERVAL_NS,
    ) -> Trial:  # fmt: skip
        kept = figures(outcome, stream) if outcome.valid else None
        # After the checks, outside the timed window, like the figures: the last look at done_ns.
        over_time = (
            of_run(outcome.done_ns, stream.column("arrival_ns"), outcome.t0_ns, interval_ns)
            if outcome.valid and outcome.mode == "open"
            else None
        )
        empty = np.empty(0, dtype=np.uint64)
        kept_starts = None if outcome.start_ns is None else empty  # still says whether starts were recorded
        return cls(round_index, position, replace(outcome, done_ns=empty, start_ns=kept_starts), kept, over_time)

    def record(self) -> TrialRecord:
        """What a result document keeps of the trial."""
        f, o = self.figures, self.outcome
        return TrialRecord(
            round=self.round,
            position=self.position,
            valid=o.valid,
            failures=tuple(o.failures()),
            digest=o.digest,
            checks={c.name: c.passed for c in o.checks},
            setup_s=o.setup_ns / 1e9,
            cpu_s=o.cpu_s,
            ctx_switches=o.ctx_switches,
            wall_s=f.wall_s if f else None,
            throughput_eps=f.throughput_eps if f else None,
            latency_ns=f.latency_ns if f else None,
            cpu_s_per_event=f.cpu_s_per_event if f else None,
            ctx_switches_per_event=f.ctx_switches_per_event if f else None,
            threads=o.threads,
            threads_ended=o.threads_ended,
            waiting_ns=f.waiting_ns if f else None,
            service_ns=f.service_ns if f else None,
        )


@dataclass(frozen=True)
class Entrant:
    """Something a round runs: a contender at its worker count, checked against ``reference``
    (None for a floor, whose digest means nothing; its SPEC §4 checks still apply)."""

    contender: Contender
    workers: int
    reference: str | None

    @property
    def name(self) -> str:
        return self.contender.info.name


def round_orders(n_entrants: int, trials: int, seed: int) -> list[list[int]]:
    """For each round, the order (indices into the entrants) it runs them in: shuffled per
    round by one seeded generator, so a seed gives the same comparison again."""
    rng = random.Random(seed)
    orders = []
    for _ in range(trials):
        order = list(range(n_entrants))
        rng.shuffle(order)
        orders.append(order)
    return orders


def run_trials(
    entrants: Sequence[Entrant],
    stream: EventStream,
    *,
    mode: str,
    orders: list[list[int]],
    progress: Callable[[str], None] = lambda _: None,
    between_rounds: Callable[[int], None] = lambda _: None,
    interval_ns: int = INTERVAL_NS,
) -> dict[str, list[Trial]]:
    """Every entrant once a round, in each round's order (:func:`round_orders`); its trials by name, in
    round order. ``between_rounds(r)`` runs before round ``r`` (the jitter probe: spread alike);
    ``interval_ns``: the intervals of each trial's latency over time (open loop).

    A failed handler (:class:`ContenderError`) or an interrupt ends the comparison: it
    propagates after the contender has stopped its workers, as a single run does.
    """
    if not 1 <= len(orders) <= MAX_TRIALS:
        raise ValueError(f"trials must be in 1..{MAX_TRIALS}, got {len(orders)}")
    done: dict[str, list[Trial]] = {e.name: [] for e in entrants}
    trials = len(orders)
    for round_index, order in enumerate(orders):
        between_rounds(round_index)
        for position, i in enumerate(order):
            entrant = entrants[i]
            workers = f"{entrant.workers} worker{'s' if entrant.workers > 1 else ''}"
            progress(
                f"  round {round_index + 1}/{trials} [{position + 1}/{len(order)}] running {entrant.name} ({workers})"
            )
            outcome = run_once(entrant.contender, stream, workers=entrant.workers, mode=mode,
                               reference_digest=entrant.reference)  # fmt: skip
            done[entrant.name].append(Trial.of(outcome, stream, round_index, position, interval_ns))
    return done


# ---------------------------------------------------------------- figures over trials


def figure_values(trials: Sequence[TrialRecord], figure: str) -> list[float] | None:
    """The figure over every trial, or None where a trial lacks it (a wrong trial, a closed loop's latency)."""
    read = (FIGURES.get(figure) or PARTS[figure]).read
    return _every([read(t) for t in trials])


def _every(values: list[float | None]) -> list[float] | None:
    """The values, or None where there are none or any is missing."""
    return None if not values or any(v is None for v in values) else [float(v) for v in values if v is not None]


def medians(trials: Sequence[TrialRecord]) -> dict[str, stats.Interval]:
    """Each figure the trials all have (the latency's parts too), and the handling threads' shares
    of their time (:data:`harness.document.SHARES`): its median and the median's 95 % interval."""
    out = {}
    for figure in (*FIGURES, *PARTS):
        values = figure_values(trials, figure)
        if values is not None:
            out[figure] = stats.median_interval(values, 0.95)
    for name, read in SHARES.items():
        shares = _every([read(t) for t in trials])
        if shares is not None:
            out[name] = stats.median_interval(shares, 0.95)
    return out
