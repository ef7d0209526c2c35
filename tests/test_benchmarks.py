"""The asv suite imports and each benchmark runs once, tiny (figures are asv's business, not the tests').

asv imports ``benchmarks`` as a package from the checkout; so do these tests. The end-to-end
runs through asv itself are the `asv-check` and `canary` nox sessions.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import shutil
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

import implementations
import scenarios
from harness.workload import builtin

ROOT = Path(__file__).resolve().parent.parent


def _benchmarks() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "benchmarks", ROOT / "benchmarks" / "__init__.py", submodule_search_locations=[str(ROOT / "benchmarks")]
    )
    assert spec and spec.loader
    package = importlib.util.module_from_spec(spec)
    sys.modules["benchmarks"] = package
    spec.loader.exec_module(package)
    return package


_benchmarks()
suite = importlib.import_module("benchmarks.suite")
contenders = importlib.import_module("benchmarks.bench_contenders")
counts = importlib.import_module("benchmarks.bench_counts")
generation = importlib.import_module("benchmarks.bench_generation")
sys.path.insert(0, str(ROOT / "benchmarks" / "plugin"))
sampled = importlib.import_module("asv_bench_eventbench.benchmarks.sampled")


@pytest.fixture(autouse=True)
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    book = {"book": 300, "book-contention": 300}
    monkeypatch.setattr(suite, "CLOSED_EVENTS", {"cpu-bound": 200, "contention": 300, "blocking": 20, **book})
    monkeypatch.setattr(suite, "OPEN_EVENTS", 200)  # 25 ms of `mixed` at its 8,000 events/s
    monkeypatch.setattr(suite, "OPEN_WORKLOADS", {"book-paced": 400})  # 4 bursts, 20 ms at 20,000 events/s
    monkeypatch.setattr(contenders, "SAMPLES", 2)
    monkeypatch.setattr(counts, "ALLOCATION_EVENTS", {"cpu-bound": 200, "contention": 300, "mixed": 200, **book})


def _hosts(contender: str, workload: str) -> bool:
    """What the registry says, independently of the suite's own rule."""
    return implementations.get(contender).info.hosts(builtin(workload).scenario.name)


def test_the_suite_covers_every_scenario_and_skips_only_what_a_contender_cannot_host() -> None:
    covered = {builtin(w).scenario.name for w in suite.CLOSED_EVENTS}
    # The built-ins: a scenario plugin installed beside eventbench (nox installs the example) is
    # the user's to benchmark, not this suite's.
    assert covered == {r.scenario.name for r in scenarios.registry() if r.scenario and r.origin == "built-in"}
    assert {"asyncio", "processes"} <= set(suite.contender_names())
    for contender in suite.contender_names():
        for workload in [*suite.CLOSED_EVENTS, *suite.OPEN_WORKLOADS, *counts.INSTRUCTION_WORKLOADS]:
            if _hosts(contender, workload):
                suite.require_hosted(contender, workload)
            else:
                with pytest.raises(NotImplementedError, match=f"{contender} does not host scenario orderbook"):
                    suite.require_hosted(contender, workload)
    assert _hosts("native", "book") and _hosts("processes", "book")  # the engine hosts the order book too
    if "c-sequential" in suite.contender_names():  # nox installs the C example: a contender that does not
        assert not _hosts("c-sequential", "book")


@pytest.mark.parametrize("contender", suite.contender_names())
def test_each_closed_loop_benchmark_runs_or_is_skipped(contender: str) -> None:
    bench = contenders.Handle()
    digests = bench.setup_cache()
    for workload in suite.CLOSED_EVENTS:
        if not _hosts(contender, workload):  # asv's "skipped", not a failure
            with pytest.raises(NotImplementedError, match="does not host"):
                bench.setup(digests, contender, workload)
            continue
        bench.setup(digests, contender, workload)
        bench.time_handle(digests, contender, workload)
        bench.peakmem_handle(digests, contender, workload)
        assert all(v > 0 for v in bench.sample_throughput(digests, contender, workload))


def test_open_loop_latency_samples_every_contender() -> None:
    bench = contenders.OpenLoopLatency()
    measured = bench.setup_cache()
    for contender in suite.contender_names():
        bench.setup(measured, contender)
        p50, p99 = bench.sample_latency_p50(measured, contender), bench.sample_latency_p99(measured, contender)
        assert len(p50) == len(p99) == 2 and all(0 < a <= b for a, b in zip(p50, p99, strict=True))


def test_open_loop_latency_by_workload_samples_every_hosting_contender() -> None:
    bench = contenders.OpenLoopLatencyByWorkload()
    measured = bench.setup_cache()
    sampled = []
    for contender in suite.contender_names():
        if not _hosts(contender, "book-paced"):
            with pytest.raises(NotImplementedError, match="does not host scenario orderbook"):
                bench.setup(measured, contender, "book-paced")
            continue
        bench.setup(measured, contender, "book-paced")
        p50 = bench.sample_latency_p50(measured, contender, "book-paced")
        p99 = bench.sample_latency_p99(measured, contender, "book-paced")
        assert len(p50) == len(p99) == 2 and all(0 < a <= b for a, b in zip(p50, p99, strict=True))
        sampled.append(contender)
    assert {"sequential", "threaded", "asyncio", "processes"} <= set(sampled)


def test_a_contender_that_fails_is_a_failure_and_one_that_cannot_host_a_skip() -> None:
    bench = contenders.OpenLoopLatencyByWorkload()
    measured = {"book-paced": {"a": "RuntimeError: a failed its checks", "b": "NotImplementedError: b does not host"}}
    with pytest.raises(RuntimeError, match="failed its checks"):
        bench.setup(measured, "a", "book-paced")  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError, match="does not host"):
        bench.setup(measured, "b", "book-paced")  # type: ignore[arg-type]


def test_a_commit_before_scenarios_runs_synthetic_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """At f1818c9 and before, ContenderInfo had no ``hosts`` and a spec no ``scenario``: every
    contender and workload was synthetic, and the order book's workloads did not exist."""

    class Old:
        info = SimpleNamespace(name="old")  # no hosts()

    def old_builtin(name: str) -> object:
        if name.startswith("book"):
            raise FileNotFoundError(f"harness/workloads/{name}.toml")
        return SimpleNamespace(name=name)  # no scenario

    monkeypatch.setattr(suite, "contender", lambda name: Old())
    monkeypatch.setattr(suite, "builtin", old_builtin)
    suite.require_hosted("old", "contention")
    with pytest.raises(NotImplementedError, match="book is not a built-in workload here: FileNotFoundError"):
        suite.require_hosted("old", "book")
    digests = suite.reference_digests({"book": 300})
    with pytest.raises(NotImplementedError, match="book is not a built-in workload here"):
        suite.expected_digest(digests, "book")
    with pytest.raises(NotImplementedError, match="not a built-in workload"):
        generation.GenerateWorkload().setup("book")


def test_a_wrong_digest_is_a_failure_not_a_figure() -> None:
    with pytest.raises(RuntimeError, match="the reference"):
        suite.checked_run("sequential", "cpu-bound", 200, "closed", "0" * 16)


def test_allocations_per_event_are_counted_for_every_contender() -> None:
    bench = counts.Allocations()
    digests = bench.setup_cache()
    counted = []
    for contender in suite.contender_names():
        try:
            bench.setup(digests, contender, "cpu-bound")
        except NotImplementedError as e:  # asv's "skipped": only for what the method cannot see
            assert "worker processes" in str(e), e
            continue
        assert bench.track_allocations_per_event(digests, contender, "cpu-bound") >= 0
        counted.append(contender)
    assert {"sequential", "threaded", "asyncio", "native", "native-sequential"} <= set(counted)


def test_allocations_per_event_on_the_order_book(monkeypatch: pytest.MonkeyPatch) -> None:
    # 1,000 events, not the fixture's 300: the native window's constant (cffi's views of done_ns
    # and start_ns, the call: 16 allocations a run) must not pass for a cost per event.
    monkeypatch.setitem(counts.ALLOCATION_EVENTS, "book", 1000)
    bench = counts.Allocations()
    digests = bench.setup_cache()
    for contender in ("sequential", "threaded", "asyncio"):
        bench.setup(digests, contender, "book")
        assert bench.track_allocations_per_event(digests, contender, "book") > 0  # new orders are new objects
    bench.setup(digests, "native", "book")  # the order book in Rust: its books, made as instruments first trade
    native = bench.track_allocations_per_event(digests, "native", "book")
    assert native < bench.track_allocations_per_event(digests, "sequential", "book") / 100


# Runs of one callgrind process (contender, workload, events handled, events generated): two
# prefixes of the native engine, two of the thread pool, and a run whose child fails.
CALLGRIND_PLAN = [
    ("native-sequential", "cpu-bound", 1_000, 3_000),
    ("native-sequential", "cpu-bound", 3_000, 3_000),
    ("threaded", "book-contention", 100, 300),
    ("threaded", "book-contention", 300, 300),
    ("no-such-contender", "contention", 10, 30),
]


@pytest.fixture(scope="module")
def callgrind_counts() -> list[list[int] | str]:
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed")
    return counts.thread_instructions(CALLGRIND_PLAN, counts.reference_digests(CALLGRIND_PLAN))


def test_instructions_repeat_to_within_a_few_hundred(callgrind_counts: list[list[int] | str]) -> None:
    """Another callgrind process, the same plan: the figure, (long - short) of the native engine's
    main threads, is the same to within 1,000 instructions over the 2,000 events between the
    prefixes (0.5 an event, 0.06 % of this figure). What can vary between two processes is the
    path Python's allocator takes inside the window: it depends on what came before in the process
    (the /proc reads, whose text changes with the machine's load, most likely). So the native
    run's window must allocate next to nothing in Python. It once held cffi's first parse of
    "uint64_t[]", and two counts on a busy machine then differed by more than 1,000."""
    again = counts.thread_instructions(CALLGRIND_PLAN, counts.reference_digests(CALLGRIND_PLAN))
    first, second = ([runs[i][0] for i in (0, 1)] for runs in (callgrind_counts, again))  # type: ignore[index]
    assert 0 < first[0] < first[1] and abs((first[1] - first[0]) - (second[1] - second[0])) <= 1000
    assert abs(first[0] - second[0]) <= 1000


def test_a_thread_pool_is_counted_on_every_thread(callgrind_counts: list[list[int] | str]) -> None:
    """``threaded`` handles on its worker thread: counting the main thread alone would leave out
    nearly all of the handling (the dispatcher's part is a few hundred instructions per event)."""
    assert "threaded" in counts.EVERY_THREAD and "threaded" in counts.Instructions.params[0]
    short, long = callgrind_counts[2], callgrind_counts[3]
    assert isinstance(short, list) and isinstance(long, list)
    assert len(short) == len(long) >= 2  # the dispatcher, then the worker
    main_thread, every_thread = long[0] - short[0], sum(long) - sum(short)
    assert every_thread > 3 * main_thread > 0


def test_a_run_that_fails_is_its_own_failure(callgrind_counts: list[list[int] | str]) -> None:
    failed = callgrind_counts[4]
    assert isinstance(failed, str) and "no-such-contender on contention (10 events) exited 1" in failed
    assert "KeyError: 'no-such-contender'" in failed
    assert all(isinstance(runs, list) for runs in callgrind_counts[:4])  # the others were counted


def test_instructions_per_event_from_the_two_prefixes(monkeypatch: pytest.MonkeyPatch) -> None:
    plans = []

    def instructions(plan: list[tuple[str, str, int, int]]) -> list[int | str]:
        plans.append(plan)
        return [2_000, 6_000, 5_000, "it broke"]

    monkeypatch.setattr(counts, "instructions", instructions)
    figures = counts.per_event([("sequential", "contention"), ("native-sequential", "contention")])
    assert plans == [[("sequential", "contention", 1_000, 3_000), ("sequential", "contention", 3_000, 3_000),
                      ("native-sequential", "contention", 100_000, 300_000),
                      ("native-sequential", "contention", 300_000, 300_000)]]  # fmt: skip
    assert figures == {"sequential contention": 2.0, "native-sequential contention": "it broke"}
    bench = counts.Instructions()
    if shutil.which("valgrind") is not None:
        bench.setup(figures, "sequential", "contention")
        with pytest.raises(RuntimeError, match="it broke"):
            bench.setup(figures, "native-sequential", "contention")
    assert bench.track_instructions_per_event(figures, "sequential", "contention") == 2.0  # type: ignore[arg-type]


def test_callgrind_totals_are_read_from_its_output() -> None:
    assert counts.total_instructions("events: Ir\nsummary: 1910610720\n") == 1910610720
    with pytest.raises(RuntimeError, match="no instruction total"):
        counts.total_instructions("events: Ir\n")


def test_generation_benchmark_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generation, "EVENTS", 1000)
    bench = generation.GenerateWorkload()
    bench.setup("mixed")
    bench.time_generate("mixed")
    assert bench.track_events_per_second("mixed") > 0


def test_the_sampled_type_keeps_samples_and_refuses_too_few() -> None:
    def sample_figure() -> list[float]:
        return [1.0, 2.0, 3.0]

    bench = sampled.SampledBenchmark("s.sample_figure", sample_figure, [sample_figure])
    assert bench.run() == {"samples": [1.0, 2.0, 3.0], "number": 1}
    for bad in ([1.0], [1.0, math.nan]):
        refused = sampled.SampledBenchmark("s.sample_bad", lambda bad=bad: bad, [])
        with pytest.raises(ValueError, match="finite samples"):
            refused.run()
    assert sampled.SampledBenchmark.name_regex.match("sample_latency_p99")
    assert not sampled.SampledBenchmark.name_regex.match("track_latency")


# -- versions: the stored history stays whole -----------------------------------------------


def _discovered() -> dict[str, str]:
    """The suite as asv discovers it (asv_runner's own discovery, our sampled type included): name -> version."""
    return {b.name: b.version for b in _discovery()}


def _discovery() -> list[Any]:
    from asv_runner import discovery

    if sampled.SampledBenchmark not in discovery.benchmark_types:  # asv finds it only when installed
        discovery.benchmark_types.append(sampled.SampledBenchmark)
    return list(discovery.disc_benchmarks(str(ROOT / "benchmarks")))


def test_every_benchmark_carries_its_explicit_version() -> None:
    """asv's fallback, a hash of the source, moves on edits that change no figure: none may rely on it."""
    assert _discovered() == {name: str(version) for name, version in suite.VERSIONS.items()}


def test_the_stored_history_matches_the_suite() -> None:
    """Every result in results/asv belongs to a benchmark of this suite at its version, so asv shows it.

    A failure here means an edit would orphan stored history: keep the version if the figure means
    what it meant, or bump it on purpose and retire the old one (docs/regression-tracking.md).
    """
    from asvtrack import versions

    in_store = versions.stored(ROOT / "results" / "asv")
    assert in_store, "results/asv holds no stored results"
    problems = versions.orphans(in_store, _discovered())
    assert not problems, "\n".join(problems)


def test_the_stored_parameters_keep_their_place() -> None:
    """asv finds a stored value by its whole tuple of parameters: a benchmark that gained a parameter
    (a scenario beside the contender, say) would show none of its stored history, version or not."""
    from asvtrack import versions

    in_store = versions.stored_params(ROOT / "results" / "asv")
    assert "bench_contenders.OpenLoopLatency.sample_latency_p99" in in_store
    problems = versions.unplaced(in_store, {b.name: b.params for b in _discovery()})
    assert not problems, "\n".join(problems)


def test_a_benchmark_without_a_version_is_refused() -> None:
    class Unlisted:
        def track_something(self) -> float:
            return 1.0

    with pytest.raises(LookupError, match=r"Unlisted\.track_something has no version"):
        suite.versioned(Unlisted)
