"""The ``[ratelimit]`` table of a workload, and the generator of the rate limiter's fields.

eventbench draws ``seq``, ``arrival_ns`` and ``key`` (the client); :func:`fill_fields` draws
the rest, for the whole stream at once (numpy, no loop per event). Each field has its own
counter-based stream (``protocol.splitmix.random_stream``: output ``i`` is a pure function of the
seed, the stream's id and ``i``), and integer arithmetic decides every field, so a workload
gives the same bytes on every machine and numpy version, and the first ``m`` records of a
stream are the stream of ``m`` events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from itertools import accumulate
from typing import Any

import numpy as np

from eventbench_ratelimit.record import N_ENDPOINTS, N_PLANS, RECORD_DTYPE
from protocol.errors import InvalidInput
from protocol.splitmix import random_stream
from scenarios.tables import int_pair, typed

TABLES = ("ratelimit",)
MAX_GAP_US = 1_000_000
# One stream id per drawn field, clear of eventbench's (1-4) and the order book's (11-17).
# Never renumber: every workload's bytes depend on them.
_GAP_STREAM, _ENDPOINT_STREAM, _PLAN_STREAM, _COST_STREAM, _UPSTREAM_STREAM = range(31, 36)
_U = np.uint64
_LOW32 = _U(0xFFFFFFFF)


@dataclass(frozen=True)
class RatelimitParams:
    """The ``[ratelimit]`` table: what the clients send.

    - ``endpoint_weights``: how often each endpoint is called (1 to 16 weights: the endpoints
      ``0 .. len-1``), relative; ``plan_weights``: how many clients are on each plan (4 weights:
      free, basic, pro, enterprise). A client keeps its plan for the whole stream.
    - ``cost``: ``[low, high]``, tokens a request asks for, uniform (1..255).
    - ``gap_us``: ``[low, high]``, microseconds between one request's timestamp and the next's,
      uniform (0..1,000,000): the traffic's own clock, which the buckets refill by. It does not
      depend on how fast a run replays the stream (``arrival_ns``), so neither does the digest.
    - ``upstream_fraction`` of requests call the upstream service if they are let through, for
      ``upstream_us`` (``[low, high]`` microseconds, uniform, 0..255); the others are answered
      from a cache.
    """

    endpoint_weights: tuple[float, ...] = (40.0, 25.0, 15.0, 10.0, 5.0, 5.0)
    plan_weights: tuple[float, ...] = (70.0, 20.0, 9.0, 1.0)
    cost: tuple[int, int] = (1, 3)
    gap_us: tuple[int, int] = (0, 100)
    upstream_fraction: float = 0.3
    upstream_us: tuple[int, int] = (5, 40)


_TYPES: dict[str, Any] = {
    "endpoint_weights": list, "plan_weights": list, "cost": list, "gap_us": list,
    "upstream_fraction": (int, float), "upstream_us": list,
}  # fmt: skip


def params_from_tables(tables: dict[str, dict[str, Any]], source: str) -> RatelimitParams:
    """The ``[ratelimit]`` table (as ``tomllib`` reads it), checked; missing keys take the defaults.
    Raises :class:`InvalidInput` naming ``ratelimit.<key>`` and the rule broken."""
    values: dict[str, Any] = {}
    for key, value in typed(tables.get("ratelimit", {}), _TYPES, "ratelimit.", source).items():
        where = f"ratelimit.{key}"
        if key.endswith("_weights"):
            if not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in value):
                raise InvalidInput(source, where, f"must be a list of numbers, got {value!r}")
            values[key] = tuple(float(w) for w in value)
        elif key == "upstream_fraction":
            values[key] = float(value)
        else:
            values[key] = int_pair(value, where, source)
    params = RatelimitParams(**values)
    validate(params, source)
    return params


def validate(params: RatelimitParams, source: str) -> None:
    """Every rule the parameters keep; raises :class:`InvalidInput` naming the field."""

    def bad(field: str, rule: str) -> InvalidInput:
        return InvalidInput(source, f"ratelimit.{field}", rule)

    for field in ("endpoint_weights", "plan_weights"):
        weights = getattr(params, field)
        if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
            raise bad(field, f"must be finite weights >= 0, not all 0, got {list(weights)}")
    endpoints, plans = len(params.endpoint_weights), len(params.plan_weights)
    if not 1 <= endpoints <= N_ENDPOINTS:
        raise bad("endpoint_weights", f"must be 1..{N_ENDPOINTS} weights, got {endpoints}")
    if plans != N_PLANS:
        raise bad("plan_weights", f"must be {N_PLANS} weights (free, basic, pro, enterprise), got {plans}")
    for field, lowest, highest in (("cost", 1, 255), ("gap_us", 0, MAX_GAP_US), ("upstream_us", 0, 255)):
        low, high = getattr(params, field)
        if not lowest <= low <= high <= highest:
            raise bad(field, f"must be [low, high] with {lowest} <= low <= high <= {highest}, got [{low}, {high}]")
    if not (math.isfinite(params.upstream_fraction) and 0 <= params.upstream_fraction <= 1):
        raise bad("upstream_fraction", f"must be in [0, 1], got {params.upstream_fraction}")


def _uniform(draws: np.ndarray, low: int, high: int) -> np.ndarray:
    """``low .. high`` from the high 32 bits of each draw, by multiply-shift (exact integers)."""
    return _U(low) + (((draws >> _U(32)) * _U(high - low + 1)) >> _U(32))


def _weighted(draws: np.ndarray, weights: tuple[float, ...]) -> np.ndarray:
    """An index ``0 .. len(weights)-1`` per draw, each with its weight's share, from the low 32 bits:
    exact thresholds (Fractions), so no rounding differs between machines."""
    shares = list(accumulate(Fraction(w) for w in weights))
    thresholds = np.array([int(s / shares[-1] * 2**32) for s in shares[:-1]], dtype=np.uint64)
    return np.searchsorted(thresholds, draws & _LOW32, side="right")


def fill_fields(params: RatelimitParams, seed: int, records: np.ndarray) -> None:
    """Fills ``t_us``, ``cost``, ``endpoint``, ``plan`` and ``upstream_us`` of a whole stream, in place
    (its ``seq``, ``arrival_ns`` and ``key`` already drawn). Memory: a few arrays of 8 bytes an event."""
    if records.dtype != RECORD_DTYPE:
        raise TypeError(f"records must be the rate limiter's RECORD_DTYPE, got {records.dtype}")
    n = len(records)
    if n == 0:
        return
    validate(params, "<params>")
    records["t_us"] = np.cumsum(_uniform(random_stream(seed, _GAP_STREAM, 0, n), *params.gap_us), dtype=np.uint64)
    records["endpoint"] = _weighted(random_stream(seed, _ENDPOINT_STREAM, 0, n), params.endpoint_weights)
    key = records["key"]
    plan_of_client = _weighted(random_stream(seed, _PLAN_STREAM, 0, int(key.max()) + 1), params.plan_weights)
    records["plan"] = plan_of_client[key]
    records["cost"] = _uniform(random_stream(seed, _COST_STREAM, 0, n), *params.cost)
    # Low 32 bits: does this request call upstream? High 32 bits: for how long.
    draws = random_stream(seed, _UPSTREAM_STREAM, 0, n)
    calls = (draws & _LOW32) < _U(int(Fraction(params.upstream_fraction) * 2**32))
    records["upstream_us"] = np.where(calls, _uniform(draws, *params.upstream_us), _U(0))
