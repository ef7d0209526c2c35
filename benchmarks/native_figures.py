"""The native engine's goals, measured side by side in one run (a benchmark, never a test).

    python benchmarks/native_figures.py [--events N] [--repeat R]

Prints, for the CPU-bound workload in closed loop: throughput of every contender
and the ratios the goals are stated in; the open-loop latency of `native` at
100,000 events/s; allocations per event of a warm `native` run, by the crate's
own counter; and the per-event cost of feeding the engine through a streaming
session in batches of 4096 against one call. Each timing is the median of R runs.
Every run is checked against the reference's digest of its stream, as in the harness: a
wrong run stops the script rather than give a figure.
The floor (a minimal Rust loop) is measured by `cargo bench --bench floor`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

import implementations
from harness.reference import reference_digest
from harness.runner import checked_run, figures
from harness.workload import builtin, generate, load_workload
from implementations import native_cffi
from protocol.splitmix import digest_hex

HERE = Path(__file__).resolve().parent


def closed_throughput(name: str, stream, workers: int, repeat: int, digest: str) -> float:  # type: ignore[no-untyped-def]
    contender = implementations.get(name)
    values = []
    for _ in range(repeat):
        outcome = checked_run(contender, stream, workers=workers, reference_digest=digest)
        values.append(figures(outcome, stream).throughput_eps)
    return statistics.median(values)


def allocations_per_event(stream, workers: int, digest: str) -> float:  # type: ignore[no-untyped-def]
    contender = native_cffi.Native()
    checked_run(contender, stream, workers=workers, reference_digest=digest)  # warm: threads, channels, buffers
    before = native_cffi.alloc_counters()[0]
    checked_run(contender, stream, workers=workers, reference_digest=digest)
    return (native_cffi.alloc_counters()[0] - before) / stream.n_events


def streaming_overhead_ns(stream, workers: int, batch: int, repeat: int, digest: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median ns/event of one call and of a session fed `batch` events per submit. Both paths
    bypass the harness's driver (that is what they time), so their digests are checked here."""
    one_call, streamed = [], []
    n = stream.n_events
    for _ in range(repeat):
        done = np.zeros(n, dtype=np.uint64)
        engine = native_cffi.Engine("pool", workers)
        start = time.perf_counter_ns()
        computed = engine.run_stream(stream.records, stream.n_keys, done, time.monotonic_ns(), False)
        one_call.append((time.perf_counter_ns() - start) / n)
        engine.free()
        _same(computed, digest, "one call")
        done = np.zeros(n, dtype=np.uint64)
        start = time.perf_counter_ns()
        with native_cffi.StreamingSession(stream.n_keys, workers, done) as session:
            for offset in range(0, n, batch):
                session.submit(stream.records[offset : offset + batch])
            computed = session.close()
        streamed.append((time.perf_counter_ns() - start) / n)
        _same(computed, digest, "streaming session")
    return statistics.median(one_call), statistics.median(streamed)


def _same(computed: int, digest: str, path: str) -> None:
    if digest_hex(computed) != digest:
        raise SystemExit(f"native's {path} computed digest {digest_hex(computed)}, the reference {digest}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    cpu = generate(builtin("cpu-bound").with_events(args.events))
    cpu_digest = reference_digest(cpu)
    print(f"cpu-bound, closed loop, {cpu.n_events:,} events, median of {args.repeat} (sequential: 1 run)")
    tput = {
        "sequential": closed_throughput("sequential", cpu, 1, 1, cpu_digest),
        "native-sequential": closed_throughput("native-sequential", cpu, 1, args.repeat, cpu_digest),
        "native": closed_throughput("native", cpu, args.workers, args.repeat, cpu_digest),
    }
    for name, value in tput.items():
        print(f"  {name:<18} {value:>14,.0f} events/s")
    print(f"  native / sequential             {tput['native'] / tput['sequential']:8.1f}x   (goal >= 50x)")
    parallel = tput["native"] / tput["native-sequential"]
    print(f"  native ({args.workers} workers) / native-sequential {parallel:5.2f}x   (goal >= 1.6x)")

    paced = generate(load_workload(str(HERE / "workloads" / "open-100k.toml")))
    outcome = checked_run(native_cffi.Native(), paced, workers=args.workers, mode="open",
                          reference_digest=reference_digest(paced))  # fmt: skip
    latency = figures(outcome, paced).latency_ns
    assert latency is not None
    print(f"open loop, 100,000 events/s, {paced.n_events:,} events, native {args.workers} workers:")
    print("  " + "  ".join(f"{k} {v / 1000:.1f} µs" for k, v in latency.as_dict().items()) + "   (goal p99 <= 100 µs)")

    allocations = allocations_per_event(cpu, args.workers, cpu_digest)
    print(f"allocations per event, warm native run: {allocations:.6f}   (goal <= 0.001)")

    update_only = generate(builtin("contention").with_events(args.events))
    one_call, streamed = streaming_overhead_ns(update_only, args.workers, 4096, args.repeat,
                                               reference_digest(update_only))  # fmt: skip
    print(f"streaming, batches of 4096 ({update_only.n_events:,} cheap events): one call {one_call:.1f} ns/event, "
          f"session {streamed:.1f} ns/event, cost {streamed - one_call:+.1f} ns/event   (goal <= 20)")  # fmt: skip


if __name__ == "__main__":
    main()
