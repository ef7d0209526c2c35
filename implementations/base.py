"""The protocol every contender satisfies, whatever its language.

A run has two phases. ``open(stream, workers)`` is setup, done before the clock
starts: decoding the stream into the contender's own form, starting a pool. Then
``Session.handle(done_ns, t0_ns, open_loop)`` handles every event, writes each
event's completion time (``time.monotonic_ns()`` clock) into ``done_ns`` and
returns the digest of the final state (SPEC §3). The harness times ``handle`` and
checks what it wrote; a contender never times itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType

import numpy as np

from harness.events import EventStream


@dataclass(frozen=True)
class ContenderInfo:
    name: str
    language: str
    model: str  # sequential, threads, event loop, processes, native ...
    parallel: bool  # honours --workers; single-threaded contenders record 1
    description: str = ""


class Unavailable(Exception):
    """Raised by a contender's factory when it cannot run here; the message says why."""


class ContenderError(RuntimeError):
    """A contender failed while handling (an exception in a worker, say)."""


class Session(ABC):
    """One prepared run. Use as a context manager so pools are always shut down."""

    @abstractmethod
    def handle(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool) -> int:
        """Handles every event, fills ``done_ns`` (uint64, one per event), returns the digest."""

    def close(self) -> None:  # noqa: B027 - a no-op is right for sessions that hold nothing
        """Releases what ``open`` took (threads, native handles). Idempotent."""

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


MAX_WORKERS = 1024  # the native engine's limit too; more is a typo, not a benchmark


def check_open(stream: object, workers: object) -> None:
    """What every ``open`` checks first, so a bad argument is a clear ``ValueError``, not a
    ``ZeroDivisionError`` in a worker or a million threads started."""
    if not isinstance(stream, EventStream):
        raise ValueError(f"stream must be an EventStream (from harness.events), got {type(stream).__name__}")
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be an integer in 1..{MAX_WORKERS}, got {workers!r}")


class Contender(ABC):
    info: ContenderInfo

    @abstractmethod
    def open(self, stream: EventStream, workers: int) -> Session:
        """Setup for one run of ``stream`` (untimed). Starts with :func:`check_open`."""

    def effective_workers(self, requested: int) -> int:
        return requested if self.info.parallel else 1
