"""What every eventbench asv suite shares: contenders, stream sizes, hosting and checked runs.

asv runs the suite of the *current* checkout against the package installed at each
commit it measures, so this file keeps to the harness's public calls (the registry,
``workload.generate``, ``runner.run_once``, ``runner.figures``); a commit that lacks one gets
a failed or skipped benchmark, not a wrong figure.

The suite covers scenario x contender x workload. A workload's name says its scenario
(names are unique across scenarios: ``book`` is the order book's), so the scenario rides in
the ``workload`` parameter and the benchmarks that existed before scenarios keep their
parameters, and so their stored history. A contender that does not host a workload's
scenario (the native engine: ``synthetic`` only), and a workload that the commit measured
does not have, are skipped (``NotImplementedError`` in ``setup``), never failed:
:func:`require_hosted`.

Every figure comes from a run whose final digest matched the reference contender's on the
same stream: a contender that computes something else has no figure, only a failure.
Reference digests are computed in ``setup_cache`` (its own process), so that the reference's
run never counts in the peak memory of the contender measured.

Sizes keep one commit's whole suite under 10 minutes on a 2-core machine while each
measurement lasts long enough (tens of milliseconds or more) to mean something.
"""

from __future__ import annotations

import functools
import re

import implementations
from harness.runner import figures, run_once
from harness.workload import builtin, generate

REFERENCE = "sequential"
WORKERS = 2  # the parallel contenders' pool size; the sequential ones use 1 whatever this says

# Closed loop: the whole workload, handled as fast as each contender can. `book` and
# `book-contention` are the order book's (scenarios/orderbook/workloads/): a realistic order
# flow, and hot instruments on 4 accounts; 50,000 events are ~0.1 s for `sequential`.
CLOSED_EVENTS = {
    "cpu-bound": 20_000, "contention": 50_000, "blocking": 1_000, "book": 50_000, "book-contention": 50_000,
}  # fmt: skip
# Open loop: `mixed` arrives at 8,000 events/s, so 8,000 events are one second of load.
OPEN_WORKLOAD, OPEN_EVENTS = "mixed", 8_000
# Other open-loop workloads, one second of load each (bench_contenders.OpenLoopLatencyByWorkload):
# `book-paced`'s order flow arrives in bursts of 100 averaging 20,000 events/s.
OPEN_WORKLOADS = {"book-paced": 20_000}
# Before contenders said what they host (up to f1818c9), every one ran `synthetic` alone.
SYNTHETIC = "synthetic"
# A reference digest that could not be computed because the reference cannot run the workload at
# the commit measured (reference_digests); what follows the prefix is the reason.
NO_DIGEST = "no digest: "


# Each figure's version, which asv stores beside every result and compares with the suite's: a
# stored result whose version differs from the benchmark's is dropped from the graphs, `asv
# compare` and `regress`. Left to itself asv versions a benchmark by a hash of its source (the
# method, its setup and setup_cache), which moves on any edit there, such as a skip for a new
# contender, and stays put when a helper it calls changes what it counts. So every benchmark
# carries an explicit version from this table instead. Bump a figure's version only when the
# figure's meaning changes: what it counts or times, its unit, the size or shape of its stream,
# the method behind it -- anything after which a result of the same commit would no longer be
# comparable with the stored ones. Refactoring, comments, new contenders or parameters, new
# skips and fixes that leave every stored value standing keep the version. A bump ends that
# figure's history on purpose: list the old version in tools/asvtrack/versions.py RETIRED with
# the reason. docs/regression-tracking.md has the rule; tests/test_benchmarks.py fails when a
# stored result no longer matches a benchmark here by name and version.
VERSIONS = {
    "bench_contenders.Handle.time_handle": 1,
    "bench_contenders.Handle.peakmem_handle": 1,
    "bench_contenders.Handle.sample_throughput": 1,
    "bench_contenders.OpenLoopLatency.sample_latency_p50": 1,
    "bench_contenders.OpenLoopLatency.sample_latency_p99": 1,
    "bench_contenders.OpenLoopLatencyByWorkload.sample_latency_p50": 1,
    "bench_contenders.OpenLoopLatencyByWorkload.sample_latency_p99": 1,
    "bench_counts.Allocations.track_allocations_per_event": 1,
    "bench_counts.Instructions.track_instructions_per_event": 2,
    "bench_generation.GenerateWorkload.time_generate": 1,
    "bench_generation.GenerateWorkload.track_events_per_second": 1,
}
# asv's benchmark types by name (asv_runner's time, timeraw, mem, peakmem and track; ours, sample)
BENCHMARK_NAME = re.compile(r"^(time|timeraw|mem|peakmem|track|sample)_")


def versioned(cls: type) -> type:
    """Sets every benchmark method of ``cls`` to its explicit version in :data:`VERSIONS` (asv reads
    a ``version`` attribute before hashing the source); a benchmark missing there is refused."""
    module = cls.__module__.split(".", 1)[-1]  # asv names benchmarks relative to the suite's package
    for attr, method in vars(cls).items():
        if callable(method) and BENCHMARK_NAME.match(attr):
            name = f"{module}.{cls.__qualname__}.{attr}"
            if name not in VERSIONS:
                raise LookupError(f"{name} has no version in benchmarks/suite.py VERSIONS: add it there")
            method.version = str(VERSIONS[name])
    return cls


def contender_names() -> list[str]:
    """Every registered contender, available here or not (an unavailable one is skipped, not hidden)."""
    return [registration.name for registration in implementations.registry()]


def contender(name: str):  # type: ignore[no-untyped-def]
    """The contender called ``name``; asv skips the benchmark when it cannot run here."""
    try:
        return implementations.get(name)
    except Exception as e:  # unknown at this commit, or its library did not build: no figure
        raise NotImplementedError(f"{name} is not available: {e}") from None


def scenario_of(workload: str) -> str:
    """The scenario of the built-in ``workload`` at the commit measured; ``NotImplementedError``
    where that commit has no such built-in workload (the order book's, at f1818c9)."""
    try:
        spec = builtin(workload)
    except Exception as e:  # KeyError from the catalog, FileNotFoundError before it had scenarios
        raise NotImplementedError(f"{workload} is not a built-in workload here: {type(e).__name__}: {e}") from None
    scenario = getattr(spec, "scenario", None)  # the field is new with scenarios
    return SYNTHETIC if scenario is None else str(scenario.name)


def require_hosted(name: str, workload: str) -> None:
    """Raises ``NotImplementedError`` (asv: skipped) unless contender ``name`` is available and
    hosts ``workload``'s scenario at the commit measured."""
    info = contender(name).info
    scenario = scenario_of(workload)
    hosts = getattr(info, "hosts", None)  # ContenderInfo.hosts is new with scenarios
    if not (hosts(scenario) if hosts is not None else scenario == SYNTHETIC):
        raise NotImplementedError(f"{name} does not host scenario {scenario} (workload {workload})")


@functools.cache
def stream(workload: str, n_events: int):  # type: ignore[no-untyped-def]
    return generate(builtin(workload).with_events(n_events))


def reference_digests(sizes: dict[str, int]) -> dict[str, str]:
    """The reference contender's digest of each workload at its size (for ``setup_cache``); for a
    workload the reference cannot run at this commit, :data:`NO_DIGEST` and the reason, which
    :func:`expected_digest` raises as a skip.

    The harness's own (``harness.reference.reference_digest``, ``harness.runner``'s before it)
    does the same for one stream, but only from c8bbf9f on; this loop over ``run_once`` lets the
    suite measure the commits before it too.
    """
    digests = {}
    for workload, n_events in sizes.items():
        try:
            require_hosted(REFERENCE, workload)
        except NotImplementedError as e:
            digests[workload] = f"{NO_DIGEST}{e}"
            continue
        outcome = run_once(implementations.get(REFERENCE), stream(workload, n_events), workers=1, mode="closed")
        if not outcome.valid:
            raise RuntimeError(f"the reference failed its own checks on {workload}: {outcome.failures()}")
        digests[workload] = str(outcome.digest)
    return digests


def expected_digest(digests: dict[str, str], workload: str) -> str:
    """``workload``'s reference digest from :func:`reference_digests`; ``NotImplementedError`` where
    the reference could not run it."""
    digest = digests[workload]
    if digest.startswith(NO_DIGEST):
        raise NotImplementedError(digest[len(NO_DIGEST) :])
    return digest


def checked_run(name: str, workload: str, n_events: int, mode: str, expected: str):  # type: ignore[no-untyped-def]
    """One run of ``name``, refused (an exception, so asv records a failure) unless it is right."""
    events = stream(workload, n_events)
    # The runner judges the digest with the SPEC checks: a wrong digest makes the run invalid.
    outcome = run_once(contender(name), events, workers=WORKERS, mode=mode, reference_digest=expected)
    if not outcome.valid:
        raise RuntimeError(f"{name} failed its checks on {workload}: {outcome.failures()}")
    return figures(outcome, events)
