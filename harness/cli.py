"""``eventbench``: list, export, run, verify, compare, bench, report, sweep, soak (SPEC §6).

Each command reads like a script: load the stream, run, check, report.
Exit status: 0 success; 1 a contender was wrong (a check failed, a digest
differed, a handler failed); 2 invalid input, with one line on stderr naming what
and why; 130 on Ctrl-C and 143 on SIGTERM, once every worker has stopped, with no
result written for the unfinished invocation.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import secrets
import signal
import sys
import textwrap
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

import implementations
import scenarios
from harness import allocations, report, results, soak, stats, sweep, trials, workload
from harness.document import Comparison, Floor, ResultDocument, SweepSettings
from harness.runner import RunOutcome, reference_digest, run_once
from implementations import REFERENCE, Contender, ContenderError, Unavailable, native_cffi
from implementations.floors import floor_for
from implementations.native_cffi import JitterSummary
from protocol.errors import InvalidInput
from protocol.events import EventStream, write_evts
from protocol.scenario import Scenario
from protocol.storage import check_writable

MIN_SWEEP_EVENTS = 5000  # below this, a point's p99 rests on a handful of events
MAX_SWEEP_TRIAL_S = 600  # a trial offering load for longer is a typo (a rate in events/hour, say)
MAX_JITTER_PROBE_S = 0.25  # per round of compare: at most 2.5 s of the platform's own gaps over 10 rounds
EXIT_OK, EXIT_WRONG, EXIT_INVALID = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (SPEC §6), not usage text plus a line."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INVALID, f"{self.prog}: error: {message}\n")


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class LoadedStream:
    stream: EventStream
    label: str  # workload name or file name, for titles and directory names
    info: dict[str, Any]  # what the result documents record about the input
    default_mode: str


def asked_scenario(args: argparse.Namespace) -> Scenario | None:
    """The scenario of ``--scenario``, where given (else the workload or the file names its own)."""
    name = getattr(args, "scenario", None)
    if name is None:
        return None
    try:
        return scenarios.get(name)
    except KeyError as e:
        raise InvalidInput("--scenario", name, str(e.args[0])) from None


def workload_spec(args: argparse.Namespace, command: str) -> workload.WorkloadSpec:
    """``--workload`` (which must be of ``--scenario`` where both are given), else the scenario's
    built-in workload for ``command`` (compare, sweep or soak)."""
    asked = asked_scenario(args)
    name = args.workload or (asked or scenarios.get(scenarios.DEFAULT)).default_workload(command)
    if name is None:
        assert asked is not None  # synthetic has built-in workloads
        raise InvalidInput(
            "--workload", "missing", f"scenario {asked.name} has no built-in workloads: name a TOML file"
        )
    return workload.load_workload(name, asked)


def load_stream(args: argparse.Namespace) -> LoadedStream:
    if args.events:
        stream = scenarios.read_evts(args.events)
        asked = asked_scenario(args)
        if asked is not None and asked.name != stream.scenario.name:
            raise InvalidInput(
                args.events, "scenario", f"the file holds {stream.scenario.name} events, not {asked.name}"
            )
        if args.n_events is not None:
            raise InvalidInput("--n-events", "argument", "applies to --workload only, not to a recorded --events file")
        has_arrivals = stream.n_events > 0 and int(stream.column("arrival_ns")[-1]) > 0
        info = {"file": str(args.events), "scenario": stream.scenario.name, "events": stream.n_events,
                "n_keys": stream.n_keys}  # fmt: skip
        return LoadedStream(stream, Path(args.events).stem, info, "open" if has_arrivals else "closed")
    spec = workload_spec(args, "compare")
    if args.n_events is not None:
        spec = spec.with_events(args.n_events)
    info = spec.summary() | {"seed": spec.seed, "source": spec.source}
    return LoadedStream(workload.generate(spec), spec.name, info, spec.default_mode)


def run_mode(args: argparse.Namespace, loaded: LoadedStream) -> str:
    """``--mode``, else the stream's default; an open loop it cannot wait for is refused here,
    before any run (the runner refuses it too, but only after the reference has run)."""
    mode: str = args.mode or loaded.default_mode
    if mode == "open":
        loaded.stream.check_open_loop()
    return mode


def contenders_named(names: str | None) -> list[Contender]:
    """The contenders of ``--impl A,B`` (every available one when not given)."""
    if not names:
        return implementations.available()
    chosen: list[Contender] = []
    for name in (n.strip() for n in names.split(",")):
        if name in (c.info.name for c in chosen):
            raise InvalidInput("--impl", name, "is named twice (each contender is compared once)")
        try:
            chosen.append(implementations.get(name))
        except KeyError:
            known = ", ".join(r.name for r in implementations.registry())
            raise InvalidInput("--impl", name, f"no such implementation (known: {known})") from None
        except Unavailable as e:
            raise InvalidInput("--impl", name, f"unavailable here: {e}") from None
    return chosen


def hosting(contenders: list[Contender], scenario: Scenario, names: str | None) -> list[Contender]:
    """Those of ``contenders`` that host ``scenario``: every one named in ``--impl`` must (else
    one line saying which scenarios it hosts); without ``--impl``, the others are left out."""
    if names:
        for contender in contenders:
            if not contender.info.hosts(scenario.name):
                raise InvalidInput("--impl", contender.info.name, contender.info.not_hosting(scenario.name))
        return contenders
    chosen = [c for c in contenders if c.info.hosts(scenario.name)]
    if not chosen:
        raise InvalidInput("--scenario", scenario.name, "no available contender hosts it")
    return chosen


def one_contender(names: str | None, command: str) -> Contender:
    """The one contender of ``--impl NAME``, for the commands that measure one at a time."""
    contenders = contenders_named(names)
    if len(contenders) != 1:
        raise InvalidInput(
            "--impl", repr(names), f"{command} takes exactly one implementation (verify and compare take several)"
        )
    return contenders[0]


def worker_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise InvalidInput("--workers", text, "must be a positive integer or a comma-separated list of them") from None
    if not counts or any(c < 1 or c > 1024 for c in counts):
        raise InvalidInput("--workers", text, "each worker count must be in 1..1024")
    return counts


def _progress(message: str) -> None:
    """A line on stderr between steps. Never a live display during a timed run: its refresh
    thread would take the GIL from Python contenders and show up in their latencies."""
    print(message, file=sys.stderr, flush=True)


def _expected_duration(stream: EventStream, mode: str) -> str:
    """For an open loop, how long a run that keeps up takes (its last arrival)."""
    if mode != "open" or stream.n_events == 0:
        return ""
    return f", about {_last_arrival_s(stream):.1f} s"


# ---------------------------------------------------------------- running


def counted_allocations(
    contender: Contender, loaded: LoadedStream, workers: int, max_events: int
) -> allocations.AllocationCount | None:
    """The separate counting pass (never inside a timed run); None when skipped or unavailable."""
    if max_events == 0:
        return None
    n = min(max_events, loaded.stream.n_events)
    message = f"  counting {contender.info.name}'s allocations over {n} events (a separate, untimed pass)"
    try:
        with report.activity(message):  # untimed, so a live spinner is harmless here
            return allocations.count_allocations(contender, loaded.stream, workers, max_events)
    except allocations.CountingUnavailable as e:
        _progress(f"  allocations not counted: {e}")
        return None


def measured_document(
    outcome: RunOutcome, loaded: LoadedStream, contender: Contender, alloc_events: int
) -> ResultDocument:
    """The result document of one run; a valid run gets its allocations counted."""
    counted = counted_allocations(contender, loaded, outcome.workers, alloc_events) if outcome.valid else None
    return results.single_run(outcome, loaded.stream, loaded.info, counted)


# ---------------------------------------------------------------- commands


def cmd_list(args: argparse.Namespace) -> int:
    asked = asked_scenario(args)
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
    if args.json:
        every_workload = [w for e in scenario_entries for w in e.get("workloads", []) if "unusable" not in w]
        listing = {"implementations": entries, "workloads": every_workload, "scenarios": scenario_entries}
        print(json.dumps(listing, indent=2))  # SPEC §6's keys first; "scenarios" groups the same workloads
        return EXIT_OK
    for e in scenario_entries:
        if not e["available"]:
            print(f"scenario {e['name']}  [unavailable: {e['reason']}]")
            continue
        print(_wrapped(f"scenario {e['name']} (version {e['version']}): {e['description']}", "  "))
        print(textwrap.fill(", ".join(e["contenders"]) or "none available", report.TERMINAL_WIDTH - 1,
                            initial_indent="  hosted by: ", subsequent_indent="    "))  # fmt: skip
        for w in e["workloads"]:
            print(_wrapped(f"  {w['name']:<18} {w['description']}", " " * 21))
    print("implementations:")
    for e in entries:
        state = "" if e["available"] else f"  [unavailable: {e['reason']}]"
        line = f"  {e['name']:<20} {e['language'] or '?':<8} {e['model'] or '?':<12} {e['description']}{state}"
        print(_wrapped(line, " " * 45))
    return EXIT_OK


def _wrapped(line: str, indent: str) -> str:
    """One entry of ``list``, wrapped to the terminal's width."""
    return textwrap.fill(line, report.TERMINAL_WIDTH - 1, subsequent_indent=indent, break_on_hyphens=False)


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
    return {
        "name": found.name,
        "version": found.version,
        "description": found.description,
        "available": True,
        "reason": "",
        "origin": registration.origin,
        "contenders": hosts,
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


def cmd_export(args: argparse.Namespace) -> int:
    check_writable(Path(args.output))
    loaded = load_stream(args)
    path = write_evts(loaded.stream, args.output)
    print(f"wrote {path}: {loaded.stream.n_events} events, {loaded.stream.n_keys} keys")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    contender = one_contender(args.impl, "run")
    if args.json:
        check_writable(Path(args.json))
    loaded = load_stream(args)
    (contender,) = hosting([contender], loaded.stream.scenario, args.impl)
    mode = run_mode(args, loaded)
    reference = None if contender.info.name == REFERENCE else reference_digest(loaded.stream)
    outcome = run_once(contender, loaded.stream, workers=args.workers, mode=mode, reference_digest=reference)
    if reference is None and outcome.valid:  # the reference's own digest is the reference
        outcome = replace(outcome, reference_digest=outcome.digest)
    doc = measured_document(outcome, loaded, contender, args.alloc_events)
    print(report.run_summary(doc))
    if args.json:
        results.dump(doc, Path(args.json))
    return EXIT_OK if doc.valid else EXIT_WRONG


def cmd_verify(args: argparse.Namespace) -> int:
    """Every contender against the reference: on the input given, else on every built-in workload
    of the scenario (``--scenario``, default synthetic), one after another."""
    contenders = contenders_named(args.impl)
    counts = worker_counts(args.workers)
    if args.workload or args.events:
        inputs = [args]
    else:
        scenario = asked_scenario(args) or scenarios.get(scenarios.DEFAULT)
        names = workload.builtin_names(scenario)
        if not names:
            raise InvalidInput("--scenario", scenario.name, "has no built-in workloads: give --workload or --events")
        inputs = [argparse.Namespace(**vars(args) | {"workload": name}) for name in names]
    wrong = sum(_verify_one(load_stream(given), contenders, counts, given) for given in inputs)
    if wrong:
        print(f"{wrong} run(s) differ from the reference", file=sys.stderr)
    return EXIT_WRONG if wrong else EXIT_OK


def _verify_one(loaded: LoadedStream, named: list[Contender], counts: list[int], args: argparse.Namespace) -> int:
    """Verifies one stream; returns how many runs were wrong."""
    contenders = hosting(named, loaded.stream.scenario, args.impl)
    mode = run_mode(args, loaded)
    reference = reference_digest(loaded.stream)
    scenario = loaded.stream.scenario
    print(f"{loaded.label} ({scenario.name} v{scenario.version}): reference ({REFERENCE}) digest {reference} · "
          f"{loaded.stream.n_events} events · {mode} loop")  # fmt: skip
    wrong = 0
    for contender in contenders:
        for workers in counts if contender.info.parallel else [1]:
            outcome = run_once(contender, loaded.stream, workers=workers, mode=mode, reference_digest=reference)
            verdict = "ok" if outcome.valid else "WRONG: " + "; ".join(outcome.failures())
            print(f"  {contender.info.name:<20} workers {workers:<3} digest {outcome.digest}  {verdict}")
            wrong += not outcome.valid
    return wrong


def cmd_compare(args: argparse.Namespace) -> int:
    named = contenders_named(args.impl)  # a misspelt name is refused before the stream is made
    loaded = load_stream(args)
    contenders = hosting(named, loaded.stream.scenario, args.impl)
    names = [c.info.name for c in contenders]
    if args.baseline not in names:
        raise InvalidInput("--baseline", args.baseline, f"is not among the contenders compared ({', '.join(names)})")
    mode = run_mode(args, loaded)
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    # Staged: published whole when the block ends; a failure or an interrupt leaves nothing.
    with results.RunDirectory(Path(args.results_dir), f"compare-{loaded.label}") as out:
        _progress(f"{loaded.label}: {loaded.stream.n_events} events, {loaded.stream.n_keys} keys, {mode} loop; "
                  f"{args.trials} trials of each, interleaved (seed {seed}){_expected_duration(loaded.stream, mode)}"
                  " a trial")  # fmt: skip
        docs = compared_documents(contenders, loaded, mode, args, seed)
        for doc in docs:
            results.dump(doc, out.path / results.file_name(doc))
        written = report.build(docs, out.path / "report", args.baseline, print_tables=False) if args.report else []
    baseline = next((d for d in docs if d.implementation == args.baseline), None)
    title = (f"{loaded.label} · {loaded.stream.n_events} events · {mode} loop · {args.trials} trials · "
             f"against {args.baseline}")  # fmt: skip
    report.print_comparison(title, docs, baseline)
    print(f"result documents: {out.final}")
    if written:
        print(f"report: {', '.join(str(out.published(p)) for p in written)}")
    return EXIT_OK if all(d.valid for d in docs) else EXIT_WRONG


def compared_documents(
    contenders: list[Contender], loaded: LoadedStream, mode: str, args: argparse.Namespace, seed: int
) -> list[ResultDocument]:
    """The trials of every contender, and in open loop of the floors that pace as they do, with
    the jitter probe before each round; then each one's document, allocations counted."""
    reference = reference_digest(loaded.stream)
    entrants = [trials.Entrant(c, c.effective_workers(args.workers), reference) for c in contenders]
    floors, floor_unavailable = machine_floors(contenders) if mode == "open" else ({}, None)
    entrants += [trials.Entrant(floor, 1, None) for floor in dict.fromkeys(floors.values())]
    probes: list[JitterSummary] = []
    probe_s = min(MAX_JITTER_PROBE_S, max(0.01, _last_arrival_s(loaded.stream)))  # about as long as a trial
    orders = trials.round_orders(len(entrants), args.trials, seed)
    done = trials.run_trials(
        entrants, loaded.stream, mode=mode, orders=orders, progress=_progress,
        between_rounds=lambda _: probes.extend(_jitter(probe_s) if floors else []),
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
            counted_allocations(entrant.contender, loaded, entrant.workers, args.alloc_events) if counting else None
        )
        floor = floors.get(entrant.name)
        floor_doc = floor_record(floor, done, jitter) if floor else None
        docs.append(results.document(runs, loaded.info, counted, comparison, floor_doc))
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


def _jitter(seconds: float) -> list[JitterSummary]:
    """The jitter probe, once; nothing where it cannot run (the documents then say the probe failed)."""
    try:
        return [native_cffi.jitter_probe(seconds)]
    except (Unavailable, ContenderError) as e:
        _progress(f"  jitter probe unavailable: {e}")
        return []


def cmd_bench(args: argparse.Namespace) -> int:
    """pyperf timings (harness/rigorous.py) in worker processes; checks its input here first."""
    import subprocess

    spec = workload_spec(args, "compare")
    contenders = hosting(contenders_named(args.impl), spec.scenario, args.impl)
    if args.n_events is not None:
        spec = spec.with_events(args.n_events)
    if spec.events == 0:
        raise InvalidInput("--n-events", "0", "bench needs at least one event (values are per event)")
    output = Path(args.output or Path(args.results_dir) / "pyperf" / f"{spec.name}-{results.timestamp()}.json")
    check_writable(output)
    if output.exists():
        raise InvalidInput(str(output), "output", "exists already (pyperf would refuse to overwrite it)")
    output.parent.mkdir(parents=True, exist_ok=True)
    # pyperf writes its file after each benchmark; it goes in place only when every one is done.
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    workload_arg = args.workload or spec.name  # a built-in's name, or the TOML file given
    command = [sys.executable, "-m", "harness.rigorous", "--workload", workload_arg, "-o", str(partial),
               "--impl", ",".join(c.info.name for c in contenders), "--workers", str(args.workers),
               "--inherit-environ", "EVENTBENCH_NATIVE_LIB,EVENTBENCH_COMMIT,PYTHONPATH"]  # fmt: skip
    if args.n_events is not None:
        command += ["--n-events", str(args.n_events)]
    command += ["--scenario", args.scenario] if args.scenario else []
    command += [f"--{args.preset}"] if args.preset != "default" else []
    command += ["--processes", str(args.processes)] if args.processes else []
    _progress(f"bench: {' '.join(command[1:])}")
    try:
        done = subprocess.run(command, check=False)
        if done.returncode == 0:
            os.replace(partial, output)
            print(report.bench_summary(pyperf_medians(output)))
            print(f"pyperf results: {output} (read with: python -m pyperf show {output})")
    finally:
        partial.unlink(missing_ok=True)
    return EXIT_OK if done.returncode == 0 else EXIT_WRONG


def pyperf_medians(path: Path) -> dict[str, stats.Interval]:
    """Each benchmark of a pyperf file: the median of its values (warm-ups left out) with the
    median's 95 % interval, the same statement ``compare`` makes of its trials."""
    import pyperf

    suite = pyperf.BenchmarkSuite.load(str(path))
    return {bench.get_name(): stats.median_interval(bench.get_values(), 0.95) for bench in suite.get_benchmarks()}


def cmd_report(args: argparse.Namespace) -> int:
    """Tables, markdown and plots from stored result documents; a broken file is named, the rest reported."""
    paths = [Path(p) for p in args.paths]
    docs, errors = results.load_many(paths)
    for error in errors:
        print(f"eventbench: {error}", file=sys.stderr)
    if not docs:
        raise InvalidInput(", ".join(args.paths), "documents", "no eventbench result documents found")
    asked = asked_scenario(args)
    if asked is not None:
        for doc in docs:
            if (found := doc.scenario.name) != asked.name:
                raise InvalidInput(doc.origin, "scenario", f"is {found}, not --scenario {asked.name}")
    first = paths[0]
    out_dir = Path(args.out) if args.out else (first if first.is_dir() else first.parent) / "report"
    written = report.build(docs, out_dir, args.baseline, with_plots=not args.no_plots)
    print(f"report files ({len(docs)} documents): " + ", ".join(str(p) for p in written))
    return EXIT_INVALID if errors else EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    contender = one_contender(args.impl, "sweep")
    rates = sweep.parse_rates(args.rates)
    objective_ns = round(args.p99_objective_us * 1000)
    spec = workload_spec(args, "sweep")
    (contender,) = hosting([contender], spec.scenario, args.impl)
    workers = contender.effective_workers(args.workers)
    # Every point's spec is checked before anything runs or is written: no half sweep on disk.
    point_specs = {rate: _sweep_point_spec(spec, rate, args) for rate in rates}
    references: dict[int, str] = {}  # by event count: arrival times do not change the digest
    floors, floor_unavailable = machine_floors([contender])
    floor = floors.get(contender.info.name)
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    point_seeds = random.Random(seed)  # each point its own shuffled orders, all from the sweep's seed

    def run_point(rate: float) -> ResultDocument:
        """The point's trials, the floor that paces like the contender in the same rounds."""
        point_spec = point_specs[rate]
        stream = workload.generate(point_spec)
        if stream.n_events not in references:
            references[stream.n_events] = reference_digest(stream)
        _progress(f"  {contender.info.name} at {report.si(rate)} events/s offered: {args.trials} trials of "
                  f"{stream.n_events} events, about {stream.n_events / rate:.1f} s each")  # fmt: skip
        entrants = [trials.Entrant(contender, workers, references[stream.n_events])]
        entrants += [trials.Entrant(floor, 1, None)] if floor else []
        point_seed = point_seeds.getrandbits(32)
        orders = trials.round_orders(len(entrants), args.trials, point_seed)
        done = trials.run_trials(entrants, stream, mode="open", orders=orders, progress=_progress)
        loaded = LoadedStream(stream, spec.name, point_spec.summary() | {"seed": spec.seed}, "open")
        floor_doc = floor_record(floor, done, None) if floor else None
        comparison = comparison_record(point_seed, entrants, orders, floor_unavailable)
        point = SweepSettings(offered_eps=rate, objective_p99_ns=objective_ns, seed=seed)
        doc = results.document(done[contender.info.name], loaded.info, None, comparison, floor_doc, point)
        results.dump(doc, out.path / f"{contender.info.name}-w{workers}-{round(rate)}eps.json")
        print(report.sweep_row(doc, objective_ns), flush=True)
        return doc

    with results.RunDirectory(Path(args.results_dir), f"sweep-{spec.name}-{contender.info.name}") as out:
        # Published when every point is done; an interrupted sweep leaves nothing.
        against = f" (and {floor.info.name})" if floor else ""
        print(f"{spec.name} · {contender.info.name} · {workers} worker(s) · {args.trials} trials a point{against} · "
              f"objective p99 ≤ {report.duration_ns(objective_ns)}")  # fmt: skip
        print(report.sweep_header())
        docs, sustained = sweep.run_sweep(rates, run_point, objective_ns)
    verdict = report.sweep_verdict(contender.info.name, sustained, objective_ns, docs)
    unavailable = [f"no floor: {floor_unavailable}"] if floor_unavailable else []
    for line in [*report.sweep_notes(docs), *unavailable, verdict]:
        print(textwrap.fill(line, report.TERMINAL_WIDTH - 1, subsequent_indent="  ", break_on_hyphens=False))
    print(f"result documents: {out.final}")
    return EXIT_OK if all(d.valid for d in docs) else EXIT_WRONG


def cmd_soak(args: argparse.Namespace) -> int:
    """Many verified rounds of one stream: resident memory and figures must hold steady."""
    contender = one_contender(args.impl, "soak")
    spec = workload_spec(args, "soak").with_events(args.round_events)
    (contender,) = hosting([contender], spec.scenario, args.impl)
    if args.json:
        check_writable(Path(args.json))
    stream = workload.generate(spec)
    reference = reference_digest(stream)
    rounds = soak.rounds_for(args.n_events, stream.n_events)
    # No line per round: one printed between rounds pinned ~1 MiB of heap (measured), which
    # the memory verdict would then count against the contender.
    _progress(f"soak: {contender.info.name}, {rounds} rounds of {stream.n_events} events ({spec.name}, closed loop)")
    result = soak.soak(contender, stream, workers=args.workers, total_events=args.n_events, reference=reference,
                       workload_name=spec.name)  # fmt: skip
    print(report.soak_summary(result))
    if args.json:
        results.dump(result.as_dict(), Path(args.json))
    return EXIT_OK if result.steady else EXIT_WRONG


def _sweep_point_spec(spec: workload.WorkloadSpec, rate: float, args: argparse.Namespace) -> workload.WorkloadSpec:
    """The workload at ``rate``: ``--n-events`` events, else ``--seconds`` of load (at least
    MIN_SWEEP_EVENTS); a point whose trials would each offer load for longer than MAX_SWEEP_TRIAL_S is refused."""
    n_events = args.n_events if args.n_events is not None else max(MIN_SWEEP_EVENTS, round(rate * args.seconds))
    if n_events / rate > MAX_SWEEP_TRIAL_S:
        raise InvalidInput(
            "--rates", report.si(rate),
            f"{n_events} events at this rate offer load for {n_events / rate:.0f} s, over the "
            f"{MAX_SWEEP_TRIAL_S} s a trial may take (raise the rate or lower --n-events)",
        )  # fmt: skip
    return spec.with_rate(rate).with_events(n_events)


# ---------------------------------------------------------------- parser


def _add_scenario(p: argparse.ArgumentParser, what: str = "the workload's or file's own; synthetic by default") -> None:
    p.add_argument("--scenario", metavar="NAME", help=f"the scenario (eventbench list shows them): {what}")


def _add_input(p: argparse.ArgumentParser, *, required: bool) -> None:
    _add_scenario(p)
    src = p.add_mutually_exclusive_group(required=required)
    src.add_argument("--workload", metavar="W", help="a built-in workload's name or a TOML file")
    src.add_argument("--events", metavar="FILE.evts", help="a recorded stream (SPEC §2)")
    p.add_argument("--n-events", type=int, metavar="N", help="override the workload's event count")


def _add_run_options(p: argparse.ArgumentParser, workers_help: str, workers_type: Any = int) -> None:
    p.add_argument("--mode", choices=("open", "closed"), help="default: open where the stream has arrival times")
    p.add_argument("--workers", type=workers_type, default=os.cpu_count() or 1, help=workers_help)


def _alloc_events(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--alloc-events",
        type=_count,
        default=allocations.DEFAULT_MAX_EVENTS,
        metavar="N",
        help="count allocations over the stream's first N events, in a separate pass (0: do not count; "
        f"default {allocations.DEFAULT_MAX_EVENTS})",
    )


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _finite_positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0 or value > 1e12:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0 (and at most 1e12), got {text}")
    return value


def _at_least_one(text: str) -> int:
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _trials(text: str) -> int:
    value = _at_least_one(text)
    if value > trials.MAX_TRIALS:
        raise argparse.ArgumentTypeError(f"must be at most {trials.MAX_TRIALS}, got {value}")
    return value


def _sweep_trials(text: str) -> int:
    value = _trials(text)
    if value < sweep.MIN_TRIALS:
        raise argparse.ArgumentTypeError(
            f"must be at least {sweep.MIN_TRIALS}: fewer trials cannot give a 95 % interval of the median p99"
        )
    return value


def _positive(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1024:
        raise argparse.ArgumentTypeError(f"must be in 1..1024, got {value}")
    return value


def _add_soak(sub: Any) -> None:
    p = sub.add_parser("soak", help="a long run in rounds: memory flat after warm-up, figures steady")
    p.add_argument("--impl", required=True, metavar="NAME")
    _add_scenario(p, "the workload's own; synthetic by default")
    p.add_argument("--workload", metavar="W", help="built-in or TOML file (default: the scenario's soak workload; "
                   "synthetic: contention)")  # fmt: skip
    p.add_argument("--n-events", type=_at_least_one, default=2_000_000, help="events in all (default 2,000,000)")
    p.add_argument("--round-events", type=_at_least_one, default=20_000, help="events per round (default 20,000)")
    p.add_argument("--workers", type=_positive, default=os.cpu_count() or 1)
    p.add_argument("--json", metavar="OUT", help="write the soak's rounds and verdict here")
    p.set_defaults(func=cmd_soak)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="eventbench", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="scenarios, with their workloads and contenders; every implementation")
    p.add_argument("--json", action="store_true")
    _add_scenario(p, "that one only")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("export", help="write a workload's stream as a .evts file")
    _add_scenario(p, "the workload's own, checked")
    p.add_argument("--workload", metavar="W", required=True)
    p.add_argument("--n-events", type=int, metavar="N", help="override the workload's event count")
    p.add_argument("-o", "--output", required=True, metavar="FILE.evts")
    p.set_defaults(func=cmd_export, events=None)

    p = sub.add_parser("run", help="one run of one implementation")
    p.add_argument("--impl", required=True, metavar="NAME")
    _add_input(p, required=True)
    _add_run_options(p, "worker threads (single-threaded contenders record 1)", _positive)
    p.add_argument("--json", metavar="OUT", help="write the result document here")
    _alloc_events(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("verify", help="check every implementation against the reference")
    p.add_argument("--impl", metavar="A,B,...")
    _add_input(p, required=False)  # none: every built-in workload of the scenario
    p.add_argument("--mode", choices=("open", "closed"), help="default: open where the stream has arrival times")
    p.add_argument("--workers", default=",".join(map(str, sorted({1, 2, os.cpu_count() or 1, 4}))),
                   help="comma-separated worker counts for parallel contenders")  # fmt: skip
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("compare", help="the main job: verified runs side by side")
    p.add_argument("--impl", metavar="A,B,...")
    _add_input(p, required=False)
    _add_run_options(p, "worker threads for parallel contenders", _positive)
    p.add_argument("--baseline", default=REFERENCE, help="ratios are against this contender")
    p.add_argument("--results-dir", default="results", help="result documents go under DIR/runs/")
    p.add_argument("--report", action="store_true", help="also write report.md and the plots (as `report` does)")
    p.add_argument(
        "--trials",
        type=_trials,
        default=trials.DEFAULT_TRIALS,
        help=f"runs of each contender, interleaved in shuffled rounds (default {trials.DEFAULT_TRIALS})",
    )
    p.add_argument(
        "--seed", type=_count, metavar="N", help="the seed of the rounds' order (default: random, and recorded)"
    )
    _alloc_events(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("bench", help="rigorous timings with pyperf (seconds per event, pyperf JSON)")
    p.add_argument("--impl", metavar="A,B,...")
    _add_scenario(p)
    p.add_argument("--workload", metavar="W", help="default: the scenario's compare workload (synthetic: mixed)")
    p.add_argument("--n-events", type=int, metavar="N", help="override the workload's event count")
    p.add_argument("--workers", type=_positive, default=os.cpu_count() or 1)
    p.add_argument("--preset", choices=("fast", "default", "rigorous"), default="default",
                   help="pyperf's --fast (quick look) or --rigorous (more processes and values)")  # fmt: skip
    p.add_argument("--processes", type=_positive, help="pyperf worker processes (overrides the preset's)")
    p.add_argument("-o", "--output", metavar="FILE.json", help="default: RESULTS_DIR/pyperf/WORKLOAD-STAMP.json")
    p.add_argument("--results-dir", default="results")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("report", help="tables, markdown and plots from stored result documents")
    p.add_argument("paths", nargs="+", metavar="PATH", help="result documents, or directories holding them")
    p.add_argument("--out", metavar="DIR", help="where report.md and the plots go (default: PATH/report)")
    p.add_argument("--baseline", default=REFERENCE, help="ratios are against this contender where present")
    p.add_argument("--no-plots", action="store_true", help="tables and markdown only")
    _add_scenario(p, "the documents must all be of it (they must all be of one scenario anyway)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("sweep", help="latency against load: open loop at a series of rates")
    p.add_argument("--impl", required=True, metavar="NAME")
    _add_scenario(p)
    p.add_argument("--workload", metavar="W", help="a built-in workload or TOML file (default: the scenario's "
                   "sweep workload; synthetic: paced)")  # fmt: skip
    p.add_argument("--rates", default="2000:64000:6", help="events/s: A,B,C or LOW:HIGH:STEPS (geometric)")
    p.add_argument("--p99-objective-us", type=_finite_positive, default=sweep.DEFAULT_OBJECTIVE_P99_NS / 1000,
                   metavar="US", help="the latency objective: p99 at or below this many µs (default 1000)")  # fmt: skip
    p.add_argument(
        "--seconds", type=_finite_positive, default=1.0, help="offered load per trial, in seconds (default 1)"
    )
    p.add_argument("--n-events", type=_at_least_one, metavar="N", help="events per trial (overrides --seconds)")
    p.add_argument(
        "--trials",
        type=_sweep_trials,
        default=sweep.DEFAULT_TRIALS,
        help=f"runs at each rate, at least {sweep.MIN_TRIALS}; its median p99's 95 %% interval decides it "
        f"(default {sweep.DEFAULT_TRIALS})",
    )
    p.add_argument(
        "--seed", type=_count, metavar="N", help="the seed of the rounds' order (default: random, and recorded)"
    )
    p.add_argument("--workers", type=_positive, default=os.cpu_count() or 1)
    p.add_argument("--results-dir", default="results", help="result documents go under DIR/runs/")
    p.set_defaults(func=cmd_sweep)
    _add_soak(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that a run stops and cleans up the same way:
    workers stopped and joined, staged results removed (a KeyboardInterrupt subclass,
    so every ``except KeyboardInterrupt`` on the way treats it alike)."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # usage errors (2), --help (0): as a return value, for callers and tests
        return int(e.code or 0)
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if on_main_thread else None
    try:
        return int(args.func(args))
    except InvalidInput as e:
        print(f"eventbench: {e}", file=sys.stderr)
        return EXIT_INVALID
    except ContenderError as e:
        print(f"eventbench: {e}", file=sys.stderr)
        return EXIT_WRONG
    except BrokenPipeError:  # the reader left (`eventbench list | head`): a shell's exit status, no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit fails too
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt as e:
        what, code = ("terminated", EXIT_TERMINATED) if isinstance(e, Terminated) else ("interrupted", EXIT_INTERRUPTED)
        print(f"eventbench: {what}; every worker stopped, no result written for this invocation", file=sys.stderr)
        return code
    finally:
        if previous is not None:  # None too when the old handler was not set from Python: left as is
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
