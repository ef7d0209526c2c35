"""Formatting: turns result documents into what people read. Computes nothing.

Every function here takes result documents (``harness.results``) and returns
text or prints it; the figures and ratios were computed elsewhere.
"""

from __future__ import annotations

from typing import Any

from harness.stats import percent_change, ratio


def si(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{prefix}{unit}"
    return f"{value:.3g}{unit}"


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


def percent(value: float | None) -> str:
    """A change worded for people: +12 %, −97 %, −0.4 % (a true minus sign)."""
    if value is None:
        return "n/a"
    digits = 0 if abs(value) >= 10 else 1
    text = f"{abs(value):.{digits}f}"
    if float(text) == 0:
        return "±0 %"
    return f"{'+' if value > 0 else '−'}{text} %"


def _latency(doc: dict[str, Any], name: str) -> float | None:
    latency = doc.get("latency_ns")
    return None if not latency else latency[name]


def comparison_rows(docs: list[dict[str, Any]], baseline: dict[str, Any] | None) -> list[list[str]]:
    """One row per result document; ratios are against ``baseline`` (throughput: higher is better)."""
    rows = []
    for doc in docs:
        if not doc["valid"]:
            rows.append([doc["implementation"], str(doc["workers"]), "WRONG"] + ["-"] * 8)
            continue
        tput = doc["throughput_eps"]
        base_tput = baseline["throughput_eps"] if baseline and baseline["valid"] else None
        p99 = _latency(doc, "p99")
        base_p99 = _latency(baseline, "p99") if baseline and baseline["valid"] else None
        tput_ratio, p99_ratio = ratio(tput, base_tput), ratio(p99, base_p99)
        cpu = doc["cpu_s_per_event"]
        rows.append(
            [
                doc["implementation"],
                str(doc["workers"]),
                "ok" if doc["digest_ok"] else "unchecked" if doc["digest_ok"] is None else "WRONG",
                f"{si(tput)} ({times(tput_ratio)})" if tput_ratio is not None else si(tput),
                duration_ns(_latency(doc, "p50")),
                f"{duration_ns(p99)} ({times(p99_ratio)})" if p99_ratio is not None else duration_ns(p99),
                duration_ns(_latency(doc, "p999")),
                duration_ns(_latency(doc, "max")),
                duration_ns(cpu * 1e9 if cpu is not None else None),
                f"{doc['ctx_switches_per_event']:.3g}" if doc["ctx_switches_per_event"] is not None else "-",
                allocations(doc.get("allocations_per_event")),
            ]
        )
    return rows


HEADERS = [
    "contender", "workers", "digest", "events/s", "p50", "p99", "p99.9", "max", "CPU/event", "ctx sw/event",
    "allocs/event",
]  # fmt: skip


def story(docs: list[dict[str, Any]], baseline: dict[str, Any] | None) -> list[str]:
    """One line per contender against the baseline: "native: p99 −97 %, allocations/event −100 %".

    Latency is p99 where both runs have it (open loop), else throughput; allocations where
    both were counted. Wrong runs say so instead.
    """
    if not baseline or not baseline["valid"]:
        return []
    lines = []
    for doc in docs:
        if doc is baseline:
            continue
        name = doc["implementation"]
        if not doc["valid"]:
            lines.append(f"{name}: wrong, no figures")
            continue
        parts = []
        if _latency(doc, "p99") is not None and _latency(baseline, "p99") is not None:
            parts.append(f"p99 {percent(percent_change(_latency(doc, 'p99'), _latency(baseline, 'p99')))}")
        else:
            parts.append(f"events/s {percent(percent_change(doc['throughput_eps'], baseline['throughput_eps']))}")
        mine, theirs = doc.get("allocations_per_event"), baseline.get("allocations_per_event")
        if mine is not None and theirs is not None:
            parts.append(f"allocations/event {percent(percent_change(mine, theirs))}")
        lines.append(f"{name}: " + ", ".join(parts))
    return lines


def print_comparison(title: str, docs: list[dict[str, Any]], baseline: dict[str, Any] | None) -> None:
    from rich.console import Console  # lazy: keeps `eventbench --help` fast
    from rich.table import Table

    rows = comparison_rows(docs, baseline)
    # Closed-loop runs have no latency: leave out columns no row has a value in.
    shown = [i for i in range(len(HEADERS)) if i < 4 or any(row[i] != "-" for row in rows)]
    table = Table(title=title, title_justify="left")
    for i in shown:
        table.add_column(HEADERS[i], justify="left" if i < 3 else "right")
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    console = Console(width=max(140, Console().width))
    console.print(table)
    for doc in docs:
        for failure in doc["failures"]:
            console.print(f"[bold red]{doc['implementation']}[/] (workers {doc['workers']}): {failure}")
    lines = story(docs, baseline)
    if lines:
        console.print(f"against {baseline['implementation'] if baseline else ''}:", highlight=False)
        for line in lines:
            console.print(f"  {line}", highlight=False)


def run_summary(doc: dict[str, Any]) -> str:
    """A few lines for ``eventbench run``."""
    head = f"{doc['implementation']} · workers {doc['workers']} · {doc['mode']} loop · {doc['events']} events"
    lines = [head, f"  digest      {doc['digest']}" + _digest_note(doc)]
    if not doc["valid"]:
        lines.append("  WRONG: this run has no figures")
        lines += [f"    {failure}" for failure in doc["failures"]]
        return "\n".join(lines)
    lines.append(f"  wall        {doc['wall_s']:.3f} s   throughput {si(doc['throughput_eps'], ' events/s')}")
    if doc["latency_ns"]:
        lat = doc["latency_ns"]
        lines.append(
            "  latency     " + "  ".join(f"{k} {duration_ns(lat[k])}" for k in ("p50", "p90", "p99", "p999", "max"))
        )
    if doc["cpu_s_per_event"] is not None:
        lines.append(
            f"  CPU/event   {duration_ns(doc['cpu_s_per_event'] * 1e9)}   "
            f"context switches/event {doc['ctx_switches_per_event']:.3g}"
        )
    counted = doc.get("allocations")
    if counted:
        lines.append(
            f"  allocs/event {allocations(counted['per_event'])}   retained/event "
            f"{allocations(counted['retained_per_event'])}   (first {counted['events']} events, separate pass)"
        )
        if counted.get("crate_counter") is not None:
            lines.append(
                f"  cross-check  memray saw {counted['native_library'] - counted['outside_global_allocator']} "
                f"allocations by the native library, its own counter {counted['crate_counter']}"
            )
    return "\n".join(lines)


def _digest_note(doc: dict[str, Any]) -> str:
    if doc["digest_ok"] is None:
        return "  (not checked against the reference)"
    return "  (matches the reference)" if doc["digest_ok"] else f"  (reference: {doc['reference_digest']})"


# ---------------------------------------------------------------- sweeps

_SWEEP_COLUMNS = ("offered/s", "achieved/s", "p50", "p99", "p99.9", "max", "objective")


def sweep_header() -> str:
    return "  " + "".join(f"{c:>12}" for c in _SWEEP_COLUMNS)


def sweep_row(doc: dict[str, Any], objective_ns: int) -> str:
    """One line per point, printed as the point finishes (a live table in plain text)."""
    offered = doc["sweep"]["offered_eps"]
    if not doc["valid"]:
        return f"  {si(offered):>12}{'WRONG':>12}  " + "; ".join(doc["failures"])
    lat = doc["latency_ns"] or {}
    met = lat.get("p99") is not None and lat["p99"] <= objective_ns
    cells = [si(offered), si(doc["throughput_eps"])] + [duration_ns(lat.get(k)) for k in ("p50", "p99", "p999", "max")]
    return "  " + "".join(f"{c:>12}" for c in cells) + f"{'met' if met else 'MISSED':>12}"


def sweep_verdict(name: str, sustained: float | None, objective_ns: int, docs: list[dict[str, Any]]) -> str:
    objective = f"p99 ≤ {duration_ns(objective_ns)}"
    if sustained is None:
        return f"{name} missed {objective} at every rate tried (lowest {si(docs[0]['sweep']['offered_eps'])}/s)"
    return f"{name} sustains {si(sustained)} events/s with {objective}"
