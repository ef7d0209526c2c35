"""A contender in one file: the guide "A contender in one file" (docs/contenders.md).

Per-key state in dicts, one loop in ``seq`` order: swap the body of ``run`` for the
design you want to measure. ``open`` is setup, ``run`` the timed window (handling only),
``digest`` comes after it (docs/measurement-window.md). Register it in your package's ``pyproject.toml``:

    [project.entry-points."eventbench.contenders"]
    yours = "eventbench_yours:Yours"

then ``pip install`` your package, and run ``eventbench verify --impl yours --workload W``
for every built-in workload before you look at a figure.
"""

from __future__ import annotations

import time

import numpy as np

from protocol.contender import Contender, ContenderInfo, PreparedRun, check_open, handler_failed
from protocol.events import EventStream
from protocol.splitmix import MASK64, digest, mix
from scenarios.synthetic.layout import AGGREGATE, BLOCK, COMPUTE


def _wait_until(deadline_ns: int) -> int:
    """Sleeps until the clock reaches ``deadline_ns``; returns the clock read that ended the wait."""
    while (now := time.monotonic_ns()) < deadline_ns:
        time.sleep(min(deadline_ns - now, 10_000_000) / 1e9)  # short slices: Ctrl-C is seen between them
    return now


class YoursRun(PreparedRun):
    def __init__(self, stream: EventStream) -> None:
        # Setup, before the clock: decode the records into whatever form your handlers want,
        # and make the state they keep.
        self.n_keys = stream.n_keys
        columns = (stream.records[c].tolist() for c in ("arrival_ns", "value", "key", "kind", "work"))
        self.events = list(zip(*columns, strict=True))
        self.states: dict[int, int] = {}
        self.counts: dict[int, int] = {}
        self.g = 0

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool, start_ns: np.ndarray | None = None) -> None:
        # The timed window: handling only. Each done_ns[i] is written as event i finishes, and
        # start_ns[i] (info.records_start) as its handling begins, after any wait for its arrival:
        # the harness splits each latency into waiting and service with it.
        states, counts = self.states, self.counts
        starts = np.zeros(len(done_ns), dtype=np.uint64) if start_ns is None else start_ns
        for i, (arrival, value, key, kind, work) in enumerate(self.events):
            now = time.monotonic_ns()
            if open_loop and now < t0_ns + arrival:
                now = _wait_until(t0_ns + arrival)  # SPEC §4: never before the intended arrival
            starts[i] = now
            try:
                if kind == COMPUTE:
                    for _ in range(work):
                        value = mix(value)
                elif kind == BLOCK:
                    _wait_until(time.monotonic_ns() + work * 1000)
                elif kind == AGGREGATE:
                    self.g = (self.g + value) & MASK64
                states[key] = mix(states.get(key, 0) ^ value)
                counts[key] = counts.get(key, 0) + 1
            except Exception as e:
                raise handler_failed("yours", i, e) from e
            done_ns[i] = time.monotonic_ns()

    def digest(self) -> int:
        # After the window, never measured: the digest of the final state (SPEC §3).
        keys = range(self.n_keys)
        states, counts = self.states, self.counts
        return digest(self.g, [states.get(k, 0) for k in keys], [counts.get(k, 0) for k in keys], len(self.events))


class Yours(Contender):
    info = ContenderInfo(
        name="yours",  # the entry point's name
        language="python",
        model="sequential",  # compare groups by it: sequential, threads, event loop, processes, native
        parallel=False,  # True if it honours --workers
        description="the one-file example: per-key state in dicts",
        records_start=True,  # run() takes start_ns and writes it
    )

    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        check_open(stream, workers, self.info)  # bad input is a clear error, before anything starts
        return YoursRun(stream)
