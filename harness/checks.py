"""The checks of SPEC §4, applied to every run before any figure is taken from it.

They go over the run ``chunk_events`` events at a time (``protocol.events.CHECK_CHUNK_EVENTS``),
so that their temporaries (masks, one chunk's order by key) are bounded whatever the stream's
length. Per-key order spans the chunks through each key's last completion so far.

For a contender that records when each event's handling began (``start_ns``), the same pass
checks the starts too: every one written, none before the event was due (its intended arrival
in open loop, ``t0`` in closed loop), none after its own completion. A start that breaks these
would make the split of a latency into waiting and service a lie, so the run has no figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from protocol.events import CHECK_CHUNK_EVENTS, EventStream


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str = ""


def check_run(
    stream: EventStream,
    done_ns: np.ndarray,
    t0_ns: int,
    open_loop: bool,
    chunk_events: int = CHECK_CHUNK_EVENTS,
    *,
    start_ns: np.ndarray | None = None,
) -> list[CheckResult]:
    """Every event written; none finished before it was due; per-key completion in seq order;
    and, given ``start_ns``, every start written, none before it was due, none after its done."""
    if chunk_events < 1:
        raise ValueError(f"chunk_events must be at least 1, got {chunk_events}")
    n = stream.n_events
    # done_ns as written, read as signed (a value past 2^63 is before t0, as it always was);
    # arrivals are below 2^63 wherever they are waited for (EventStream.check_open_loop).
    done = done_ns.view(np.int64)
    arrival, key = stream.column("arrival_ns"), stream.column("key")
    by_key = _KeyOrder(stream.n_keys)
    missing = early = 0
    first_missing = first_early = -1
    starts = None if start_ns is None else _StartChecks(start_ns)
    for start in range(0, n, chunk_events):
        stop = min(start + chunk_events, n)
        d = done[start:stop]
        unwritten = d == 0
        if (count := int(np.count_nonzero(unwritten))) and first_missing < 0:
            first_missing = start + int(np.argmax(unwritten))
        missing += count
        due = arrival[start:stop].view(np.int64) + np.int64(t0_ns) if open_loop else np.int64(t0_ns)
        too_soon = ~unwritten & (d < due)
        if (count := int(np.count_nonzero(too_soon))) and first_early < 0:
            first_early = start + int(np.argmax(too_soon))
        early += count
        by_key.add(start, key[start:stop], d)
        if starts is not None:
            starts.add(start, stop, d, unwritten, due)

    all_done = CheckResult(
        "all_done", missing == 0, f"{missing} events have no done_ns (first: {first_missing})" if missing else ""
    )
    rule = "its intended arrival" if open_loop else "t0"
    not_early = CheckResult(
        "not_before_arrival",
        early == 0,
        f"{early} events finished before {rule} (first: {first_early})" if early else "",
    )
    per_key = CheckResult(
        "per_key_order",
        by_key.back == 0,
        f"{by_key.back} events finished before an earlier event of their key (first: {by_key.first})"
        if by_key.back
        else "",
    )
    checks = [all_done, not_early, per_key]
    if starts is not None:
        checks += starts.results(rule)
    return checks


class _StartChecks:
    """The start checks over chunks of a run, each reporting its count and first offender. A
    start is compared only where it was written (an unwritten one is ``all_started``'s finding),
    and with its done only where that was written too (else ``all_done``'s)."""

    def __init__(self, start_ns: np.ndarray) -> None:
        self.start = start_ns.view(np.int64)  # read as signed, as done_ns is
        self.missing = self.early = self.late = 0
        self.first_missing = self.first_early = self.first_late = -1

    def add(
        self, first: int, stop: int, done: np.ndarray, done_unwritten: np.ndarray, due: np.ndarray | np.int64
    ) -> None:
        s = self.start[first:stop]
        unwritten = s == 0
        if (count := int(np.count_nonzero(unwritten))) and self.first_missing < 0:
            self.first_missing = first + int(np.argmax(unwritten))
        self.missing += count
        too_soon = ~unwritten & (s < due)
        if (count := int(np.count_nonzero(too_soon))) and self.first_early < 0:
            self.first_early = first + int(np.argmax(too_soon))
        self.early += count
        after = ~unwritten & ~done_unwritten & (s > done)
        if (count := int(np.count_nonzero(after))) and self.first_late < 0:
            self.first_late = first + int(np.argmax(after))
        self.late += count

    def results(self, rule: str) -> list[CheckResult]:
        return [
            CheckResult(
                "all_started",
                self.missing == 0,
                f"{self.missing} events have no start_ns (first: {self.first_missing})" if self.missing else "",
            ),
            CheckResult(
                "start_not_before_arrival",
                self.early == 0,
                f"{self.early} events started before {rule} (first: {self.first_early})" if self.early else "",
            ),
            CheckResult(
                "start_not_after_done",
                self.late == 0,
                f"{self.late} events started after they finished (first: {self.first_late})" if self.late else "",
            ),
        ]


class _KeyOrder:
    """Per-key completion order over chunks of a run: each event's completion against the one
    before it of its key (in ``seq`` order), where both were written (an unwritten event is
    ``all_done``'s finding, not this check's). The first reported is the lowest key's earliest,
    as one stable sort of the whole run by key would find it."""

    def __init__(self, n_keys: int) -> None:
        self.last = np.zeros(n_keys, dtype=np.int64)  # each key's latest completion so far; 0: none or unwritten
        # A stable sort by key: numpy sorts integers of 16 bits or fewer by radix, in linear time.
        self.key_type = np.uint8 if n_keys <= 1 << 8 else np.uint16 if n_keys <= 1 << 16 else np.uint32
        self.back = 0
        self.first_at: tuple[int, int] | None = None  # (key, index) of the first reported
        self.high = 0  # the latest completion so far, of any key

    @property
    def first(self) -> int:
        return -1 if self.first_at is None else self.first_at[1]

    def add(self, start: int, key: np.ndarray, done: np.ndarray) -> None:
        if not len(key):
            return
        high = self.high
        self.high = max(high, int(done.max()))
        # A chunk every event of which completed no earlier than every event before it (one
        # thread's completions, in seq order) keeps every key's order: no sort needed, and each
        # key's last completion is its largest (16 M events in seq order: 0.16 s against the sort's 0.78 s).
        if done[0] >= high and done.all() and bool((done[1:] >= done[:-1]).all()):
            np.maximum.at(self.last, key, done)
            return
        compact = key.astype(self.key_type)  # contiguous: gathering from the records' strided column is 15x slower
        order = np.argsort(compact, kind="stable")
        keys, completed = compact[order], done[order]
        # The event before each in its key's order: within the chunk, or the key's last so far.
        begins = np.empty(len(keys), dtype=bool)
        begins[0] = True
        np.not_equal(keys[1:], keys[:-1], out=begins[1:])
        before = np.empty_like(completed)
        before[1:] = completed[:-1]
        before[begins] = self.last[keys[begins]]
        back = np.flatnonzero((completed != 0) & (before != 0) & (completed < before))
        if len(back):
            self.back += len(back)
            at = (int(keys[back[0]]), start + int(order[back[0]]))
            if self.first_at is None or at < self.first_at:
                self.first_at = at
        ends = np.empty(len(keys), dtype=bool)
        ends[-1] = True
        ends[:-1] = begins[1:]
        self.last[keys[ends]] = completed[ends]
