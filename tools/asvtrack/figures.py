"""asv's stored results for one machine and commit, as :class:`verdict.Figure` per benchmark and parameters."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from .verdict import Figure

Key = tuple[str, str]  # (benchmark name, its parameters as "a, b")


class NoResults(RuntimeError):
    pass


def described(results_dir: Path) -> dict[str, dict[str, object]]:
    """The suite as asv last discovered it (``benchmarks.json``, written beside the results)."""
    path = results_dir / "benchmarks.json"
    if not path.exists():
        raise NoResults(f"{path} does not exist: asv has not discovered the suite here (did the build fail?)")
    return {name: info for name, info in json.loads(path.read_text()).items() if isinstance(info, dict)}


def load(results_dir: Path, machine: str, commit: str) -> dict[Key, Figure]:
    """Every figure asv stored for ``commit`` on ``machine`` (all environments; the last one read wins).

    A result measured by an older version of a benchmark (asv versions each one by its source)
    is left out: it measured something else.
    """
    from asv import results as asv_results

    suite = described(results_dir)
    found: dict[Key, Figure] = {}
    for result in asv_results.iter_results_for_machine_and_hash(str(results_dir), machine, commit):
        for name in result.get_result_keys(suite):
            found.update(_figures_of(result, name, str(suite[name].get("unit", "unit"))))
    return found


def _figures_of(result, name: str, unit: str) -> dict[Key, Figure]:  # type: ignore[no-untyped-def]
    params = result.get_result_params(name)
    values = result.get_result_value(name, params)
    stats = result.get_result_stats(name, params)
    samples = result.get_result_samples(name, params)
    # asv stores each parameter value as its repr: 'native' -> native
    combos = [", ".join(v.strip("'\"") for v in c) for c in itertools.product(*params)] if params else [""]
    return {
        (name, combo): Figure(value=value, unit=unit, samples=sample, stats=stat)
        for combo, value, stat, sample in zip(combos, values, stats, samples, strict=True)
    }
