"""The ``synthetic`` scenario's workload tables (``[kinds]``, ``[work]``) and its fields' generator.

The harness draws ``seq``, ``arrival_ns`` and ``key``; this fills ``value`` (stream 3), ``kind``
and ``work`` (stream 2: its low 32 bits choose the kind, its high 32 bits the work). Stream ids
are never renumbered: every pinned workload's bytes depend on them. Integer arithmetic decides
every field exactly, so the same spec gives the same bytes on every machine and numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from protocol.errors import InvalidInput
from protocol.splitmix import random_stream
from scenarios.synthetic.layout import BLOCK, COMPUTE
from scenarios.tables import int_pair, typed

MAX_WORK = 65_535
_KIND_STREAM, _VALUE_STREAM = 2, 3
_U = np.uint64
TABLES = ("kinds", "work")
KIND_KEYS = {"update": (int, float), "compute": (int, float), "block": (int, float), "aggregate": (int, float)}
WORK_KEYS = {"compute_rounds": list, "block_us": list}


@dataclass(frozen=True)
class KindWeights:
    """Relative weights of the four kinds (any non-negative numbers, not all zero)."""

    update: float = 0.0
    compute: float = 0.0
    block: float = 0.0
    aggregate: float = 0.0

    def weights(self) -> tuple[float, float, float, float]:
        return (self.update, self.compute, self.block, self.aggregate)


@dataclass(frozen=True)
class SyntheticParams:
    kinds: KindWeights = field(default_factory=lambda: KindWeights(update=1.0))
    compute_rounds: tuple[int, int] = (0, 0)
    block_us: tuple[int, int] = (0, 0)


def params_from_tables(tables: dict[str, dict[str, Any]], source: str) -> SyntheticParams:
    kinds = typed(tables.get("kinds", {}), KIND_KEYS, "kinds.", source)
    work = typed(tables.get("work", {}), WORK_KEYS, "work.", source)
    params = SyntheticParams(
        kinds=KindWeights(**{k: float(v) for k, v in kinds.items()}) if kinds else KindWeights(update=1.0),
        compute_rounds=int_pair(work.get("compute_rounds", [0, 0]), "work.compute_rounds", source),
        block_us=int_pair(work.get("block_us", [0, 0]), "work.block_us", source),
    )
    validate(params, source)
    return params


def validate(params: SyntheticParams, source: str) -> None:
    weights = params.kinds.weights()
    if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise InvalidInput(source, "kinds", f"weights must be finite, >= 0 and not all 0, got {weights}")
    for where, (low, high) in (("work.compute_rounds", params.compute_rounds), ("work.block_us", params.block_us)):
        if not 0 <= low <= high <= MAX_WORK:
            raise InvalidInput(
                source, where, f"must be [low, high] with 0 <= low <= high <= {MAX_WORK}, got [{low}, {high}]"
            )


def uniform_below(draws: np.ndarray, bound: int) -> np.ndarray:
    """Maps the high 32 bits of each draw onto ``0..bound-1`` by multiply-shift (bound <= 2**32)."""
    return ((draws >> _U(32)) * _U(bound)) >> _U(32)


def _kind_thresholds(kinds: KindWeights) -> np.ndarray:
    """Cumulative weights as exact 32-bit thresholds (Fractions: no rounding differences)."""
    weights = [Fraction(w) for w in kinds.weights()]
    total = sum(weights)
    cumulative, acc = [], Fraction(0)
    for w in weights[:-1]:
        acc += w
        cumulative.append(int(acc * 2**32 / total))
    return np.array(cumulative, dtype=np.uint64)


CHUNK = 1 << 16  # 64 Ki events a pass keeps every intermediate array in cache


def fill_fields(params: SyntheticParams, seed: int, records: np.ndarray) -> None:
    """Fills ``value``, ``kind`` and ``work``, chunk by chunk (each field's draws are counter-based:
    any chunking gives the same bytes)."""
    thresholds = _kind_thresholds(params.kinds)
    for start in range(0, len(records), CHUNK):
        chunk = records[start : start + CHUNK]
        count = len(chunk)
        chunk["value"] = random_stream(seed, _VALUE_STREAM, start, count)
        kind_draws = random_stream(seed, _KIND_STREAM, start, count)
        kinds = np.searchsorted(thresholds, kind_draws & _U(0xFFFFFFFF), side="right")
        chunk["kind"] = kinds
        work = np.zeros(count, dtype=np.uint16)
        for kind, (low, high) in ((COMPUTE, params.compute_rounds), (BLOCK, params.block_us)):
            chosen = kinds == kind
            work[chosen] = _U(low) + uniform_below(kind_draws[chosen], high - low + 1)
        chunk["work"] = work
