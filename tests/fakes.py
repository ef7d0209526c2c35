"""Contenders that are wrong in exactly one way, for tests that the harness catches each."""

from __future__ import annotations

import time

import numpy as np

from protocol.contender import Contender, ContenderInfo, PreparedRun
from protocol.events import EventStream

from reference import spec_digest_of_file_bytes


class _FakeRun(PreparedRun):
    def __init__(self, stream: EventStream, fault: str) -> None:
        self.stream, self.fault = stream, fault

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool, start_ns: np.ndarray | None = None) -> None:
        arrival = self.stream.column("arrival_ns")
        start = np.zeros_like(done_ns) if start_ns is None else start_ns
        for i in range(self.stream.n_events):
            due = t0_ns + (int(arrival[i]) if open_loop and self.fault != "early" else 0)
            while time.monotonic_ns() < due:
                time.sleep(0.0002)
            start[i] = time.monotonic_ns()
            done_ns[i] = time.monotonic_ns()
        if self.fault == "missing":
            done_ns[3] = 0
        if self.fault == "reorder":  # key 0: event 2 after event 4 (each start goes with its done)
            done_ns[2], done_ns[4] = done_ns[4], done_ns[2]
            start[2], start[4] = start[4], start[2]
        if self.fault == "no-start":
            start[3] = 0
        if self.fault == "start-early":  # began before its arrival (or, closed loop, before t0)
            start[2] = t0_ns + (int(arrival[2]) if open_loop else 0) - 1
        if self.fault == "start-after-done":
            start[4] = done_ns[4] + 1

    def digest(self) -> int:
        good = int(spec_digest_of_file_bytes(self.stream.to_bytes()), 16)
        return good ^ 1 if self.fault == "digest" else good


class Fake(Contender):
    def __init__(self, fault: str, *, records_start: bool = True) -> None:
        self.fault = fault
        self.info = ContenderInfo(f"fake-{fault}", "python", "test", parallel=False, records_start=records_start)

    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        return _FakeRun(stream, self.fault)


class _BeforeStartsRun(PreparedRun):
    """A prepared run written before start times existed: ``run`` takes three arguments."""

    def __init__(self, stream: EventStream) -> None:
        self.stream = stream

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool) -> None:  # type: ignore[override]
        arrival = self.stream.column("arrival_ns")
        for i in range(self.stream.n_events):
            while time.monotonic_ns() < t0_ns + (int(arrival[i]) if open_loop else 0):
                time.sleep(0.0002)
            done_ns[i] = time.monotonic_ns()

    def digest(self) -> int:
        return int(spec_digest_of_file_bytes(self.stream.to_bytes()), 16)


class BeforeStarts(Contender):
    """A third party's contender of the protocol before ``start_ns``: no ``records_start``."""

    info = ContenderInfo("before-starts", "python", "test", parallel=False)

    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        return _BeforeStartsRun(stream)
