"""Scenario ``ratelimit``, version 1: an API gateway's rate limiter, as an eventbench scenario.

This docstring is the contract: every implementation handles a stream by these rules and
gives the same digest, and ``tests/ratelimit_reference.py`` is written from it alone.

Each event is one API request. Its client (the key) has a token bucket: a request that finds
enough tokens is let through, and may then call the upstream service (a wait for I/O of a few
microseconds); one that does not is rejected at once (HTTP 429). A ledger per endpoint,
shared by every client, counts both.

**Record**, 32 bytes, little-endian (a version-2 event file, SPEC §7, scenario ``ratelimit``
version 1)::

    offset size field        type
         0    8 seq          u64  the record's index
         8    8 arrival_ns   u64  intended arrival, for pacing (eventbench's; the handler ignores it)
        16    8 t_us         u64  the request's timestamp in the recorded traffic, in µs
        24    4 key          u32  the client; < n_keys
        28    1 cost         u8   tokens the request asks for; >= 1
        29    1 endpoint     u8   < 16
        30    1 plan         u8   the client's plan; < 4: 0 free, 1 basic, 2 pro, 3 enterprise
        31    1 upstream_us  u8   µs the upstream call takes if the request is let through (0: none)

**Plans** (capacity in tokens, refill in tokens per second): free (20, 5), basic (100, 50),
pro (500, 250), enterprise (5000, 2500). Tokens are counted in µtokens (millionths), so a
refill is an exact integer: ``elapsed_us * refill`` µtokens.

**State.** Per client ``k``: ``tokens[k]`` (µtokens), ``last_us[k]``, ``allowed[k]``,
``rejected[k]``, ``h[k]``. Per endpoint ``e`` (0..15), shared by every client: ``allowed[e]``,
``rejected[e]``, ``spent[e]``, ``calls[e]``, ``waited[e]``. All 0 at the start.

**A request** ``(seq, t_us, k, cost, e, plan p, upstream_us u)``:

1. With ``C = capacity[p] * 10^6``: the client's first request (``allowed[k] + rejected[k] == 0``)
   finds its bucket full, ``tokens[k] = C``; a later one refills it,
   ``tokens[k] = min(C, tokens[k] + max(0, t_us - last_us[k]) * refill[p])``.
   Then ``last_us[k] = max(last_us[k], t_us)``.
2. If ``tokens[k] >= cost * 10^6`` it is let through (``ok = 1``): ``tokens[k] -= cost * 10^6``,
   ``allowed[k] += 1``. Otherwise it is rejected (``ok = 0``): ``rejected[k] += 1``.
3. ``h[k] = mix(h[k] ^ ((seq << 1) | ok))``, with SPEC §3's ``mix``.
4. The ledger of ``e``: let through, ``allowed[e] += 1``, ``spent[e] += cost``, and where
   ``u > 0``, ``calls[e] += 1`` and ``waited[e] += u``; rejected, ``rejected[e] += 1``.
5. Let through with ``u > 0``, the request then waits ``u`` µs for the upstream, holding nothing.

**Order** as SPEC §3: a client's requests in ``seq`` order; different clients in any order, at
once. A client's state depends on its own requests only, and the ledger on sums: the final
state is the same for every interleaving that keeps each client's order. No counter of a valid
stream reaches 2^64.

**Digest**, with ``n`` the number of events, printed as 16 lowercase hex digits::

    d = mix(n)
    for k in 0 .. n_keys-1 where allowed[k] + rejected[k] > 0:
        d = mix(d ^ k)
        for x in tokens[k], last_us[k], allowed[k], rejected[k], h[k]:  d = mix(d ^ x)
    for e in 0 .. 15:
        for x in allowed[e], rejected[e], spent[e], calls[e], waited[e]:  d = mix(d ^ x)

**Test vectors.** No events, ``n_keys = 1``: ``fce5de842633680a``. The seven requests of
``VECTORS`` in ``tests/test_ratelimit.py`` (every step above, each commented), ``n_keys = 2``:
``c0941b2e17a8914e``.
"""

from importlib import resources

from eventbench_ratelimit import generate, record
from eventbench_ratelimit.handler import RatelimitPython
from protocol.scenario import Scenario

SCENARIO = Scenario(
    name=record.NAME,
    version=record.VERSION,
    description="an API gateway's rate limiter: token buckets per client, a ledger shared by all, upstream waits",
    record_dtype=record.RECORD_DTYPE,
    field_rules=record.field_rules,
    tables=generate.TABLES,
    params_from_tables=generate.params_from_tables,
    fill_fields=generate.fill_fields,
    python=RatelimitPython(),
    workloads=resources.files(__name__).joinpath("workloads"),
    # The handler in Rust (native/, built by this package's pip install): native and native-sequential host it.
    native_library=("eventbench_ratelimit", "_evb_ratelimit"),
)
