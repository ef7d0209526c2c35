"""Rigorous timings with pyperf: ``eventbench bench`` runs this module as a pyperf script.

pyperf runs each contender in fresh worker processes (calibrated loops, warm-ups,
several processes, so that one process's luck does not decide), and writes its own
JSON, which ``python -m pyperf show`` and ``compare_to`` read. One loop handles the
whole stream once, closed loop; ``inner_loops`` is the number of events, so every
value pyperf stores is **seconds per event**. Opening a run (setup) is outside
the timed span, as in the harness's own runs. Before any timing, the parent
process checks every contender's digest against the reference, and every timed
run is checked as every run is (SPEC §4, and the digest again): a wrong contender gets no figure.

Run directly: ``python -m harness.rigorous --workload W --impl A,B -o out.json [pyperf options]``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import implementations
import scenarios
from harness import metadata, workload
from harness.reference import reference_digest
from harness.runner import checked_run
from implementations import Contender
from protocol.events import EventStream

_OUR_OPTIONS = ("--scenario", "--workload", "--n-events", "--impl", "--workers", "--reference-digest",
                "--no-reference-cache")  # fmt: skip


def time_handling(loops: int, contender: Contender, stream: EventStream, workers: int, expected: str) -> float:
    """pyperf's time function: ``loops`` whole runs, each checked against ``expected``, returning
    the seconds spent in their timed windows (handling only)."""
    total_ns = 0
    for _ in range(loops):
        outcome = checked_run(contender, stream, workers=workers, reference_digest=expected)
        total_ns += outcome.end_ns - outcome.t0_ns
    return total_ns / 1e9


def _forward(cmd: list[str], args: argparse.Namespace) -> None:
    """pyperf's hook: our options, passed on to every worker process."""
    cmd += ["--workload", args.workload, "--impl", args.impl, "--workers", str(args.workers)]
    cmd += ["--scenario", args.scenario] if args.scenario else []
    cmd += ["--reference-digest", args.reference_digest]
    if args.n_events is not None:
        cmd += ["--n-events", str(args.n_events)]


def _verified(contenders: list[Contender], stream: EventStream, workers: int, cached: bool = True) -> str:
    """The reference digest, once every contender has matched it (parent process only): a wrong
    one raises :class:`WrongRun` here, before pyperf starts a worker process."""
    reference = reference_digest(stream, cached=cached)
    for contender in contenders:
        checked_run(contender, stream, workers=workers, reference_digest=reference)
    return reference


def main() -> None:
    import pyperf

    runner = pyperf.Runner(program_args=("-m", "harness.rigorous"), add_cmdline_args=_forward)
    parser = runner.argparser
    parser.add_argument("--scenario", help="the scenario a TOML file without its own is read as")
    parser.add_argument("--workload", default="mixed")
    parser.add_argument("--n-events", type=int)
    parser.add_argument("--impl", default=",".join(c.info.name for c in implementations.available()))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reference-digest", default="")
    parser.add_argument("--no-reference-cache", action="store_true", help="compute the reference digest afresh")
    args = runner.parse_args()

    spec = workload.load_workload(args.workload, scenarios.get(args.scenario) if args.scenario else None)
    if args.n_events is not None:
        spec = spec.with_events(args.n_events)
    stream = workload.generate(spec)
    contenders = [implementations.get(name.strip()) for name in args.impl.split(",")]
    if not args.worker:
        args.reference_digest = _verified(contenders, stream, args.workers, not args.no_reference_cache)
    meta: dict[str, Any] = metadata.collect()
    runner.metadata.update(
        {
            "eventbench_commit": str(meta["commit"]),
            "eventbench_workload": spec.name,
            "eventbench_scenario": f"{spec.scenario.name} v{spec.scenario.version}",
            "eventbench_events": str(stream.n_events),
            "eventbench_value": "seconds per event (one loop handles the whole stream, closed loop)",
        }
    )
    for contender in contenders:
        workers = contender.effective_workers(args.workers)
        runner.bench_time_func(
            f"{spec.name}/{contender.info.name}-w{workers}",
            time_handling,
            contender,
            stream,
            workers,
            args.reference_digest,
            inner_loops=stream.n_events,
        )


if __name__ == "__main__":
    from implementations import ContenderError
    from protocol.errors import InvalidInput

    try:
        main()
    except (InvalidInput, ContenderError) as e:  # a wrong contender (WrongRun), or bad input when run directly
        sys.exit(f"eventbench bench: {e}")
