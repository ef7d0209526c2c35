"""SPEC §1's record, the ``synthetic`` scenario's, and its own rules (§2: ``kind`` and ``flags``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

NAME = "synthetic"
VERSION = 1
UPDATE, COMPUTE, BLOCK, AGGREGATE = 0, 1, 2, 3

RECORD_DTYPE = np.dtype(
    {
        "names": ["seq", "arrival_ns", "value", "key", "kind", "flags", "work"],
        "formats": ["<u8", "<u8", "<u8", "<u4", "u1", "u1", "<u2"],
        "offsets": [0, 8, 16, 24, 28, 29, 30],
        "itemsize": 32,
    }
)
RECORD_SIZE = 32
assert RECORD_DTYPE.itemsize == RECORD_SIZE


def field_rules(records: np.ndarray) -> list[tuple[np.ndarray, Callable[[int], str]]]:
    """SPEC §2's rules on ``kind`` and ``flags``, as masks of the records that break them."""
    kind, flags = records["kind"], records["flags"]
    return [
        (kind > AGGREGATE, lambda i: f"kind {kind[i]} is not one of 0 update, 1 compute, 2 block, 3 aggregate"),
        (flags != 0, lambda i: f"flags {flags[i]} must be 0 (reserved)"),
    ]
