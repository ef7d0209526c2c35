"""The rate limiter's own tests: the differential test through every eventbench executor (the one
line below), the contract's vectors, and the generator."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pytest
from eventbench_ratelimit import SCENARIO
from eventbench_ratelimit.handler import RatelimitPython
from hypothesis import strategies as st
from ratelimit_reference import digest_of_file_bytes

from harness import workload
from harness.testing import differential_tests
from protocol.errors import InvalidInput
from protocol.events import EventStream, validated_stream

# (seq, arrival_ns, t_us, key, cost, endpoint, plan, upstream_us)
VECTORS = [
    (0, 0, 0, 0, 8, 0, 0, 10),  # client 0, free (20 tokens, 5/s), first request: full; 12 left, waits 10 µs
    (1, 0, 0, 0, 8, 1, 0, 0),  # 4 left; answered from the cache
    (2, 0, 0, 0, 4, 1, 0, 3),  # exactly 4: let through, 0 left, waits 3 µs
    (3, 0, 100_000, 0, 1, 0, 0, 7),  # 0.1 s refills 0.5 token: rejected, no wait
    (4, 0, 300_000, 0, 1, 0, 0, 7),  # 0.2 s more refills 1: 1.5, let through, 0.5 left, waits 7 µs
    (5, 0, 50, 1, 200, 2, 3, 0),  # client 1, enterprise: 5,000 tokens, 4,800 left
    (6, 0, 0, 1, 1, 15, 1, 255),  # now on basic: capped at 100 (its clock went back: no refill), waits 255 µs
]


def _stream(n_keys: int, rows: list[tuple[int, ...]]) -> EventStream:
    return validated_stream(n_keys, np.array(rows, dtype=SCENARIO.record_dtype), "<vectors>", SCENARIO)


@st.composite
def requests(draw: st.DrawFn) -> EventStream:
    """Streams built to reach every rule's edge, which generated traffic seldom does: 1-3 clients
    with buckets drained to exactly a request's cost, timestamps that repeat, step by exactly a
    token's refill or go back, and a client's plan that changes."""
    n_keys, rows, t_us = draw(st.integers(1, 3)), [], 0
    for seq in range(draw(st.integers(0, 40))):
        t_us = max(0, t_us + draw(st.sampled_from([0, 0, 1, 200_000, 10**9, -300_000])))  # free: 1 token per 200 ms
        cost, plan = draw(st.sampled_from([1, 4, 8, 20, 21, 255])), draw(st.sampled_from([0, 0, 1, 3]))
        rows.append((seq, 0, t_us, draw(st.integers(0, n_keys - 1)), cost, draw(st.integers(0, 15)), plan,
                     draw(st.sampled_from([0, 1, 255]))))  # fmt: skip
    return _stream(n_keys, rows)


# Every registered contender that hosts ratelimit, on hypothesis streams (generated, and the ones
# above), against the reference digest and against ratelimit_reference.py, from the contract alone.
test_ratelimit = differential_tests("ratelimit", reference=digest_of_file_bytes, streams=requests())


def test_the_contracts_vectors() -> None:
    stream = _stream(2, VECTORS)
    semantics, guarded = RatelimitPython(), []
    clients, ledger = semantics.new_keys(2), semantics.new_shared()

    def guard(*ids: int) -> nullcontext[None]:
        guarded.append(ids)
        return nullcontext()

    handle = semantics.bind(semantics.columns(stream.records), clients, ledger, guard)
    assert [handle(i) for i in range(len(VECTORS))] == [10, 0, 3, 0, 7, 0, 255]
    assert guarded == [(0,), (1,), (1,), (0,), (0,), (2,), (15,)]  # the ledger changes inside guard(endpoint) only
    assert (clients.allowed, clients.rejected, clients.last_us) == ([4, 2], [1, 0], [300_000, 50])
    assert clients.tokens == [500_000, 99_000_000]
    assert [field[0] for field in ledger.fields()] == [2, 1, 9, 2, 17]  # endpoint 0: allowed .. waited_us
    digest = f"{semantics.digest(len(VECTORS), clients, ledger):016x}"
    assert digest == digest_of_file_bytes(stream.to_bytes()) == "c0941b2e17a8914e"
    assert digest_of_file_bytes(_stream(1, []).to_bytes()) == "fce5de842633680a"


@pytest.mark.parametrize("name", workload.builtin_names(SCENARIO))
def test_each_built_in_workload_is_valid_the_same_every_time_and_agrees_with_the_reference(name: str) -> None:
    spec = workload.builtin(name).with_events(5000)
    stream = workload.generate(spec)
    assert stream.to_bytes() == workload.generate(spec).to_bytes()
    shorter = workload.generate(spec.with_events(1000))
    assert shorter.records.tobytes() == stream.records[:1000].tobytes()  # the first m records are the m-event stream
    semantics = SCENARIO.python
    clients, ledger = semantics.new_keys(stream.n_keys), semantics.new_shared()
    handle = semantics.bind(semantics.columns(stream.records), clients, ledger, lambda *_: nullcontext())
    waits = [handle(i) for i in range(stream.n_events)]
    assert 0 < sum(clients.rejected) < stream.n_events and any(waits)  # every workload rejects and waits
    assert f"{semantics.digest(stream.n_events, clients, ledger):016x}" == digest_of_file_bytes(stream.to_bytes())


def test_a_record_breaking_a_rule_is_named_with_its_index() -> None:
    rows = [VECTORS[0], (1, 0, 0, 0, 0, 0, 0, 0)]
    with pytest.raises(InvalidInput, match=r"record 1.*cost must be >= 1"):
        _stream(1, rows)
    with pytest.raises(InvalidInput, match=r"record 0.*plan 4 is not one of"):
        _stream(1, [(0, 0, 0, 0, 1, 0, 4, 0)])


@pytest.mark.parametrize(
    ("table", "where"),
    [
        ("plan_weights = [1, 2]", "ratelimit.plan_weights"),
        ("endpoint_weights = [0, 0]", "ratelimit.endpoint_weights"),
        ("cost = [0, 3]", "ratelimit.cost"),
        ("upstream_fraction = 1.5", "ratelimit.upstream_fraction"),
        ("retries = 3", "ratelimit.retries"),
    ],
)
def test_a_bad_table_is_named(table: str, where: str) -> None:
    with pytest.raises(InvalidInput, match=where.replace(".", r"\.")):
        workload.spec_from_toml_text(f'scenario = "ratelimit"\n[ratelimit]\n{table}\n', "<test>")
