"""The rate limiter's digest, written from the contract (``eventbench_ratelimit``'s docstring) alone.

It shares no code with the package or with eventbench: it reads a version-2 event file's bytes
itself, keeps its state in dicts, and has its own ``mix``. The differential test checks the
package's handler against it on every stream it draws.
"""

from __future__ import annotations

import struct

MASK64 = (1 << 64) - 1
PLANS = {0: (20, 5), 1: (100, 50), 2: (500, 250), 3: (5000, 2500)}  # plan: (capacity, refill per second)


def mix(x: int) -> int:
    """SPEC §3's mix (SplitMix64's finalizer)."""
    z = (x + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def digest_of_file_bytes(data: bytes) -> str:
    """The digest of the stream in ``data`` (a whole ``.evts`` file), as 16 lowercase hex digits."""
    magic, version, n_keys, n_events, size, scenario_version, name, _ = struct.unpack_from("<8sIIQII24sQ", data)
    assert (magic, version, size, scenario_version) == (b"EVTSTRM1", 2, 32, 1), "not a ratelimit v1 file"
    assert name.rstrip(b"\0") == b"ratelimit" and len(data) == 64 + 32 * n_events
    clients: dict[int, dict[str, int]] = {}
    ledger = {e: {"allowed": 0, "rejected": 0, "spent": 0, "calls": 0, "waited": 0} for e in range(16)}
    for seq, _arrival, t_us, k, cost, e, plan, upstream_us in struct.iter_unpack("<QQQIBBBB", data[64:]):
        assert k < n_keys and cost >= 1 and e < 16 and plan < 4
        capacity, refill = PLANS[plan]
        c = clients.get(k)
        if c is None:
            c = clients[k] = {"tokens": capacity * 10**6, "last_us": 0, "allowed": 0, "rejected": 0, "h": 0}
        else:
            c["tokens"] = min(capacity * 10**6, c["tokens"] + max(0, t_us - c["last_us"]) * refill)
        c["last_us"] = max(c["last_us"], t_us)
        ok = c["tokens"] >= cost * 10**6
        if ok:
            c["tokens"] -= cost * 10**6
            c["allowed"] += 1
            ledger[e]["allowed"] += 1
            ledger[e]["spent"] += cost
            if upstream_us > 0:
                ledger[e]["calls"] += 1
                ledger[e]["waited"] += upstream_us
        else:
            c["rejected"] += 1
            ledger[e]["rejected"] += 1
        c["h"] = mix(c["h"] ^ ((seq << 1) | int(ok)))
    d = mix(n_events)
    for k in sorted(clients):
        d = mix(d ^ k)
        for field in ("tokens", "last_us", "allowed", "rejected", "h"):
            d = mix(d ^ clients[k][field])
    for e in range(16):
        for field in ("allowed", "rejected", "spent", "calls", "waited"):
            d = mix(d ^ ledger[e][field])
    return f"{d:016x}"
