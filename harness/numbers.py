"""How figures are written for people, in one place for the tables (``report``) and the plots."""

from __future__ import annotations

from harness.stats import PERCENTILE_NAMES

# Each percentile's name in a table or on a plot, by its name in a document.
PERCENTILE_HEADERS = dict(zip(PERCENTILE_NAMES, ("p50", "p90", "p99", "p99.9", "max"), strict=True))


def si(value: float | None, unit: str = "") -> str:
    """``value`` to three significant figures with an SI prefix (``1.23M``); ``-`` for none."""
    if value is None:
        return "-"
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{prefix}{unit}"
    return f"{value:.3g}{unit}"
