"""Reading one capture: memray's reader record by record (``_tally``) against the native reader.

Each capture is made once (a real counting pass's window), then read by both readers in
interleaved pairs, the order alternating, after one untimed read by each (cffi's load,
memray's symbol tables: once per process). Timed per reader:

- ``_tally``: memray's reader, one Python object per record, as the pass read until now;
- ``_tally_fast``: the native reader, then memray on the skeleton (what the pass does now);
- ``read``: the native decoding alone (``memray_capture.read``).

Both are followed by the same symbolising and classification, which is not timed here
(tens of stacks; the same work either way). Usage: ``python per_record.py REPEATS``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import implementations
from harness import allocations, memray_capture
from harness.workload import builtin, generate

CAPTURES = [("sequential", "mixed", 12_000, 1), ("threaded", "contention", 50_000, 2), ("asyncio", "book", 50_000, 1)]


def _timed(f: object, *args: object) -> float:
    t = time.perf_counter()
    f(*args)  # type: ignore[operator]
    return time.perf_counter() - t


def main(repeats: int) -> None:
    for name, workload, n_events, workers in CAPTURES:
        stream = generate(builtin(workload)).prefix(n_events)
        with tempfile.TemporaryDirectory(prefix="per-record-") as tmp:
            capture = Path(tmp) / "count"
            allocations._tracked_run(implementations.get(name), stream, workers, capture, read_crate=False)
            records = memray_capture.read(capture).records
            fast, slow = allocations._tally_fast(capture, Path(tmp)), allocations._tally(capture)
            assert fast.by_stack == slow.by_stack and fast.records.keys() == slow.records.keys()
            assert allocations._classified(fast) == allocations._classified(slow)
            times: dict[str, list[float]] = {"_tally": [], "_tally_fast": [], "read": []}
            for r in range(repeats):
                order = ["_tally", "_tally_fast", "read"] if r % 2 == 0 else ["read", "_tally_fast", "_tally"]
                for reader in order:
                    if reader == "_tally":
                        times[reader].append(_timed(allocations._tally, capture))
                    elif reader == "_tally_fast":
                        times[reader].append(_timed(allocations._tally_fast, capture, Path(tmp)))
                    else:
                        times[reader].append(_timed(memray_capture.read, capture))
            size = capture.stat().st_size
        print(f"{name} on {workload}, {n_events:,} events: {records:,} allocation records, "
              f"{size / records:.2f} bytes a record, {len(fast.by_stack)} native stacks; "
              f"{repeats} interleaved repeats")  # fmt: skip
        for reader, ts in times.items():
            per = [t / records * 1e9 for t in ts]
            print(f"  {reader:12} ns/record median {statistics.median(per):8.1f}  [{min(per):.1f}–{max(per):.1f}]"
                  f"   seconds median {statistics.median(ts):.3f}")  # fmt: skip
        for fast_reader in ("_tally_fast", "read"):
            ratios = [s / f for s, f in zip(times["_tally"], times[fast_reader], strict=True)]
            print(f"  _tally / {fast_reader:12} per pair: median {statistics.median(ratios):6.1f}x"
                  f"  [{min(ratios):.1f}x–{max(ratios):.1f}x]")  # fmt: skip
        sys.stdout.flush()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
