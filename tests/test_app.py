"""The application's work driven from Python (harness.app): typed requests in, typed outcomes out,
lines through an injected console, no argparse and no terminal."""

from __future__ import annotations

from pathlib import Path

import pytest

import implementations
import scenarios
from harness import app, results, workload
from harness.inputs import StreamSource
from protocol.errors import InvalidInput

from fakes import Fake

SMOKE = StreamSource(workload="smoke", n_events=300)


def _console() -> tuple[app.Console, list[str], list[str]]:
    out: list[str] = []
    err: list[str] = []
    return app.Console(out.append, err.append), out, err


def test_verify_counts_and_names_the_wrong_run() -> None:
    console, out, _ = _console()
    request = app.VerifyRequest(SMOKE, (implementations.get("sequential"), Fake("digest")), mode="closed")
    verified = app.verify(request, console)
    (stream,) = verified.streams
    assert stream.label == "smoke" and verified.wrong == 1
    assert [(v.contender, v.valid) for v in stream.runs] == [("sequential", True), ("fake-digest", False)]
    assert stream.runs[0].digest == stream.reference != stream.runs[1].digest
    assert "differs from the reference" in stream.runs[1].failures[0]
    assert len(out) == 3 and "fake-digest" in out[2] and "WRONG: digest" in out[2]  # a line per run, as it ends


def test_verify_runs_a_parallel_contender_at_each_worker_count() -> None:
    console, out, _ = _console()
    request = app.VerifyRequest(SMOKE, (implementations.get("threaded"),), worker_counts=(1, 3))
    verified = app.verify(request, console)
    assert [v.workers for v in verified.streams[0].runs] == [1, 3] and verified.wrong == 0
    assert sum(" ok" in line for line in out) == 2


def test_verify_without_input_takes_every_builtin_workload_of_the_scenario() -> None:
    console, out, _ = _console()
    request = app.VerifyRequest(StreamSource(scenario="orderbook", n_events=200), (implementations.get("sequential"),))
    verified = app.verify(request, console)
    assert [s.label for s in verified.streams] == workload.builtin_names(scenarios.get("orderbook"))
    assert verified.wrong == 0 and len(out) == 2 * len(verified.streams)


def test_verify_refuses_a_contender_that_does_not_host_the_stream() -> None:
    c_example = pytest.importorskip("eventbench_c_example", reason="the C plugin example is not installed")
    request = app.VerifyRequest(StreamSource(workload="book-smoke"), (c_example.CSequential(),))
    with pytest.raises(InvalidInput, match="--impl: c-sequential: hosts synthetic only"):
        app.verify(request, _console()[0])


def test_compare_publishes_every_document_and_marks_the_wrong_one(tmp_path: Path) -> None:
    console, out, err = _console()
    request = app.CompareRequest(SMOKE, (implementations.get("sequential"), Fake("digest")), mode="closed",
                                 results_dir=tmp_path, trials=2, seed=5, alloc_events=0)  # fmt: skip
    compared = app.compare(request, console)
    assert not compared.valid
    docs = {d.implementation: d for d in compared.documents}
    assert docs["sequential"].valid and (docs["sequential"].throughput_eps or 0) > 0
    assert docs["fake-digest"].valid is False and docs["fake-digest"].throughput_eps is None
    assert compared.baseline is docs["sequential"]
    assert compared.directory.parent == tmp_path / "runs"
    assert sorted(p.name for p in compared.directory.iterdir()) == sorted(map(results.file_name, docs.values()))
    assert all(d.comparison and d.comparison.seed == 5 and d.comparison.trials == 2 for d in docs.values())
    assert "2 trials" in compared.title and "against sequential" in compared.title
    assert out == [] and any("round 2/2" in line for line in err)  # progress on err; the table is the caller's


def test_compare_refuses_a_baseline_it_does_not_run_before_writing_anything(tmp_path: Path) -> None:
    request = app.CompareRequest(SMOKE, (implementations.get("sequential"),), baseline="threaded", results_dir=tmp_path)
    with pytest.raises(
        InvalidInput, match=r"--baseline: threaded: is not among the contenders compared \(sequential\)"
    ):
        app.compare(request, _console()[0])
    assert not (tmp_path / "runs").exists()


def test_a_wrong_run_gets_a_document_without_figures_or_counting(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    measured = app.run_one(app.RunRequest(SMOKE, Fake("digest"), workers=1, json=path), _console()[0])
    assert not measured.valid and measured.document.throughput_eps is None
    assert measured.document.allocations is None and results.load(path).valid is False


def test_the_allocation_pass_covers_the_default_reach_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    """By default the pass stops at ``allocations.DEFAULT_EVENTS``; ``--alloc-events N`` sets its reach,
    and one past the stream's length counts the whole stream."""
    pytest.importorskip("memray", reason="the allocation pass needs memray")
    from harness import allocations
    from harness.inputs import load_stream

    monkeypatch.setattr(allocations, "DEFAULT_EVENTS", 120)
    loaded = load_stream(SMOKE)
    console, _, _ = _console()
    sequential = implementations.get("sequential")
    for asked, events in ((None, 120), (200, 200), (10_000, 300)):
        count = app.counted_allocations(sequential, loaded, 1, asked, console)
        assert count is not None and count.events == events, (asked, count)
    assert app.counted_allocations(sequential, loaded, 1, 0, console) is None
