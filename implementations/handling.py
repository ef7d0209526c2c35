"""What every in-process Python executor holds for one run: a scenario's state and its handler.

Made in ``open`` (setup, before the clock) from the stream's scenario: each key's state, the
shared state, and the scenario's handler bound to them with the executor's guard and wrapped by
the fault switch (``faults.wrapped``), in one place for ``sequential``, ``threaded`` and
``asyncio``. (``processes`` binds the handler in each worker, over that worker's keys.)
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from implementations import faults
from protocol.events import EventStream
from protocol.scenario import Guard, Handler, PythonSemantics

_NO_GUARD = nullcontext()


def no_guard(*_ids: int) -> nullcontext[None]:
    """The guard of one thread: nothing to exclude."""
    return _NO_GUARD


@dataclass(frozen=True)
class Handling:
    semantics: PythonSemantics[Any, Any, Any, Any]
    n_events: int
    keys: Any
    shared: Any
    handler: Handler  # the scenario's, bound to keys and shared, as the fault switch leaves it

    @classmethod
    def of(cls, stream: EventStream, guard: Guard, contender: str) -> Handling:
        semantics = stream.scenario.python
        keys, shared = semantics.new_keys(stream.n_keys), semantics.new_shared()
        handler = semantics.bind(semantics.columns(stream.records), keys, shared, guard)
        return cls(semantics, stream.n_events, keys, shared, faults.wrapped(handler, contender))

    def digest(self) -> int:
        """After the window: the digest of the final state."""
        return int(self.semantics.digest(self.n_events, self.keys, self.shared))
