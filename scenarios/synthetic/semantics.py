"""SPEC §3's handlers in Python, once: the ``synthetic`` scenario's semantics.

Per key, the state ``s[k]`` and the count ``c[k]`` (:class:`Keys`, two flat lists: a million
keys cost two lists, not a million objects); shared by every key, the aggregate ``G``
(:class:`Total`), changed only inside ``guard()``. A ``block`` event's wait is not done here:
the handler returns its microseconds and the executor waits its own way (a thread sleeps, a
coroutine awaits), holding nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np

from protocol.splitmix import MASK64, mix
from scenarios.synthetic.layout import AGGREGATE, BLOCK, COMPUTE

Guard = Callable[..., AbstractContextManager[object]]


@dataclass
class Keys:
    states: list[int]
    counts: list[int]

    @classmethod
    def new(cls, n_keys: int) -> Keys:
        return cls([0] * n_keys, [0] * n_keys)


@dataclass
class Total:
    g: int = 0

    @staticmethod
    def merged(parts: Sequence[Total]) -> Total:
        return Total(sum(p.g for p in parts) & MASK64)


@dataclass(frozen=True)
class Columns:
    key: list[int]
    kind: list[int]
    value: list[int]
    work: list[int]


def bind(columns: Columns, keys: Keys, total: Total, guard: Guard) -> Callable[[int], int]:
    """The handler of event ``i``: applies SPEC §3 and returns the microseconds to wait (``block``)."""
    key, kind, value, work = columns.key, columns.kind, columns.value, columns.work
    states, counts = keys.states, keys.counts

    def handle(i: int) -> int:
        k, v, kd = key[i], value[i], kind[i]
        if kd == COMPUTE:
            for _ in range(work[i]):
                v = mix(v)
        elif kd == AGGREGATE:
            with guard():
                total.g = (total.g + v) & MASK64
        states[k] = mix(states[k] ^ v)
        counts[k] += 1
        return work[i] if kd == BLOCK else 0

    return handle


def digest(n_events: int, keys: Keys, total: Total) -> int:
    """SPEC §3's digest: G, then s[k] and c[k] for every key."""
    d = mix(total.g ^ n_events)
    for s, c in zip(keys.states, keys.counts, strict=True):
        d = mix(d ^ s)
        d = mix(d ^ c)
    return d


class SyntheticPython:
    """:class:`protocol.scenario.PythonSemantics` for SPEC §3."""

    def columns(self, records: np.ndarray) -> Columns:
        return Columns(records["key"].tolist(), records["kind"].tolist(), records["value"].tolist(),
                       records["work"].tolist())  # fmt: skip

    def new_keys(self, n_keys: int) -> Keys:
        return Keys.new(n_keys)

    def new_shared(self) -> Total:
        return Total()

    bind = staticmethod(bind)

    def keys_part(self, keys: Keys, owned: Sequence[int]) -> tuple[list[int], list[int]]:
        return [keys.states[k] for k in owned], [keys.counts[k] for k in owned]

    def merge(
        self, n_keys: int, parts: Sequence[tuple[Sequence[int], tuple[list[int], list[int]]]], shared: Sequence[Total]
    ) -> tuple[Keys, Total]:
        keys = Keys.new(n_keys)
        for owned, (states, counts) in parts:
            for k, s, c in zip(owned, states, counts, strict=True):
                keys.states[k], keys.counts[k] = s, c
        return keys, Total.merged(shared)

    def digest(self, n_events: int, keys: Keys, total: Total) -> int:
        return digest(n_events, keys, total)
