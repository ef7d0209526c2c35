"""Workloads: the spec (TOML or built-in name), its validation, and the generator.

A workload spec says what a stream looks like: the harness's part (how many events and
keys, how keys are drawn, when events arrive) and its scenario's (its own TOML tables:
``[kinds]`` and ``[work]`` for ``synthetic``, ``[orderbook]`` for the order book). The
generator turns it into the scenario's bytes. Generation is deterministic and vectorised:
every field is drawn from its own counter-based SplitMix64 stream (``protocol.splitmix``), so the
same spec gives the same bytes on every machine, Python and numpy version. Integer
arithmetic decides keys exactly; the two harness draws that go through floating point
(Zipf's table, Poisson gaps) are rounded to integers, and ``tests/test_workload.py`` pins
every built-in workload's bytes.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

import scenarios
from protocol.errors import InvalidInput
from protocol.events import MAX_KEYS, EventStream, empty_records, validated_stream
from protocol.scenario import Scenario
from protocol.splitmix import MASK64, random_stream
from scenarios import SYNTHETIC
from scenarios.synthetic.generate import KindWeights, SyntheticParams, uniform_below
from scenarios.tables import typed

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = ["Arrival", "KindWeights", "SyntheticParams", "WorkloadSpec", "builtin", "generate", "load_workload"]

ARRIVAL_PROCESSES = ("closed", "constant", "poisson", "bursts")
KEY_DISTRIBUTIONS = ("uniform", "zipf")
MAX_EVENTS = 200_000_000  # 6.4 GB of records: anything larger is a typo, not a benchmark
# The last arrival must stay below 2**63 ns (292 years): arrivals are compared as int64.
MAX_SPAN_NS = 2**63 - 1

# One stream id per drawn field; never renumber (it would change every workload's bytes).
# Scenarios draw their own fields from other ids (synthetic: 2 and 3; orderbook: 11 and up).
_KEY_STREAM, _ARRIVAL_STREAM = 1, 4
_U = np.uint64


@dataclass(frozen=True)
class Arrival:
    """When events arrive: all at once (closed), or paced at ``rate_eps`` on average."""

    process: str = "closed"
    rate_eps: float | None = None
    burst_size: int = 1


@dataclass(frozen=True)
class WorkloadSpec:
    """A workload: what the harness draws (how many events and keys, how keys are drawn, when
    events arrive) and, in ``params``, what its scenario draws (its own TOML tables)."""

    name: str
    description: str = ""
    seed: int = 0
    events: int = 1000
    keys: int = 16
    key_distribution: str = "uniform"
    zipf_exponent: float = 1.0
    arrival: Arrival = field(default_factory=Arrival)
    source: str = "<spec>"
    scenario: Scenario = SYNTHETIC
    params: Any = field(default_factory=SyntheticParams)

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
            "scenario": self.scenario.name,
            "events": self.events,
            "keys": self.keys,
            "key_distribution": self.key_distribution,
            "arrival": self.arrival.process,
            "rate_eps": self.arrival.rate_eps,
            "default_mode": self.default_mode,
        }


# ---------------------------------------------------------------- parsing and validation

_TOP_KEYS = {
    "name": str, "description": str, "scenario": str, "seed": int, "events": int, "keys": int,
    "key_distribution": str, "zipf_exponent": (int, float), "arrival": dict,
}  # fmt: skip
_ARRIVAL_KEYS = {"process": str, "rate_eps": (int, float), "burst_size": int}


def spec_from_toml_text(
    text: str, source: str, scenario: Scenario | None = None, default_name: str | None = None
) -> WorkloadSpec:
    """A spec from TOML: the harness's keys, ``scenario`` (default: ``scenario``, else synthetic)
    and that scenario's own tables."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InvalidInput(source, "toml", f"not valid TOML ({e})") from None
    chosen = _scenario_of(data, source, scenario)
    tables = {name: data.pop(name) for name in chosen.tables if name in data}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise InvalidInput(source, name, f"must be a table, got {type(table).__name__} {table!r}")
    top = typed(data, _TOP_KEYS | {t: dict for t in chosen.tables}, "", source)
    top.pop("scenario", None)
    arrival = typed(top.pop("arrival", {}), _ARRIVAL_KEYS, "arrival.", source)
    if "name" not in top:
        top["name"] = default_name or Path(source).stem
    spec = WorkloadSpec(
        **top,
        arrival=Arrival(
            process=arrival.get("process", "closed"),
            rate_eps=float(arrival["rate_eps"]) if "rate_eps" in arrival else None,
            burst_size=arrival.get("burst_size", 1),
        ),
        source=source,
        scenario=chosen,
        params=chosen.params_from_tables(tables, source),
    )
    validate(spec)
    return spec


def _scenario_of(data: dict[str, Any], source: str, given: Scenario | None) -> Scenario:
    named = data.get("scenario")
    if named is None:
        return given or SYNTHETIC
    if not isinstance(named, str):
        raise InvalidInput(source, "scenario", f"must be str, got {type(named).__name__} {named!r}")
    try:
        found = scenarios.get(named)
    except KeyError as e:
        raise InvalidInput(source, "scenario", str(e.args[0])) from None
    if given is not None and given.name != found.name:
        raise InvalidInput(source, "scenario", f"is {found.name}, but --scenario {given.name} was asked for")
    return found


def validate(spec: WorkloadSpec) -> None:
    """Every rule the harness's part of a spec must keep; raises :class:`InvalidInput` naming the
    field. (The scenario's parameters were checked as they were read.)"""

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


def _catalog() -> dict[str, tuple[Scenario, Any]]:
    """Every usable scenario's built-in workloads, by name; where two scenarios name one workload
    alike, the first registered (the built-ins come first) keeps it (:func:`name_clashes`)."""
    out: dict[str, tuple[Scenario, Any]] = {}
    for registration in scenarios.registry():
        if registration.scenario is not None:
            for name, path in registration.scenario.workload_files().items():
                out.setdefault(name, (registration.scenario, path))
    return out


def name_clashes(scenario: Scenario) -> dict[str, str]:
    """``scenario``'s built-in workloads that another scenario's of the same name hides, and why."""
    catalog = _catalog()
    return {
        name: f"unusable: scenario {catalog[name][0].name} has a built-in workload of this name"
        for name in scenario.workload_files()
        if catalog[name][0].name != scenario.name
    }


def builtin_names(scenario: Scenario | None = None) -> list[str]:
    """The built-in workloads' names (of one scenario, or of all)."""
    return sorted(n for n, (s, _) in _catalog().items() if scenario is None or s.name == scenario.name)


def builtin(name: str) -> WorkloadSpec:
    """A built-in workload; its name is its file's unless the file says otherwise."""
    scenario, path = _catalog()[name]
    return spec_from_toml_text(path.read_text(encoding="utf-8"), f"workload '{name}'", scenario, default_name=name)


def load_workload(name_or_path: str, scenario: Scenario | None = None) -> WorkloadSpec:
    """A built-in workload by name, or a TOML file by path; of ``scenario`` where one is asked for."""
    if name_or_path in builtin_names():
        spec = builtin(name_or_path)
        if scenario is not None and spec.scenario.name != scenario.name:
            raise InvalidInput(
                name_or_path, "workload", f"is a workload of scenario {spec.scenario.name}, not {scenario.name}"
            )
        return spec
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidInput(str(path), "file", getattr(e, "strerror", None) or str(e)) from None
        return spec_from_toml_text(text, str(path), scenario)
    names = ", ".join(builtin_names(scenario))
    raise InvalidInput(name_or_path, "workload", f"no built-in workload or TOML file by that name (built-ins: {names})")


# ---------------------------------------------------------------- generation


def _unit_floats(draws: np.ndarray) -> np.ndarray:
    """Exact multiples of 2**-53 in [0, 1) from the top 53 bits of each draw."""
    return (draws >> _U(11)).astype(np.float64) * (2.0**-53)


class _Generator:
    """The harness's columns (``seq``, ``arrival_ns``, ``key``), one chunk at a time.

    Chunks of 64 Ki events keep every intermediate array in cache; only the
    final field writes touch the large record array.
    """

    CHUNK = 1 << 16

    def __init__(self, spec: WorkloadSpec) -> None:
        self.spec = spec
        self.zipf_cdf = self._zipf_cdf(spec) if spec.key_distribution == "zipf" and spec.keys > 1 else None
        rate = spec.arrival.rate_eps
        self.interval_ns = 1e9 / rate if rate else 0.0
        self.last_arrival = _U(0)  # Poisson arrivals carry their running sum across chunks

    @staticmethod
    def _zipf_cdf(spec: WorkloadSpec) -> np.ndarray:
        # Key r (0-based) has weight (r+1)**-s: key 0 is the hottest.
        cdf = np.cumsum(np.arange(1, spec.keys + 1, dtype=np.float64) ** -spec.zipf_exponent)
        return cdf / cdf[-1]

    def fill(self, chunk: np.ndarray, start: int) -> None:
        count = len(chunk)
        chunk["seq"] = np.arange(start, start + count, dtype=np.uint64)
        chunk["arrival_ns"] = self._arrivals(start, count)
        chunk["key"] = self._keys(random_stream(self.spec.seed, _KEY_STREAM, start, count))

    def _keys(self, draws: np.ndarray) -> np.ndarray:
        if self.zipf_cdf is None:
            return uniform_below(draws, self.spec.keys)
        keys = np.searchsorted(self.zipf_cdf, _unit_floats(draws), side="right")
        return np.minimum(keys, self.spec.keys - 1)

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


def generate(spec: WorkloadSpec) -> EventStream:
    """The spec's stream, checked against every rule like any other input: the harness draws
    ``seq``, ``arrival_ns`` and ``key``, the scenario its own fields."""
    records = empty_records(spec.events, spec.scenario)
    generator = _Generator(spec)
    for start in range(0, spec.events, _Generator.CHUNK):
        generator.fill(records[start : start + _Generator.CHUNK], start)
    spec.scenario.fill_fields(spec.params, spec.seed, records)
    return validated_stream(spec.keys, records, spec.source, spec.scenario)
