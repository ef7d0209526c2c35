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

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool) -> None:
        arrival = self.stream.column("arrival_ns")
        for i in range(self.stream.n_events):
            due = t0_ns + (int(arrival[i]) if open_loop and self.fault != "early" else 0)
            while time.monotonic_ns() < due:
                time.sleep(0.0002)
            done_ns[i] = time.monotonic_ns()
        if self.fault == "missing":
            done_ns[3] = 0
        if self.fault == "reorder":
            done_ns[2], done_ns[4] = done_ns[4], done_ns[2]  # key 0: event 2 after event 4

    def digest(self) -> int:
        good = int(spec_digest_of_file_bytes(self.stream.to_bytes()), 16)
        return good ^ 1 if self.fault == "digest" else good


class Fake(Contender):
    def __init__(self, fault: str) -> None:
        self.fault = fault
        self.info = ContenderInfo(f"fake-{fault}", "python", "test", parallel=False)

    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        return _FakeRun(stream, self.fault)
