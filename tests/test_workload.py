"""Workloads: determinism, the shape each spec asks for, and every spec rule with its error."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.workload import (
    Arrival,
    KindWeights,
    SyntheticParams,
    WorkloadSpec,
    builtin,
    builtin_names,
    generate,
    load_workload,
    spec_from_toml_text,
)
from protocol.errors import InvalidInput
from protocol.events import first_bad_record
from protocol.splitmix import GAMMA, MASK64, mix, random_stream
from scenarios import SYNTHETIC

# The bytes of every built-in workload, pinned: the same spec must give the same
# bytes on every machine, Python and numpy version. A change here changes history.
GOLDEN_SHA256 = {
    "blocking": "01d97939fc59144a9b434ddf7d3ae4c9465b6410e29a67d6bf909add457de372",
    "bursty": "af78b4c98bedc2cc68ad4d0e5cfdcdffa5b0c4b0931d18b8a86da93e9b73afba",
    "contention": "7e4add92173c643e713208bcf0697125c83c313f107ec15c28bb7905f052e751",
    "cpu-bound": "31f87f5e19d6566d2da1e854a4b0bc258b0e16fbd4a9be0c03c8dce11e8ee280",
    "mixed": "e78e4c811ec8a5d0e89402995ef569f1b3c7d0b55f07e13957ee6836c16f041a",
    "paced": "751a7bddbb9fcf413a555993e6ae4f8d87734dc9f2db4f5a7fc20e02521d41fe",
    "smoke": "92d60a60c4543e5a8992fab973d04211dacbfc70deb3f7fc430761358f9039eb",
}


def test_catalog_has_the_promised_workloads() -> None:
    assert set(builtin_names(SYNTHETIC)) == set(GOLDEN_SHA256)
    assert len(builtin_names()) >= 6


@pytest.mark.parametrize("name", sorted(GOLDEN_SHA256))
def test_builtin_bytes_are_pinned(name: str) -> None:
    assert hashlib.sha256(generate(builtin(name)).to_bytes()).hexdigest() == GOLDEN_SHA256[name]


def test_random_stream_is_counter_based() -> None:
    """Output i is mix(base + i*GAMMA): any slice equals the same slice of the whole."""
    whole = random_stream(9, 3, 0, 200_000)
    assert np.array_equal(random_stream(9, 3, 65_530, 20), whole[65_530:65_550])
    base = mix(mix(9) ^ 3)
    for i in (0, 1, 65_535, 65_536, 199_999):
        assert int(whole[i]) == mix((base + i * GAMMA) & MASK64)


specs = st.builds(
    WorkloadSpec,
    name=st.just("h"),
    seed=st.integers(0, MASK64),
    events=st.integers(0, 3000),
    keys=st.integers(1, 3000),
    key_distribution=st.sampled_from(["uniform", "zipf"]),
    zipf_exponent=st.floats(0.1, 3.0),
    params=st.builds(
        SyntheticParams,
        kinds=st.builds(KindWeights, *[st.integers(0, 5)] * 4).filter(lambda m: sum(m.weights()) > 0),
        compute_rounds=st.tuples(st.integers(0, 100), st.integers(0, 100)).map(sorted).map(tuple),
        block_us=st.tuples(st.integers(0, 65535), st.integers(0, 65535)).map(sorted).map(tuple),
    ),
    arrival=st.one_of(
        st.just(Arrival()),
        st.builds(Arrival, process=st.sampled_from(["constant", "poisson", "bursts"]),
                  rate_eps=st.floats(1.0, 1e7), burst_size=st.integers(1, 100)),
    ),
)  # fmt: skip


@given(spec=specs)
def test_generated_streams_are_valid_and_deterministic(spec: WorkloadSpec) -> None:
    stream = generate(spec)
    assert stream.n_events == spec.events and stream.n_keys == spec.keys
    assert first_bad_record(stream.records, stream.n_keys, stream.scenario) is None
    assert generate(spec).to_bytes() == stream.to_bytes()
    kinds, work = stream.column("kind"), stream.column("work")
    for kind, (low, high) in ((1, spec.params.compute_rounds), (2, spec.params.block_us)):
        chosen = work[kinds == kind]
        assert np.all((chosen >= low) & (chosen <= high))
    assert not np.any(work[(kinds == 0) | (kinds == 3)])
    weights = spec.params.kinds.weights()
    assert all(weights[k] > 0 for k in np.unique(kinds))


def _spec(**changes: object) -> WorkloadSpec:
    return replace(WorkloadSpec(name="t", events=200_000, keys=64, seed=5), **changes)  # type: ignore[arg-type]


def test_kind_mix_proportions() -> None:
    stream = generate(_spec(params=SyntheticParams(kinds=KindWeights(60, 25, 10, 5))))
    share = np.bincount(stream.column("kind"), minlength=4) / stream.n_events
    assert np.allclose(share, [0.60, 0.25, 0.10, 0.05], atol=0.005)


def test_uniform_and_zipf_keys() -> None:
    uniform = np.bincount(generate(_spec()).column("key"), minlength=64) / 200_000
    assert np.allclose(uniform, 1 / 64, atol=0.002)
    zipf = np.bincount(generate(_spec(key_distribution="zipf", zipf_exponent=1.3)).column("key"), minlength=64)
    weights = np.arange(1, 65) ** -1.3
    assert np.allclose(zipf / 200_000, weights / weights.sum(), atol=0.005)
    assert zipf[0] == zipf.max()


def test_arrival_processes() -> None:
    constant = generate(_spec(arrival=Arrival("constant", 1000.0))).column("arrival_ns")
    assert constant[0] == 0 and constant[1] == 1_000_000 and constant[-1] == 199_999 * 1_000_000
    bursts = generate(_spec(arrival=Arrival("bursts", 1000.0, burst_size=10))).column("arrival_ns")
    assert len(np.unique(bursts[:10])) == 1 and bursts[10] == 10_000_000
    poisson = generate(_spec(arrival=Arrival("poisson", 1000.0))).column("arrival_ns")
    gaps = np.diff(poisson.astype(np.int64))
    assert np.all(gaps >= 0)  # across the generator's 64 Ki chunks too
    assert abs(gaps.mean() - 1e6) < 0.01e6 and abs(gaps.std() - 1e6) < 0.02e6  # exponential: mean = sd
    assert not np.any(generate(_spec()).column("arrival_ns"))


def test_event_count_override() -> None:
    spec = builtin("smoke").with_events(10)
    assert generate(spec).n_events == 10
    with pytest.raises(InvalidInput, match="events"):
        builtin("smoke").with_events(-1)


GOOD_TOML = """
name = "mine"
seed = 3
events = 100
keys = 4
[kinds]
compute = 1
[work]
compute_rounds = [1, 2]
[arrival]
process = "poisson"
rate_eps = 1000
"""


def test_toml_file_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(GOOD_TOML)
    spec = load_workload(str(path))
    assert spec.name == "mine" and spec.default_mode == "open"
    assert spec.params.kinds == KindWeights(compute=1.0)
    no_name = tmp_path / "anon.toml"
    no_name.write_text("events = 5\n")
    assert load_workload(str(no_name)).name == "anon"
    assert load_workload(str(no_name)).default_mode == "closed"


@pytest.mark.parametrize(
    ("text", "where", "rule"),
    [
        ("events = -5", "events", "must be in 0..200000000"),
        ("events = 10000000000", "events", "must be in 0..200000000"),
        ("events = '10'", "events", "must be int, got str"),
        ("events = true", "events", "must be int, got bool"),
        ("keys = 0", "keys", "must be in 1..16777216"),
        ("keys = 16777217", "keys", "must be in 1..16777216"),
        ("seed = -1", "seed", "must be in 0..2^64-1"),
        ("colour = 'red'", "colour", "unknown key"),
        ("[kinds]\nupdates = 1", "kinds.updates", "unknown key"),
        ("[kinds]\nupdate = -1", "kinds", "weights must be finite, >= 0 and not all 0"),
        ("[kinds]\nupdate = 0", "kinds", "not all 0"),
        ("key_distribution = 'pareto'", "key_distribution", "must be one of uniform, zipf"),
        ("zipf_exponent = 0", "zipf_exponent", "must be in (0, 10]"),
        ("[work]\ncompute_rounds = [5, 1]", "work.compute_rounds", "0 <= low <= high <= 65535"),
        ("[work]\nblock_us = [0, 70000]", "work.block_us", "0 <= low <= high <= 65535"),
        ("[work]\nblock_us = [1]", "work.block_us", "must be [low, high] integers"),
        ("[arrival]\nprocess = 'sometimes'", "arrival.process", "must be one of closed, constant, poisson, bursts"),
        ("[arrival]\nprocess = 'poisson'", "arrival.rate_eps", "needs a rate in (0, 1e9]"),
        ("[arrival]\nprocess = 'constant'\nrate_eps = -3", "arrival.rate_eps", "needs a rate"),
        ("[arrival]\nprocess = 'bursts'\nrate_eps = 5\nburst_size = 0", "arrival.burst_size", "must be in 1..1000000"),
        ("name = 'a b'", "name", "must be letters, digits"),
        ("events = 100\n[arrival]\nprocess = 'constant'\nrate_eps = 1e-9", "arrival.rate_eps", "beyond 2^63 ns"),
        ("[arrival]\nrate_eps = 5", "arrival.rate_eps", "not to closed"),
        ("[arrival]\nprocess = 'poisson'\nrate_eps = 5\nburst_size = 3", "arrival.burst_size", "bursts arrivals only"),
        ("events = [", "toml", "not valid TOML"),
    ],
)
def test_every_spec_rule_is_named(tmp_path: Path, text: str, where: str, rule: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n")
    with pytest.raises(InvalidInput) as info:
        load_workload(str(path))
    assert (info.value.source, info.value.where) == (str(path), where)
    assert rule in info.value.rule


def test_unknown_workload_names_the_builtins() -> None:
    with pytest.raises(InvalidInput, match=r"no built-in workload or TOML file.*smoke"):
        load_workload("no-such-workload")


def test_spec_from_text_names_its_source() -> None:
    with pytest.raises(InvalidInput, match=r"^here: keys:"):
        spec_from_toml_text("keys = 0", "here")
