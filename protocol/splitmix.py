"""The SPEC's arithmetic (§3): ``mix`` and the digest, scalar and vectorised.

Everything here is modulo 2**64. The scalar functions are what the Python
contenders call per event; the numpy ones are what the workload generator uses
(a counter-based SplitMix64: output ``i`` of a stream is ``mix(base + i * GAMMA)``,
so any slice of any stream is computed without computing what comes before it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


def mix(x: int) -> int:
    """SplitMix64's finalizer, as SPEC §3 writes it."""
    z = (x + GAMMA) & MASK64
    z = ((z ^ (z >> 30)) * _M1) & MASK64
    z = ((z ^ (z >> 27)) * _M2) & MASK64
    return z ^ (z >> 31)


def digest(g: int, states: Sequence[int], counts: Sequence[int], n_events: int) -> int:
    """The digest of a final state (SPEC §3): G, then s[k] and c[k] for every key."""
    d = mix((g & MASK64) ^ n_events)
    for s, c in zip(states, counts, strict=True):
        d = mix(d ^ s)
        d = mix(d ^ c)
    return d


def digest_hex(value: int) -> str:
    """A digest as the SPEC prints it: 16 lowercase hex digits."""
    return f"{value:016x}"


# numpy: uint64 arrays wrap on overflow, which is exactly modulo 2**64.
_U = np.uint64
# Streams are computed in chunks that stay in cache, in place: about 30x faster
# than whole-array expressions, which allocate a temporary per operation.
_CHUNK = 1 << 16


def _mix_in_place(z: np.ndarray, tmp: np.ndarray) -> None:
    z += _U(GAMMA)
    np.right_shift(z, _U(30), out=tmp)
    z ^= tmp
    z *= _U(_M1)
    np.right_shift(z, _U(27), out=tmp)
    z ^= tmp
    z *= _U(_M2)
    np.right_shift(z, _U(31), out=tmp)
    z ^= tmp


def mix_array(x: np.ndarray) -> np.ndarray:
    """``mix`` applied elementwise to a uint64 array (returns a new array)."""
    z = np.array(x, dtype=np.uint64, copy=True)
    _mix_in_place(z, np.empty_like(z))
    return z


def random_stream(seed: int, stream_id: int, start: int, count: int) -> np.ndarray:
    """Outputs ``start .. start+count-1`` of one counter-based SplitMix64 stream.

    Output ``i`` is ``mix(base + i * GAMMA)`` with ``base`` derived from the seed
    and ``stream_id``, so any slice is computed without what comes before it.
    Each field of a workload draws from its own ``stream_id``: changing one
    field's rule never shifts another field's numbers.
    """
    base = mix(mix(seed & MASK64) ^ (stream_id & MASK64))
    out = np.empty(count, dtype=np.uint64)
    tmp = np.empty(min(count, _CHUNK), dtype=np.uint64)
    steps = np.arange(min(count, _CHUNK), dtype=np.uint64) * _U(GAMMA)
    for offset in range(0, count, _CHUNK):
        chunk = out[offset : offset + _CHUNK]
        first = _U((base + (start + offset) * GAMMA) & MASK64)
        np.add(steps[: len(chunk)], first, out=chunk)
        _mix_in_place(chunk, tmp[: len(chunk)])
    return out
