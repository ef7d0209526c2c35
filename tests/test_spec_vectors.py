"""SPEC §3's test vectors, through the tests' own reference, protocol.splitmix and every contender."""

from __future__ import annotations

import numpy as np
import pytest

import implementations
from harness.runner import run_once
from protocol.events import empty_records, validated_stream
from protocol.splitmix import digest, digest_hex, mix, mix_array
from scenarios import SYNTHETIC

from reference import spec_digest_of_file_bytes, spec_mix
from strategies import stream_of

FOUR_RECORDS = [
    (0, 0, 1, 0, 0, 0, 0),
    (1, 0, 2, 1, 1, 0, 3),
    (2, 1000, 3, 0, 3, 0, 0),
    (3, 2000, 2**64 - 1, 1, 2, 0, 5),
]


def test_mix_vectors() -> None:
    for f in (mix, spec_mix):
        assert f(0) == 0xE220A8397B1DCDAF
        assert f(1) == 0x910A2DEC89025CC1
    assert mix_array(np.array([0, 1], dtype=np.uint64)).tolist() == [0xE220A8397B1DCDAF, 0x910A2DEC89025CC1]


def test_empty_stream_digest() -> None:
    assert digest_hex(digest(0, [0], [0], 0)) == "238275bc38fcbe91"
    empty = validated_stream(1, empty_records(0, SYNTHETIC), "<empty>", SYNTHETIC)
    assert spec_digest_of_file_bytes(empty.to_bytes()) == "238275bc38fcbe91"


def test_four_record_digest_in_the_tests_reference() -> None:
    assert spec_digest_of_file_bytes(stream_of(2, FOUR_RECORDS).to_bytes()) == "57a50588ef34124e"


@pytest.mark.parametrize("registration", implementations.registry(), ids=lambda r: r.name)
@pytest.mark.parametrize("mode", ["open", "closed"])
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_every_contender_meets_the_vectors(registration: implementations.Registration, mode: str, workers: int) -> None:
    if registration.contender is None:
        pytest.skip(registration.reason)
    for n_keys, rows, expected in ((2, FOUR_RECORDS, "57a50588ef34124e"), (1, [], "238275bc38fcbe91")):
        outcome = run_once(registration.contender, stream_of(n_keys, rows), workers=workers, mode=mode)
        assert outcome.digest == expected
        assert outcome.valid, outcome.failures()
