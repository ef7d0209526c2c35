"""Latency over time: per-interval HdrHistograms of a run, their interval log, and what a plot draws.

A run's percentiles say how bad the tail was, not when: a warm-up, a stall or a collapse all
raise the p99 alike. Here each run's latencies (from intended arrival, as :func:`stats.latencies_ns`)
are cut into intervals of the run's time, each kept as an HdrHistogram, so that a plot can show
p50, p99 and max against the time since the run began, and HdrHistogram's own tools can read them.

Choices, and why:

* **An event belongs to the interval of its intended arrival**, not of its completion. The
  schedule is the same for every contender and trial, so interval ``i`` holds the same events
  everywhere: intervals of different trials merge like for like, and contenders compare at the
  same offered load. A stall then shows where the events it delayed were offered (the latencies
  ramp up from the interval the stall began in), and a collapse as latency growing with arrival
  time; no interval is left empty by a stall, as completion intervals are while nothing completes.
  The cost: an interval's latencies were measured later than its timestamp says, by up to the
  latency itself. The log's header says which assignment it uses.
* **100 ms intervals** (:data:`INTERVAL_NS`): 10 a second, fine enough to place a stall of a
  few hundred ms (a collector's pause, a swapped page), coarse enough that each interval holds
  enough events for a p99 at the rates eventbench offers (100 events at 1000 events/s).
* **ns, 3 significant digits**, 1 ns to an hour: every value below 2048 ns is exact, every
  larger one within 1/1024 (HdrHistogram reports the bucket's highest value, so at most 0.1 %
  above the exact one). An hour covers any run an open loop waits for; a longer latency widens
  the trial's histograms rather than being lost.
* **Kept encoded**: a histogram of that range takes 270 KB of counters, its compressed V2
  encoding (the log's payload) a few hundred bytes, so a trial keeps only the encodings.
* **Recorded in bulk**: the intervals are slices of the stream (arrivals are non-decreasing),
  each slice's bucket indices are computed with numpy and counted with ``bincount`` straight
  into the histogram's counters; no Python loop per event. Percentiles are read the same way,
  with the nearest rank of :mod:`harness.stats` (HdrHistogram's Java library, too, rounds the
  rank up; the Python package rounds it to nearest, and walks the counters in Python).
* **The log**: HdrHistogram's interval log, format 1.2 (what its Java ``HistogramLogProcessor``
  reads), one per contender, each trial's intervals tagged ``Tag=trial-N`` (N its round) so they
  can be read apart or merged. Every trial's timestamps count from its own start, so trials
  overlay; ``StartTime`` and ``BaseTime`` are the first trial's start on the wall clock. The
  lines are written here, not by ``hdrh.log.HistogramLogWriter``, whose ``StartTime`` line
  raises and whose ``Interval_Max`` is truncated to whole ms.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from harness import stats
from protocol.errors import InvalidInput
from protocol.storage import atomic_write_text

INTERVAL_NS = 100_000_000
SIGNIFICANT_DIGITS = 3
LOWEST_NS = 1
HIGHEST_NS = 3600 * 10**9  # an hour; a trial with a longer latency gets a wider range
ASSIGNED_BY = "intended arrival"  # which interval an event is counted in (module doc)
LOG_SUFFIX = ".hlog"
LOG_FORMAT = "1.2"
TAG_PREFIX = "trial-"
PLOTTED = ("p50", "p99", "max")


def _histogram(highest_ns: int) -> Any:
    from hdrh.histogram import HdrHistogram

    return HdrHistogram(LOWEST_NS, highest_ns, SIGNIFICANT_DIGITS)


@dataclass(frozen=True)
class Layout:
    """Where HdrHistogram counts a value (its bucket arithmetic, vectorised), for one precision."""

    unit_magnitude: int
    half_count_magnitude: int  # log2 of the sub-buckets in each bucket's upper half
    half_count: int

    @classmethod
    def of(cls, histogram: Any) -> Layout:
        return cls(histogram.unit_magnitude, histogram.sub_bucket_half_count_magnitude, histogram.sub_bucket_half_count)

    def index(self, values_ns: np.ndarray) -> np.ndarray:
        """Each value's index in the counts array (``HdrHistogram.get_counts_array_index``); values
        below 2^53 ns (104 days), which float64 holds exactly for the bit length taken here."""
        v = np.asarray(values_ns, dtype=np.int64)  # no copy of an int64 array
        mask = np.int64((2 * self.half_count - 1) << self.unit_magnitude)
        bucket = np.frexp((v | mask).astype(np.float64))[1].astype(np.int64)  # the bit length, first
        bucket -= self.unit_magnitude + self.half_count_magnitude + 1
        sub_bucket = v >> (bucket + self.unit_magnitude)
        # ((bucket + 1) << half_count_magnitude) + sub_bucket - half_count, in place: no more temporaries
        bucket += 1
        bucket <<= self.half_count_magnitude
        bucket += sub_bucket
        bucket -= self.half_count
        return bucket

    def highest_equivalent(self, index: np.ndarray) -> np.ndarray:
        """The highest value counted at each index: what HdrHistogram reports for a percentile there."""
        index = np.asarray(index, dtype=np.int64)
        bucket = (index >> self.half_count_magnitude) - 1
        sub_bucket = (index & (self.half_count - 1)) + self.half_count
        low = bucket < 0
        sub_bucket = np.where(low, sub_bucket - self.half_count, sub_bucket)
        bucket = np.where(low, 0, bucket)
        shift = bucket + self.unit_magnitude
        return ((sub_bucket + 1) << shift) - 1


LAYOUT = Layout.of(_histogram(2 * LOWEST_NS + 1))  # the same for every range at this precision


def encode(latencies_ns: np.ndarray, highest_ns: int = HIGHEST_NS) -> str:
    """An HdrHistogram of ``latencies_ns`` (non-negative), as its compressed V2 base64 encoding.

    Counted in bulk into the histogram's own counters (a ctypes array numpy writes in place),
    then its count, min and max set as ``record_value`` would have left them."""
    top = int(latencies_ns.max(initial=0))
    h = _histogram(highest_ns if top <= highest_ns else 2 * top)  # wider only where a value needs it
    if len(latencies_ns):
        if int(latencies_ns.min()) < 0:
            raise ValueError("latencies must be non-negative (a valid run's are)")
        found = np.bincount(LAYOUT.index(latencies_ns))
        counts = np.ctypeslib.as_array(h.counts)
        counts[: len(found)] += found.astype(counts.dtype)
        h.total_count = len(latencies_ns)
        h.min_value, h.max_value = int(latencies_ns.min()), int(latencies_ns.max())
    encoded: bytes = h.encode()
    return encoded.decode("ascii")


def decode(payload: str) -> np.ndarray:
    """The counts array of an encoded histogram (raises what ``hdrh`` raises on a broken one)."""
    from hdrh.histogram import HdrHistogram

    h = HdrHistogram.decode(payload)
    if (h.significant_figures, h.unit_magnitude) != (SIGNIFICANT_DIGITS, LAYOUT.unit_magnitude):
        raise ValueError(f"histogram of {h.significant_figures} digits from {h.lowest_trackable_value}, "
                         f"not {SIGNIFICANT_DIGITS} from {LOWEST_NS}")  # fmt: skip
    return np.ctypeslib.as_array(h.counts).astype(np.int64)  # a copy: the decoded histogram goes


@dataclass(frozen=True)
class IntervalHistogram:
    """The latencies of the events whose intended arrival fell in one interval of a run."""

    index: int  # the interval: arrivals in [index, index + 1) * interval_ns after t0
    count: int
    max_ns: int  # exact (the histogram's own max is its bucket's highest value)
    payload: str  # the HdrHistogram, compressed V2 and base64: the log's last column


@dataclass(frozen=True)
class Timeline:
    """One trial's latencies over its time: only intervals where events arrived."""

    interval_ns: int
    start_unix_ms: int  # the trial's t0 on the wall clock: the log's StartTime
    intervals: tuple[IntervalHistogram, ...]


def of_run(
    done_ns: np.ndarray, arrival_ns: np.ndarray, t0_ns: int, interval_ns: int = INTERVAL_NS,
    start_unix_ms: int | None = None,
) -> Timeline:  # fmt: skip
    """The timeline of one open-loop run: arrivals (non-decreasing, as streams are) cut into
    intervals by ``searchsorted``; each interval's latencies computed and counted on their own,
    so no array of the stream's length is made. ``start_unix_ms``: ``t0`` on the wall clock
    (default: taken from the monotonic clock's distance to now, which is how it was taken)."""
    if interval_ns <= 0:
        raise ValueError(f"interval must be positive, got {interval_ns} ns")
    if start_unix_ms is None:
        start_unix_ms = (time.time_ns() - (time.monotonic_ns() - t0_ns)) // 1_000_000
    n = len(arrival_ns)
    intervals = []
    if n:
        last = int(arrival_ns[-1]) // interval_ns
        edges = np.searchsorted(arrival_ns, np.arange(last + 2, dtype=np.uint64) * np.uint64(interval_ns))
        for index in np.flatnonzero(np.diff(edges)):
            a, b = int(edges[index]), int(edges[index + 1])
            latencies = stats.latencies_ns(done_ns[a:b], arrival_ns[a:b], t0_ns)
            intervals.append(IntervalHistogram(int(index), b - a, int(latencies.max()), encode(latencies)))
    return Timeline(interval_ns, int(start_unix_ms), tuple(intervals))


# ---------------------------------------------------------------- percentiles and merging


def percentile_ns(counts: np.ndarray, percent: float) -> int:
    """The nearest-rank percentile of a histogram's counts, as HdrHistogram states it (its
    bucket's highest value: at most 1/1024 above the exact one); 100 is the max."""
    total = int(counts.sum())
    rank = stats.nearest_rank_of(total, percent)
    index = int(np.searchsorted(np.cumsum(counts), rank))
    return int(LAYOUT.highest_equivalent(np.array([index]))[0])


def merge(counts: Sequence[np.ndarray]) -> np.ndarray:
    """Histograms added: what makes them mergeable (arrays of different ranges padded)."""
    out = np.zeros(max(len(c) for c in counts), dtype=np.int64)
    for c in counts:
        out[: len(c)] += c
    return out


@dataclass(frozen=True)
class Series:
    """What the latency-over-time plot draws for one contender: per interval where events arrived,
    the trials' histograms of that interval merged, and their p50, p99 and max."""

    interval_ns: int
    trials: int
    start_s: np.ndarray  # each interval's start, from the trials' t0
    events: np.ndarray  # events in it, all trials together
    percentiles_ns: dict[str, np.ndarray]  # by PLOTTED name

    def as_rows(self) -> list[tuple[float, int, int, int, int]]:
        """(start_s, events, p50, p99, max) per interval: for tests and a reader's check."""
        p = self.percentiles_ns
        return [(float(s), int(e), int(a), int(b), int(c)) for s, e, a, b, c in
                zip(self.start_s, self.events, p["p50"], p["p99"], p["max"], strict=True)]  # fmt: skip


def series(timelines: Sequence[Timeline]) -> Series:
    """Every trial's interval ``i`` merged into one histogram, for each ``i`` any trial has."""
    if not timelines:
        raise ValueError("no timelines")
    intervals = {t.interval_ns for t in timelines}
    if len(intervals) != 1:
        raise ValueError(f"trials of different intervals do not merge: {sorted(intervals)} ns")
    (interval_ns,) = intervals
    by_index: dict[int, list[np.ndarray]] = {}
    for t in timelines:
        for i in t.intervals:
            by_index.setdefault(i.index, []).append(decode(i.payload))
    indices = sorted(by_index)
    merged = [merge(by_index[i]) for i in indices]
    found = {name: np.array([percentile_ns(m, stats.PERCENTILES.get(name, 100.0)) for m in merged], dtype=np.int64)
             for name in PLOTTED}  # fmt: skip
    return Series(interval_ns, len(timelines), np.array(indices, dtype=np.float64) * interval_ns / 1e9,
                  np.array([int(m.sum()) for m in merged], dtype=np.int64), found)  # fmt: skip


# ---------------------------------------------------------------- the interval log


def log_name(document_name: str) -> str:
    """The log beside a result document: ``threaded-w4-open.json`` -> ``threaded-w4-open.hlog``."""
    return str(Path(document_name).with_suffix(LOG_SUFFIX))


def _stamp(unix_ms: int) -> str:
    return f"{unix_ms / 1000:.3f} (seconds since epoch), {datetime.fromtimestamp(unix_ms / 1000, timezone.utc)}"


def log_text(trials: Sequence[tuple[int, Timeline]], about: str) -> str:
    """The interval log of one contender's trials, ``(round, timeline)`` each (module doc)."""
    if not trials:
        raise ValueError("a log needs at least one trial")
    start_ms = trials[0][1].start_unix_ms
    interval_ms = trials[0][1].interval_ns / 1e6
    lines = [
        f"#[Histogram log format version {LOG_FORMAT}]",
        f"#[StartTime: {_stamp(start_ms)}]",
        f"#[BaseTime: {start_ms / 1000:.3f} (seconds since epoch)]",
        f"#eventbench latency over time: {about}",
        f"#values: latency from intended arrival in ns, {SIGNIFICANT_DIGITS} significant digits; Interval_Max in ms",
        f"#intervals: {interval_ms:g} ms of the run, an event in the interval of its {ASSIGNED_BY}, not of its "
        "completion",
        f"#Tag={TAG_PREFIX}N: trial N (its round); each trial's timestamps count from its own start (t0), so "
        "trials overlay; StartTime is the first trial's t0",
        '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"',
    ]
    for round_index, t in trials:
        length = t.interval_ns / 1e9
        lines += [f"Tag={TAG_PREFIX}{round_index + 1},{i.index * length:.3f},{length:.3f},{i.max_ns / 1e6:.6f},"
                  f"{i.payload}" for i in t.intervals]  # fmt: skip
    return "\n".join(lines) + "\n"


def write_log(path: Path, trials: Sequence[tuple[int, Timeline]], about: str) -> Path:
    return atomic_write_text(path, log_text(trials, about))


_START = re.compile(r"#\[StartTime: *([\d.]+) ")
_LINE = re.compile(r"Tag=([^,\s]+),([\d.]+),([\d.]+),([\d.]+),(\S+)$")


def read_log(path: Path) -> dict[str, Timeline]:
    """A log as :func:`write_log` writes it, by tag; a missing or garbled one is an
    :class:`InvalidInput` naming the file and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(str(path), "timeline log", "does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(str(path), "timeline log", f"not readable ({e})") from None
    start_ms = None
    found: dict[str, tuple[int, list[IntervalHistogram]]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if (stamp := _START.match(line)) is not None:
            start_ms = round(float(stamp.group(1)) * 1000)
        if not line or line.startswith(("#", '"StartTimestamp"')):
            continue
        match = _LINE.match(line)
        if match is None:
            raise InvalidInput(str(path), f"line {number}", "not an interval line (Tag=T,start,length,max,histogram)")
        tag, start_s, length_s, max_ms, payload = match.groups()
        interval_ns = round(float(length_s) * 1e9)
        try:
            counts = decode(payload)
        except Exception as e:  # hdrh raises TypeError, zlib.error, its own exceptions: all mean garbled
            raise InvalidInput(str(path), f"line {number}", f"histogram does not decode ({type(e).__name__})") from None
        if interval_ns <= 0:
            raise InvalidInput(str(path), f"line {number}", "interval length must be positive")
        kept_interval, intervals = found.setdefault(tag, (interval_ns, []))
        if kept_interval != interval_ns:
            raise InvalidInput(str(path), f"line {number}", f"interval differs from {tag}'s earlier ones")
        index = round(float(start_s) * 1e9 / interval_ns)
        intervals.append(IntervalHistogram(index, int(counts.sum()), round(float(max_ms) * 1e6), payload))
    if not found:
        raise InvalidInput(str(path), "timeline log", "holds no interval histograms")
    return {tag: Timeline(interval, start_ms or 0, tuple(kept)) for tag, (interval, kept) in found.items()}
