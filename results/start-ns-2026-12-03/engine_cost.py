"""What recording start_ns costs the native engine: the engine of the commit before (C ABI 3,
no starts) against this one (ABI 4), called with start_ns and with NULL, in one process.

    python engine_cost.py time OLD.so NEW.so [--events N] [--rounds R] [--workers W]
    valgrind --tool=callgrind --zero-before=getppid --dump-before=getpgrp \\
        python engine_cost.py once LIB.so VARIANT N [--workers W]

``time``: R rounds, each running every variant once in a shuffled order, closed loop over the
first N events of the built-in ``contention`` workload (hot keys, 70 % aggregate: the handlers
are at their cheapest, so a store or a clock read per event shows most); ns per event of
evb_engine_run, and each round's ratio to the old engine, with the median and the spread.
``once``: one run of one variant (``old``, ``null`` or ``starts``) for callgrind, which counts
the window, every thread (the pool's workers too), as ``benchmarks/callgrind_subject.py`` does:
``os.getppid()`` just before ``evb_engine_run`` zeroes the count, ``os.getpgrp()`` just after
dumps it (part 1). The difference between N and 2N events, over N, is the cost per event.
Every run's digest is checked against the reference's; a wrong run stops the script.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

import cffi
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness.reference import reference_digest
from harness.workload import builtin, generate
from protocol.splitmix import digest_hex

COMMON = """
typedef uint64_t evb_stream; typedef uint64_t evb_engine;
const char *evb_last_error_message(void);
int32_t evb_stream_new(const uint8_t *records, size_t records_len, uint32_t n_keys, evb_stream *out_stream);
int32_t evb_stream_free(evb_stream stream);
int32_t evb_engine_new(uint32_t model, uint32_t workers, evb_engine *out_engine);
int32_t evb_engine_prepare(evb_engine engine, evb_stream stream);
int32_t evb_engine_release(evb_engine engine);
int32_t evb_engine_digest(evb_engine engine, uint64_t *out_digest);
int32_t evb_engine_free(evb_engine engine);
"""
OLD_RUN = "int32_t evb_engine_run(evb_engine, uint64_t *, size_t, uint64_t, int32_t);"
NEW_RUN = "int32_t evb_engine_run(evb_engine, uint64_t *, size_t, uint64_t *, uint64_t, int32_t);"
SEQUENTIAL, POOL = 0, 1


class Engine:
    def __init__(self, path: str, abi4: bool, records: np.ndarray, n_keys: int, model: int, workers: int) -> None:
        self.ffi = cffi.FFI()
        self.ffi.cdef(COMMON + (NEW_RUN if abi4 else OLD_RUN))
        self.lib = self.ffi.dlopen(path)
        self.abi4 = abi4
        self.records = records
        out = self.ffi.new("uint64_t *")
        self.call("evb_stream_new", self.ffi.from_buffer("uint8_t[]", records), records.nbytes, n_keys, out)
        self.stream = out[0]
        self.call("evb_engine_new", model, workers, out)
        self.engine = out[0]

    def call(self, name: str, *args: object) -> None:
        code = getattr(self.lib, name)(*args)
        if code != 0:
            raise RuntimeError(f"{name}: {self.ffi.string(self.lib.evb_last_error_message()).decode()}")

    def run(self, with_starts: bool) -> tuple[int, int]:
        """One closed-loop run: (ns in evb_engine_run, digest)."""
        n = len(self.records)
        done = np.zeros(n, dtype=np.uint64)
        start = np.zeros(n, dtype=np.uint64)
        done.fill(0), start.fill(0)  # pages faulted before, not inside, the timed call
        self.call("evb_engine_prepare", self.engine, self.stream)
        d = self.ffi.from_buffer("uint64_t[]", done)
        s = self.ffi.from_buffer("uint64_t[]", start) if with_starts else self.ffi.NULL
        os.getppid()  # callgrind --zero-before=getppid: the count starts here
        t0 = time.monotonic_ns()
        if self.abi4:
            code = self.lib.evb_engine_run(self.engine, d, n, s, t0, 0)
        else:
            code = self.lib.evb_engine_run(self.engine, d, n, t0, 0)
        elapsed = time.monotonic_ns() - t0
        os.getpgrp()  # callgrind --dump-before=getpgrp: and ends here
        if code != 0:
            raise RuntimeError(self.ffi.string(self.lib.evb_last_error_message()).decode())
        out = self.ffi.new("uint64_t *")
        self.call("evb_engine_digest", self.engine, out)
        if with_starts and not (bool((start >= t0).all()) and bool((start <= done).all())):
            raise RuntimeError("a start outside t0..done")
        self.call("evb_engine_release", self.engine)
        return elapsed, int(out[0])


def stream(n: int) -> tuple[np.ndarray, int, str]:
    s = generate(builtin("contention").with_events(n))
    return s.records, s.n_keys, reference_digest(s)


def timed(args: argparse.Namespace) -> None:
    records, n_keys, digest = stream(args.events)
    model = POOL if args.workers else SEQUENTIAL
    variants = {
        "old (ABI 3)": (Engine(args.old, False, records, n_keys, model, args.workers), False),
        "new, start_ns NULL": (Engine(args.new, True, records, n_keys, model, args.workers), False),
        "new, start_ns": (Engine(args.new, True, records, n_keys, model, args.workers), True),
    }
    per_event: dict[str, list[float]] = {name: [] for name in variants}
    rng = random.Random(19)
    for _ in range(args.rounds):
        order = list(variants)
        rng.shuffle(order)
        for name in order:
            engine, with_starts = variants[name]
            elapsed, got = engine.run(with_starts)
            if digest_hex(got) != digest:
                raise SystemExit(f"{name}: digest {digest_hex(got)} is not the reference's {digest}")
            per_event[name].append(elapsed / len(records))
    what = "native-sequential" if not args.workers else f"native, {args.workers} workers"
    print(f"{what}: contention, closed loop, {len(records):,} events, {args.rounds} interleaved rounds")
    base = per_event["old (ABI 3)"]
    for name, values in per_event.items():
        ratios = sorted(v / b for v, b in zip(values, base, strict=True))
        q = statistics.quantiles(ratios, n=4)
        v = statistics.quantiles(values, n=4)
        print(f"  {name:20} ns/event median {statistics.median(values):6.1f}, quartiles {v[0]:.1f}-{v[2]:.1f}, "
              f"min {min(values):.1f}; ratio to old: median {statistics.median(ratios):.3f}, "
              f"quartiles {q[0]:.3f}-{q[2]:.3f}, range {ratios[0]:.3f}-{ratios[-1]:.3f}")  # fmt: skip


def once(args: argparse.Namespace) -> None:
    records, n_keys, digest = stream(args.events)
    model = POOL if args.workers else SEQUENTIAL
    engine = Engine(args.lib, args.variant != "old", records, n_keys, model, args.workers)
    _, got = engine.run(args.variant == "starts")
    if digest_hex(got) != digest:
        raise SystemExit(f"digest {digest_hex(got)} is not the reference's {digest}")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("time")
    t.add_argument("old")
    t.add_argument("new")
    t.add_argument("--events", type=int, default=200_000)
    t.add_argument("--rounds", type=int, default=21)
    t.add_argument("--workers", type=int, default=0, help="0: native-sequential; else the pool")
    o = sub.add_parser("once")
    o.add_argument("lib")
    o.add_argument("variant", choices=("old", "null", "starts"))
    o.add_argument("events", type=int)
    o.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()
    timed(args) if args.command == "time" else once(args)


if __name__ == "__main__":
    main()
