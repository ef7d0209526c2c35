"""``eventbench``: list, export, run, verify, compare, bench, report, sweep, soak (SPEC §6), cache.

The command line only: the parser, the arguments turned into a request of :mod:`harness.app`
(which does the work), its outcome printed, and an exit status. Exit status: 0 success; 1 a
contender was wrong (a check failed, a digest differed, a handler failed); 2 invalid input,
with one line on stderr naming what and why; 130 on Ctrl-C and 143 on SIGTERM, once every
worker has stopped, with no result written for the unfinished invocation.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import textwrap
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import implementations
from harness import app, diagnosis, numbers, reference, report, sweep, timeline, trials
from harness.inputs import StreamSource
from implementations import REFERENCE, Contender, ContenderError, Unavailable
from protocol.errors import InvalidInput

EXIT_OK, EXIT_WRONG, EXIT_INVALID = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (SPEC §6), not usage text plus a line."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INVALID, f"{self.prog}: error: {message}\n")


# ---------------------------------------------------------------- arguments into requests


def _source(args: argparse.Namespace) -> StreamSource:
    """The stream the arguments name (a command without ``--events`` has none)."""
    return StreamSource(events=getattr(args, "events", None), workload=args.workload, scenario=args.scenario,
                        n_events=args.n_events)  # fmt: skip


def contenders_named(names: str | None) -> tuple[Contender, ...] | None:
    """The contenders of ``--impl A,B``; None when not given (every available one that hosts the stream)."""
    if not names:
        return None
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
    return tuple(chosen)


def one_contender(names: str | None, command: str) -> Contender:
    """The one contender of ``--impl NAME``, for the commands that measure one at a time."""
    contenders = contenders_named(names) or implementations.available()
    if len(contenders) != 1:
        raise InvalidInput(
            "--impl", repr(names), f"{command} takes exactly one implementation (verify and compare take several)"
        )
    return contenders[0]


def worker_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise InvalidInput("--workers", text, "must be a positive integer or a comma-separated list of them") from None
    if not counts or any(c < 1 or c > 1024 for c in counts):
        raise InvalidInput("--workers", text, "each worker count must be in 1..1024")
    return counts


def _exit(valid: bool) -> int:
    return EXIT_OK if valid else EXIT_WRONG


# ---------------------------------------------------------------- commands


def cmd_list(args: argparse.Namespace) -> int:
    found = app.listing(args.scenario)
    entries, scenario_entries = found.implementations, found.scenarios
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
        for c in e["cannot_host"]:
            print(_wrapped(f"  cannot host it here: {c['contender']} ({c['reason']})", "    "))
        for w in e["workloads"]:
            print(_wrapped(f"  {w['name']:<18} {w['description']}", " " * 21))
    print("implementations:")
    for e in entries:
        state = "" if e["available"] else f"  [unavailable: {e['reason']}]"
        line = f"  {e['name']:<20} {e['language'] or '?':<8} {e['model'] or '?':<12} {e['description']}{state}"
        print(_wrapped(line, " " * 45))
    return EXIT_OK


def _wrapped(line: str, indent: str) -> str:
    """One entry of ``list`` (or a line of sweep's verdict), wrapped to the terminal's width."""
    return textwrap.fill(line, report.TERMINAL_WIDTH - 1, subsequent_indent=indent, break_on_hyphens=False)


def cmd_export(args: argparse.Namespace) -> int:
    done = app.export(_source(args), Path(args.output))
    print(f"wrote {done.path}: {done.n_events} events, {done.n_keys} keys")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    contender = one_contender(args.impl, "run")
    request = app.RunRequest(_source(args), contender, args.workers, args.mode,
                             Path(args.json) if args.json else None, args.alloc_events,
                             not args.no_reference_cache, args.timeline_ms, args.diagnose)  # fmt: skip
    measured = app.run_one(request)
    print(report.run_summary(measured.document))
    if measured.diagnosis:
        print(diagnosis.table(measured.diagnosis))
    if measured.diagnosis_files:
        print(f"diagnosis: {', '.join(map(str, measured.diagnosis_files))}")
    return _exit(measured.valid)


def cmd_verify(args: argparse.Namespace) -> int:
    """Every contender against the reference: on the input given, else on every built-in workload
    of the scenario (``--scenario``, default synthetic), one after another."""
    request = app.VerifyRequest(_source(args), contenders_named(args.impl), worker_counts(args.workers), args.mode,
                                not args.no_reference_cache)  # fmt: skip
    wrong = app.verify(request).wrong
    if wrong:
        print(f"{wrong} run(s) differ from the reference", file=sys.stderr)
    return _exit(not wrong)


def cmd_compare(args: argparse.Namespace) -> int:
    request = app.CompareRequest(
        _source(args),
        contenders_named(args.impl),  # a misspelt name is refused before the stream is made
        workers=args.workers,
        mode=args.mode,
        baseline=args.baseline,
        results_dir=Path(args.results_dir),
        trials=args.trials,
        seed=args.seed,
        alloc_events=args.alloc_events,
        with_report=args.report,
        reference_cache=not args.no_reference_cache,
        timeline_ns=args.timeline_ms,
        diagnose=args.diagnose,
    )
    compared = app.compare(request)
    report.print_comparison(compared.title, compared.documents, compared.baseline)
    for found in compared.diagnoses:
        print(diagnosis.table(found))
    print(f"result documents: {compared.directory}")
    if compared.diagnosis_files:
        print(f"diagnosis: {', '.join(map(str, compared.diagnosis_files))}")
    if compared.report_files:
        print(f"report: {', '.join(map(str, compared.report_files))}")
    return _exit(compared.valid)


def cmd_bench(args: argparse.Namespace) -> int:
    """pyperf timings (harness/rigorous.py) in worker processes."""
    request = app.BenchRequest(
        _source(args),
        contenders_named(args.impl),
        workers=args.workers,
        preset=args.preset,
        processes=args.processes,
        output=Path(args.output) if args.output else None,
        results_dir=Path(args.results_dir),
        reference_cache=not args.no_reference_cache,
    )
    benched = app.bench(request)
    if benched.medians is not None:
        print(report.bench_summary(benched.medians))
        print(f"pyperf results: {benched.output} (read with: python -m pyperf show {benched.output})")
    return _exit(benched.valid)


def cmd_report(args: argparse.Namespace) -> int:
    """Tables, markdown and plots from stored result documents; a broken file is named, the rest reported."""
    request = app.ReportRequest(tuple(Path(p) for p in args.paths), Path(args.out) if args.out else None,
                                args.baseline, not args.no_plots, args.scenario)  # fmt: skip
    done = app.write_report(request)
    print(f"report files ({done.n_documents} documents): " + ", ".join(str(p) for p in done.files))
    return EXIT_INVALID if done.errors else EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    contender = one_contender(args.impl, "sweep")
    request = app.SweepRequest(
        _source(args),
        contender,
        rates=tuple(sweep.parse_rates(args.rates)),
        objective_ns=round(args.p99_objective_us * 1000),
        seconds=args.seconds,
        trials=args.trials,
        seed=args.seed,
        workers=args.workers,
        results_dir=Path(args.results_dir),
        reference_cache=not args.no_reference_cache,
        timeline_ns=args.timeline_ms,
    )
    swept = app.sweep_rates(request)
    docs = swept.documents
    verdict = report.sweep_verdict(contender.info.name, swept.sustained, request.objective_ns, docs)
    unavailable = [f"no floor: {swept.floor_unavailable}"] if swept.floor_unavailable else []
    for line in [*report.sweep_notes(docs), *unavailable, verdict]:
        print(_wrapped(line, "  "))
    print(f"result documents: {swept.directory}")
    return _exit(swept.valid)


def cmd_soak(args: argparse.Namespace) -> int:
    """Many verified rounds of one stream: resident memory and figures must hold steady."""
    contender = one_contender(args.impl, "soak")
    source = StreamSource(workload=args.workload, scenario=args.scenario)  # its --n-events: the soak's, in all
    request = app.SoakRequest(source, contender, total_events=args.n_events, round_events=args.round_events,
                              workers=args.workers, json=Path(args.json) if args.json else None,
                              reference_cache=not args.no_reference_cache)  # fmt: skip
    result = app.run_soak(request)
    print(report.soak_summary(result))
    return _exit(result.steady)


def cmd_cache(args: argparse.Namespace) -> int:
    """The reference-digest cache (harness/reference.py): where it is and what it holds, or emptied."""
    if args.action == "clear":
        removed = reference.clear()
        print(f"removed {removed} reference digest(s) from {reference.cache_directory()}")
        return EXIT_OK
    found = reference.info()
    if args.json:
        print(json.dumps({"directory": str(found.directory), "entries": found.entries, "bytes": found.bytes,
                          "bypassed": found.bypassed}, indent=2))  # fmt: skip
        return EXIT_OK
    print(f"reference digests: {found.directory}")
    print(f"  {found.entries} entries, {numbers.si(found.bytes, 'B')}")
    if found.bypassed:
        print(f"  bypassed: {reference.ENV_OFF} is set (the cache is neither read nor written)")
    return EXIT_OK


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


def _reference_cache(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-reference-cache",
        action="store_true",
        help="compute the reference digest afresh, neither reading nor writing the cache (eventbench cache info)",
    )


def _timeline_ms(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--timeline-ms",
        type=_interval_ns,
        default=timeline.INTERVAL_NS,
        metavar="MS",
        help=f"the intervals of the latency over time, open loop (default {timeline.INTERVAL_NS // 1_000_000} ms; "
        "docs/timeline.md)",
    )


def _interval_ns(text: str) -> int:
    """Milliseconds, as ns: 1 ms to 60 s (finer makes a log of mostly tiny histograms; coarser hides a stall)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of ms, got {text!r}") from None
    if not 1 <= value <= 60_000:
        raise argparse.ArgumentTypeError(f"must be 1 to 60000 ms, got {text}")
    return round(value * 1_000_000)


def _alloc_events(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--alloc-events",
        type=_count,
        default=None,
        metavar="N",
        help="count allocations over the stream's first N events, in a separate pass (0: do not count; "
        "default: 1,000,000, every built-in workload's whole stream at its default size)",
    )


def _diagnose(p: argparse.ArgumentParser) -> None:
    p.add_argument("--diagnose", action="store_true",
                   help="then a sampled, untimed run per contender (py-spy; perf for the native engine's threads): "
                   "where the handling threads' time goes (GIL, lock, queue, sleeping), a table each and flame "
                   "graphs (docs/diagnosis.md)")  # fmt: skip


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
    _reference_cache(p)
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
    p.add_argument("--json", metavar="OUT", help="write the result document here (and its interval log, OUT.hlog)")
    _alloc_events(p)
    _timeline_ms(p)
    _diagnose(p)
    _reference_cache(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("verify", help="check every implementation against the reference")
    p.add_argument("--impl", metavar="A,B,...")
    _add_input(p, required=False)  # none: every built-in workload of the scenario
    p.add_argument("--mode", choices=("open", "closed"), help="default: open where the stream has arrival times")
    p.add_argument("--workers", default=",".join(map(str, sorted({1, 2, os.cpu_count() or 1, 4}))),
                   help="comma-separated worker counts for parallel contenders")  # fmt: skip
    _reference_cache(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("compare", help="the main job: verified runs side by side")
    p.add_argument("--impl", metavar="A,B,...")
    _add_input(p, required=False)
    _add_run_options(p, "worker threads for parallel contenders", _positive)
    p.add_argument("--baseline", default=REFERENCE, help="ratios are against this contender")
    p.add_argument("--results-dir", default="results", help="result documents go under DIR/runs/")
    p.add_argument("--report", action="store_true", help="also write report.md and the plots (as `report` does)")
    _diagnose(p)
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
    _timeline_ms(p)
    _reference_cache(p)
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
    _reference_cache(p)
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
    _timeline_ms(p)
    _reference_cache(p)
    p.set_defaults(func=cmd_sweep)
    _add_soak(sub)

    p = sub.add_parser("cache", help="the reference-digest cache: where it is and what it holds, or empty it")
    p.add_argument("action", choices=("info", "clear"))
    p.add_argument("--json", action="store_true", help="info as JSON")
    p.set_defaults(func=cmd_cache)
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
