"""Where the allocation pass's time goes now: the tracked run, the native read, memray on the skeleton.

One pass's steps timed apart, on the whole stream of a workload. Usage: ``python breakdown.py CONTENDER WORKLOAD``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import implementations
from harness import allocations, memray_capture
from harness.workload import builtin, generate


def main(contender_name: str, workload: str) -> None:
    contender, stream = implementations.get(contender_name), generate(builtin(workload))
    with tempfile.TemporaryDirectory(prefix="breakdown-") as tmp:
        scratch = Path(tmp)
        t0 = time.perf_counter()
        allocations._tracked_run(contender, stream.prefix(allocations.WARMUP_EVENTS), 2, scratch / "warm", False)
        t1 = time.perf_counter()
        allocations._tracked_run(contender, stream, 2, scratch / "count", False)
        t2 = time.perf_counter()
        records = memray_capture.read(scratch / "count").records  # the decoding alone, once
        t3 = time.perf_counter()
        tallied = allocations._tally_fast(scratch / "count", scratch)  # decoding again, and the skeleton
        t4 = time.perf_counter()
        figures = allocations._classified(tallied)
        t5 = time.perf_counter()
        size = (scratch / "count").stat().st_size
    print(f"{contender_name} on {workload}, {stream.n_events:,} events: {records:,} allocation records, "
          f"capture {size / 1e6:,.0f} MB, {len(tallied.by_stack)} native stacks, "
          f"{figures[0]:,} allocations")  # fmt: skip
    print(f"  warm-up pass {t1 - t0:.2f} s | tracked run {t2 - t1:.2f} s ({(t2 - t1) / records * 1e9:.0f} ns/record) | "
          f"native read {t3 - t2:.2f} s ({(t3 - t2) / records * 1e9:.1f} ns/record) | read + skeleton "
          f"{t4 - t3:.2f} s | symbolise and classify {t5 - t4:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
