"""The record of ``ratelimit`` (the contract's table, in ``__init__``) and its rules on its own fields."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

NAME = "ratelimit"
VERSION = 1
N_ENDPOINTS = 16
N_PLANS = 4  # 0 free, 1 basic, 2 pro, 3 enterprise

# Packed: each field right after the one before, as the contract's table lays them out.
RECORD_DTYPE = np.dtype(
    [
        ("seq", "<u8"), ("arrival_ns", "<u8"), ("t_us", "<u8"), ("key", "<u4"),
        ("cost", "u1"), ("endpoint", "u1"), ("plan", "u1"), ("upstream_us", "u1"),
    ]
)  # fmt: skip
assert RECORD_DTYPE.itemsize == 32


def field_rules(records: np.ndarray) -> list[tuple[np.ndarray, Callable[[int], str]]]:
    """Each rule as the mask of the records that break it and how to say so for record ``i``.
    eventbench checks ``seq``, ``arrival_ns`` and ``key`` itself, and reports the earliest record broken."""
    cost, endpoint, plan = records["cost"], records["endpoint"], records["plan"]
    return [
        (cost == 0, lambda i: "cost must be >= 1 token"),
        (endpoint >= N_ENDPOINTS, lambda i: f"endpoint {endpoint[i]} must be < {N_ENDPOINTS}"),
        (plan >= N_PLANS, lambda i: f"plan {plan[i]} is not one of 0 free, 1 basic, 2 pro, 3 enterprise"),
    ]
