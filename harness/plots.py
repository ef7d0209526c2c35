"""Plots of result documents, with matplotlib: PNG for people, SVG for pages. Computes nothing.

Three figures, each written as ``NAME.png`` and ``NAME.svg``:

* the latency percentile spectrum (p50, p90, p99, p99.9, max; log scale), one line per contender
  (the medians over trials), with a band for each percentile's 95 % interval;
* throughput and allocations per event side by side, one bar per contender, throughput with
  its interval as an error bar;
* latency against load from sweeps: p50 and p99 (with its interval as an error bar) against
  achieved throughput, one line per contender, with the objective drawn across;
* latency over time: p50, p99 and max per interval of the run (``harness.timeline``), one panel
  per contender, the panels sharing both axes so that a stall or a warm-up lines up across them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from harness import judgement
from harness.document import ResultDocument
from harness.numbers import PERCENTILE_HEADERS, si
from harness.stats import PERCENTILE_NAMES
from harness.sweep import settings
from harness.timeline import PLOTTED as PLOTTED_PERCENTILES
from harness.timeline import Series
from protocol.storage import atomic_write_bytes


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window; works without a display
    import matplotlib.pyplot as plt

    return plt


def _label(doc: ResultDocument) -> str:
    return f"{doc.implementation} (w{doc.workers})"


def _save(fig: Any, out_dir: Path, name: str) -> list[Path]:
    """Writes NAME.png and NAME.svg atomically (rendered in memory, then renamed into place)."""
    import io

    written = []
    for fmt in ("png", "svg"):
        buffer = io.BytesIO()
        # Fixed metadata keeps the SVG byte-stable across runs (no date stamp).
        fig.savefig(buffer, format=fmt, dpi=120, bbox_inches="tight", metadata={"Date": None} if fmt == "svg" else None)
        written.append(atomic_write_bytes(out_dir / f"{name}.{fmt}", buffer.getvalue()))
    _pyplot().close(fig)
    return written


def _finish_latency_axes(ax: Any, xlabel: str, title: str) -> None:
    """Latency on a log axis, in µs, the same on every latency plot."""
    ax.set_yscale("log")
    ax.set_ylabel("latency from intended arrival (µs, log scale)")
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def _interval(doc: ResultDocument, figure: str) -> tuple[float, float] | None:
    """A figure's 95 % interval (low, high) where the document holds one over several trials."""
    ci = doc.intervals.get(figure)
    return (ci.low, ci.high) if ci and ci.n > 1 else None


def latency_spectrum(docs: list[ResultDocument], title: str, out_dir: Path, name: str) -> list[Path]:

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    labels = [PERCENTILE_HEADERS[p] for p in PERCENTILE_NAMES]
    for doc in docs:
        if doc.valid and doc.latency_ns:
            values = [doc.latency_ns.value(p) / 1000 for p in PERCENTILE_NAMES]
            floor = doc.model == "floor"
            (line,) = ax.plot(labels, values, marker="o", label=_label(doc), linestyle=":" if floor else "-")
            bands = [_interval(doc, f"latency_ns.{p}") for p in PERCENTILE_NAMES]
            if all(bands):
                low, high = zip(*(b for b in bands if b), strict=True)
                ax.fill_between(labels, [v / 1000 for v in low], [v / 1000 for v in high], color=line.get_color(),
                                alpha=0.12, linewidth=0)  # fmt: skip
    _finish_latency_axes(ax, "percentile of all events (median over trials, band: 95 % interval)", title)
    return _save(fig, out_dir, name)


LOG_THROUGHPUT_SPREAD = 20  # throughputs further apart than this are drawn on a log axis


def throughput_and_allocations(docs: list[ResultDocument], title: str, out_dir: Path, name: str) -> list[Path]:
    from matplotlib.ticker import EngFormatter

    plt = _pyplot()
    valid = [d for d in docs if d.valid and d.model != "floor"]  # floors handle nothing to count
    labels = [_label(d) for d in valid]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    rates = [d.throughput_eps or 0 for d in valid]
    spans = [_interval(d, "throughput_eps") or (r, r) for d, r in zip(valid, rates, strict=True)]
    errors = [[r - low for r, (low, _) in zip(rates, spans, strict=True)],
              [high - r for r, (_, high) in zip(rates, spans, strict=True)]]  # fmt: skip
    left.bar(labels, rates, color="tab:blue", yerr=errors, capsize=3, ecolor="black")
    left.set_title("throughput (median over trials, bar: 95 % interval)", fontsize=10)
    positive = [r for r in rates if r > 0]
    if positive and max(positive) > LOG_THROUGHPUT_SPREAD * min(positive):
        # Python and native contenders differ a hundredfold: on a linear axis the slower bars vanish.
        # Bars start at the decade below the slowest, so their heights are not cut at an arbitrary floor.
        left.set_yscale("log")
        left.set_ylim(bottom=10 ** math.floor(math.log10(min(positive))))
        left.set_ylabel("events/s (log scale, higher is better)")
    else:
        left.set_ylabel("events/s (higher is better)")
    left.yaxis.set_major_formatter(EngFormatter(sep=""))
    for i, rate in enumerate(rates):
        left.annotate(si(rate), (i, rate), ha="center", va="bottom", fontsize=8)
    allocs = [d.allocations_per_event for d in valid]
    right.bar(labels, [a if a is not None else 0 for a in allocs], color="tab:orange")
    right.set_yscale("symlog", linthresh=0.01)  # 0 stays visible beside hundreds
    right.set_ylabel("allocations per event (lower is better)")
    right.set_title("allocations", fontsize=10)
    for i, value in enumerate(allocs):
        text = "not counted" if value is None else f"{value:.3g}"
        right.annotate(text, (i, value or 0), ha="center", va="bottom", fontsize=8)
    for ax in (left, right):
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    return _save(fig, out_dir, name)


def _p99_spread_us(doc: ResultDocument) -> tuple[float, float]:
    """How far the p99 interval reaches below and above the median p99 (zero for one trial)."""
    ci = doc.intervals.get("latency_ns.p99")
    if not ci:
        return 0.0, 0.0
    return (ci.point - ci.low) / 1000, (ci.high - ci.point) / 1000


def latency_against_load(sweeps: dict[str, list[ResultDocument]], title: str, out_dir: Path, name: str) -> list[Path]:
    """``sweeps``: a contender's label -> its sweep's documents."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    objectives: set[float] = set()
    for label, docs in sweeps.items():
        points = sorted((d for d in docs if d.valid and d.latency_ns), key=lambda d: d.throughput_eps or 0)
        if not points:  # a wrong contender's sweep: its verdict says so, there is no curve to draw
            continue
        achieved = [d.throughput_eps or 0 for d in points]
        p99 = [d.latency_ns.p99 / 1000 for d in points if d.latency_ns]
        below, above = zip(*(_p99_spread_us(d) for d in points), strict=True)
        line, _, _ = ax.errorbar(achieved, p99, yerr=[below, above], marker="o", capsize=3,
                                 label=f"{label} p99" + (" [95 % interval]" if any(above) else ""))  # fmt: skip
        ax.plot(achieved, [d.latency_ns.p50 / 1000 for d in points if d.latency_ns], marker=".", linestyle="--",
                color=line.get_color(), label=f"{label} p50")  # fmt: skip
        floors = [(x, ns) for x, d in zip(achieved, points, strict=True) if (ns := judgement.floor_p99(d))]
        if floors:
            ax.plot([x for x, _ in floors], [ns / 1000 for _, ns in floors], marker="x", linestyle="-.",
                    color=line.get_color(), alpha=0.6, label=f"{label}: its floor's p99")  # fmt: skip
        objectives.update(settings(d).objective_p99_ns for d in docs)
    for objective in sorted(objectives):
        ax.axhline(objective / 1000, color="grey", linestyle=":", label=f"objective p99 ≤ {objective / 1000:g} µs")
    from matplotlib.ticker import EngFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(EngFormatter())  # 20k, not 2×10^4
    low, high = ax.get_xlim()
    if high < 10 * low:  # within one decade no major tick may show: label the minor ones
        ax.xaxis.set_minor_formatter(EngFormatter())
    _finish_latency_axes(ax, "achieved throughput (events/s, log scale)", title)
    return _save(fig, out_dir, name)


def _duration_label(us: float, _position: object = None) -> str:
    """A latency axis's tick, given in µs, as people say it: 500 µs, 2 ms, 1.5 s."""
    for factor, unit in ((1e6, "s"), (1e3, "ms"), (1.0, "µs")):
        if us >= factor:
            return f"{us / factor:g} {unit}"
    return f"{us * 1000:g} ns"


TIMELINE_STYLES = {"p50": ("tab:blue", "-", 1.2), "p99": ("tab:orange", "-", 1.4), "max": ("tab:red", ":", 1.0)}


def latency_over_time(series: dict[str, Series], title: str, out_dir: Path, name: str) -> list[Path]:
    """``series``: a contender's label -> its trials merged per interval. One panel each, in two
    columns past three, 2.2 inches tall: at the report's width each stays readable however many."""
    import numpy as np
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plt = _pyplot()
    labels = list(series)
    columns = 1 if len(labels) <= 3 else 2
    rows = math.ceil(len(labels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(7 * columns, 0.9 + 2.2 * rows), sharex=True, sharey=True,
                             squeeze=False, layout="constrained")  # fmt: skip
    for ax, label in zip(axes.flat, labels, strict=False):
        found = series[label]
        # An interval where nothing arrived (a burst's gap) breaks the lines rather than bridging it.
        starts = np.round(found.start_s * 1e9 / found.interval_ns).astype(np.int64)
        gaps = np.flatnonzero(np.diff(starts) > 1)
        x = np.insert(found.start_s + found.interval_ns / 2e9, gaps + 1, np.nan)
        for p in PLOTTED_PERCENTILES:
            color, style, width = TIMELINE_STYLES[p]
            y = np.insert(found.percentiles_ns[p] / 1000, gaps + 1, np.nan)
            ax.plot(x, y, color=color, linestyle=style, linewidth=width, label=PERCENTILE_HEADERS[p])
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(_duration_label))  # "10 ms", not 10^4 µs
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{label} · {found.trials} trial{'s' if found.trials > 1 else ''}", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.tick_params(labelsize=8)
    for ax in axes.flat[len(labels) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("latency (log scale)", fontsize=8)
    low, high = axes.flat[0].get_ylim()
    if high < 10 * low:  # within one decade no major tick may show: label the minor ones
        for ax in axes.flat:
            ax.yaxis.set_minor_formatter(FuncFormatter(_duration_label))
    for column in range(columns):  # the lowest panel shown in each column carries the time axis
        shown = [ax for ax in axes[:, column] if ax.get_visible()]
        shown[-1].set_xlabel("time since the run's start (s, by intended arrival)", fontsize=8)
        shown[-1].xaxis.set_tick_params(labelbottom=True)
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=3, fontsize=8)  # below the panels: covers no line
    interval_ms = {s.interval_ns / 1e6 for s in series.values()}
    per = " / ".join(f"{ms:g} ms" for ms in sorted(interval_ms))
    fig.suptitle(f"{title}\nlatency from intended arrival per {per} interval; each contender's trials merged per "
                 "interval (HdrHistogram, within 0.1 %)", fontsize=9)  # fmt: skip
    return _save(fig, out_dir, name)
