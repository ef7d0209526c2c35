"""The asv suites import and each benchmark runs once (figures are asv's business, not the tests')."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _suite(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


contenders = _suite("bench_contenders")
generation = _suite("bench_generation")


@pytest.mark.parametrize("contender", contenders.CONTENDERS)
def test_each_contender_benchmark_runs(contender: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(contenders.WORKLOADS, "cpu-bound", 200)
    bench = contenders.HandleWorkload()
    bench.setup(contender, "cpu-bound")
    bench.time_handle(contender, "cpu-bound")
    assert bench.track_throughput(contender, "cpu-bound") > 0


def test_generation_benchmark_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generation, "EVENTS", 1000)
    bench = generation.GenerateWorkload()
    bench.setup("mixed")
    bench.time_generate("mixed")
    assert bench.track_events_per_second("mixed") > 0
