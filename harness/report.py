"""Formatting: turns result documents into what people read. Computes nothing.

Every function here takes result documents (``harness.results``) and returns
text or prints it; the figures and ratios were computed elsewhere.
"""

from __future__ import annotations

import os
import textwrap
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness import judgement, metadata, plots, stats
from harness.document import FIGURES, PARTS, SHARES, ResultDocument
from harness.numbers import PERCENTILE_HEADERS, si
from harness.results import one_scenario, timeline_series
from harness.soak import MAX_RSS_GROWTH, SoakResult
from harness.stats import PERCENTILE_NAMES, Interval, percent_change
from harness.sweep import SweepPoint, deciding, settings, sustained_rate
from harness.timeline import Series
from protocol.errors import InvalidInput


@contextmanager
def activity(message: str) -> Iterator[None]:
    """A spinner with the time elapsed on a terminal, one line elsewhere (logs, CI). For untimed work only."""
    import sys

    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        print(f"{message} ...", file=sys.stderr, flush=True)
        yield
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn(message), TimeElapsedColumn(), console=console, transient=True) as bar:
        bar.add_task(message, total=None)
        yield
    print(f"{message}: done", file=sys.stderr, flush=True)


def duration_ns(value: float | None) -> str:
    if value is None:
        return "-"
    for factor, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if value >= factor:
            return f"{value / factor:.3g} {unit}"
    return f"{value:.0f} ns"


def times(value: float | None) -> str:
    """A ratio worded for people: 3.2x, 0.41x."""
    return "" if value is None else f"{value:.3g}x"


def allocations(value: float | None) -> str:
    """Allocations per event: 3 significant figures, and 0 written as 0."""
    if value is None:
        return "-"
    return "0" if value == 0 else f"{value:.3g}"


def _allocations_cell(doc: ResultDocument) -> str:
    """Allocations per event, marked † where the count covered only the first events (a note says how many)."""
    return allocations(doc.allocations_per_event) + ("†" if _counted_fewer(doc) else "")


def _counted_fewer(doc: ResultDocument) -> int | None:
    """The events the allocation pass counted, where that is fewer than the run's."""
    counted = doc.allocations.events if doc.allocations else None
    return counted if counted is not None and counted < doc.events else None


def percent(value: float | None) -> str:
    """A change worded for people: +12 %, −97 %, −0.4 % (a true minus sign)."""
    if value is None:
        return "n/a"
    digits = 0 if abs(value) >= 10 else 1
    text = f"{abs(value):.{digits}f}"
    if float(text) == 0:
        return "±0 %"
    return f"{'+' if value > 0 else '−'}{text} %"


@dataclass(frozen=True)
class Column:
    header: str
    figure: str  # the figure's name in documents' ``intervals`` and harness.document.FIGURES
    read: Callable[[ResultDocument], float | None]  # the headline value (the median over trials)
    text: Callable[[float | None], str]

    @classmethod
    def of(cls, header: str, figure: str, text: Callable[[float | None], str]) -> Column:
        """A column of one of :data:`FIGURES`, read as documents hold it."""
        return cls(header, figure, FIGURES[figure].read, text)


def _per_event_ns(value: float | None) -> str:
    return duration_ns(value * 1e9 if value is not None else None)


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _seconds(value: float | None) -> str:
    return duration_ns(value * 1e9 if value is not None else None)


# What a contender delivers, then what it costs: two of the tables, each readable at 100 columns.
DELIVERS = [Column.of("events/s", "throughput_eps", si)] + [
    Column.of(PERCENTILE_HEADERS[p], f"latency_ns.{p}", duration_ns) for p in PERCENTILE_NAMES if p != "p90"
]
COSTS = [
    Column.of("CPU/event", "cpu_s_per_event", _per_event_ns),
    Column.of("ctx sw/event", "ctx_switches_per_event", _count),
]
# Where each event's latency went (schema 7): a table of its own rather than more columns in the
# first, which is full at 100 columns. Waiting's maximum is kept (a stall shows there), service's
# is not: a handler's own worst case is in the latency's maximum already.
PARTS_COLUMNS = [
    Column(f"wait {PERCENTILE_HEADERS[p]}", f"waiting_ns.{p}", PARTS[f"waiting_ns.{p}"].read, duration_ns)
    for p in ("p50", "p99", "max")
] + [
    Column(f"service {PERCENTILE_HEADERS[p]}", f"service_ns.{p}", PARTS[f"service_ns.{p}"].read, duration_ns)
    for p in ("p50", "p99")
]
FLOOR_MARK = "*"
TERMINAL_WIDTH = 100  # every table and note is read at 100 columns


def spread(doc: ResultDocument, figure: str) -> str:
    """The half-width of a figure's 95 % interval, relative to its median: ``±4%``; empty for one trial."""
    ci = doc.intervals.get(figure)
    if not ci or ci.n < 2 or not ci.point:
        return ""
    half = max(ci.high / ci.point - 1, 1 - ci.low / ci.point) * 100
    return f" ±{half:.0f}%" if half >= 1 or half < 0.05 else f" ±{half:.1f}%"


def _cell(doc: ResultDocument, column: Column, floor: dict[str, bool]) -> str:
    value = column.read(doc)
    if value is None:
        return "-"
    return column.text(value) + spread(doc, column.figure) + (FLOOR_MARK if floor.get(column.figure) else "")


def _digest_cell(doc: ResultDocument) -> str:
    return "ok" if doc.digest_ok else "unchecked" if doc.digest_ok is None else "WRONG"


def delivers_rows(docs: list[ResultDocument]) -> list[list[str]]:
    """Per contender: workers, then throughput and latency, medians over trials with their spread."""
    rows = []
    for doc in docs:
        head = [label(doc), str(doc.workers)]
        if not doc.valid:
            rows.append(head + ["-"] * len(DELIVERS))
            continue
        floor = judgement.at_floor(doc)
        rows.append(head + [_cell(doc, c, floor) for c in DELIVERS])
    return rows


def costs_rows(docs: list[ResultDocument]) -> list[list[str]]:
    """Per contender: model, digest, CPU and context switches per event (medians), allocations per event, setup."""
    rows = []
    for doc in docs:
        head = [label(doc), model_of(doc), _digest_cell(doc)]
        if not doc.valid:
            rows.append(head + ["-"] * (len(COSTS) + 2))
            continue
        cells = [_cell(doc, c, {}) for c in COSTS]
        rows.append(head + cells + [_allocations_cell(doc), _seconds(doc.setup_s)])
    return rows


# Where the handling threads' time went (harness.threads): shares of it, medians over trials.
TIME = (("on CPU", "threads.on_cpu"), ("waiting for CPU", "threads.runnable"), ("blocked", "threads.blocked"))


def share(value: float | None) -> str:
    """A share of time as a percentage: ``38 %``."""
    return "-" if value is None else f"{value * 100:.0f} %"


def _share_cell(doc: ResultDocument, name: str) -> str:
    """A share's median, with the half-width of its 95 % interval in percentage points."""
    ci = doc.intervals.get(name)
    if ci is None:
        return "-"
    half = max(ci.high - ci.point, ci.point - ci.low) * 100 if ci.n > 1 else None
    return share(ci.point) + ("" if half is None else f" ±{half:.0f}")


def _handling_threads(doc: ResultDocument) -> int | None:
    """How many threads handled events (the same in every trial of a run)."""
    shares = doc.trials_or_run()[0].shares
    return shares.threads if shares else None


def _threads_unseen(doc: ResultDocument) -> bool:
    """Whether the threads read in some trial spent under 80 % of the CPU time the process tree
    did (above a millisecond): the rest went to threads born and ended inside the window."""
    for t in doc.trials_or_run():
        seen = sum(thread.on_cpu_s for thread in t.threads or ())
        if t.threads is not None and t.cpu_s is not None and t.cpu_s > 1e-3 and seen < 0.8 * t.cpu_s:
            return True
    return False


def time_rows(docs: list[ResultDocument]) -> list[list[str]]:
    """Per contender: its handling threads, and their time on a CPU, waiting for one, and blocked."""
    rows = []
    for doc in docs:
        threads = _handling_threads(doc)
        head = [label(doc), "-" if threads is None else str(threads)]
        rows.append(head + [_share_cell(doc, name) if doc.valid else "-" for _, name in TIME])
    return rows


def parts_rows(docs: list[ResultDocument]) -> list[list[str]]:
    """Per contender: workers, then its latency's parts (medians over trials with their spread);
    ``-`` where it recorded no starts, or was wrong."""
    rows = []
    for doc in docs:
        head = [label(doc), str(doc.workers)]
        rows.append(head + [_cell(doc, c, {}) if doc.valid else "-" for c in PARTS_COLUMNS])
    return rows


DELIVERS_HEADERS = ["contender", "w", *(c.header for c in DELIVERS)]
TIME_HEADERS = ["contender", "threads", *(header for header, _ in TIME)]
PARTS_HEADERS = ["contender", "w", *(c.header for c in PARTS_COLUMNS)]
COSTS_HEADERS = ["contender", "model", "digest", *(c.header for c in COSTS), "allocs/event", "setup"]
_LEFT = {"contender", "w", "digest", "model"}

# The order in which models are shown: from one loop, through the ways around the GIL, to native
# code; then the machine's floor. A plugin's own model comes after these, by name.
MODELS = ("sequential", "threads", "event loop", "processes", "native", "floor")


def label(doc: ResultDocument) -> str:
    """The contender's name, marked where it ran on a Python without the GIL (nox -s freethreaded)."""
    free_threaded = doc.metadata.get("gil_enabled") is False
    return f"{doc.implementation} (no GIL)" if free_threaded else doc.implementation


def model_of(doc: ResultDocument) -> str:
    """The contender's model; documents before schema 3 did not record it."""
    return doc.model or "-"


def _model_rank(doc: ResultDocument) -> tuple[int, str]:
    model = model_of(doc)
    return (MODELS.index(model), "") if model in MODELS else (len(MODELS), model)


FIGURE_NAMES = {c.figure: c.header for c in DELIVERS + COSTS} | {"latency_ns.p90": PERCENTILE_HEADERS["p90"]}


def ratio_text(ci: Interval) -> str:
    """A ratio and its interval, worded for people: ``0.66x [0.55–0.80]``."""
    return f"{ci.point:.3g}x [{ci.low:.3g}–{ci.high:.3g}]"


# What a handling thread can wait for, as the diagnosis pass names it (harness.diagnosis.BUCKETS).
WAITS = (("gil", "GIL"), ("lock", "lock"), ("queue", "queue"), ("sleeping", "sleeping"), ("other", "elsewhere"))


def why(doc: ResultDocument) -> str | None:
    """Why a design did what it did, from its own figures: where its handling threads' time went
    (on a CPU, waiting for one, blocked), what the blocked time was (the diagnosis pass's
    buckets, where it ran), and whether its tail latency is queueing or handling (its waiting and
    service p99, where it recorded starts). None where none of these was measured."""
    out = []
    threads = _handling_threads(doc)
    shares = {name: doc.intervals[name].point for name in SHARES if name in doc.intervals}
    if _threads_unseen(doc):
        out.append("its handling thread started and ended inside the window: its time was not read")
    elif threads and len(shares) == len(SHARES):
        who = "its thread" if threads == 1 else f"its {threads} handling threads"
        blocked = f"blocked {share(shares['threads.blocked'])}"
        found = doc.diagnosis.shares if doc.diagnosis and not doc.diagnosis.unavailable else {}
        waits = [f"{name} {share(found[bucket])}" for bucket, name in WAITS if found.get(bucket, 0) >= 0.01]
        if waits:  # the sampler's shares are of all their time, as the kernel's are
            blocked += f" (the sampler: {', '.join(waits)} of their time)"
        out.append(f"{who}: on CPU {share(shares['threads.on_cpu'])}, waiting for CPU "
                   f"{share(shares['threads.runnable'])}, {blocked}")  # fmt: skip
    if doc.waiting_ns and doc.service_ns:
        wait, service = doc.waiting_ns.p99, doc.service_ns.p99
        kind = "queueing" if wait > 2 * service else "handling" if service > 2 * wait else "both"
        out.append(f"p99 is {kind}: waiting p99 {duration_ns(wait)}, service p99 {duration_ns(service)}")
    return "; ".join(out) or None


def story_parts(docs: list[ResultDocument], baseline: ResultDocument | None) -> list[tuple[str, list[str]]]:
    """Per contender against the baseline, from the ratios' intervals, never from points alone: its
    name and what is better, worse and not clearly different ("better p50 0.13x [0.12–0.14]"),
    then allocations per event, then why (:func:`why`). Wrong runs say so instead. The baseline
    comes first, with its own why, for the others to be read against."""
    if not baseline or not baseline.valid:
        return []
    reason = why(baseline)
    out = [(label(baseline), [f"the baseline; why: {reason}"])] if reason else []
    for doc in docs:
        if doc is baseline or model_of(doc) == "floor":
            continue
        if not doc.valid:
            out.append((label(doc), ["wrong, no figures"]))
            continue
        found = judgement.compare_figures(doc, baseline)
        if not judgement.same_comparison(doc, baseline):
            parts = [f"not from the same compare run as {label(baseline)}: its trials pair with none, no verdict"]
        elif not found:
            parts = ["no figure to compare (no events)"]
        elif not any(j.decided for j in found):
            n = min(len(judgement.trials_of(doc)), len(judgement.trials_of(baseline)))
            points = ", ".join(f"{FIGURE_NAMES[j.figure]} {j.ratio.point:.3g}x" for j in found if j.ratio)
            parts = [f"{n} trial{'s' if n > 1 else ''}, too few for a verdict: {points}"]
        else:
            parts = [
                f"{word}: {', '.join(_judged(j) for j in found if j.verdict == word)}"
                for word in (stats.BETTER, stats.WORSE, stats.UNCLEAR, judgement.NOT_COMPARABLE)
                if any(j.verdict == word for j in found)
            ]
        mine, theirs = doc.allocations_per_event, baseline.allocations_per_event
        if mine is not None and theirs is not None:
            parts.append(f"allocations/event {percent(percent_change(mine, theirs))}")
        reason = why(doc)
        if reason:
            parts.append(f"why: {reason}")
        out.append((label(doc), parts))
    return out


def story(docs: list[ResultDocument], baseline: ResultDocument | None) -> list[str]:
    """:func:`story_parts` as one line per contender (markdown's list)."""
    return [f"{name}: " + "; ".join(parts) for name, parts in story_parts(docs, baseline)]


def _judged(j: judgement.FigureJudgement) -> str:
    name = FIGURE_NAMES[j.figure]
    return (
        name
        if j.verdict in (stats.UNCLEAR, judgement.NOT_COMPARABLE) or j.ratio is None
        else (f"{name} {ratio_text(j.ratio)}")
    )


def _shown(headers: list[str], rows: list[list[str]]) -> list[int]:
    """Closed-loop runs have no latency: leave out the columns no row has a value in."""
    return [i for i, h in enumerate(headers) if h in _LEFT or any(row[i] != "-" for row in rows)]


def tables(docs: list[ResultDocument]) -> list[tuple[str, list[str], list[list[str]]]]:
    """The comparison's tables (what each delivers, what it costs, where its handling threads' time
    went, its latency's parts): (caption, headers, rows), the columns without values left out, and
    a table without any value (documents before schema 7) left out."""
    out = []
    for caption, headers, rows in (
        (
            f"delivers (median over trials ±half its {_interval_level(docs)} interval)",
            DELIVERS_HEADERS,
            delivers_rows(docs),
        ),
        ("costs", COSTS_HEADERS, costs_rows(docs)),
        ("where the handling threads' time went (share of it in the window; ± points)", TIME_HEADERS, time_rows(docs)),
        (
            "where the latency went: waiting (start of handling - intended arrival) and service (done - start)",
            PARTS_HEADERS,
            parts_rows(docs),
        ),
    ):
        if headers is TIME_HEADERS and all(cell == "-" for row in rows for cell in row[2:]):
            continue  # no thread was read (not Linux, documents before schema 7): no table
        shown = _shown(headers, rows)
        if headers is PARTS_HEADERS and len(shown) == len(_LEFT & set(headers)):
            continue  # no contender recorded starts (or documents before schema 7): no such table
        out.append((caption, [headers[i] for i in shown], [[row[i] for i in shown] for row in rows]))
    return out


def _interval_level(docs: list[ResultDocument]) -> str:
    """The coverage the ± spreads have: 95 %, or less where there were too few trials to reach it."""
    levels = [ci.confidence for d in docs for ci in d.intervals.values() if ci.n > 1]
    lowest = min(levels, default=0.95)
    return "95 %" if lowest >= 0.95 else f"{lowest:.0%} (too few trials for 95 %)".replace("%", " %", 1)


def table_notes(docs: list[ResultDocument]) -> list[str]:
    """What the tables' marks mean, and the machine's own floor, where the documents hold one."""
    lines = []
    valid = [d for d in docs if d.valid and model_of(d) != "floor"]
    floors = [judgement.at_floor(d) for d in valid]
    if any(any(f.values()) for f in floors):
        lines.append(f"{FLOOR_MARK} at the machine's floor: not told apart from the latency of pacing alone")
    held_floor = [d.floor.trials if d.floor else () for d in valid]
    if any(trials and not decided for trials, decided in zip(held_floor, floors, strict=True)):
        lines.append("some latencies not compared with the floor: too few trials to tell")
    unmeasured = next((d.comparison.floor_unavailable for d in docs if d.comparison), None)
    if unmeasured:
        lines.append(f"no machine floor in this run: {unmeasured}")
    unrecorded = [label(d) for d in docs if d.valid and d.starts_recorded is False]
    if unrecorded and any(d.starts_recorded for d in docs):
        lines.append(
            f"waiting and service not recorded for {', '.join(unrecorded)}: "
            "its run() takes no start_ns (ContenderInfo.records_start)"
        )
    if any(d.valid and d.starts_recorded and d.mode == "closed" for d in docs):
        lines.append("closed loop: every event is due at t0, so waiting is its place in the stream: not shown")
    fewer = sorted({n for n in map(_counted_fewer, docs) if n is not None})
    if fewer:
        counts = " or ".join(f"{n:,}" for n in fewer)
        lines.append(f"† allocations counted over the first {counts} events, in a separate, untimed pass")
    unseen = [label(d) for d in docs if d.valid and _threads_unseen(d)]
    if unseen:
        lines.append(
            f"{', '.join(unseen)}: most of the CPU time was spent by threads the kernel no longer listed when "
            "the window closed (started and ended inside it): the time shares leave them out"
        )
    ended = [label(d) for d in docs if any(t.threads_ended for t in d.trials_or_run())]
    if ended:
        lines.append(
            f"threads ended inside the window ({', '.join(ended)}): their time is lost with them, and not in the shares"
        )
    floor = next((d.floor for d in docs if d.floor), None)
    jitter = floor.jitter if floor else None
    if jitter:
        gaps = jitter.gaps_ns
        lines.append(
            f"machine: a thread that only reads the clock saw gaps of p50 {duration_ns(gaps.p50)}, "
            f"p99 {duration_ns(gaps.p99)}, max {duration_ns(gaps.max)} "
            f"({jitter.over_100us_per_s:.3g} a second over 100 µs)"
        )
    return lines


def print_comparison(title: str, docs: list[ResultDocument], baseline: ResultDocument | None) -> None:
    from rich import box
    from rich.console import Console  # lazy: keeps `eventbench --help` fast
    from rich.table import Table

    console = Console(width=max(TERMINAL_WIDTH, Console().width))
    console.print(title, highlight=False)
    for i, (caption, headers, rows) in enumerate(tables(docs)):
        console.print(("\n" if i else "") + caption, highlight=False)
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
        for header in headers:
            table.add_column(header, justify="left" if header in _LEFT else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    for line in table_notes(docs):
        console.print(textwrap.fill(line, console.width - 1, subsequent_indent="  "), highlight=False, markup=False)
    for doc in docs:
        for failure in doc.failures:
            console.print(f"[bold red]{doc.implementation}[/] (workers {doc.workers}): {failure}")
    parts = story_parts(docs, baseline)
    if parts and baseline:
        console.print(
            f"against {baseline.implementation} (ratio [interval]; {_family_note(docs)}):",
            highlight=False,
            markup=False,
        )
        width = max(len(name) for name, _ in parts)
        for name, lines in parts:
            for i, line in enumerate(lines):
                first = f"  {name if i == 0 else '':<{width}}  "
                wrapped = textwrap.fill(line, console.width - 1, initial_indent=first,
                                        subsequent_indent=" " * (len(first) + 2))  # fmt: skip
                console.print(wrapped, highlight=False, markup=False)


def _family_note(docs: list[ResultDocument]) -> str:
    n = min(len(judgement.trials_of(d)) for d in docs)
    return f"{n} trial{'s' if n > 1 else ''} each, every figure judged together at 95 %"


def run_summary(doc: ResultDocument) -> str:
    """A few lines for ``eventbench run``."""
    head = f"{doc.implementation} · workers {doc.workers} · {doc.mode} loop · {doc.events} events"
    lines = [head, f"  digest      {doc.digest}" + _digest_note(doc)]
    if not doc.valid:
        lines.append("  WRONG: this run has no figures")
        lines += [f"    {failure}" for failure in doc.failures]
        return "\n".join(lines)
    lines.append(f"  wall        {doc.wall_s:.3f} s   throughput {si(doc.throughput_eps, ' events/s')}")
    if doc.latency_ns:
        lat = doc.latency_ns
        lines.append("  latency     " + "  ".join(f"{p} {duration_ns(lat.value(p))}" for p in PERCENTILE_NAMES))
    for name, part in (("waiting", doc.waiting_ns), ("service", doc.service_ns)):
        if part:
            lines.append(f"  {name:11} " + "  ".join(f"{p} {duration_ns(part.value(p))}" for p in PERCENTILE_NAMES))
    if doc.starts_recorded is False:
        lines.append("  waiting and service not recorded: its run() takes no start_ns")
    if doc.cpu_s_per_event is not None:
        lines.append(
            f"  CPU/event   {duration_ns(doc.cpu_s_per_event * 1e9)}   "
            f"context switches/event {doc.ctx_switches_per_event:.3g}"
        )
    shares = doc.trials_or_run()[0].shares
    if shares:
        lines.append(
            f"  threads     {shares.threads} handling: on CPU {share(shares.on_cpu)}, waiting for CPU "
            f"{share(shares.runnable)}, blocked {share(shares.blocked)} of their time"
        )
    counted = doc.allocations
    if counted:
        covered = f"first {counted.events}" if _counted_fewer(doc) else f"all {counted.events}"
        lines.append(
            f"  allocs/event {allocations(counted.per_event)}   retained/event "
            f"{allocations(counted.retained_per_event)}   ({covered} events, separate pass)"
        )
        if counted.crate_counter is not None:
            lines.append(
                f"  cross-check  memray saw {counted.native_library - counted.outside_global_allocator} "
                f"allocations by the native library, its own counter {counted.crate_counter}"
            )
    return "\n".join(lines)


def _digest_note(doc: ResultDocument) -> str:
    if doc.digest_ok is None:
        return "  (not checked against the reference)"
    return "  (matches the reference)" if doc.digest_ok else f"  (reference: {doc.reference_digest})"


def bench_summary(medians: dict[str, Interval]) -> str:
    """``eventbench bench``'s closing lines: per benchmark, seconds per event as median [95 % interval]."""
    lines = ["seconds per event, median over pyperf's values [95 % interval of the median] (benchmarks ran one "
             "after another, not interleaved: for verdicts between contenders, use compare)"]  # fmt: skip
    width = max((len(name) for name in medians), default=0)
    for name, ci in medians.items():
        level = "" if ci.confidence >= 0.95 else f" ({ci.confidence:.0%} interval: {ci.n} values)"
        lines.append(
            f"  {name:<{width}}  {duration_ns(ci.point * 1e9)} [{duration_ns(ci.low * 1e9)}–"
            f"{duration_ns(ci.high * 1e9)}]{level}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- sweeps

_SWEEP_COLUMNS = (("offered/s", 10), ("achieved/s", 11), ("p50", 9), ("p99 [95 % interval]", 27),
                  ("p99.9", 9), ("max", 9), ("floor p99", 10), ("objective", 10))  # fmt: skip


def sweep_header() -> str:
    return "  " + "".join(f"{c:>{w}}" for c, w in _SWEEP_COLUMNS)


def sweep_cells(doc: ResultDocument, objective_ns: int) -> list[str]:
    """A point's cells under :data:`_SWEEP_COLUMNS` (medians over its trials); a p99 not clearly above
    its floor's is marked ``*``. A wrong point has its rate, ``WRONG`` and its failures."""
    offered = si(settings(doc).offered_eps)
    if not doc.valid:
        return [offered, "WRONG", "; ".join(doc.failures)]
    lat = doc.latency_ns
    point = SweepPoint.of(doc)
    p99 = duration_ns(lat.p99 if lat else None)
    if point.p99_ns is not None and point.p99_ns.n > 1:
        p99 += f" [{duration_ns(point.p99_ns.low)}–{duration_ns(point.p99_ns.high)}]"
    p99 += FLOOR_MARK if judgement.at_floor(doc).get("latency_ns.p99") else " "
    floor = duration_ns(judgement.floor_p99(doc))
    p50, p999, most = (duration_ns(lat.value(p) if lat else None) for p in ("p50", "p999", "max"))
    return [offered, si(doc.throughput_eps), p50, p99, p999, most, floor, point.decision(objective_ns)]


def sweep_row(doc: ResultDocument, objective_ns: int) -> str:
    """One line per point, printed as the point finishes: a live table in plain text."""
    cells = sweep_cells(doc, objective_ns)
    if not doc.valid:
        widths = [w for _, w in _SWEEP_COLUMNS]
        return f"  {cells[0]:>{widths[0]}}{cells[1]:>{widths[1]}}  {cells[2]}"
    return "  " + "".join(f"{c:>{w}}" for c, (_, w) in zip(cells, _SWEEP_COLUMNS, strict=True))


def sweep_markdown(docs: list[ResultDocument]) -> list[str]:
    """A stored sweep's points as a markdown table."""
    objective = _objective(docs)
    out = ["| " + " | ".join(h for h, _ in _SWEEP_COLUMNS) + " |", "|" + "---:|" * len(_SWEEP_COLUMNS)]
    for doc in docs:
        cells = [c.strip().replace(FLOOR_MARK, "\\" + FLOOR_MARK) for c in sweep_cells(doc, objective)]
        out.append("| " + " | ".join(cells + [""] * (len(_SWEEP_COLUMNS) - len(cells))) + " |")
    return out


def _objective(docs: list[ResultDocument]) -> int:
    """A stored sweep's objective (its first point's: every point of a sweep has the same)."""
    return round(settings(docs[0]).objective_p99_ns)


def _offered(doc: ResultDocument) -> float:
    return settings(doc).offered_eps


def sweep_verdict(name: str, sustained: float | None, objective_ns: int, docs: list[ResultDocument]) -> str:
    objective = f"p99 ≤ {duration_ns(objective_ns)}"
    if not any(d.valid for d in docs):
        return f"{name} failed its checks at every rate tried: wrong, no figures"
    if sustained is None:
        lowest = min(docs, key=_offered)
        first = SweepPoint.of(lowest)
        if not any(SweepPoint.of(d).meets(objective_ns) for d in docs):
            return f"{name} did not meet {objective} at any rate tried (lowest {si(first.offered_eps)}/s)" + (
                _at_the_floor(lowest)
            )
        how = first.decision(objective_ns).lower() if first.valid else "wrong"
        return (f"{name} sustains no rate with {objective}: at {si(first.offered_eps)}/s, the lowest, {how}"
                f"{_at_the_floor(lowest)}; a rate met above one not met does not count")  # fmt: skip
    if sustained >= max(map(_offered, docs)):
        return f"{name} sustains at least {si(sustained)} events/s with {objective} (the highest rate tried: no knee)"
    knee = min((SweepPoint.of(d) for d in docs if _offered(d) > sustained), key=lambda p: p.offered_eps)
    knee_doc = next(d for d in docs if _offered(d) == knee.offered_eps)
    how = knee.decision(objective_ns).lower() if knee.valid else "wrong"
    return f"{name} sustains {si(sustained)} events/s with {objective}; at {si(knee.offered_eps)}/s: {how}" + (
        _at_the_floor(knee_doc)
    )


def sweep_notes(docs: list[ResultDocument]) -> list[str]:
    """What the table's marks and gaps mean, where they occur: the ``*`` mark, points of one run
    (stored before sweeps ran trials), floors too few trials could not judge or that failed."""
    valid = [d for d in docs if d.valid]
    notes = []
    if any(judgement.at_floor(d).get("latency_ns.p99") for d in valid):
        notes.append(
            f"{FLOOR_MARK} p99 not clearly above the floor's (same rounds): the machine, not the contender, sets it"
        )
    if any(SweepPoint.of(d).one_run for d in docs):
        notes.append("each point is one run (a sweep stored before points ran trials): no interval, decided by its p99")
    floors = [d.floor.trials if d.floor else () for d in valid]
    if any(f and all(t.valid for t in f) and "latency_ns.p99" not in judgement.at_floor(d)
           for d, f in zip(valid, floors, strict=True)):  # fmt: skip
        notes.append("some p99s not compared with the floor: too few trials to tell")
    failed = sum(1 for f in floors for t in f if not t.valid)
    if failed:
        notes.append(f"the floor failed its checks in {failed} trial(s): those points are not compared with it")
    return notes


def _at_the_floor(doc: ResultDocument) -> str:
    """Where a point's p99 cannot be told from its floor's: the machine, not the contender, set it."""
    if not doc.floor or not judgement.at_floor(doc).get("latency_ns.p99"):
        return ""
    return f", at the machine's floor ({doc.floor.name} p99 {duration_ns(judgement.floor_p99(doc))})"


# ---------------------------------------------------------------- reports of stored documents


def soak_summary(result: SoakResult) -> str:
    """The soak run by tenths, its memory and its verdict, as lines for the terminal."""
    mib = 1024 * 1024
    lines = [
        f"soak · {result.implementation} · {result.workers} worker(s) · {result.workload} · "
        f"{result.total_events:,} events in {len(result.rounds)} rounds of {result.events_per_round:,}, "
        f"the first {len(result.warmup)} warm-up",
        f"{'tenth':>5}  {'throughput, median [95 % interval]':>36}  {'CPU/event, median [95 % interval]':>36}"
        f"  {'RSS at its end':>14}",
    ]
    rows = zip(result.tenths(), result.tenth_intervals("throughput_eps"), result.tenth_intervals("cpu_s_per_event"),
               strict=True)  # fmt: skip
    for t, (tenth, throughput, cpu) in enumerate(rows, 1):
        rate = f"{si(throughput.point)} [{si(throughput.low)}–{si(throughput.high)}] events/s"
        per_event = f"{duration_ns(cpu.point * 1e9)} [{duration_ns(cpu.low * 1e9)}–{duration_ns(cpu.high * 1e9)}]"
        level = "" if min(throughput.confidence, cpu.confidence) >= 0.95 else f"  ({len(tenth)} rounds: <95 %)"
        lines.append(f"{t:>5}  {rate:>36}  {per_event:>36}  {tenth[-1].rss_bytes / mib:>10.1f} MiB{level}")
    growth_ok = "ok" if result.rss_growth < MAX_RSS_GROWTH else "GROWING"
    lines.append(
        f"memory: {result.rss_after_warmup / mib:.1f} MiB after warm-up, "
        f"{result.rss_at_end / mib:.1f} MiB at the end: {result.rss_growth:+.2%} "
        f"(limit {MAX_RSS_GROWTH:+.0%}) {growth_ok}"
    )
    for v in result.figure_verdicts():
        verdict = "within noise" if v.steady else "BEYOND NOISE"
        lines.append(f"{v.name}: last tenth {v.change:+.2%} against the first; noise {v.noise:.2%}: {verdict}")
    lines.append("steady" if result.steady else "NOT steady")
    return "\n".join(lines)


def group_key(doc: ResultDocument) -> tuple[str, str, int]:
    """Documents are compared within one input, mode and size: ``(workload, mode, events)``."""
    source = doc.workload.get("name") or Path(str(doc.workload.get("file", "?"))).stem
    return (str(source), doc.mode, doc.events)


def group_title(key: tuple[str, str, int], baseline: ResultDocument | None) -> str:
    workload, mode, events = key
    against = f" · ratios against {baseline.implementation}" if baseline else ""
    return f"{workload} · {events} events · {mode} loop{against}"


def pick_baseline(docs: list[ResultDocument], preferred: str) -> ResultDocument | None:
    named = [d for d in docs if d.implementation == preferred]
    # the usual build's run where a free-threaded one sits beside it
    named.sort(key=lambda d: d.metadata.get("gil_enabled") is False)
    return named[0] if named else docs[0] if docs else None


_PLURAL = {"machine": "machines", "toolchain": "toolchains", "code": "commits"}


def comparability_notes(docs: list[ResultDocument]) -> list[str]:
    """Says so when documents come from different machines, toolchains or commits."""
    found = metadata.differences([dict(d.metadata) for d in docs])
    notes = []
    for concern, fields in found.items():
        detail = "; ".join(f"{name}: {' vs '.join(values)}" for name, values in fields.items())
        warning = "figures are not comparable like for like" if concern == "machine" else "compare with care"
        notes.append(f"different {_PLURAL[concern]} ({detail}): {warning}")
    return notes


def markdown_table(docs: list[ResultDocument]) -> str:
    """The comparison's tables as markdown, each under its caption."""
    out = []
    for caption, headers, rows in tables(docs):
        out += [f"*{caption}*", ""]
        out.append("| " + " | ".join(headers) + " |")
        out.append("|" + "|".join("---" if h in _LEFT else "---:" for h in headers) + "|")
        out += ["| " + " | ".join(row) + " |" for row in rows]
        out.append("")
    return "\n".join(out).rstrip()


def diagnosis_markdown(docs: list[ResultDocument], flames: Mapping[str, str]) -> list[str]:
    """The diagnosis pass's table, where it ran: per contender, its handling threads' shares of
    samples (of time, for the native engine's threads, which perf measures), and its flame graph
    (``flames``: contender -> the SVG's path from the report)."""
    found = [d for d in docs if d.diagnosis]
    if not found:
        return []
    buckets = ("handling", *(bucket for bucket, _ in WAITS))
    out = ["*where the handling threads' time goes: the diagnosis pass (sampled, untimed runs after the "
           "trials; shares of the handling threads' samples, or of their time where perf measured it)*", "",
           "| contender | measured by | samples | " + " | ".join(buckets) + " | flame graph |",
           "|---|---|" + "---:|" * (len(buckets) + 1) + "---|"]  # fmt: skip
    for doc in found:
        a = doc.diagnosis
        assert a is not None
        tool = a.method.split()[0]
        flame = f"[{doc.implementation}.svg]({flames[doc.implementation]})" if doc.implementation in flames else "-"
        if a.unavailable:
            out.append(f"| {label(doc)} | {tool} | not measured: {a.unavailable} |" + " |" * len(buckets) + " - |")
            continue
        amount = f"{a.samples / 1000:.0f} ms" if tool == "perf" else str(a.samples)
        cells = [f"{100 * a.shares.get(b, 0.0):.1f} %" for b in buckets]
        out.append(f"| {label(doc)} | {tool} | {amount} | " + " | ".join(cells) + f" | {flame} |")
    return [*out, ""]


def markdown(
    groups: dict[tuple[str, str, int], list[ResultDocument]],
    baseline_name: str,
    notes: list[str],
    sweeps: dict[str, list[ResultDocument]],
    images: dict[str, list[str]],
    flames: Mapping[str, str] | None = None,
) -> str:
    """The whole report as markdown, ready to paste into a pull request. ``images``: section -> file
    names; ``flames``: contender -> its flame graph's path, where the diagnosis pass drew one."""
    every = [d for docs in [*groups.values(), *sweeps.values()] for d in docs]
    scenario = every[0].scenario
    out = ["# eventbench report", "", f"Scenario: **{scenario.name}** (version {scenario.version}).", ""]
    out += [f"> **Note:** {note}" for note in notes] + ([""] if notes else [])
    for key, docs in groups.items():
        baseline = pick_baseline(docs, baseline_name)
        out += [f"## {group_title(key, baseline)}", "", markdown_table(docs), ""]
        out += [f"{line}  " for line in table_notes(docs)] + ([""] if table_notes(docs) else [])
        out += [f"- {line}" for line in story(docs, baseline)]
        out += [""] + [f"![{image}]({image})" for image in images.get(_slug(key), [])] + [""]
        out += diagnosis_markdown(docs, flames or {})
    if sweeps:
        out += ["## latency against load", ""]
        for label, docs in sweeps.items():
            out += [f"**{label}**", "", *sweep_markdown(docs), "", f"- {sweep_verdict_of(label, docs)}", ""]
        notes_md = [note.replace(FLOOR_MARK, "\\" + FLOOR_MARK, 1) for note in sweep_notes(
            [d for docs in sweeps.values() for d in docs])]  # fmt: skip
        out += [f"- {note}" for note in notes_md]  # the mark escaped: "- *" would start a nested list
        out += [""] + [f"![{image}]({image})" for image in images.get("sweeps", [])] + [""]
    meta = every[0].metadata
    commits = ", ".join(sorted({str(d.metadata.get("commit")) for d in every}))
    out.append(
        f"<sub>commit{'s' if ',' in commits else ''} {commits} · Python {meta.get('python')} · "
        f"Rust {meta.get('rust')} · "
        f"{meta.get('cpu_model')} ({meta.get('cpu_count')} CPUs) · {meta.get('host')}</sub>"
    )
    return "\n".join(out).rstrip() + "\n"


def sustained_of(docs: list[ResultDocument]) -> float | None:
    """The sustained rate of one sweep's documents (the deciding attempt at each rate)."""
    return sustained_rate([SweepPoint.of(d) for d in deciding(docs)], _objective(docs))


def sweep_verdict_of(label: str, docs: list[ResultDocument]) -> str:
    """The verdict of one stored sweep (its objective is in its documents)."""
    return sweep_verdict(label, sustained_of(docs), _objective(docs), docs)


def _slug(key: tuple[str, str, int]) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{key[0]}-{key[1]}-{key[2]}")


def split_documents(
    docs: list[ResultDocument],
) -> tuple[dict[tuple[str, str, int], list[ResultDocument]], dict[str, list[ResultDocument]]]:
    """Runs grouped by :func:`group_key`, and sweep points by contender (and workload)."""
    groups: dict[tuple[str, str, int], list[ResultDocument]] = defaultdict(list)
    sweeps: dict[str, list[ResultDocument]] = defaultdict(list)
    for doc in docs:
        if doc.sweep:
            sweeps[f"{doc.implementation} (w{doc.workers}, {group_key(doc)[0]})"].append(doc)
        else:
            groups[group_key(doc)].append(doc)
    return dict(groups), {label: deciding(points) for label, points in sweeps.items()}


def ordered(docs: list[ResultDocument], baseline_name: str) -> list[ResultDocument]:
    """Grouped by model (in :data:`MODELS` order), the baseline first within its model, then by
    name and worker count: the same order however files were found."""
    return sorted(docs, key=lambda d: (_model_rank(d), d.implementation != baseline_name, label(d), d.workers))


def timelines(docs: list[ResultDocument], problems: list[InvalidInput] | None) -> dict[str, Series]:
    """Each contender's latency over time (floors left out: their logs are kept, but a floor
    handles nothing), by label; a log that cannot be read is left out and put in ``problems``."""
    out = {}
    for doc in docs:
        if doc.model == "floor" or not doc.valid:
            continue
        try:
            found = timeline_series(doc)
        except InvalidInput as e:
            if problems is None:
                raise
            problems.append(e)
            continue
        if found is not None:
            name = f"{label(doc)} (w{doc.workers})"
            # Two runs of one contender reported together (from two directories) each get a panel.
            out[name if name not in out else f"{name} · {Path(doc.origin).parent.name}"] = found
    return out


def build(
    docs: list[ResultDocument], out_dir: Path, baseline_name: str, with_plots: bool = True, print_tables: bool = True,
    problems: list[InvalidInput] | None = None,
) -> list[Path]:  # fmt: skip
    """Prints the tables and writes ``report.md`` and the plots into ``out_dir``; returns the files
    written. A timeline log that cannot be read goes into ``problems`` (where given; else it is
    raised), and the rest is reported without it."""
    from protocol.storage import atomic_write_text

    one_scenario(docs)
    groups, sweeps = split_documents(docs)
    groups = {key: ordered(group, baseline_name) for key, group in groups.items()}
    notes = comparability_notes(docs)
    for note in notes if print_tables else ():
        print(f"note: {note}")
    written: list[Path] = []
    images: dict[str, list[str]] = {}
    for key, group in groups.items():
        baseline = pick_baseline(group, baseline_name)
        if print_tables:
            print_comparison(group_title(key, baseline), group, baseline)
        if not with_plots:
            continue
        slug = _slug(key)
        title = group_title(key, None)
        files = plots.throughput_and_allocations(group, title, out_dir, f"{slug}-throughput-allocations")
        if any(d.valid and d.latency_ns for d in group):
            files = plots.latency_spectrum(group, title, out_dir, f"{slug}-latency-spectrum") + files
        over_time = timelines(group, problems)
        if over_time:
            files += plots.latency_over_time(over_time, title, out_dir, f"{slug}-latency-over-time")
        written += files
        images[slug] = [f.name for f in files if f.suffix == ".svg"]
    if sweeps:
        for label, points in sweeps.items() if print_tables else ():
            objective = _objective(points)
            print(f"{label} · objective p99 ≤ {duration_ns(objective)}")
            print("\n".join([sweep_header()] + [sweep_row(d, objective) for d in points]))
            for line in [*sweep_notes(points), sweep_verdict_of(label, points)]:
                print(textwrap.fill(line, TERMINAL_WIDTH - 1, subsequent_indent="  ", break_on_hyphens=False))
        if with_plots:
            files = plots.latency_against_load(sweeps, "latency against load (open loop)", out_dir, "latency-vs-load")
            written += files
            images["sweeps"] = [f.name for f in files if f.suffix == ".svg"]
    flames = {}
    for doc in docs:  # the diagnosis pass's SVGs, beside the documents (compare --diagnose)
        svg = Path(doc.source).parent / "diagnosis" / f"{doc.implementation}.svg" if doc.source else None
        if doc.diagnosis and svg and svg.is_file():
            flames[doc.implementation] = os.path.relpath(svg, out_dir)
    report_md = markdown(groups, baseline_name, notes, sweeps, images, flames)
    written.append(atomic_write_text(out_dir / "report.md", report_md))
    return written
