"""The asv suite imports and each benchmark runs once (figures are asv's business, not the tests')."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_contenders.py"
_SPEC = importlib.util.spec_from_file_location("bench_contenders", _PATH)
assert _SPEC and _SPEC.loader
suite = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(suite)
CONTENDERS, WORKLOADS, HandleWorkload = suite.CONTENDERS, suite.WORKLOADS, suite.HandleWorkload


@pytest.mark.parametrize("contender", CONTENDERS)
def test_each_benchmark_runs(contender: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(WORKLOADS, "cpu-bound", 200)
    bench = HandleWorkload()
    bench.setup(contender, "cpu-bound")
    bench.time_handle(contender, "cpu-bound")
    assert bench.track_throughput(contender, "cpu-bound") > 0
