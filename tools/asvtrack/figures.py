"""asv's stored results for one machine and commit, as :class:`verdict.Figure` per benchmark and parameters."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from .verdict import Figure

Key = tuple[str, str]  # (benchmark name, its parameters as "a, b")


def benchmark_units(results_dir: Path) -> dict[str, str]:
    """Each benchmark's unit, from the ``benchmarks.json`` asv writes beside the results."""
    described = json.loads((results_dir / "benchmarks.json").read_text())
    return {name: info.get("unit", "unit") for name, info in described.items() if isinstance(info, dict)}


def load(results_dir: Path, machine: str, commit: str) -> dict[Key, Figure]:
    """Every figure asv stored for ``commit`` on ``machine`` (all environments; the last one read wins)."""
    from asv import results as asv_results

    units = benchmark_units(results_dir)
    found: dict[Key, Figure] = {}
    for result in asv_results.iter_results_for_machine_and_hash(str(results_dir), machine, commit):
        for name in result.get_all_result_keys():
            if name not in units:
                continue  # a benchmark this suite no longer has
            found.update(_figures_of(result, name, units[name]))
    return found


def _figures_of(result, name: str, unit: str) -> dict[Key, Figure]:  # type: ignore[no-untyped-def]
    params = result.get_result_params(name)
    values = result.get_result_value(name, params)
    stats = result.get_result_stats(name, params)
    samples = result.get_result_samples(name, params)
    # asv stores each parameter value as its repr: 'native' -> native
    combos = [", ".join(v.strip("'\"") for v in c) for c in itertools.product(*params)] if params else [""]
    if not params:
        values, stats, samples = [values], [stats], [samples]
    return {
        (name, combo): Figure(value=value, unit=unit, samples=sample, stats=stat)
        for combo, value, stat, sample in zip(combos, values, stats, samples, strict=True)
    }
