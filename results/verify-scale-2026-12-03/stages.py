"""Where the time and the resident memory of one ``eventbench run`` go, stage by stage: the same
calls ``harness.app.run_one`` makes, with the clock and /proc/self/status read between them.

    python results/verify-scale-2026-12-03/stages.py /tmp/verify-c16m.evts native 2

RSS is this process's resident set after each stage, and HWM its peak so far; ``engine open``
is the contender's ``open`` (the engine's validation and its decoded copy of the records).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

T_START = time.perf_counter()

import implementations  # noqa: E402
from harness import results  # noqa: E402
from harness.inputs import StreamSource, load_stream  # noqa: E402
from harness.reference import reference_digest  # noqa: E402
from harness.runner import run_once  # noqa: E402


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def main() -> None:
    path, name, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    stamps: list[tuple[str, float, int, int]] = [("imports", time.perf_counter() - T_START, _status("VmRSS"),
                                                   _status("VmHWM"))]  # fmt: skip
    last = time.perf_counter()

    def stage(label: str) -> None:
        nonlocal last
        now = time.perf_counter()
        stamps.append((label, now - last, _status("VmRSS"), _status("VmHWM")))
        last = now

    contender = implementations.get(name)
    loaded = load_stream(StreamSource(events=path))
    n = loaded.stream.n_events
    stage("map and validate the file")
    reference = reference_digest(loaded.stream)
    stage("reference digest (SHA-256, cache)")
    opened: dict[str, float] = {}

    @contextmanager
    def window() -> Iterator[None]:
        opened["rss"], opened["at"] = _status("VmRSS"), time.perf_counter()
        yield

    outcome = run_once(contender, loaded.stream, workers=workers, mode="closed", reference_digest=reference,
                       around_window=window)  # fmt: skip
    assert outcome.valid, outcome.failures()
    window_s = (outcome.end_ns - outcome.t0_ns) / 1e9
    stage("run_once: open + window + digest + checks")
    doc = results.single_run(outcome, loaded.stream, loaded.info, None)
    stage("figures and the document")
    results.dump(doc, Path("/tmp/verify-stages.json"))
    stage("JSON written")
    print(f"{name} w{workers}, {n} events; window {window_s:.3f} s; engine open {outcome.setup_ns / 1e9:.3f} s, "
          f"RSS at the window's start {opened['rss'] / n:.1f} bytes/event")  # fmt: skip
    print(f"{'stage':<45} {'seconds':>8} {'RSS B/ev':>9} {'HWM B/ev':>9}")
    for label, seconds, rss, hwm in stamps:
        print(f"{label:<45} {seconds:8.3f} {rss / n:9.1f} {hwm / n:9.1f}")
    total = sum(s for _, s, _, _ in stamps)
    print(f"{'total (without the allocation pass)':<45} {total:8.3f}   = {total / window_s:.2f}x the window")


if __name__ == "__main__":
    main()
