"""The test-only calibration switch: ``EVENTBENCH_CALIBRATE=<name>:twin`` or ``<name>:<percent>``.

With it set (comma-separated for several), the registry offers, beside the contenders,
the ones the calibration session (``nox -s calibrate``, tools/calibrate.py) compares
with ``<name>`` to prove the verdicts of ``compare`` (docs/statistics.md):

* ``<name>-twin``: ``<name>`` again under a second name. Compared with it, every figure
  must come out "no clear difference" in at least 95 % of comparisons.
* ``<name>-slowed-<percent>``: ``<name>`` taking ``percent`` % more time. It handles every
  event as ``<name>`` does, then spins until the run has lasted ``1 + percent/100`` times
  as long from ``t0`` as it did, and stretches every completion time by that factor from
  ``t0`` — a known slowdown of every closed-loop figure that follows from the span (wall
  time, throughput), whatever the contender. It is for closed loop: a stretched open-loop
  run would report latencies no real run had. Compared with ``<name>``, throughput must
  come out "worse" in at least 95 % of comparisons at 10 %.

Unset, nothing is registered and nothing costs anything.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from functools import partial

import numpy as np

from protocol.contender import Contender, ContenderInfo, PreparedRun
from protocol.events import EventStream

ENV = "EVENTBENCH_CALIBRATE"


class _Slowed(PreparedRun):
    def __init__(self, inner: PreparedRun, factor: float) -> None:
        self.inner, self.factor = inner, factor

    def run(self, done_ns: np.ndarray, t0_ns: int, open_loop: bool, start_ns: np.ndarray | None = None) -> None:
        if start_ns is None:  # an inner contender that records no starts is never given any
            self.inner.run(done_ns, t0_ns, open_loop)
        else:
            self.inner.run(done_ns, t0_ns, open_loop, start_ns=start_ns)
        if len(done_ns) == 0:
            return
        stretched = self._stretched(done_ns, t0_ns)
        end = int(stretched.max())
        while time.monotonic_ns() < end:  # the time is spent, as a slower handler would spend it
            pass
        done_ns[:] = stretched
        if start_ns is not None:  # stretched alike: every start stays between t0 and its done
            start_ns[:] = self._stretched(start_ns, t0_ns)

    def _stretched(self, times_ns: np.ndarray, t0_ns: int) -> np.ndarray:
        return (t0_ns + np.rint((times_ns.astype(np.float64) - t0_ns) * self.factor)).astype(np.uint64)

    def handling_threads(self) -> Mapping[int, str] | None:
        return self.inner.handling_threads()

    def digest(self) -> int:
        return self.inner.digest()

    def close(self) -> None:
        self.inner.close()


class _Renamed(Contender):
    """``inner`` under another name, optionally ``percent`` % slower."""

    def __init__(self, inner: Contender, name: str, percent: float | None) -> None:
        self.inner, self.percent = inner, percent
        what = "a second registration of" if percent is None else f"{percent:g} % slower than"
        self.info = ContenderInfo(
            name=name,
            language=inner.info.language,
            model=inner.info.model,
            parallel=inner.info.parallel,
            description=f"test-only ({ENV}): {what} {inner.info.name}",
            in_process=inner.info.in_process,
            records_start=inner.info.records_start,
        )

    def open(self, stream: EventStream, workers: int) -> PreparedRun:
        prepared = self.inner.open(stream, workers)
        return prepared if self.percent is None else _Slowed(prepared, 1 + self.percent / 100)


def _make(factory: Callable[[], Contender], name: str, percent: float | None) -> Contender:
    return _Renamed(factory(), name, percent)


def factories(base: dict[str, Callable[[], Contender]]) -> dict[str, Callable[[], Contender]]:
    """The calibration contenders the switch asks for, by name; those naming no contender of ``base``
    (or a percent that is not a positive number) are left out."""
    out: dict[str, Callable[[], Contender]] = {}
    for item in filter(None, (part.strip() for part in os.environ.get(ENV, "").split(","))):
        name, _, what = item.partition(":")
        if name not in base:
            continue
        if what == "twin":
            out[f"{name}-twin"] = partial(_make, base[name], f"{name}-twin", None)
            continue
        try:
            percent = float(what)
        except ValueError:
            continue
        if math.isfinite(percent) and percent > 0:
            label = f"{name}-slowed-{percent:g}"
            out[label] = partial(_make, base[name], label, percent)
    return out
