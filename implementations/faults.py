"""The test-only fault switch: ``EVENTBENCH_FAULT_AT=<contender>:<seq>``.

With it set, the named contender's handler fails at event ``seq`` (a Python
exception in a Python worker; in the native engine, a panic in a Rust worker,
compiled only into a library built with the crate's ``fault-injection`` feature).
The tests use it to prove that a failing handler ends the run with a clear error
naming the contender and the event, every thread joined and nothing written.

It is read once per run, as the contender opens it (before the clock). Executors that run a
scenario's handler wrap it once (:func:`wrapped`), which costs nothing when the switch is
unset; the others compare each event's index with -1, which is all it costs them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

ENV = "EVENTBENCH_FAULT_AT"
NOWHERE = -1  # no event has this index


class InjectedFault(RuntimeError):
    """The failure the switch causes; never raised unless the switch is set."""

    def __init__(self, contender: str, seq: int) -> None:
        super().__init__(f"fault injected at event {seq} by the test-only switch {ENV}")
        self.contender, self.seq = contender, seq


def armed_at(contender: str) -> int:
    """The event at which ``contender`` must fail, or :data:`NOWHERE`."""
    name, _, seq = os.environ.get(ENV, "").partition(":")
    if name != contender:
        return NOWHERE
    try:
        return int(seq)
    except ValueError:
        return NOWHERE


def wrapped(
    handler: Callable[[int], int], contender: str, at: int | None = None, seq: Sequence[int] | None = None
) -> Callable[[int], int]:
    """``handler``, failing at the armed event if the switch names ``contender``; itself if not.

    A worker process passes what it read itself (``at``: its environment is its server's) and,
    where it handles some of the events only, their ``seq`` by index (the switch names a seq)."""
    at = armed_at(contender) if at is None else at
    if at == NOWHERE:
        return handler

    def failing(i: int) -> int:
        if (i if seq is None else seq[i]) == at:
            raise InjectedFault(contender, at)
        return handler(i)

    return failing
