"""Workloads: the spec (TOML or built-in name), its validation, and the generator.

A workload spec says what a stream looks like (how many events and keys, how keys
are drawn, the mix of kinds, the work of each, when events arrive); the generator
turns it into the SPEC's bytes. Generation is deterministic and vectorised: every
field is drawn from its own counter-based SplitMix64 stream (``harness.mix``), so
the same spec gives the same bytes on every machine, Python and numpy version.
Integer arithmetic decides keys, kinds, work and values exactly; the two draws
that go through floating point (Zipf's table, Poisson gaps) are rounded to
integers, and ``tests/test_workload.py`` pins every built-in workload's bytes.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, replace
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import InvalidInput
from harness.events import BLOCK, COMPUTE, MAX_KEYS, EventStream, empty_records, validated_stream
from harness.mix import MASK64, random_stream
from scenarios.tables import int_pair, typed

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ARRIVAL_PROCESSES = ("closed", "constant", "poisson", "bursts")
KEY_DISTRIBUTIONS = ("uniform", "zipf")
MAX_EVENTS = 200_000_000  # 6.4 GB of records: anything larger is a typo, not a benchmark
MAX_WORK = 65_535
# The last arrival must stay below 2**63 ns (292 years): arrivals are compared as int64.
MAX_SPAN_NS = 2**63 - 1

# One stream id per drawn field; never renumber (it would change every workload's bytes).
_KEY_STREAM, _KIND_STREAM, _VALUE_STREAM, _ARRIVAL_STREAM = 1, 2, 3, 4
_U = np.uint64


@dataclass(frozen=True)
class KindMix:
    """Relative weights of the four kinds (any non-negative numbers, not all zero)."""

    update: float = 0.0
    compute: float = 0.0
    block: float = 0.0
    aggregate: float = 0.0

    def weights(self) -> tuple[float, float, float, float]:
        return (self.update, self.compute, self.block, self.aggregate)


@dataclass(frozen=True)
class Arrival:
    """When events arrive: all at once (closed), or paced at ``rate_eps`` on average."""

    process: str = "closed"
    rate_eps: float | None = None
    burst_size: int = 1


@dataclass(frozen=True)
class WorkloadSpec:
    name: str
    description: str = ""
    seed: int = 0
    events: int = 1000
    keys: int = 16
    key_distribution: str = "uniform"
    zipf_exponent: float = 1.0
    mix: KindMix = field(default_factory=lambda: KindMix(update=1.0))
    compute_rounds: tuple[int, int] = (0, 0)
    block_us: tuple[int, int] = (0, 0)
    arrival: Arrival = field(default_factory=Arrival)
    source: str = "<spec>"

    @property
    def default_mode(self) -> str:
        """Open loop wherever the workload has arrival times (SPEC §4)."""
        return "closed" if self.arrival.process == "closed" else "open"

    def with_events(self, events: int) -> WorkloadSpec:
        spec = replace(self, events=events)
        validate(spec)
        return spec

    def with_rate(self, rate_eps: float) -> WorkloadSpec:
        """The same events at another average arrival rate (a closed workload becomes constant-paced).

        Arrival times are drawn from their own stream, so only ``arrival_ns`` changes:
        every other field, and so the digest, is the same at every rate.
        """
        process = "constant" if self.arrival.process == "closed" else self.arrival.process
        spec = replace(self, arrival=replace(self.arrival, process=process, rate_eps=rate_eps))
        validate(spec)
        return spec

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "events": self.events,
            "keys": self.keys,
            "key_distribution": self.key_distribution,
            "arrival": self.arrival.process,
            "rate_eps": self.arrival.rate_eps,
            "default_mode": self.default_mode,
        }


# ---------------------------------------------------------------- parsing and validation

_TOP_KEYS = {
    "name": str, "description": str, "seed": int, "events": int, "keys": int,
    "key_distribution": str, "zipf_exponent": (int, float),
    "mix": dict, "work": dict, "arrival": dict,
}  # fmt: skip
_MIX_KEYS = {"update": (int, float), "compute": (int, float), "block": (int, float), "aggregate": (int, float)}
_WORK_KEYS = {"compute_rounds": list, "block_us": list}
_ARRIVAL_KEYS = {"process": str, "rate_eps": (int, float), "burst_size": int}


def spec_from_toml_text(text: str, source: str) -> WorkloadSpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InvalidInput(source, "toml", f"not valid TOML ({e})") from None
    top = typed(data, _TOP_KEYS, "", source)
    mix = typed(top.pop("mix", {}), _MIX_KEYS, "mix.", source)
    work = typed(top.pop("work", {}), _WORK_KEYS, "work.", source)
    arrival = typed(top.pop("arrival", {}), _ARRIVAL_KEYS, "arrival.", source)
    if "name" not in top:
        top["name"] = Path(source).stem
    spec = WorkloadSpec(
        **top,
        mix=KindMix(**{k: float(v) for k, v in mix.items()}) if mix else KindMix(update=1.0),
        compute_rounds=int_pair(work.get("compute_rounds", [0, 0]), "work.compute_rounds", source),
        block_us=int_pair(work.get("block_us", [0, 0]), "work.block_us", source),
        arrival=Arrival(
            process=arrival.get("process", "closed"),
            rate_eps=float(arrival["rate_eps"]) if "rate_eps" in arrival else None,
            burst_size=arrival.get("burst_size", 1),
        ),
        source=source,
    )
    validate(spec)
    return spec


def validate(spec: WorkloadSpec) -> None:
    """Every rule a spec must keep; raises :class:`InvalidInput` naming the field."""

    def bad(where: str, rule: str) -> InvalidInput:
        return InvalidInput(spec.source, where, rule)

    if not spec.name or not all(c.isalnum() or c in "-_." for c in spec.name):
        raise bad("name", f"must be letters, digits, '-', '_' or '.', got {spec.name!r}")
    if not 0 <= spec.seed <= MASK64:
        raise bad("seed", f"must be in 0..2^64-1, got {spec.seed}")
    if not 0 <= spec.events <= MAX_EVENTS:
        raise bad("events", f"must be in 0..{MAX_EVENTS}, got {spec.events}")
    if not 1 <= spec.keys <= MAX_KEYS:
        raise bad("keys", f"must be in 1..{MAX_KEYS}, got {spec.keys}")
    if spec.key_distribution not in KEY_DISTRIBUTIONS:
        raise bad("key_distribution", f"must be one of {', '.join(KEY_DISTRIBUTIONS)}, got {spec.key_distribution!r}")
    if not (math.isfinite(spec.zipf_exponent) and 0 < spec.zipf_exponent <= 10):
        raise bad("zipf_exponent", f"must be in (0, 10], got {spec.zipf_exponent}")
    weights = spec.mix.weights()
    if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise bad("mix", f"weights must be finite, >= 0 and not all 0, got {weights}")
    for where, (low, high) in (("work.compute_rounds", spec.compute_rounds), ("work.block_us", spec.block_us)):
        if not 0 <= low <= high <= MAX_WORK:
            raise bad(where, f"must be [low, high] with 0 <= low <= high <= {MAX_WORK}, got [{low}, {high}]")
    arrival = spec.arrival
    if arrival.process not in ARRIVAL_PROCESSES:
        raise bad("arrival.process", f"must be one of {', '.join(ARRIVAL_PROCESSES)}, got {arrival.process!r}")
    if arrival.process == "closed" and arrival.rate_eps is not None:
        raise bad("arrival.rate_eps", "applies to constant, poisson and bursts arrivals, not to closed")
    if arrival.process != "bursts" and arrival.burst_size != 1:
        raise bad("arrival.burst_size", f"applies to bursts arrivals only, not to {arrival.process}")
    if arrival.process != "closed":
        rate = arrival.rate_eps
        if rate is None or not (math.isfinite(rate) and 0 < rate <= 1e9):
            raise bad("arrival.rate_eps", f"'{arrival.process}' needs a rate in (0, 1e9] events/s, got {rate}")
        # Poisson's last arrival is random; 100x its mean span is a bound it never reaches.
        span_ns = spec.events / rate * 1e9 * (100 if arrival.process == "poisson" else 1)
        if span_ns >= MAX_SPAN_NS:
            raise bad("arrival.rate_eps", f"{rate} events/s spreads {spec.events} events beyond 2^63 ns")
    if not 1 <= arrival.burst_size <= 1_000_000:
        raise bad("arrival.burst_size", f"must be in 1..1000000, got {arrival.burst_size}")


# ---------------------------------------------------------------- catalog


def builtin_names() -> list[str]:
    files = resources.files("harness").joinpath("workloads").iterdir()
    return sorted(f.name[: -len(".toml")] for f in files if f.name.endswith(".toml"))


def builtin(name: str) -> WorkloadSpec:
    path = resources.files("harness").joinpath("workloads").joinpath(f"{name}.toml")
    return spec_from_toml_text(path.read_text(encoding="utf-8"), f"workload '{name}'")


def load_workload(name_or_path: str) -> WorkloadSpec:
    """A built-in workload by name, or a TOML file by path."""
    if name_or_path in builtin_names():
        return builtin(name_or_path)
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidInput(str(path), "file", getattr(e, "strerror", None) or str(e)) from None
        return spec_from_toml_text(text, str(path))
    names = ", ".join(builtin_names())
    raise InvalidInput(name_or_path, "workload", f"no built-in workload or TOML file by that name (built-ins: {names})")


# ---------------------------------------------------------------- generation


def _uniform_below(draws: np.ndarray, bound: int) -> np.ndarray:
    """Maps the high 32 bits of each draw onto ``0..bound-1`` by multiply-shift (bound <= 2**32)."""
    return ((draws >> _U(32)) * _U(bound)) >> _U(32)


def _unit_floats(draws: np.ndarray) -> np.ndarray:
    """Exact multiples of 2**-53 in [0, 1) from the top 53 bits of each draw."""
    return (draws >> _U(11)).astype(np.float64) * (2.0**-53)


class _Generator:
    """What a spec needs precomputed (tables, thresholds), then one chunk at a time.

    Chunks of 64 Ki events keep every intermediate array in cache; only the
    final field writes touch the large record array.
    """

    CHUNK = 1 << 16

    def __init__(self, spec: WorkloadSpec) -> None:
        self.spec = spec
        self.zipf_cdf = self._zipf_cdf(spec) if spec.key_distribution == "zipf" and spec.keys > 1 else None
        self.kind_thresholds = _kind_thresholds(spec.mix)
        rate = spec.arrival.rate_eps
        self.interval_ns = 1e9 / rate if rate else 0.0
        self.last_arrival = _U(0)  # Poisson arrivals carry their running sum across chunks

    @staticmethod
    def _zipf_cdf(spec: WorkloadSpec) -> np.ndarray:
        # Key r (0-based) has weight (r+1)**-s: key 0 is the hottest.
        cdf = np.cumsum(np.arange(1, spec.keys + 1, dtype=np.float64) ** -spec.zipf_exponent)
        return cdf / cdf[-1]

    def fill(self, chunk: np.ndarray, start: int) -> None:
        spec, count = self.spec, len(chunk)
        chunk["seq"] = np.arange(start, start + count, dtype=np.uint64)
        chunk["arrival_ns"] = self._arrivals(start, count)
        chunk["value"] = random_stream(spec.seed, _VALUE_STREAM, start, count)
        chunk["key"] = self._keys(random_stream(spec.seed, _KEY_STREAM, start, count))
        kind_draws = random_stream(spec.seed, _KIND_STREAM, start, count)
        # Low 32 bits choose the kind, high 32 bits the work: independent bits of one draw.
        kinds = np.searchsorted(self.kind_thresholds, kind_draws & _U(0xFFFFFFFF), side="right")
        chunk["kind"] = kinds
        chunk["work"] = self._work(kinds, kind_draws)

    def _keys(self, draws: np.ndarray) -> np.ndarray:
        if self.zipf_cdf is None:
            return _uniform_below(draws, self.spec.keys)
        keys = np.searchsorted(self.zipf_cdf, _unit_floats(draws), side="right")
        return np.minimum(keys, self.spec.keys - 1)

    def _work(self, kinds: np.ndarray, draws: np.ndarray) -> np.ndarray:
        work = np.zeros(len(kinds), dtype=np.uint16)
        for kind, (low, high) in ((COMPUTE, self.spec.compute_rounds), (BLOCK, self.spec.block_us)):
            chosen = kinds == kind
            work[chosen] = _U(low) + _uniform_below(draws[chosen], high - low + 1)
        return work

    def _arrivals(self, start: int, count: int) -> np.ndarray:
        arrival = self.spec.arrival
        if arrival.process == "closed":
            return np.zeros(count, dtype=np.uint64)
        index = np.arange(start, start + count, dtype=np.uint64)
        if arrival.process == "constant":
            return (index.astype(np.float64) * self.interval_ns).astype(np.uint64)
        if arrival.process == "bursts":
            burst = arrival.burst_size
            first_of_burst = (index // _U(burst)) * _U(burst)
            return (first_of_burst.astype(np.float64) * self.interval_ns).astype(np.uint64)
        # Poisson: exponential gaps by inverse CDF, each rounded to whole nanoseconds.
        u = _unit_floats(random_stream(self.spec.seed, _ARRIVAL_STREAM, start, count))
        gaps = np.rint(-np.log1p(-u) * self.interval_ns).astype(np.uint64)
        times = np.cumsum(gaps, dtype=np.uint64) + self.last_arrival
        self.last_arrival = times[-1]
        return times


def _kind_thresholds(mix: KindMix) -> np.ndarray:
    """Cumulative weights as exact 32-bit thresholds (Fractions: no rounding differences)."""
    weights = [Fraction(w) for w in mix.weights()]
    total = sum(weights)
    cumulative, acc = [], Fraction(0)
    for w in weights[:-1]:
        acc += w
        cumulative.append(int(acc * 2**32 / total))
    return np.array(cumulative, dtype=np.uint64)


def generate(spec: WorkloadSpec) -> EventStream:
    """The spec's stream, checked against every SPEC rule like any other input."""
    records = empty_records(spec.events)
    generator = _Generator(spec)
    for start in range(0, spec.events, _Generator.CHUNK):
        generator.fill(records[start : start + _Generator.CHUNK], start)
    return validated_stream(spec.keys, records, spec.source)
