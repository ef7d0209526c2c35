"""The rate limiter's own tests: the differential test through every eventbench executor (the one
line below), the contract's vectors, the generator, and the handler in Rust (native/)."""

from __future__ import annotations

import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
from eventbench_ratelimit import SCENARIO
from eventbench_ratelimit.handler import RatelimitPython
from hypothesis import strategies as st
from ratelimit_reference import digest_of_file_bytes

import implementations
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
MAX_US = 2**64 - 1
# The edges generated traffic never reaches, n_keys = 5 (client 4 sends nothing): the Rust crate's tests
# (native/tests/engine.rs) run the same rows through every engine against the digest below.
EDGES = [
    (0, 0, MAX_US - 10, 2, 255, 3, 3, 0),  # client 2, enterprise, first request near the clock's end
    (1, 5, 0, 0, 20, 0, 0, 9),  # client 0, free: exactly its 20 tokens
    (2, 5, MAX_US, 0, 21, 1, 0, 9),  # 2^64 µs later: a refill past 2^64 µtokens, capped at 20: rejected
    (3, 9, MAX_US, 0, 20, 1, 3, 0),  # now enterprise, no time passed: still 20 tokens, all spent
    (4, 9, 5, 0, 1, 2, 3, 4),  # the clock goes back: no refill, last_us stays: rejected
    (5, 9, 1000, 1, 1, 15, 1, 255),  # client 1, basic, the last endpoint, the longest wait
    (6, 9, 1020, 1, 99, 15, 1, 1),  # 20 µs refill 1,000 µtokens: 99.001 tokens, 99 spent
    (7, 9, 21000, 1, 1, 14, 1, 2),  # 19,980 µs refill exactly the one token missing
    (8, 9, 21000, 1, 1, 14, 1, 2),  # nothing left: rejected
    (9, 10, 0, 2, 1, 3, 0, 0),  # client 2 now free: 4,745 tokens capped at 20, 1 spent
    (10, 10, 0, 3, 100, 4, 1, 0),  # client 3, basic: all 100 tokens spent
    (11, 10, 2**63, 3, 1, 4, 1, 0),  # 2^63 µs x 50 is 0 modulo 2^64: a refill that wrapped would reject
]
NATIVE = Path(__file__).resolve().parents[1] / "native"  # the handler in Rust: a scenario crate


def _stream(n_keys: int, rows: list[tuple[int, ...]]) -> EventStream:
    return validated_stream(n_keys, np.array(rows, dtype=SCENARIO.record_dtype), "<vectors>", SCENARIO)


@st.composite
def requests(draw: st.DrawFn) -> EventStream:
    """Streams built to reach every rule's edge, which generated traffic seldom does: 1-3 clients
    with buckets drained to exactly a request's cost, timestamps that repeat, step by exactly a
    token's refill, go back, or leap so far that a refill passes 2^64 µtokens, and a client's plan
    that changes."""
    n_keys, rows, t_us = draw(st.integers(1, 3)), [], 0
    for seq in range(draw(st.integers(0, 40))):
        step = draw(st.sampled_from([0, 0, 1, 200_000, 10**9, -300_000, 2**62]))  # free: 1 token per 200 ms
        t_us = min(MAX_US, max(0, t_us + step))
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


def test_the_rules_edges() -> None:
    stream = _stream(5, EDGES)
    semantics = SCENARIO.python
    clients, ledger = semantics.new_keys(5), semantics.new_shared()
    handle = semantics.bind(semantics.columns(stream.records), clients, ledger, lambda *_: nullcontext())
    assert [handle(i) for i in range(len(EDGES))] == [0, 9, 0, 0, 0, 255, 1, 2, 0, 0, 0, 0]
    assert clients.tokens == [0, 0, 19_000_000, 99_000_000, 0]
    digest = f"{semantics.digest(len(EDGES), clients, ledger):016x}"
    assert digest == digest_of_file_bytes(stream.to_bytes()) == "027e2fa115b727c2"  # as native/tests/engine.rs


def test_the_rust_crates_streams_are_the_workloads_and_their_digests_the_references() -> None:
    """native/tests/streams/: the first 300 requests of each built-in workload, which the crate's tests
    run through every engine against the digests in digests.txt: both checked here, in Python."""
    listed = (NATIVE / "tests" / "streams" / "digests.txt").read_text().splitlines()
    entries = [line.split() for line in listed if line and not line.startswith("#")]
    assert sorted(name for name, _ in entries) == sorted(f"{w}-300.evts" for w in workload.builtin_names(SCENARIO))
    for name, digest in entries:
        data = (NATIVE / "tests" / "streams" / name).read_bytes()
        spec = workload.builtin(name.removesuffix("-300.evts")).with_events(300)
        assert data == workload.generate(spec).to_bytes(), f"{name}: eventbench export gives other bytes now"
        assert digest_of_file_bytes(data) == digest, name


def test_the_native_contenders_host_it_and_pass_verify_on_every_workload(tmp_path: Path) -> None:
    """The handler in Rust, built by this package's pip install: eventbench verify on each workload.
    Run away from a source checkout, whose unbuilt packages `python -m` would import first."""
    for name in ("native", "native-sequential"):
        assert implementations.get(name).info.hosts("ratelimit"), f"{name} does not host ratelimit"
    command = ["verify", "--scenario", "ratelimit", "--impl", "native,native-sequential", "--workers", "1,2,4"]
    done = subprocess.run([sys.executable, "-m", "harness.cli", *command, "--n-events", "5000"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    verdicts = [line.split() for line in done.stdout.splitlines() if line.startswith("  native")]
    assert len(verdicts) == len(workload.builtin_names(SCENARIO)) * 4  # native at 1, 2, 4 workers; native-sequential
    assert all(v[-1] == "ok" for v in verdicts), done.stdout


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
