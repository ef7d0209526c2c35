"""A second reference, written straight from SPEC §1–3 and sharing no code with eventbench.

It reads the raw bytes of a ``.evts`` image with ``struct`` and applies the
handlers literally, so that ``sequential`` (the harness's reference) is itself
checked against the SPEC rather than against itself.
"""

from __future__ import annotations

import struct

M = 2**64


def spec_mix(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) % M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % M
    return z ^ (z >> 31)


def spec_digest_of_file_bytes(data: bytes) -> str:
    magic, version, n_keys, n_events, reserved = struct.unpack_from("<8sIIQQ", data, 0)
    assert magic == b"EVTSTRM1" and version == 1 and reserved == 0
    assert len(data) == 32 + 32 * n_events
    s = [0] * n_keys
    c = [0] * n_keys
    g = 0
    for _seq, _arrival, v, k, kind, flags, work in struct.iter_unpack("<QQQIBBH", data[32:]):
        assert flags == 0 and kind <= 3 and k < n_keys
        if kind == 1:
            h = v
            for _ in range(work):
                h = spec_mix(h)
            s[k] = spec_mix(s[k] ^ h)
        else:  # update, block (the wait does not change state) and aggregate
            if kind == 3:
                g = (g + v) % M
            s[k] = spec_mix(s[k] ^ v)
        c[k] = c[k] + 1
    d = spec_mix(g ^ n_events)
    for k in range(n_keys):
        d = spec_mix(d ^ s[k])
        d = spec_mix(d ^ c[k])
    return f"{d:016x}"
