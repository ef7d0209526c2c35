"""The result document: typed in memory, its JSON and every version of it, here and only here.

A run's results travel as a :class:`ResultDocument` (frozen); every reader takes its
attributes. :meth:`ResultDocument.to_json` gives the JSON that is written, and
:meth:`ResultDocument.from_json` reads any supported version back, checks it, and upgrades an
older shape into the current type; nothing else knows a document's JSON or its versions.

Schema history (bump SCHEMA_VERSION on any change a reader would notice):

* 1 — first version: SPEC §6's fields, plus ``valid``, ``failures``,
  ``reference_digest``, ``digest_ok``, ``workload`` and ``cpu_s``/``ctx_switches``
  totals. ``allocations_per_event`` is ``null`` when it was not measured.
* 2 — ``allocations_per_event`` is measured (``harness.allocations``), and
  ``allocations`` holds the counting pass's details (events counted, retained
  blocks, the observer's excluded allocations, the native cross-check); both
  ``null`` when counting was skipped or unavailable.
* 3 — ``model`` (the contender's model: sequential, threads, event loop, processes,
  native ...), by which reports group contenders, and ``setup_s``, the time of the
  contender's untimed setup (``open``: decoding, starting pools and worker processes),
  shown apart from handling. Documents of 1 and 2 lack both.
* 4 — trials (``harness.trials``): ``trials`` holds every trial's figures, checks, digest,
  round and place in its round; the headline figures (``throughput_eps``, ``latency_ns``,
  ``cpu_s_per_event``, ...) are the medians over the trials, and ``intervals`` gives each
  one's median with its 95 % interval (``point``, ``low``, ``high``, ``confidence``, ``n``);
  ``comparison`` (``compare`` only) the seed, every round's order and the method by which
  ratios are judged; ``floor`` (``compare`` only) the machine's floor measured in the same run.
  ``valid`` holds only when every trial was right. A single run (``run``, ``sweep``) is one
  trial. Readers accept 1 to 4; older documents read as one trial.
* 5 — sweep points (``sweep``) run trials too: each point holds its trials, ``comparison``
  (its own seed and round orders) and ``floor`` (the floor that ran in its rounds), and
  ``sweep`` holds ``offered_eps``, ``objective_p99_ns`` and the sweep's ``seed``. A point is
  decided by its median p99's interval (``harness.sweep``); a point of 4 or older is one run
  (a miss confirmed by a second, ``"attempt": 2``), decided by its p99.
* 6 — ``scenario``: the scenario whose semantics the run computed, ``{"name", "version"}``
  (SPEC §7). Documents of 1 to 5 are ``synthetic`` version 1, the only scenario there was.
  Readers refuse to compare documents of different scenarios (``results.one_scenario``).
* 7 — where the time goes and why (issue 19); each part ``null`` (or absent) before 7:

  - ``threads`` in each trial: every thread that handled events or ran in the window, with its
    time on a CPU, runnable, and blocked (``harness.threads``), and ``threads_ended``;
    ``intervals`` holds the medians of the handling threads' shares (``threads.on_cpu``,
    ``threads.runnable``, ``threads.blocked``; :data:`SHARES`). ``null`` wherever the kernel
    gives no per-thread times.
  - ``timeline`` (open loop; ``null`` in closed loop and for a wrong contender): latency over
    the run's time, kept in an HdrHistogram interval log beside the document
    (``harness.timeline``): ``log`` (its file name, in the document's directory),
    ``interval_ns``, ``assigned_by`` (``"intended arrival"``: the interval an event counts in)
    and ``significant_digits``. Each trial's intervals are tagged ``trial-N`` in the log.
  - ``diagnosis`` (``compare --diagnose``, ``run --diagnose``): the diagnosis pass's
    attribution of the handling threads' samples (``harness.diagnosis``): ``method``,
    ``samples``, ``shares`` by bucket (handling, gil, lock, queue, sleeping, other, summing to
    1), ``unavailable`` (why the sampler could not run, then no shares) and ``notes``; ``null``
    when the pass did not run.
  - queueing apart from handling: ``starts_recorded`` (whether the contender wrote each event's
    start of handling, ``ContenderInfo.records_start``), and, where it did, ``waiting_ns``
    (start - intended arrival; open loop only) and ``service_ns`` (done - start; both modes),
    each percentiles like ``latency_ns``, per trial and as medians over the trials, with their
    intervals under ``waiting_ns.p50`` ... and ``service_ns.p50`` ... in ``intervals`` (not
    judged against the baseline: :data:`PARTS`). The checks may hold ``all_started``,
    ``start_not_before_arrival`` and ``start_not_after_done``.

Upgrades on reading: a field an older version lacks is ``None`` (``model`` and ``setup_s``
before 3, ``trials``, ``comparison`` and ``floor`` before 4, ``allocations`` in 1, every part of
7 before 7), its ``intervals`` empty, and its ``scenario`` synthetic version 1 (before 6). Written, every
document is the current version.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, NamedTuple, NoReturn, Protocol

from harness.stats import PERCENTILE_NAMES, Interval, Jitter, LatencySummary
from protocol.errors import InvalidInput
from protocol.events import V1_SCENARIO

SCHEMA_VERSION = 7
SUPPORTED_VERSIONS = (1, 2, 3, 4, 5, 6, 7)
# Fields every supported version has; a document without them is broken, not old.
REQUIRED_KEYS = ("implementation", "workers", "mode", "workload", "events", "valid", "failures", "digest_ok",
                 "throughput_eps", "latency_ns", "cpu_s_per_event", "ctx_switches_per_event", "metadata")  # fmt: skip
# What every document before schema 6 computed: the one scenario there was, a version-1 file's.
BEFORE_SCENARIOS = V1_SCENARIO


# ---------------------------------------------------------------- the types


@dataclass(frozen=True)
class AllocationCount:
    """What one counting pass saw in its window."""

    events: int  # events handled in the counting pass (a prefix of the stream)
    allocations: int  # allocation calls in the window, the observer's excluded
    retained: int  # of those, blocks still allocated when the window closed
    observer: int  # allocations made by the tracker itself (excluded above)
    native_library: int  # allocations whose native stack passes through the native library
    outside_global_allocator: int  # of those, made by std or libc past Rust's allocator (module doc)
    crate_counter: int | None  # the native library's own count over the window, where loaded
    method: str  # how it was counted (harness.allocations.METHOD); a stored count keeps its own

    @property
    def per_event(self) -> float | None:
        return self.allocations / self.events if self.events else None

    @property
    def retained_per_event(self) -> float | None:
        return self.retained / self.events if self.events else None

    @property
    def cross_check_error(self) -> float | None:
        """Relative difference between memray's and the crate's count of the library's allocations."""
        if self.crate_counter is None or self.crate_counter == 0:
            return None
        seen = self.native_library - self.outside_global_allocator
        return abs(seen - self.crate_counter) / self.crate_counter

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "per_event": self.per_event,
            "retained_per_event": self.retained_per_event,
            "cross_check_error": self.cross_check_error,
        }


@dataclass(frozen=True)
class Attribution:
    """The diagnosis pass's shares of the handling threads' samples (``harness.diagnosis``)."""

    method: str
    samples: int  # every handling thread's samples together
    shares: Mapping[str, float]  # by bucket; empty where the sampler could not run
    unavailable: str | None = None  # why the sampler could not run here
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "samples": self.samples, "shares": dict(self.shares),
                "unavailable": self.unavailable, "notes": list(self.notes)}  # fmt: skip


@dataclass(frozen=True)
class ScenarioId:
    """The scenario whose semantics a run computed (SPEC §7), and its version."""

    name: str
    version: int


@dataclass(frozen=True)
class ThreadTime:
    """One thread's time in a run's window, from the kernel (``harness.threads``): on a CPU,
    runnable but waiting for one, and blocked (the rest of its time in the window)."""

    pid: int
    tid: int
    name: str
    handling: bool  # it handles events (the contender says which do; else: it ran in the window)
    span_s: float  # its time in the window: the window's, or from its start if it was born in it
    on_cpu_s: float
    runnable_s: float
    blocked_s: float
    voluntary_switches: int
    involuntary_switches: int


@dataclass(frozen=True)
class Shares:
    """What the handling threads did with their time in the window together: shares adding up to 1."""

    on_cpu: float
    runnable: float
    blocked: float
    threads: int  # how many handling threads

    @classmethod
    def of(cls, threads: Sequence[ThreadTime] | None) -> Shares | None:
        """The handling threads' shares, or None where no thread was read (not Linux, an old document)."""
        mine = [t for t in threads or () if t.handling]
        on_cpu, runnable = sum(t.on_cpu_s for t in mine), sum(t.runnable_s for t in mine)
        total = on_cpu + runnable + sum(t.blocked_s for t in mine)
        if total <= 0:
            return None
        return cls(on_cpu / total, runnable / total, 1 - (on_cpu + runnable) / total, len(mine))


@dataclass(frozen=True)
class TrialRecord:
    """One trial as a document keeps it: where it ran, whether it was right, its figures (None
    for a wrong trial, and latency for a closed loop's)."""

    round: int
    position: int | None  # its place in the round's shuffled order (0 first)
    valid: bool
    failures: tuple[str, ...]
    digest: str | None
    checks: Mapping[str, bool]
    setup_s: float | None
    cpu_s: float | None
    ctx_switches: int | None
    wall_s: float | None
    throughput_eps: float | None
    latency_ns: LatencySummary | None
    cpu_s_per_event: float | None
    ctx_switches_per_event: float | None
    # Every thread that handled events or ran in the window (None: not read, before schema 7),
    # and how many threads ended inside it (their time is lost with them).
    threads: tuple[ThreadTime, ...] | None = None
    threads_ended: int | None = None

    @cached_property
    def shares(self) -> Shares | None:
        """The handling threads' shares (computed once: every reader of SHARES asks for them)."""
        return Shares.of(self.threads)

    # Schema 7: the latency's parts (harness.runner.Figures), where starts were recorded.
    waiting_ns: LatencySummary | None = None
    service_ns: LatencySummary | None = None


@dataclass(frozen=True)
class Comparison:
    """How a document's trials were run (``compare`` and sweep points): what pairs them by round."""

    seed: int
    trials: int
    orders: tuple[tuple[str, ...], ...]  # each round's entrants by name, in the order they ran
    method: str | None  # how ratios were judged (stats.METHOD when written)
    family_confidence: float | None
    floor_unavailable: str | None  # why no floor ran beside the contenders, where none did


@dataclass(frozen=True)
class Floor:
    """The machine's floor that ran in the same rounds as a document's contender."""

    name: str
    trials: tuple[TrialRecord, ...]
    jitter: Jitter | None


@dataclass(frozen=True)
class SweepSettings:
    """What a sweep point was run at and judged against."""

    offered_eps: float
    objective_p99_ns: float
    seed: int | None = None  # the sweep's seed; None before schema 5
    attempt: int | None = None  # schema 4 and older: 2 for the run that confirmed a miss


@dataclass(frozen=True)
class TimelineLog:
    """Where a document's latency over time is: an HdrHistogram interval log beside it."""

    log: str  # its file name, in the document's own directory
    interval_ns: int
    assigned_by: str  # the interval an event counts in: that of its "intended arrival"
    significant_digits: int


class Figured(Protocol):
    """What has figures: a trial, or a document (its figures are the medians over its trials)."""

    @property
    def throughput_eps(self) -> float | None: ...
    @property
    def latency_ns(self) -> LatencySummary | None: ...
    @property
    def cpu_s_per_event(self) -> float | None: ...
    @property
    def ctx_switches_per_event(self) -> float | None: ...
    @property
    def waiting_ns(self) -> LatencySummary | None: ...
    @property
    def service_ns(self) -> LatencySummary | None: ...


@dataclass(frozen=True)
class ResultDocument:
    """One contender's results: its trials, the medians over them, what ran and where."""

    implementation: str
    model: str | None  # None before schema 3
    scenario: ScenarioId
    workers: int
    mode: str
    # Free-form: what the input was (a built-in's spec summary, a file's name), recorded as given;
    # readers take only its ``name`` or ``file``.
    workload: Mapping[str, Any]
    events: int
    n_keys: int | None
    digest: str | None
    reference_digest: str | None
    digest_ok: bool | None  # None where no reference was known (the reference itself, a floor)
    valid: bool
    failures: tuple[str, ...]
    checks: Mapping[str, bool]
    setup_s: float | None
    wall_s: float | None
    throughput_eps: float | None
    latency_ns: LatencySummary | None
    allocations_per_event: float | None
    allocations: AllocationCount | None
    cpu_s: float | None
    cpu_s_per_event: float | None
    ctx_switches: int | None
    ctx_switches_per_event: float | None
    intervals: Mapping[str, Interval]  # by figure name (:data:`FIGURES`)
    trials: tuple[TrialRecord, ...] | None  # None: written before trials (schema 3 and older)
    comparison: Comparison | None
    floor: Floor | None
    # Free-form: the machine, toolchain and commit (harness.metadata), compared field by field.
    metadata: Mapping[str, Any]
    created_unix_s: float | None
    sweep: SweepSettings | None = None
    timeline: TimelineLog | None = None  # None before 7, in closed loop, and for a wrong contender
    diagnosis: Attribution | None = None  # None: the pass did not run (and before schema 7)
    # Schema 7: whether the contender recorded starts (None: written before they existed), and
    # the medians of the latency's parts over the trials (None where not recorded or not meaningful).
    starts_recorded: bool | None = None
    waiting_ns: LatencySummary | None = None
    service_ns: LatencySummary | None = None
    source: str | None = field(default=None, compare=False)  # the file it was loaded from; never written

    def trials_or_run(self) -> tuple[TrialRecord, ...]:
        """Its trials; a document written before trials existed is one run: its own single trial."""
        return self.trials or (self.as_one_trial(),)

    def as_one_trial(self) -> TrialRecord:
        """Its headline figures as one trial, of round 0."""
        return TrialRecord(
            round=0, position=0, valid=self.valid, failures=self.failures, digest=self.digest, checks=self.checks,
            setup_s=self.setup_s, cpu_s=self.cpu_s, ctx_switches=self.ctx_switches, wall_s=self.wall_s,
            throughput_eps=self.throughput_eps, latency_ns=self.latency_ns, cpu_s_per_event=self.cpu_s_per_event,
            ctx_switches_per_event=self.ctx_switches_per_event, waiting_ns=self.waiting_ns,
            service_ns=self.service_ns,
        )  # fmt: skip

    @property
    def origin(self) -> str:
        """Where it came from, for messages: its file where it was loaded, else its contender."""
        return self.source or self.implementation

    def to_json(self) -> dict[str, Any]:
        """The document as the current schema writes it."""
        out = {
            "schema_version": SCHEMA_VERSION,
            "implementation": self.implementation,
            "model": self.model,
            "scenario": {"name": self.scenario.name, "version": self.scenario.version},
            "workers": self.workers,
            "mode": self.mode,
            "workload": dict(self.workload),
            "events": self.events,
            "n_keys": self.n_keys,
            "digest": self.digest,
            "reference_digest": self.reference_digest,
            "digest_ok": self.digest_ok,
            "valid": self.valid,
            "failures": list(self.failures),
            "checks": dict(self.checks),
            "setup_s": self.setup_s,
            "wall_s": self.wall_s,
            "throughput_eps": self.throughput_eps,
            "latency_ns": _latency_json(self.latency_ns),
            "allocations_per_event": self.allocations_per_event,
            "allocations": self.allocations.as_dict() if self.allocations else None,
            "cpu_s": self.cpu_s,
            "cpu_s_per_event": self.cpu_s_per_event,
            "ctx_switches": self.ctx_switches,
            "ctx_switches_per_event": self.ctx_switches_per_event,
            "intervals": {name: ci.as_dict() for name, ci in self.intervals.items()},
            "trials": None if self.trials is None else [_trial_json(t) for t in self.trials],
            "comparison": _comparison_json(self.comparison) if self.comparison else None,
            "floor": _floor_json(self.floor) if self.floor else None,
            "metadata": dict(self.metadata),
            "created_unix_s": self.created_unix_s,
            "timeline": asdict(self.timeline) if self.timeline else None,
            "starts_recorded": self.starts_recorded,
            "waiting_ns": _latency_json(self.waiting_ns),
            "service_ns": _latency_json(self.service_ns),
        }
        out["diagnosis"] = self.diagnosis.as_dict() if self.diagnosis else None
        if self.sweep:  # only sweep points have one: other documents have no key at all
            out["sweep"] = _sweep_json(self.sweep)
        return out

    @classmethod
    def from_json(cls, obj: object, source: str) -> ResultDocument:
        """A document of any supported version, checked and upgraded to the current type; a broken
        or newer one is an :class:`InvalidInput` naming ``source``, the field and the rule."""
        version = _schema_version(obj, source)
        doc = _Fields(obj, source)
        missing = [key for key in REQUIRED_KEYS if key not in doc.obj]
        if missing:
            raise InvalidInput(source, ", ".join(missing), "missing: not a complete result document")
        return cls(
            implementation=doc.text("implementation"),
            model=doc.text_or_none("model"),
            scenario=_scenario(doc) if version >= 6 else ScenarioId(*BEFORE_SCENARIOS),
            workers=doc.whole("workers"),
            mode=doc.text("mode"),
            workload=doc.mapping("workload"),
            events=doc.whole("events"),
            n_keys=doc.whole_or_none("n_keys"),
            digest=doc.text_or_none("digest"),
            reference_digest=doc.text_or_none("reference_digest"),
            digest_ok=doc.flag_or_none("digest_ok"),
            valid=doc.flag("valid"),
            failures=doc.texts("failures"),
            checks=doc.flags("checks"),
            setup_s=doc.number_or_none("setup_s"),
            wall_s=doc.number_or_none("wall_s"),
            throughput_eps=doc.number_or_none("throughput_eps"),
            latency_ns=_latency(doc, "latency_ns"),
            allocations_per_event=doc.number_or_none("allocations_per_event"),
            allocations=_allocations(doc),
            cpu_s=doc.number_or_none("cpu_s"),
            cpu_s_per_event=doc.number_or_none("cpu_s_per_event"),
            ctx_switches=doc.whole_or_none("ctx_switches"),
            ctx_switches_per_event=doc.number_or_none("ctx_switches_per_event"),
            intervals=_intervals(doc),
            trials=_trials(doc, "trials"),
            comparison=_comparison(doc),
            floor=_floor(doc),
            metadata=doc.mapping("metadata"),
            created_unix_s=doc.number_or_none("created_unix_s"),
            sweep=_sweep(doc),
            timeline=_timeline(doc) if version >= 7 else None,
            diagnosis=_diagnosis(doc) if version >= 7 else None,
            starts_recorded=doc.flag_or_none("starts_recorded") if version >= 7 else None,
            waiting_ns=_latency(doc, "waiting_ns") if version >= 7 else None,
            service_ns=_latency(doc, "service_ns") if version >= 7 else None,
            source=source,
        )


class Figure(NamedTuple):
    read: Callable[[Figured], float | None]
    higher_is_better: bool


def _percentile(name: str) -> Callable[[Figured], float | None]:
    return lambda f: f.latency_ns.value(name) if f.latency_ns else None


def _part(part: str, name: str) -> Callable[[Figured], float | None]:
    summary_of: Callable[[Figured], LatencySummary | None] = (
        (lambda f: f.waiting_ns) if part == "waiting_ns" else (lambda f: f.service_ns)
    )
    return lambda f: summary.value(name) if (summary := summary_of(f)) else None


# Every figure a trial has, by the name documents use for it (in ``intervals``): how to read it
# from a trial (or a document's medians), and whether higher is better.
FIGURES: dict[str, Figure] = {
    "throughput_eps": Figure(lambda f: f.throughput_eps, True),
    **{f"latency_ns.{p}": Figure(_percentile(p), False) for p in PERCENTILE_NAMES},
    "cpu_s_per_event": Figure(lambda f: f.cpu_s_per_event, False),
    "ctx_switches_per_event": Figure(lambda f: f.ctx_switches_per_event, False),
}

# What the handling threads did with their time in the window (:class:`Shares`), by the names
# ``intervals`` keeps their medians under. They explain figures, and are never judged as better
# or worse (a pool that waits less is not faster by that alone), so they are not in FIGURES.
SHARES: dict[str, Callable[[TrialRecord], float | None]] = {
    "threads.on_cpu": lambda t: t.shares.on_cpu if t.shares else None,
    "threads.runnable": lambda t: t.shares.runnable if t.shares else None,
    "threads.blocked": lambda t: t.shares.blocked if t.shares else None,
}

# The latency's parts (schema 7), read like FIGURES and given medians with intervals like them,
# but never judged against a baseline: they explain a latency's verdict rather than add ten more
# to the family judged together, which would widen every figure's interval (docs/statistics.md)
# and leave verdicts undecided that are decided today.
PARTS: dict[str, Figure] = {
    f"{part}.{p}": Figure(_part(part, p), False) for part in ("waiting_ns", "service_ns") for p in PERCENTILE_NAMES
}


# ---------------------------------------------------------------- writing the parts


def _latency_json(latency: LatencySummary | None) -> dict[str, float] | None:
    return latency.as_dict() if latency else None


def _trial_json(t: TrialRecord) -> dict[str, Any]:
    return {
        "round": t.round,
        "position": t.position,
        "valid": t.valid,
        "failures": list(t.failures),
        "digest": t.digest,
        "checks": dict(t.checks),
        "setup_s": t.setup_s,
        "cpu_s": t.cpu_s,
        "ctx_switches": t.ctx_switches,
        "wall_s": t.wall_s,
        "throughput_eps": t.throughput_eps,
        "latency_ns": _latency_json(t.latency_ns),
        "cpu_s_per_event": t.cpu_s_per_event,
        "ctx_switches_per_event": t.ctx_switches_per_event,
        "threads": None if t.threads is None else [asdict(thread) for thread in t.threads],
        "threads_ended": t.threads_ended,
        "waiting_ns": _latency_json(t.waiting_ns),
        "service_ns": _latency_json(t.service_ns),
    }


def _comparison_json(c: Comparison) -> dict[str, Any]:
    return {
        "seed": c.seed,
        "trials": c.trials,
        "orders": [list(order) for order in c.orders],
        "method": c.method,
        "family_confidence": c.family_confidence,
        "floor_unavailable": c.floor_unavailable,
    }


def _floor_json(f: Floor) -> dict[str, Any]:
    return {"name": f.name, "trials": [_trial_json(t) for t in f.trials], "jitter": _jitter_json(f.jitter)}


def _jitter_json(j: Jitter | None) -> dict[str, Any] | None:
    if j is None:
        return None
    return {
        "probes": [dict(p) for p in j.probes],
        "seconds": j.seconds,
        "reads": j.reads,
        "gaps_ns": j.gaps_ns.as_dict(),
        "over_10us_per_s": j.over_10us_per_s,
        "over_100us_per_s": j.over_100us_per_s,
        "over_1ms_per_s": j.over_1ms_per_s,
    }


def _sweep_json(s: SweepSettings) -> dict[str, Any]:
    """A point's settings; ``seed`` and ``attempt`` only where the point has them (as written then)."""
    out: dict[str, Any] = {"offered_eps": s.offered_eps, "objective_p99_ns": s.objective_p99_ns}
    out |= {"seed": s.seed} if s.seed is not None else {}
    return out | ({"attempt": s.attempt} if s.attempt is not None else {})


# ---------------------------------------------------------------- reading, with the rules


def _kind(value: object) -> str:
    """A JSON value's kind, for messages."""
    kinds = ((type(None), "null"), (bool, "true or false"), ((int, float), "a number"), (str, "a string"),
             (list, "a list"), (dict, "an object"))  # fmt: skip
    return next((name for types, name in kinds if isinstance(value, types)), type(value).__name__)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Fields:
    """A JSON object's fields, each read by the rule it must keep; one that breaks it is an
    :class:`InvalidInput` naming the file, the field (its path in the document) and the rule.
    A field read ``_or_none`` may be null, or missing (from a version that predates it)."""

    def __init__(self, obj: object, source: str, where: str = "", rule: str = "must be an object") -> None:
        if not isinstance(obj, dict):
            raise InvalidInput(source, where or "document", f"{rule}, got {_kind(obj)}")
        self.obj: dict[str, Any] = obj
        self.source, self.where = source, where

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, rule: str) -> NoReturn:
        raise InvalidInput(self.source, self.path(key), rule)

    def _checked(self, key: str, ok: Callable[[object], bool], what: str, optional: bool) -> Any:
        value = self.obj.get(key)
        if value is None and optional:
            return None
        if not ok(value):
            self.fail(key, f"must be {what}{' or null' if optional else ''}, got {_kind(value)}")
        return value

    def text(self, key: str) -> str:
        return self._checked(key, lambda v: isinstance(v, str), "a string", False)

    def text_or_none(self, key: str) -> str | None:
        return self._checked(key, lambda v: isinstance(v, str), "a string", True)

    def whole(self, key: str) -> int:
        return self._checked(key, _is_whole, "a whole number", False)

    def whole_or_none(self, key: str) -> int | None:
        return self._checked(key, _is_whole, "a whole number", True)

    def number(self, key: str) -> float:
        return self._checked(key, _is_number, "a number", False)

    def number_or_none(self, key: str) -> float | None:
        return self._checked(key, _is_number, "a number", True)

    def flag(self, key: str) -> bool:
        return self._checked(key, lambda v: isinstance(v, bool), "true or false", False)

    def flag_or_none(self, key: str) -> bool | None:
        return self._checked(key, lambda v: isinstance(v, bool), "true or false", True)

    def mapping(self, key: str) -> dict[str, Any]:
        return self._checked(key, lambda v: isinstance(v, dict), "an object", False)

    def texts(self, key: str) -> tuple[str, ...]:
        """A list of strings; missing, none."""
        found = self.obj.get(key, [])
        if not isinstance(found, list) or not all(isinstance(v, str) for v in found):
            self.fail(key, f"must be a list of strings, got {_kind(found)}")
        return tuple(found)

    def flags(self, key: str) -> dict[str, bool]:
        """An object of true or false by name; missing, empty."""
        found = self.obj.get(key, {})
        if not isinstance(found, dict) or not all(isinstance(v, bool) for v in found.values()):
            self.fail(key, f"must map names to true or false, got {_kind(found)}")
        return dict(found)

    def nested(self, key: str, rule: str) -> _Fields | None:
        """The object under ``key``; None where it is null or missing."""
        value = self.obj.get(key)
        return None if value is None else _Fields(value, self.source, self.path(key), rule)


def _schema_version(obj: object, source: str) -> int:
    if not isinstance(obj, dict) or "schema_version" not in obj:
        raise InvalidInput(source, "schema_version", "missing: not an eventbench result document")
    version = obj["schema_version"]
    if not _is_whole(version):
        raise InvalidInput(source, "schema_version", f"must be an integer, got {version!r}")
    if version not in SUPPORTED_VERSIONS:
        who = "a newer eventbench wrote it" if version > max(SUPPORTED_VERSIONS) else "no eventbench writes it"
        raise InvalidInput(
            source,
            "schema_version",
            f"{version} is not one this eventbench reads ({', '.join(map(str, SUPPORTED_VERSIONS))}); {who}",
        )
    return int(version)


def _scenario(doc: _Fields) -> ScenarioId:
    found = doc.obj.get("scenario")
    if not (isinstance(found, dict) and isinstance(found.get("name"), str) and _is_whole(found.get("version"))):
        doc.fail("scenario", "must hold its name (a string) and version (a whole number)")
    return ScenarioId(found["name"], found["version"])


def _latency(fields: _Fields, key: str) -> LatencySummary | None:
    found = fields.obj.get(key)
    if found is None:
        return None
    if not (isinstance(found, dict) and all(_is_number(found.get(p)) for p in PERCENTILE_NAMES)):
        fields.fail(key, f"must be null or hold numbers {', '.join(PERCENTILE_NAMES)}")
    return LatencySummary(**{p: found[p] for p in PERCENTILE_NAMES})


_INTERVAL_KEYS = ("point", "low", "high", "confidence", "n")


def _intervals(doc: _Fields) -> dict[str, Interval]:
    found = doc.obj.get("intervals") or {}
    rule = f"must map figures to intervals holding numbers {', '.join(_INTERVAL_KEYS)}"
    if not isinstance(found, dict):
        doc.fail("intervals", rule)
    out = {}
    for figure, ci in found.items():
        if not (isinstance(ci, dict) and all(_is_number(ci.get(k)) for k in _INTERVAL_KEYS) and _is_whole(ci["n"])):
            doc.fail(f"intervals.{figure}", rule.replace("map figures to intervals holding", "hold") + " (n whole)")
        try:
            out[figure] = Interval(**{k: ci[k] for k in _INTERVAL_KEYS})
        except ValueError as e:
            doc.fail(f"intervals.{figure}", str(e))
    return out


def _trials(fields: _Fields, key: str) -> tuple[TrialRecord, ...] | None:
    found = fields.obj.get(key)
    if found is None:
        return None
    if not isinstance(found, list):
        fields.fail(key, f"must be a list of trials, got {_kind(found)}")
    out = tuple(_trial(_Fields(t, fields.source, f"{fields.path(key)}[{i}]")) for i, t in enumerate(found))
    rounds = [t.round for t in out]
    if len(set(rounds)) != len(rounds):
        fields.fail(key, f"each trial must have its own round; rounds {rounds}")
    return out


def _trial(t: _Fields) -> TrialRecord:
    return TrialRecord(
        round=t.whole("round"),
        position=t.whole_or_none("position"),
        valid=t.flag("valid"),
        failures=t.texts("failures"),
        digest=t.text_or_none("digest"),
        checks=t.flags("checks"),
        setup_s=t.number_or_none("setup_s"),
        cpu_s=t.number_or_none("cpu_s"),
        ctx_switches=t.whole_or_none("ctx_switches"),
        wall_s=t.number_or_none("wall_s"),
        throughput_eps=t.number_or_none("throughput_eps"),
        latency_ns=_latency(t, "latency_ns"),
        cpu_s_per_event=t.number_or_none("cpu_s_per_event"),
        ctx_switches_per_event=t.number_or_none("ctx_switches_per_event"),
        threads=_threads(t),
        threads_ended=t.whole_or_none("threads_ended"),
        waiting_ns=_latency(t, "waiting_ns"),  # absent before schema 7: None
        service_ns=_latency(t, "service_ns"),
    )


def _threads(t: _Fields) -> tuple[ThreadTime, ...] | None:
    found = t.obj.get("threads")
    if found is None:
        return None
    if not isinstance(found, list):
        t.fail("threads", f"must be null or a list of threads, got {_kind(found)}")
    return tuple(_thread(_Fields(x, t.source, f"{t.path('threads')}[{i}]")) for i, x in enumerate(found))


def _thread(x: _Fields) -> ThreadTime:
    thread = ThreadTime(
        pid=x.whole("pid"), tid=x.whole("tid"), name=x.text("name"), handling=x.flag("handling"),
        span_s=x.number("span_s"), on_cpu_s=x.number("on_cpu_s"), runnable_s=x.number("runnable_s"),
        blocked_s=x.number("blocked_s"), voluntary_switches=x.whole("voluntary_switches"),
        involuntary_switches=x.whole("involuntary_switches"),
    )  # fmt: skip
    for key in ("span_s", "on_cpu_s", "runnable_s", "blocked_s", "voluntary_switches", "involuntary_switches"):
        value = getattr(thread, key)
        if not (math.isfinite(value) and value >= 0):
            x.fail(key, f"must be a finite number, 0 or more, got {value}")
    return thread


def _allocations(doc: _Fields) -> AllocationCount | None:
    a = doc.nested("allocations", "must be null or an object")
    if a is None:
        return None
    return AllocationCount(
        events=a.whole("events"),
        allocations=a.whole("allocations"),
        retained=a.whole("retained"),
        observer=a.whole("observer"),
        native_library=a.whole("native_library"),
        outside_global_allocator=a.whole("outside_global_allocator"),
        crate_counter=a.whole_or_none("crate_counter"),
        method=a.text("method"),
    )


def _diagnosis(doc: _Fields) -> Attribution | None:
    d = doc.nested("diagnosis", "must be null or an object")
    if d is None:
        return None
    shares = d.mapping("shares")
    if not all(_is_number(v) and 0 <= v <= 1 for v in shares.values()):
        d.fail("shares", "must map buckets to shares between 0 and 1")
    return Attribution(
        method=d.text("method"), samples=d.whole("samples"), shares=shares,
        unavailable=d.text_or_none("unavailable"), notes=d.texts("notes"),
    )  # fmt: skip


def _comparison(doc: _Fields) -> Comparison | None:
    c = doc.nested("comparison", "must be null or an object")
    if c is None:
        return None
    orders = c.obj.get("orders")
    if not (isinstance(orders, list) and all(isinstance(o, list) and all(isinstance(n, str) for n in o)
                                             for o in orders)):  # fmt: skip
        c.fail("orders", "must be a list of rounds, each a list of names")
    return Comparison(
        seed=c.whole("seed"),
        trials=c.whole("trials"),
        orders=tuple(tuple(order) for order in orders),
        method=c.text_or_none("method"),
        family_confidence=c.number_or_none("family_confidence"),
        floor_unavailable=c.text_or_none("floor_unavailable"),
    )


def _floor(doc: _Fields) -> Floor | None:
    f = doc.nested("floor", "must be null or an object")
    if f is None:
        return None
    return Floor(name=f.text("name"), trials=_trials(f, "trials") or (), jitter=_jitter(f))


def _jitter(floor: _Fields) -> Jitter | None:
    j = floor.nested("jitter", "must be null or an object")
    if j is None:
        return None
    probes = j.obj.get("probes")
    if not (isinstance(probes, list) and all(isinstance(p, dict) for p in probes)):
        j.fail("probes", "must be a list of the probe's runs")
    gaps = _latency(j, "gaps_ns")
    if gaps is None:
        j.fail("gaps_ns", f"must hold numbers {', '.join(PERCENTILE_NAMES)}")
    return Jitter(
        probes=tuple(probes),
        seconds=j.number("seconds"),
        reads=j.whole("reads"),
        gaps_ns=gaps,
        over_10us_per_s=j.number("over_10us_per_s"),
        over_100us_per_s=j.number("over_100us_per_s"),
        over_1ms_per_s=j.number("over_1ms_per_s"),
    )


def _sweep(doc: _Fields) -> SweepSettings | None:
    found = doc.obj.get("sweep")
    if found is None:
        return None
    if not (isinstance(found, dict) and all(_is_number(found.get(k)) for k in ("offered_eps", "objective_p99_ns"))):
        doc.fail("sweep", "must hold numbers offered_eps and objective_p99_ns")
    s = _Fields(found, doc.source, "sweep")
    return SweepSettings(
        offered_eps=s.number("offered_eps"),
        objective_p99_ns=s.number("objective_p99_ns"),
        seed=s.whole_or_none("seed"),
        attempt=s.whole_or_none("attempt"),
    )


def _timeline(doc: _Fields) -> TimelineLog | None:
    t = doc.nested("timeline", "must be an object or null")
    if t is None:
        return None
    log = t.text("log")
    if not log or "/" in log or "\\" in log or log.startswith("."):
        t.fail("log", "must be a file name in the document's directory")
    return TimelineLog(log, t.whole("interval_ns"), t.text("assigned_by"), t.whole("significant_digits"))
