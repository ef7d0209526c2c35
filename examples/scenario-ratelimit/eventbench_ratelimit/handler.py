"""The rate limiter's handler, written once: every Python executor of eventbench runs it.

A client's bucket is its own (the client is the key: eventbench hands each client's requests
to one handler at a time, in ``seq`` order, so it needs no lock); the ledger is shared by every
client, so it changes only inside ``guard(endpoint)``. The handler never waits itself: it
returns the microseconds of its upstream call and the executor waits its own way (a thread
sleeps, a coroutine awaits), holding nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np

from eventbench_ratelimit.record import N_ENDPOINTS
from protocol.splitmix import mix

MICRO = 1_000_000  # tokens are counted in millionths, so that a refill is an exact integer
CAPACITY = (20, 100, 500, 5000)  # tokens, by plan: free, basic, pro, enterprise
REFILL = (5, 50, 250, 2500)  # tokens per second, by plan

Guard = Callable[..., AbstractContextManager[object]]


@dataclass(frozen=True)
class Columns:
    """The requests as the handler reads them: Python lists, far cheaper per event than numpy."""

    seq: list[int]
    key: list[int]
    t_us: list[int]
    cost: list[int]
    endpoint: list[int]
    plan: list[int]
    upstream_us: list[int]


@dataclass
class Clients:
    """Every client's bucket and counters: flat lists, one slot per client (a million clients
    are five lists, not a million objects)."""

    tokens: list[int]  # µtokens
    last_us: list[int]
    allowed: list[int]
    rejected: list[int]
    h: list[int]  # a hash of the client's decisions, in order

    @classmethod
    def new(cls, n_clients: int) -> Clients:
        return cls(*([0] * n_clients for _ in range(5)))

    def fields(self) -> tuple[list[int], ...]:
        return (self.tokens, self.last_us, self.allowed, self.rejected, self.h)


@dataclass
class Ledger:
    """Per endpoint, shared by every client: requests let through and rejected, tokens spent,
    upstream calls and their microseconds."""

    allowed: list[int]
    rejected: list[int]
    spent: list[int]
    calls: list[int]
    waited_us: list[int]

    @classmethod
    def new(cls) -> Ledger:
        return cls(*([0] * N_ENDPOINTS for _ in range(5)))

    def fields(self) -> tuple[list[int], ...]:
        return (self.allowed, self.rejected, self.spent, self.calls, self.waited_us)

    @classmethod
    def summed(cls, parts: Sequence[Ledger]) -> Ledger:
        """The ledger of partial ledgers (one per worker process): sums do not depend on the order."""
        total = cls.new()
        for part in parts:
            for mine, theirs in zip(total.fields(), part.fields(), strict=True):
                for e in range(N_ENDPOINTS):
                    mine[e] += theirs[e]
        return total


def bind(columns: Columns, clients: Clients, ledger: Ledger, guard: Guard) -> Callable[[int], int]:
    """The handler of request ``i``; returns the microseconds it then waits for upstream (0: none)."""
    seq, key, t_us, cost, endpoint, plan, upstream_us = (
        columns.seq, columns.key, columns.t_us, columns.cost, columns.endpoint, columns.plan, columns.upstream_us
    )  # fmt: skip
    tokens, last_us, allowed, rejected, h = clients.fields()

    def handle(i: int) -> int:
        k, t, p = key[i], t_us[i], plan[i]
        capacity = CAPACITY[p] * MICRO
        if allowed[k] + rejected[k] == 0:
            tokens[k] = capacity  # a client's first request finds its bucket full
        else:
            tokens[k] = min(capacity, tokens[k] + max(0, t - last_us[k]) * REFILL[p])
        last_us[k] = max(last_us[k], t)

        ok = tokens[k] >= cost[i] * MICRO
        if ok:
            tokens[k] -= cost[i] * MICRO
            allowed[k] += 1
        else:
            rejected[k] += 1
        h[k] = mix(h[k] ^ ((seq[i] << 1) | ok))

        e, wait_us = endpoint[i], upstream_us[i] if ok else 0
        with guard(e):
            if ok:
                ledger.allowed[e] += 1
                ledger.spent[e] += cost[i]
                if wait_us:
                    ledger.calls[e] += 1
                    ledger.waited_us[e] += wait_us
            else:
                ledger.rejected[e] += 1
        return wait_us  # let through: the upstream call; rejected: answered at once (HTTP 429)

    return handle


def digest(n_events: int, clients: Clients, ledger: Ledger) -> int:
    """The contract's digest: every client that sent a request, then every endpoint's ledger."""
    d = mix(n_events)
    for k, state in enumerate(zip(*clients.fields(), strict=True)):
        if state[2] + state[3]:  # allowed + rejected: the client sent something
            d = mix(d ^ k)
            for x in state:
                d = mix(d ^ x)
    for e in range(N_ENDPOINTS):
        for counts in ledger.fields():
            d = mix(d ^ counts[e])
    return d


class RatelimitPython:
    """``protocol.scenario.PythonSemantics`` for the rate limiter: what eventbench's executors call."""

    def columns(self, records: np.ndarray) -> Columns:
        return Columns(*(records[name].tolist() for name in Columns.__dataclass_fields__))

    def new_keys(self, n_keys: int) -> Clients:
        return Clients.new(n_keys)

    def new_shared(self) -> Ledger:
        return Ledger.new()

    bind = staticmethod(bind)

    def keys_part(self, keys: Clients, owned: Sequence[int]) -> list[tuple[int, ...]]:
        """A worker process's clients, to send back to the parent."""
        return [tuple(field[k] for field in keys.fields()) for k in owned]

    def merge(
        self, n_keys: int, parts: Sequence[tuple[Sequence[int], list[tuple[int, ...]]]], shared: Sequence[Ledger]
    ) -> tuple[Clients, Ledger]:
        """Every client's state from the workers that owned them, and the sum of their ledgers."""
        clients = Clients.new(n_keys)
        for owned, states in parts:
            for k, state in zip(owned, states, strict=True):
                for field, x in zip(clients.fields(), state, strict=True):
                    field[k] = x
        return clients, Ledger.summed(shared)

    def digest(self, n_events: int, keys: Clients, shared: Ledger) -> int:
        return digest(n_events, keys, shared)
