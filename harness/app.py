"""The application's work, one function per command: a typed request in, a typed outcome out.

Each reads like a script: load the stream, run, check, write the documents. No function here
reads the command line or decides an exit status (``harness/cli.py`` does both); their lines
go through a :class:`Console`, so tests and Python callers drive them without a terminal. Every
run goes through :mod:`harness.runner`, which checks it: a wrong run is reported as wrong (run,
verify, compare, sweep) or refused (:class:`~harness.runner.WrongRun`: soak, the counting
pass, pyperf), never given a figure.
"""

from __future__ import annotations

import os
import random
import secrets
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import implementations
import scenarios
from harness import allocations, diagnosis, numbers, report, results, soak, stats, sweep, timeline, trials, workload
from harness.document import AllocationCount, Comparison, Floor, ResultDocument, SweepSettings
from harness.inputs import LoadedStream, StreamSource, hosting, load_stream, run_mode, scenario_named, workload_spec
from harness.reference import reference_digest
from harness.runner import run_once
from implementations import REFERENCE, Contender, ContenderError, Unavailable, native_cffi
from implementations.floors import floor_for
from implementations.native_cffi import JitterSummary
from protocol.errors import InvalidInput
from protocol.events import EventStream, write_evts
from protocol.storage import check_writable

MIN_SWEEP_EVENTS = 5000  # below this, a point's p99 rests on a handful of events
MAX_SWEEP_TRIAL_S = 600  # a trial offering load for longer is a typo (a rate in events/hour, say)
MAX_JITTER_PROBE_S = 0.25  # per round of compare: at most 2.5 s of the platform's own gaps over 10 rounds


def _stdout(line: str) -> None:
    print(line, flush=True)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Console:
    """Where a command's lines go: ``out``, its results as they come (a verify line per run, a
    sweep row per rate); ``err``, progress between steps and notes. Never a live display during a
    timed run: its refresh thread would take the GIL from Python contenders and show up in their
    latencies. (The untimed counting pass shows :func:`report.activity` on stderr.)"""

    out: Callable[[str], None] = _stdout
    err: Callable[[str], None] = _stderr


TERMINAL = Console()  # stdout and stderr, every line flushed as it comes


# ---------------------------------------------------------------- list and export


@dataclass(frozen=True)
class Listing:
    implementations: list[dict[str, Any]]
    scenarios: list[dict[str, Any]]  # each with its workloads and the available contenders that host it


def listing(scenario: str | None = None) -> Listing:
    """Every implementation and scenario (only those of ``scenario`` where given)."""
    asked = scenario_named(scenario)
    contenders = implementations.registry()
    entries = [
        {
            "name": r.name,
            "language": r.contender.info.language if r.contender else None,
            "model": r.contender.info.model if r.contender else None,
            "available": r.available,
            "reason": r.reason,
            "description": r.contender.info.description if r.contender else "",
            "origin": r.origin,
            "scenarios": list(r.contender.info.scenarios) if r.contender and r.contender.info.scenarios else None,
        }
        for r in contenders
        if asked is None or r.contender is None or r.contender.info.hosts(asked.name)
    ]
    scenario_entries = [
        _scenario_entry(r, contenders) for r in scenarios.registry() if asked is None or r.name == asked.name
    ]
    return Listing(entries, scenario_entries)


def _scenario_entry(
    registration: scenarios.Registration, contenders: list[implementations.Registration]
) -> dict[str, Any]:
    """A scenario as ``list`` shows it: its workloads and the available contenders that host it."""
    found = registration.scenario
    if found is None:
        return {"name": registration.name, "available": False, "reason": registration.reason,
                "origin": registration.origin}  # fmt: skip
    hosts = [
        r.name for r in contenders if r.contender is not None and r.available and r.contender.info.hosts(found.name)
    ]
    cannot = [
        {"contender": r.name, "reason": why}
        for r in contenders
        if r.contender is not None and (why := dict(r.contender.info.cannot_host).get(found.name)) is not None
    ]
    return {
        "name": found.name,
        "version": found.version,
        "description": found.description,
        "available": True,
        "reason": "",
        "origin": registration.origin,
        "contenders": hosts,
        "cannot_host": cannot,
        "workloads": [_workload_entry(name) for name in workload.builtin_names(found)]
        + [
            {"name": name, "description": f"[{why}]", "unusable": why}
            for name, why in workload.name_clashes(found).items()
        ],
    }


def _workload_entry(name: str) -> dict[str, Any]:
    """A built-in workload as ``list`` shows it; a broken one (a plugin's bad TOML) with its reason."""
    try:
        return workload.builtin(name).summary()
    except InvalidInput as e:
        return {"name": name, "description": f"[unusable: {e}]", "unusable": str(e)}


@dataclass(frozen=True)
class Exported:
    path: Path
    n_events: int
    n_keys: int


def export(source: StreamSource, output: Path) -> Exported:
    """The stream of ``source`` written as a ``.evts`` file (nothing written where the input is bad)."""
    check_writable(output)
    loaded = load_stream(source)
    path = write_evts(loaded.stream, output)
    return Exported(path, loaded.stream.n_events, loaded.stream.n_keys)


# ---------------------------------------------------------------- run


@dataclass(frozen=True)
class RunRequest:
    source: StreamSource
    contender: Contender
    workers: int
    mode: str | None = None  # None: open where the stream has arrival times
    json: Path | None = None  # where the document goes, if anywhere
    alloc_events: int | None = None  # the counting pass's events: None the default, 0 none
    reference_cache: bool = True  # False: the reference digest computed, the cache neither read nor written
    timeline_ns: int = timeline.INTERVAL_NS  # the intervals of its latency over time (open loop)
    diagnose: bool = False  # the diagnosis pass after the run; its SVG beside ``json`` (JSON.diagnosis/)


@dataclass(frozen=True)
class Measured:
    document: ResultDocument  # a wrong run's too: it says why, with no figures
    diagnosis: diagnosis.Diagnosis | None = None
    diagnosis_files: tuple[Path, ...] = ()

    @property
    def valid(self) -> bool:
        return self.document.valid


def run_one(request: RunRequest, console: Console = TERMINAL) -> Measured:
    """One run of one contender, checked against the reference; a valid one gets its allocations counted."""
    if request.json:
        check_writable(request.json)
    loaded = load_stream(request.source)
    (contender,) = hosting([request.contender], loaded.stream.scenario)
    mode = run_mode(request.mode, loaded)
    reference = reference_digest(loaded.stream, cached=request.reference_cache)
    outcome = run_once(contender, loaded.stream, workers=request.workers, mode=mode, reference_digest=reference)
    trial = trials.Trial.of(outcome, loaded.stream, interval_ns=request.timeline_ns)
    doc = measured_document(trial, loaded, contender, request.alloc_events, console)
    found, files = None, []
    if request.diagnose and doc.valid:
        (doc,), (found,) = diagnosed([doc], [contender], loaded, mode, request.source, console)
        if request.json:
            where = request.json.with_name(f"{request.json.stem}.diagnosis")
            files = diagnosis.write([found], where, f"{loaded.label}, {mode} loop")
    if request.json:  # with its latency over time beside it (NAME.hlog), in open loop
        doc = results.publish(doc, [trial], request.json)
    return Measured(doc, found, tuple(files))


def counted_allocations(
    contender: Contender, loaded: LoadedStream, workers: int, max_events: int | None, console: Console
) -> AllocationCount | None:
    """The separate counting pass (never inside a timed run) over the first ``max_events`` events
    (None: :data:`allocations.DEFAULT_EVENTS`); None when skipped or unavailable."""
    if max_events == 0:
        return None
    max_events = allocations.DEFAULT_EVENTS if max_events is None else max_events
    n = min(max_events, loaded.stream.n_events)
    message = f"  counting {contender.info.name}'s allocations over {n} events (a separate, untimed pass)"
    notes: list[str] = []
    try:
        with report.activity(message):  # untimed, so a live spinner is harmless here
            count = allocations.count_allocations(contender, loaded.stream, workers, max_events, note=notes.append)
    except allocations.CountingUnavailable as e:
        console.err(f"  allocations not counted: {e}")
        return None
    for line in notes:  # after the spinner, which would overwrite them
        console.err(f"  allocations: {line}")
    return count


def measured_document(
    trial: trials.Trial, loaded: LoadedStream, contender: Contender, alloc_events: int | None, console: Console
) -> ResultDocument:
    """The result document of one run; a valid run gets its allocations counted."""
    outcome = trial.outcome
    counted = counted_allocations(contender, loaded, outcome.workers, alloc_events, console) if outcome.valid else None
    return results.document([trial], loaded.info, counted)


# ---------------------------------------------------------------- verify


@dataclass(frozen=True)
class VerifyRequest:
    """Every contender (``None``: every available one that hosts the stream) at each worker count
    (the parallel ones; the others at 1) on the stream of ``source``, or, where it names neither
    file nor workload, on every built-in workload of its scenario (default synthetic) in turn."""

    source: StreamSource
    contenders: tuple[Contender, ...] | None = None
    worker_counts: tuple[int, ...] = (1,)
    mode: str | None = None
    reference_cache: bool = True


@dataclass(frozen=True)
class Verdict:
    contender: str
    workers: int
    digest: str
    failures: tuple[str, ...]  # none: it matched the reference and passed every check

    @property
    def valid(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class StreamVerdicts:
    label: str
    reference: str
    runs: list[Verdict]


@dataclass(frozen=True)
class Verified:
    streams: list[StreamVerdicts]

    @property
    def wrong(self) -> int:
        """How many runs differed from the reference or failed a check."""
        return sum(not run.valid for verdicts in self.streams for run in verdicts.runs)


def verify(request: VerifyRequest, console: Console = TERMINAL) -> Verified:
    """Every contender against the reference, a line per run as it ends; each stream is made
    when its turn comes (only one is held at a time)."""
    return Verified([_verify_one(load_stream(source), request, console) for source in _verified_sources(request)])


def _verified_sources(request: VerifyRequest) -> list[StreamSource]:
    given = request.source
    if given.workload or given.events:
        return [given]
    scenario = scenario_named(given.scenario) or scenarios.get(scenarios.DEFAULT)
    names = workload.builtin_names(scenario)
    if not names:
        raise InvalidInput("--scenario", scenario.name, "has no built-in workloads: give --workload or --events")
    return [replace(given, workload=name) for name in names]


def _verify_one(loaded: LoadedStream, request: VerifyRequest, console: Console) -> StreamVerdicts:
    """Verifies one stream."""
    contenders = hosting(request.contenders, loaded.stream.scenario, console.err)
    mode = run_mode(request.mode, loaded)
    reference = reference_digest(loaded.stream, cached=request.reference_cache)
    scenario = loaded.stream.scenario
    console.out(f"{loaded.label} ({scenario.name} v{scenario.version}): reference ({REFERENCE}) digest {reference} · "
                f"{loaded.stream.n_events} events · {mode} loop")  # fmt: skip
    runs = []
    for contender in contenders:
        for workers in request.worker_counts if contender.info.parallel else [1]:
            outcome = run_once(contender, loaded.stream, workers=workers, mode=mode, reference_digest=reference)
            verdict = "ok" if outcome.valid else "WRONG: " + "; ".join(outcome.failures())
            console.out(f"  {contender.info.name:<20} workers {workers:<3} digest {outcome.digest}  {verdict}")
            runs.append(Verdict(contender.info.name, workers, outcome.digest, tuple(outcome.failures())))
    return StreamVerdicts(loaded.label, reference, runs)


# ---------------------------------------------------------------- compare


@dataclass(frozen=True)
class CompareRequest:
    """Verified trials of every contender (``None``: every available one that hosts the stream),
    interleaved in rounds shuffled from ``seed`` (random, and recorded, where ``None``)."""

    source: StreamSource
    contenders: tuple[Contender, ...] | None = None
    workers: int = 1  # for the parallel contenders
    mode: str | None = None
    baseline: str = REFERENCE  # ratios are against this contender
    results_dir: Path = Path("results")  # documents go under RESULTS_DIR/runs/
    trials: int = trials.DEFAULT_TRIALS
    seed: int | None = None
    alloc_events: int | None = None  # as in RunRequest
    with_report: bool = False  # also report.md and the plots, beside the documents
    reference_cache: bool = True
    timeline_ns: int = timeline.INTERVAL_NS  # as in RunRequest
    diagnose: bool = False  # the diagnosis pass (harness/diagnosis.py) after the trials


@dataclass(frozen=True)
class Compared:
    documents: list[ResultDocument]  # every contender's, and in open loop every floor's
    baseline: ResultDocument | None
    title: str
    directory: Path  # where the documents were published
    report_files: list[Path]  # report.md and the plots, where asked for
    diagnoses: list[diagnosis.Diagnosis] = field(default_factory=list)  # where asked for
    diagnosis_files: list[Path] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return all(d.valid for d in self.documents)


def compare(request: CompareRequest, console: Console = TERMINAL) -> Compared:
    """The trials, every one checked, and each contender's document, published together or not at all."""
    loaded = load_stream(request.source)
    contenders = hosting(request.contenders, loaded.stream.scenario, console.err)
    names = [c.info.name for c in contenders]
    if request.baseline not in names:
        raise InvalidInput("--baseline", request.baseline, f"is not among the contenders compared ({', '.join(names)})")
    mode = run_mode(request.mode, loaded)
    seed = request.seed if request.seed is not None else secrets.randbits(32)
    # Staged: published whole when the block ends; a failure or an interrupt leaves nothing.
    with results.RunDirectory(request.results_dir, f"compare-{loaded.label}") as out:
        console.err(f"{loaded.label}: {loaded.stream.n_events} events, {loaded.stream.n_keys} keys, {mode} loop; "
                    f"{request.trials} trials of each, interleaved (seed {seed})"
                    f"{_expected_duration(loaded.stream, mode)} a trial")  # fmt: skip
        compared = compared_documents(contenders, loaded, mode, request, seed, console)
        docs = [doc for doc, _ in compared]
        diagnoses: list[diagnosis.Diagnosis] = []
        diagnosis_files: list[Path] = []
        if request.diagnose:
            docs, diagnoses = diagnosed(docs, contenders, loaded, mode, request.source, console)
            diagnosis_files = diagnosis.write(diagnoses, out.path / "diagnosis", f"{loaded.label}, {mode} loop")
        # Each document with its interval log beside it (latency over time, open loop).
        docs = [results.publish(doc, runs, out.path / results.file_name(doc))
                for doc, (_, runs) in zip(docs, compared, strict=True)]  # fmt: skip
        written = (
            report.build(docs, out.path / "report", request.baseline, print_tables=False) if request.with_report else []
        )
    docs = [_published(d, out) for d in docs]
    baseline = next((d for d in docs if d.implementation == request.baseline), None)
    title = (f"{loaded.label} · {loaded.stream.n_events} events · {mode} loop · {request.trials} trials · "
             f"against {request.baseline}")  # fmt: skip
    return Compared(docs, baseline, title, out.final, [out.published(p) for p in written], diagnoses,
                    [out.published(p) for p in diagnosis_files])  # fmt: skip


def diagnosed(
    docs: list[ResultDocument],
    contenders: list[Contender],
    loaded: LoadedStream,
    mode: str,
    source: StreamSource,
    console: Console = TERMINAL,
) -> tuple[list[ResultDocument], list[diagnosis.Diagnosis]]:
    """The diagnosis pass (untimed, sampled runs) of every contender whose trials were right,
    after every timed trial; the documents with its shares. A workload (not a recorded file) can
    be made longer for it, where the timed window is too short to sample."""

    def longer(n_events: int) -> EventStream:
        return load_stream(replace(source, n_events=n_events)).stream

    by_name = {c.info.name: c for c in contenders}
    out, found = [], []
    made_longer = None if source.events else longer
    for doc in docs:
        contender = by_name.get(doc.implementation)
        if contender is None or not doc.valid:  # a floor, or a wrong contender: nothing to diagnose
            out.append(doc)
            continue
        # One plain line, not report.activity's spinner: its refresh thread would take the GIL
        # while the pass samples who waits for it.
        console.err(f"  diagnosing {doc.implementation} (a separate, sampled, untimed run) ...")
        try:
            d = diagnosis.diagnose(contender, loaded.stream, doc.workers, mode, window_s=doc.wall_s, longer=made_longer)
        except ContenderError as e:  # wrong or failed under the sampler: said in its table; the trials stand
            d = diagnosis.failed(contender, f"the sampled run failed: {e}")
        found.append(d)
        out.append(replace(doc, diagnosis=diagnosis.attribution(d)))
    return out, found


def _published(doc: ResultDocument, out: results.RunDirectory) -> ResultDocument:
    """A document written while its directory was staged, as it is once published."""
    return replace(doc, source=str(out.published(Path(doc.source)))) if doc.source else doc


def compared_documents(
    contenders: list[Contender], loaded: LoadedStream, mode: str, request: CompareRequest, seed: int, console: Console
) -> list[tuple[ResultDocument, list[trials.Trial]]]:
    """The trials of every contender, and in open loop of the floors that pace as they do, with
    the jitter probe before each round; then each one's document, allocations counted, beside
    the trials it was made of (their latency over time is written beside it)."""
    reference = reference_digest(loaded.stream, cached=request.reference_cache)
    entrants = [trials.Entrant(c, c.effective_workers(request.workers), reference) for c in contenders]
    floors, floor_unavailable = machine_floors(contenders) if mode == "open" else ({}, None)
    entrants += [trials.Entrant(floor, 1, None) for floor in dict.fromkeys(floors.values())]
    probes: list[JitterSummary] = []
    probe_s = min(MAX_JITTER_PROBE_S, max(0.01, _last_arrival_s(loaded.stream)))  # about as long as a trial
    orders = trials.round_orders(len(entrants), request.trials, seed)
    done = trials.run_trials(
        entrants, loaded.stream, mode=mode, orders=orders, progress=console.err,
        between_rounds=lambda _: probes.extend(_jitter(probe_s, console) if floors else []),
        interval_ns=request.timeline_ns,
    )  # fmt: skip
    comparison = comparison_record(
        seed, entrants, orders, floor_unavailable or (None if probes or not floors else "the jitter probe failed")
    )
    jitter = stats.jitter_summary([asdict(p) for p in probes])
    # Every timed trial first: the counting passes install a profiler and allocator hooks,
    # and no timed run should follow them in the same process.
    docs = []
    for entrant in entrants:
        runs = done[entrant.name]
        counting = entrant.reference is not None and all(t.outcome.valid for t in runs)  # a floor handles nothing
        counted = (
            counted_allocations(entrant.contender, loaded, entrant.workers, request.alloc_events, console)
            if counting
            else None
        )
        floor = floors.get(entrant.name)
        floor_doc = floor_record(floor, done, jitter) if floor else None
        docs.append((results.document(runs, loaded.info, counted, comparison, floor_doc), runs))
    return docs


def floor_record(floor: Contender, done: dict[str, list[trials.Trial]], jitter: stats.Jitter | None) -> Floor:
    """What a document keeps of the floor that ran in its rounds: its trials, and the probe's gaps."""
    return Floor(floor.info.name, tuple(t.record() for t in done[floor.info.name]), jitter)


def comparison_record(
    seed: int, entrants: list[trials.Entrant], orders: list[list[int]], floor_unavailable: str | None
) -> Comparison:
    """How the trials were run, as documents record it: what pairs them by round and how they were judged."""
    return Comparison(
        seed=seed,
        trials=len(orders),
        orders=tuple(tuple(entrants[i].name for i in order) for order in orders),
        method=stats.METHOD,
        family_confidence=stats.FAMILY_CONFIDENCE,
        floor_unavailable=floor_unavailable,
    )


def machine_floors(contenders: list[Contender]) -> tuple[dict[str, Contender], str | None]:
    """For each contender, the floor that paces as it does (its latency is read against that floor's):
    the engine's for the Rust contenders, Python's sleep for every other; and why one is missing,
    where a floor is unavailable here (a native library that did not build)."""
    registrations = {r.name: r for r in implementations.floors()}
    out, missing = {}, []
    for contender in contenders:
        floor = registrations[floor_for(contender.info)]
        if floor.contender is not None:
            out[contender.info.name] = floor.contender
        else:
            missing.append(f"{floor.name}: {floor.reason}")
    return out, "; ".join(dict.fromkeys(missing)) or None


def _last_arrival_s(stream: EventStream) -> float:
    return int(stream.column("arrival_ns")[-1]) / 1e9 if stream.n_events else 0.0


def _expected_duration(stream: EventStream, mode: str) -> str:
    """For an open loop, how long a run that keeps up takes (its last arrival)."""
    if mode != "open" or stream.n_events == 0:
        return ""
    return f", about {_last_arrival_s(stream):.1f} s"


def _jitter(seconds: float, console: Console) -> list[JitterSummary]:
    """The jitter probe, once; nothing where it cannot run (the documents then say the probe failed)."""
    try:
        return [native_cffi.jitter_probe(seconds)]
    except (Unavailable, ContenderError) as e:
        console.err(f"  jitter probe unavailable: {e}")
        return []


# ---------------------------------------------------------------- sweep


@dataclass(frozen=True)
class SweepRequest:
    """Open-loop trials of one contender at each rate, lowest first, until the objective is
    missed for good; each point ``source.n_events`` events, else ``seconds`` of load."""

    source: StreamSource  # its workload is the sweep's (default: the scenario's sweep workload)
    contender: Contender
    rates: tuple[float, ...]
    objective_ns: int = sweep.DEFAULT_OBJECTIVE_P99_NS
    seconds: float = 1.0
    trials: int = sweep.DEFAULT_TRIALS
    seed: int | None = None
    workers: int = 1
    results_dir: Path = Path("results")
    reference_cache: bool = True
    timeline_ns: int = timeline.INTERVAL_NS  # as in RunRequest


@dataclass(frozen=True)
class Swept:
    documents: list[ResultDocument]  # a point's each, lowest rate first
    sustained: float | None  # the highest rate that met the objective, where one did
    floor_unavailable: str | None
    directory: Path

    @property
    def valid(self) -> bool:
        return all(d.valid for d in self.documents)


def sweep_rates(request: SweepRequest, console: Console = TERMINAL) -> Swept:
    """Latency against load; a row per point as it ends, the documents published when every one is done."""
    objective_ns = request.objective_ns
    spec = workload_spec(request.source, "sweep")
    (contender,) = hosting([request.contender], spec.scenario)
    workers = contender.effective_workers(request.workers)
    # Every point's spec is checked before anything runs or is written: no half sweep on disk.
    point_specs = {rate: _sweep_point_spec(spec, rate, request) for rate in request.rates}
    references: dict[int, str] = {}  # by event count: arrival times do not change the digest
    floors, floor_unavailable = machine_floors([contender])
    floor = floors.get(contender.info.name)
    seed = request.seed if request.seed is not None else secrets.randbits(32)
    point_seeds = random.Random(seed)  # each point its own shuffled orders, all from the sweep's seed

    def run_point(rate: float) -> ResultDocument:
        """The point's trials, the floor that paces like the contender in the same rounds."""
        point_spec = point_specs[rate]
        stream = workload.generate(point_spec)
        if stream.n_events not in references:
            references[stream.n_events] = reference_digest(stream, cached=request.reference_cache)
        console.err(f"  {contender.info.name} at {numbers.si(rate)} events/s offered: {request.trials} trials of "
                    f"{stream.n_events} events, about {stream.n_events / rate:.1f} s each")  # fmt: skip
        entrants = [trials.Entrant(contender, workers, references[stream.n_events])]
        entrants += [trials.Entrant(floor, 1, None)] if floor else []
        point_seed = point_seeds.getrandbits(32)
        orders = trials.round_orders(len(entrants), request.trials, point_seed)
        done = trials.run_trials(entrants, stream, mode="open", orders=orders, progress=console.err,
                                 interval_ns=request.timeline_ns)  # fmt: skip
        loaded = LoadedStream(stream, spec.name, point_spec.summary() | {"seed": spec.seed}, "open")
        floor_doc = floor_record(floor, done, None) if floor else None
        comparison = comparison_record(point_seed, entrants, orders, floor_unavailable)
        point = SweepSettings(offered_eps=rate, objective_p99_ns=objective_ns, seed=seed)
        runs = done[contender.info.name]
        doc = results.document(runs, loaded.info, None, comparison, floor_doc, point)
        # Each point's interval log beside its document: where in the point's trials the latency grew.
        doc = results.publish(doc, runs, out.path / f"{contender.info.name}-w{workers}-{round(rate)}eps.json")
        console.out(report.sweep_row(doc, objective_ns))
        return doc

    with results.RunDirectory(request.results_dir, f"sweep-{spec.name}-{contender.info.name}") as out:
        # Published when every point is done; an interrupted sweep leaves nothing.
        against = f" (and {floor.info.name})" if floor else ""
        console.out(f"{spec.name} · {contender.info.name} · {workers} worker(s) · {request.trials} trials a point"
                    f"{against} · objective p99 ≤ {report.duration_ns(objective_ns)}")  # fmt: skip
        console.out(report.sweep_header())
        docs, sustained = sweep.run_sweep(list(request.rates), run_point, objective_ns)
    return Swept([_published(d, out) for d in docs], sustained, floor_unavailable, out.final)


def _sweep_point_spec(spec: workload.WorkloadSpec, rate: float, request: SweepRequest) -> workload.WorkloadSpec:
    """The workload at ``rate``: ``--n-events`` events, else ``--seconds`` of load (at least
    MIN_SWEEP_EVENTS); a point whose trials would each offer load for longer than MAX_SWEEP_TRIAL_S is refused."""
    n_events = request.source.n_events
    if n_events is None:
        n_events = max(MIN_SWEEP_EVENTS, round(rate * request.seconds))
    if n_events / rate > MAX_SWEEP_TRIAL_S:
        raise InvalidInput(
            "--rates", numbers.si(rate),
            f"{n_events} events at this rate offer load for {n_events / rate:.0f} s, over the "
            f"{MAX_SWEEP_TRIAL_S} s a trial may take (raise the rate or lower --n-events)",
        )  # fmt: skip
    return spec.with_rate(rate).with_events(n_events)


# ---------------------------------------------------------------- soak


@dataclass(frozen=True)
class SoakRequest:
    """Rounds of ``round_events`` events of the workload (default: the scenario's soak workload)
    until ``total_events`` are handled."""

    source: StreamSource
    contender: Contender
    total_events: int = 2_000_000
    round_events: int = 20_000
    workers: int = 1
    json: Path | None = None  # where the rounds and the verdict go, if anywhere
    reference_cache: bool = True


def run_soak(request: SoakRequest, console: Console = TERMINAL) -> soak.SoakResult:
    """Many verified rounds of one stream: resident memory and figures must hold steady."""
    spec = workload_spec(request.source, "soak").with_events(request.round_events)
    (contender,) = hosting([request.contender], spec.scenario)
    if request.json:
        check_writable(request.json)
    stream = workload.generate(spec)
    reference = reference_digest(stream, cached=request.reference_cache)
    rounds = soak.rounds_for(request.total_events, stream.n_events)
    # No line per round: one printed between rounds pinned ~1 MiB of heap (measured), which
    # the memory verdict would then count against the contender.
    console.err(f"soak: {contender.info.name}, {rounds} rounds of {stream.n_events} events ({spec.name}, closed loop)")
    result = soak.soak(contender, stream, workers=request.workers, total_events=request.total_events,
                       reference=reference, workload_name=spec.name)  # fmt: skip
    if request.json:
        results.dump(result.as_dict(), request.json)
    return result


# ---------------------------------------------------------------- bench


@dataclass(frozen=True)
class BenchRequest:
    """pyperf's timings (``harness/rigorous.py``) of each contender (``None``: every available one
    that hosts the workload), in pyperf's worker processes."""

    source: StreamSource  # its workload (default: the scenario's compare workload)
    contenders: tuple[Contender, ...] | None = None
    workers: int = 1
    preset: str = "default"  # or "fast", "rigorous": pyperf's options of those names
    processes: int | None = None  # pyperf worker processes, overriding the preset's
    output: Path | None = None  # default: RESULTS_DIR/pyperf/WORKLOAD-STAMP.json
    results_dir: Path = Path("results")
    reference_cache: bool = True


@dataclass(frozen=True)
class Benched:
    output: Path
    medians: dict[str, stats.Interval] | None  # by pyperf benchmark; None where pyperf failed

    @property
    def valid(self) -> bool:
        return self.medians is not None


def bench(request: BenchRequest, console: Console = TERMINAL) -> Benched:
    """pyperf timings in worker processes; checks its input here first, and the file goes in
    place only when every benchmark is done."""
    source = request.source
    spec = workload_spec(source, "compare")
    contenders = hosting(request.contenders, spec.scenario, console.err)
    if source.n_events is not None:
        spec = spec.with_events(source.n_events)
    if spec.events == 0:
        raise InvalidInput("--n-events", "0", "bench needs at least one event (values are per event)")
    output = request.output or request.results_dir / "pyperf" / f"{spec.name}-{results.timestamp()}.json"
    check_writable(output)
    if output.exists():
        raise InvalidInput(str(output), "output", "exists already (pyperf would refuse to overwrite it)")
    output.parent.mkdir(parents=True, exist_ok=True)
    # pyperf writes its file after each benchmark; it goes in place only when every one is done.
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    workload_arg = source.workload or spec.name  # a built-in's name, or the TOML file given
    command = [sys.executable, "-m", "harness.rigorous", "--workload", workload_arg, "-o", str(partial),
               "--impl", ",".join(c.info.name for c in contenders), "--workers", str(request.workers),
               "--inherit-environ", "EVENTBENCH_NATIVE_LIB,EVENTBENCH_COMMIT,PYTHONPATH"]  # fmt: skip
    if source.n_events is not None:
        command += ["--n-events", str(source.n_events)]
    command += ["--scenario", source.scenario] if source.scenario else []
    command += [f"--{request.preset}"] if request.preset != "default" else []
    command += [] if request.reference_cache else ["--no-reference-cache"]
    command += ["--processes", str(request.processes)] if request.processes else []
    console.err(f"bench: {' '.join(command[1:])}")
    try:
        done = subprocess.run(command, check=False)
        if done.returncode != 0:
            return Benched(output, None)
        os.replace(partial, output)
        return Benched(output, pyperf_medians(output))
    finally:
        partial.unlink(missing_ok=True)


def pyperf_medians(path: Path) -> dict[str, stats.Interval]:
    """Each benchmark of a pyperf file: the median of its values (warm-ups left out) with the
    median's 95 % interval, the same statement ``compare`` makes of its trials."""
    import pyperf

    suite = pyperf.BenchmarkSuite.load(str(path))
    return {bench.get_name(): stats.median_interval(bench.get_values(), 0.95) for bench in suite.get_benchmarks()}


# ---------------------------------------------------------------- report


@dataclass(frozen=True)
class ReportRequest:
    paths: tuple[Path, ...]  # result documents, or directories holding them
    out: Path | None = None  # default: the first path's directory, /report
    baseline: str = REFERENCE  # ratios are against this contender where present
    with_plots: bool = True
    scenario: str | None = None  # the documents must all be of it


@dataclass(frozen=True)
class Reported:
    files: list[Path]  # report.md and the plots
    n_documents: int
    errors: list[InvalidInput]  # the documents that could not be read (each named on ``console.err``)


def write_report(request: ReportRequest, console: Console = TERMINAL) -> Reported:
    """Tables (printed), markdown and plots from stored result documents; a broken file is named,
    the rest reported."""
    paths = list(request.paths)
    docs, errors = results.load_many(paths)
    for error in errors:
        console.err(f"eventbench: {error}")
    if not docs:
        raise InvalidInput(", ".join(map(str, paths)), "documents", "no eventbench result documents found")
    asked = scenario_named(request.scenario)
    if asked is not None:
        for doc in docs:
            if (found := doc.scenario.name) != asked.name:
                raise InvalidInput(doc.origin, "scenario", f"is {found}, not --scenario {asked.name}")
    first = paths[0]
    out_dir = request.out or (first if first.is_dir() else first.parent) / "report"
    problems: list[InvalidInput] = []  # timeline logs that cannot be read: named, the rest reported
    written = report.build(docs, out_dir, request.baseline, with_plots=request.with_plots, problems=problems)
    for problem in problems:
        console.err(f"eventbench: {problem}")
    return Reported(written, len(docs), errors + problems)
