"""Reports: exporters pinned by golden files, comparability notes, and `eventbench report` end to end.

Golden files live in tests/golden/; after an intended change of format, rewrite them with
``EVENTBENCH_UPDATE_GOLDEN=1 pytest tests/test_report.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness import report, results, trials
from harness.allocations import METHOD
from harness.cli import main
from harness.document import AllocationCount, Floor, ResultDocument, TrialRecord
from harness.metadata import differences
from harness.stats import PERCENTILE_NAMES, LatencySummary

GOLDEN = Path(__file__).parent / "golden"

META = {
    "eventbench": "0.1.0", "commit": "0123456789abcdef0123456789abcdef01234567", "python": "3.11.7",
    "python_implementation": "CPython", "gil_enabled": True, "numpy": "2.1.0", "rust": "1.95.0",
    "cpu_model": "Example CPU 9000", "cpu_count": 2, "host": "ci-1", "os": "Linux 6.1",
}  # fmt: skip


MODELS = {"sequential": "sequential", "threaded": "threads", "native": "native", "native-sequential": "native"}
# Each contender's threads: name, handling, and the shares of a 1 s window on a CPU and runnable.
THREADS = {
    "sequential": [("MainThread", True, 0.9, 0.06)],
    "threaded": [("eventbench-worker-0", True, 0.2, 0.1), ("eventbench-worker-1", True, 0.2, 0.1),
                 ("MainThread", False, 0.1, 0.05)],
    "native": [("evb-worker-0", True, 0.45, 0.05), ("evb-worker-1", True, 0.4, 0.05), ("MainThread", False, 0.0, 0.0)],
    "native-sequential": [("MainThread", True, 0.97, 0.02)],
}  # fmt: skip


def _threads(name: str, f: float) -> list[dict[str, Any]]:
    """One trial's threads, their shares scaled by ``f`` (a trial's spread)."""
    return [
        {"pid": 100, "tid": 100 + i, "name": thread, "handling": handling, "span_s": 1.0, "on_cpu_s": on_cpu * f,
         "runnable_s": runnable, "blocked_s": max(0.0, 1.0 - on_cpu * f - runnable), "voluntary_switches": 10 * i,
         "involuntary_switches": i}
        for i, (thread, handling, on_cpu, runnable) in enumerate(THREADS[name])
    ]  # fmt: skip


def _json(name: str, workers: int, tput: float, p: list[int] | None, allocs: float | None, **extra: Any) -> dict:
    """A schema-7 document of 10 trials spread a few percent around the given figures (their medians)."""
    latency = dict(zip(PERCENTILE_NAMES, p, strict=True)) if p else None
    spread = [1 + ((r * 7 + len(name)) % 10 - 4.5) / 100 for r in range(10)]  # ±4.5 %, median 1, per contender
    per_trial: list[dict[str, Any]] = [
        {"round": r, "position": r % 4, "valid": True, "failures": [], "digest": "00ff", "checks": {},
         "setup_s": 0.0021, "cpu_s": 1.0, "ctx_switches": 100, "wall_s": 60000 / tput,
         "throughput_eps": tput / f, "latency_ns": {k: v * f for k, v in latency.items()} if latency else None,
         "cpu_s_per_event": 1.7e-5 * f, "ctx_switches_per_event": 0.6 * f, "threads": _threads(name, f),
         "threads_ended": 0}
        for r, f in enumerate(spread)
    ]  # fmt: skip
    doc = {
        "schema_version": 7, "implementation": name, "model": MODELS[name], "workers": workers,
        "scenario": {"name": "synthetic", "version": 1},
        "mode": "open" if p else "closed", "workload": {"name": "mixed", "events": 60000, "seed": 7}, "events": 60000,
        "n_keys": 4096,
        "digest": "00ff", "reference_digest": "00ff", "digest_ok": True, "valid": True, "failures": [],
        "checks": {}, "wall_s": 60000 / tput, "throughput_eps": tput, "latency_ns": latency,
        "allocations_per_event": allocs, "allocations": None, "cpu_s": 1.0, "cpu_s_per_event": 1.7e-5,
        "ctx_switches": 100, "ctx_switches_per_event": 0.6, "metadata": dict(META), "created_unix_s": 0.0,
        "setup_s": 0.0021, "trials": per_trial,
        "comparison": {"seed": 1, "trials": 10, "orders": []}, "floor": None,
    }  # fmt: skip
    doc["intervals"] = {k: v.as_dict() for k, v in trials.medians(_load(doc).trials or ()).items()}
    doc.update(extra)
    return doc


def _load(obj: dict[str, Any]) -> ResultDocument:
    return ResultDocument.from_json(obj, "fixture.json")


def _doc(
    name: str, workers: int, tput: float, p: list[int] | None, allocs: float | None, **extra: Any
) -> ResultDocument:
    return _load(_json(name, workers, tput, p, allocs, **extra))


def fixed_json() -> list[dict[str, Any]]:
    wrong = _json("threaded", 2, 8000.0, None, None, valid=False, digest_ok=False,
                  failures=["digest 00fe differs from the reference 00ff"], mode="open")  # fmt: skip
    return [
        _json("sequential", 1, 8030.0, [80_000, 210_000, 429_000, 727_000, 1_770_000], 111.2),
        _json(
            "native",
            2,
            8031.5,
            [21_800, 90_000, 306_000, 1_040_000, 3_800_000],
            0.0035,
            setup_s=0.3,
            diagnosis={
                "method": "perf",
                "samples": 1200,
                "shares": {"handling": 0.45, "lock": 0.005, "queue": 0.02, "sleeping": 0.525},
                "unavailable": None,
                "notes": [],
            },
        ),
        _json("native-sequential", 1, 8029.0, [3_740, 60_000, 243_000, 1_140_000, 4_330_000], 0.0011),
        wrong,
    ]


def fixed_documents() -> list[ResultDocument]:
    return [_load(d) for d in fixed_json()]


def sweep_json() -> list[dict[str, Any]]:
    points = [(2000, [9_000, 20_000, 35_000, 60_000, 90_000]), (8000, [10_000, 25_000, 40_000, 300_000, 900_000]),
              (16000, [20_000, 300_000, 990_000, 2_000_000, 3_000_000]),  # its p99 interval holds 1 ms: unclear
              (32000, [50_000, 900_000, 2_500_000, 3_000_000, 4_000_000])]  # fmt: skip
    docs = []
    for rate, p in points:
        doc = _json("native", 2, rate * 0.999, p, None)
        doc["workload"] = {"name": "paced", "events": 2000}
        doc["sweep"] = {"offered_eps": float(rate), "objective_p99_ns": 1_000_000}
        floor_p = p if rate == 16000 else [v // 4 for v in p]  # at 16k the floor's latencies are the contender's
        doc["floor"] = {"name": "floor-native", "trials": _json("native", 1, rate, floor_p, None)["trials"]}
        docs.append(doc)
    return docs


def sweep_documents() -> list[ResultDocument]:
    return [_load(d) for d in sweep_json()]


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("EVENTBENCH_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; see the module docstring to update it"


def test_markdown_is_pinned() -> None:
    docs = fixed_documents()
    groups, sweeps = report.split_documents(docs + sweep_documents())
    groups = {k: report.ordered(g, "sequential") for k, g in groups.items()}
    images = {"mixed-open-60000": ["mixed-open-60000-latency-spectrum.svg"], "sweeps": ["latency-vs-load.svg"]}
    _check_golden("report.md", report.markdown(groups, "sequential", [], sweeps, images))


def test_terminal_table_and_story_are_pinned(capsys: pytest.CaptureFixture[str]) -> None:
    docs = fixed_documents()
    report.print_comparison("mixed · 60000 events · open loop", docs, docs[0])
    _check_golden("table.txt", capsys.readouterr().out)


def test_story_lines() -> None:
    """Verdicts come from the paired ratios' intervals; a document of one trial never commits to one."""
    docs = fixed_documents()
    baseline, native, native_sequential, threaded = report.story(docs, docs[0])
    assert baseline == "sequential: the baseline; why: its thread: on CPU 90 %, waiting for CPU 6 %, blocked 4 %"
    assert native.startswith("native: better: p50 0.275x [0.262–0.289], p90 0.433x [0.412–0.455], p99 0.72x")
    assert "; worse: p99.9 1.44x [1.37–1.52], max 2.17x [2.06–2.28]; " in native
    assert "; no clear difference: events/s, CPU/event, ctx sw/event; allocations/event −100 %; " in native
    # why, from its threads' shares and the diagnosis pass's buckets (those of 1 % or more)
    assert native.endswith(
        "; why: its 2 handling threads: on CPU 42 %, waiting for CPU 5 %, blocked 52 %"
        " (the sampler: queue 2 %, sleeping 52 % of their time)"
    )
    assert native_sequential.startswith("native-sequential: better: p50 0.0454x [0.0453–0.0501]")
    assert threaded == "threaded: wrong, no figures"
    closed = [_doc("sequential", 1, 1000.0, None, None), _doc("native", 2, 150_000.0, None, None)]
    assert [line.split("; why: ")[0] for line in report.story(closed, closed[0])[1:]] == [
        "native: better: events/s 149x [141–156]; no clear difference: CPU/event, ctx sw/event"]  # fmt: skip
    closed_json = [_json("sequential", 1, 1000.0, None, None), _json("native", 2, 150_000.0, None, None)]
    older = [_load({k: v for k, v in d.items() if k not in ("trials", "intervals")} | {"schema_version": 3})
             for d in closed_json]  # fmt: skip
    assert report.story(older, older[0]) == [
        "native: 1 trial, too few for a verdict: events/s 150x, CPU/event 1x, ctx sw/event 1x"
    ]


def test_a_sweep_met_only_above_a_point_not_met_sustains_nothing_and_says_so() -> None:
    docs = sweep_documents()
    assert docs[2].sweep is not None
    first = replace(docs[2], sweep=replace(docs[2].sweep, offered_eps=1000.0))  # unclear, at the lowest rate
    verdict = report.sweep_verdict("native", report.sustained_of([first, *docs[:2]]), 1_000_000, [first, *docs[:2]])
    assert verdict.startswith("native sustains no rate with p99 ≤ 1 ms: at 1k/s, the lowest, unclear")
    assert verdict.endswith("a rate met above one not met does not count")


def test_stored_sweeps_of_one_run_say_so() -> None:
    old = [_load({k: v for k, v in d.items() if k not in ("trials", "intervals", "floor", "comparison")})
           for d in sweep_json()]  # fmt: skip
    assert "each point is one run" in " ".join(report.sweep_notes(old))
    assert [report.sweep_cells(d, 1_000_000)[-1] for d in old] == ["met", "met", "met", "MISSED"]


def test_sweep_rows_are_pinned() -> None:
    docs = sweep_documents()
    lines = [report.sweep_header()] + [report.sweep_row(d, 1_000_000) for d in docs]
    lines.append(report.sweep_verdict("native", report.sustained_of(docs), 1_000_000, docs))
    lines += report.sweep_notes(docs)
    _check_golden("sweep.txt", "\n".join(lines) + "\n")


def test_result_document_json_is_pinned(tmp_path: Path) -> None:
    path = results.dump(fixed_documents()[1], tmp_path / "doc.json")
    _check_golden("document.json", path.read_text(encoding="utf-8"))


def test_percent_wording() -> None:
    words = [report.percent(v) for v in (-97.04, 12.0, -0.44, 0.0004, None)]
    assert words == ["−97 %", "+12 %", "−0.4 %", "±0 %", "n/a"]


def test_documents_from_different_machines_say_so() -> None:
    a, b = fixed_documents()[:2]
    b = replace(b, metadata={**b.metadata, "host": "laptop", "cpu_model": "Other CPU"})
    assert differences([dict(a.metadata), dict(b.metadata)]) == {
        "machine": {"cpu_model": ["Example CPU 9000", "Other CPU"], "host": ["ci-1", "laptop"]}
    }
    (note,) = report.comparability_notes([a, b])
    assert note.startswith("different machines") and "not comparable" in note
    assert report.comparability_notes([a, a]) == []


# ---------------------------------------------------------------- end to end


def _write(directory: Path, docs: list[ResultDocument]) -> None:
    for i, doc in enumerate(docs):
        results.dump(doc, directory / f"{i}-{doc.implementation}.json")


def test_report_end_to_end_from_a_real_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "results"
    args = ["compare", "--workload", "mixed", "--n-events", "400", "--impl", "sequential,threaded",
            "--workers", "2", "--alloc-events", "400", "--results-dir", str(runs), "--report"]  # fmt: skip
    assert main(args) == 0
    compare_out = capsys.readouterr().out
    assert "against sequential (ratio [interval]; 10 trials each" in compare_out
    assert "\n  threaded " in compare_out and "allocations/event" in compare_out
    (run_dir,) = (runs / "runs").iterdir()
    assert (run_dir / "report" / "report.md").exists()  # compare --report: the same files as `report`
    out = tmp_path / "report"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        ["report.md"]
        + [f"mixed-open-400-{kind}.{ext}" for kind in ("latency-spectrum", "throughput-allocations",
           "latency-over-time") for ext in ("png", "svg")]
    )  # fmt: skip
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for svg in out.glob("*.svg"):
        assert ET.parse(svg).getroot().tag.endswith("svg")
    md = (out / "report.md").read_text()
    assert "| sequential | sequential | ok |" in md and "![mixed-open-400-latency-spectrum.svg]" in md
    assert "![mixed-open-400-latency-over-time.svg]" in md
    # both record starts: the latency's parts have their own table, in the terminal and in markdown
    assert "where the latency went: waiting" in compare_out and "service p99" in compare_out
    assert "where the latency went: waiting" in md and "| wait p50 |" in md


def _with_parts(doc: ResultDocument, recorded: bool = True, mode: str | None = None) -> ResultDocument:
    """``doc`` as schema 7 writes a contender that records starts (or not): waiting a tenth of
    its latency, service the rest."""
    base = doc.latency_ns or LatencySummary(1000, 2000, 3000, 4000, 5000)
    part = LatencySummary(*(v / 10 for v in base.as_dict().values()))
    return replace(doc, mode=mode or doc.mode, starts_recorded=recorded, waiting_ns=part if recorded else None,
                   service_ns=base if recorded else None)  # fmt: skip


def test_a_run_summary_gives_waiting_and_service_or_says_they_were_not_recorded() -> None:
    seq = next(d for d in fixed_documents() if d.valid)
    summary = report.run_summary(_with_parts(seq))
    assert "\n  waiting     p50 8 µs  p90 21 µs" in summary and "\n  service     p50 80 µs" in summary
    assert "waiting and service not recorded" in report.run_summary(_with_parts(seq, recorded=False))
    assert "\n  waiting " not in report.run_summary(seq)  # a document without starts says nothing of them


def test_waiting_and_service_are_a_table_of_their_own() -> None:
    seq, native, native_seq = (d for d in fixed_documents() if d.valid)
    docs = [_with_parts(seq), _with_parts(native), _with_parts(native_seq, recorded=False)]
    (caption, headers, rows) = report.tables(docs)[-1]
    assert caption.startswith("where the latency went")
    assert headers == ["contender", "w", "wait p50", "wait p99", "wait max", "service p50", "service p99"]
    assert rows[0][:3] == ["sequential", "1", "8 µs"] and rows[2][2:] == ["-"] * 5
    notes = report.table_notes(docs)
    assert "waiting and service not recorded for native-sequential: its run() takes no start_ns" in " ".join(notes)
    # closed loop: no waiting columns, and a note says why; documents before schema 7: no table at all
    closed = [_with_parts(seq, mode="closed")]
    closed = [replace(closed[0], waiting_ns=None)]
    (*_, (_, headers, _)) = report.tables(closed)
    assert headers == ["contender", "w", "service p50", "service p99"]
    assert any(n.startswith("closed loop: every event is due at t0") for n in report.table_notes(closed))
    assert not any(caption.startswith("where the latency went") for caption, *_ in report.tables(fixed_documents()))


def test_a_broken_document_is_named_and_the_rest_still_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, fixed_documents()[:2] + sweep_documents())
    (tmp_path / "broken.json").write_text('{"schema_version": 2, "implementation": ')
    newer = fixed_json()[0] | {"schema_version": 99}
    (tmp_path / "newer.json").write_text(json.dumps(newer))
    (tmp_path / "pyperf.json").write_text(json.dumps({"version": "1.0", "benchmarks": []}))  # not ours: passed over
    out = tmp_path / "out"
    assert main(["report", str(tmp_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "Traceback" not in "\n".join(err)
    assert any("broken.json" in line for line in err) and any("newer.json: schema_version: 99" in line for line in err)
    assert (out / "report.md").exists() and (out / "latency-vs-load.svg").exists()
    assert "native sustains 8k events/s" in (out / "report.md").read_text().replace("(w2, paced) ", "")


def test_report_of_nothing_is_invalid_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "no eventbench result documents" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.json")]) == 2


def test_a_sweep_with_no_valid_point_is_reported_not_plotted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = [replace(d, valid=False, digest_ok=False, failures=("digest differs",)) for d in sweep_documents()]
    _write(tmp_path, wrong + fixed_documents()[:2])
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    assert "failed its checks at every rate tried" in capsys.readouterr().out
    assert (tmp_path / "out" / "report.md").exists() and (tmp_path / "out" / "latency-vs-load.png").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("workload", None), ("metadata", None), ("events", "many"), ("latency_ns", {"p50": 1}), ("valid", "yes"),
     ("sweep", {"offered_eps": 1000}), ("throughput_eps", "fast")],
)  # fmt: skip
def test_a_malformed_document_is_named_not_a_traceback(
    field: str, value: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, fixed_documents()[:2])
    (tmp_path / "bad.json").write_text(json.dumps(fixed_json()[0] | {field: value}))
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "out"), "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.json" in err and field in err and "Traceback" not in err
    assert (tmp_path / "out" / "report.md").exists()  # the well-formed documents are still reported


def _counted(events: int) -> AllocationCount:
    return AllocationCount(events=events, allocations=111 * events, retained=0, observer=0, native_library=0,
                           outside_global_allocator=0, crate_counter=None, method=METHOD)  # fmt: skip


def test_an_allocation_count_over_a_prefix_says_so() -> None:
    doc = replace(fixed_documents()[0], allocations=_counted(20_000))
    assert report.costs_rows([doc])[0][report.COSTS_HEADERS.index("allocs/event")] == "111†"
    assert "† allocations counted over the first 20,000 events, in a separate, untimed pass" in report.table_notes(
        [doc]
    )
    whole = replace(fixed_documents()[0], allocations=_counted(60_000))
    assert report.costs_rows([whole])[0][report.COSTS_HEADERS.index("allocs/event")] == "111"
    assert report.table_notes([whole]) == []


def test_contenders_are_grouped_by_model_in_a_fixed_order() -> None:
    def doc(name: str, model: str | None) -> ResultDocument:
        d = _json("sequential", 1, 8000.0, None, None) | {"implementation": name, "model": model}
        return _load(d if model else {k: v for k, v in d.items() if k != "model"} | {"schema_version": 2})

    docs = [doc("zig-pool", "actors"), doc("old", None), doc("native", "native"), doc("processes", "processes"),
            doc("asyncio", "event loop"), doc("threaded", "threads"), doc("sequential", "sequential")]  # fmt: skip
    names = [d.implementation for d in report.ordered(docs, "sequential")]
    assert names == ["sequential", "threaded", "asyncio", "processes", "native", "old", "zig-pool"]
    assert [report.model_of(d) for d in report.ordered(docs, "sequential")][-2:] == ["-", "actors"]


def test_a_run_without_the_gil_is_labelled() -> None:
    doc = _doc("threaded", 2, 8000.0, None, None)
    doc = replace(doc, metadata={**doc.metadata, "gil_enabled": False})
    assert report.delivers_rows([doc])[0][0] == report.costs_rows([doc])[0][0] == "threaded (no GIL)"
    assert report.label(_doc("threaded", 2, 8000.0, None, None)) == "threaded"


@pytest.mark.parametrize(("rates", "scale"), [([65_000.0, 9_400_000.0], "log"), ([65_000.0, 130_000.0], "linear")])
def test_throughputs_far_apart_are_drawn_on_a_log_axis(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rates: list[float], scale: str
) -> None:
    """A Python and a native contender differ a hundredfold: on a linear axis the Python bar is a line."""
    from harness import plots

    drawn: list[Any] = []
    monkeypatch.setattr(plots, "_save", lambda fig, out_dir, name: drawn.append(fig) or [])
    docs = [_doc(name, 1, rate, None, None) for name, rate in zip(("sequential", "native"), rates, strict=True)]
    plots.throughput_and_allocations(docs, "title", tmp_path, "name")
    assert drawn[0].axes[0].get_yscale() == scale


def _scaled(trial: TrialRecord, factor: Callable[[str], float]) -> TrialRecord:
    """The trial with each latency percentile times ``factor(percentile)``."""
    assert trial.latency_ns is not None
    scaled = {p: v * factor(p) for p, v in trial.latency_ns.as_dict().items()}
    return replace(trial, latency_ns=LatencySummary(**scaled))


def test_a_latency_that_cannot_be_told_from_its_floor_is_marked() -> None:
    """Paired by round with its floor's trials: a p99 only as high as pacing alone is marked, one far above is not."""
    doc = _doc("native", 2, 8000.0, [20_000, 90_000, 300_000, 1_000_000, 3_000_000], None)
    floor = tuple(_scaled(t, lambda p: 1.0 if p in ("p99", "p999") else 0.1) for t in doc.trials or ())
    doc = replace(doc, floor=Floor("floor-native", floor, None))
    marks = dict(zip(report.DELIVERS_HEADERS, report.delivers_rows([doc])[0], strict=True))
    assert marks["p99"].endswith(report.FLOOR_MARK) and marks["p99.9"].endswith(report.FLOOR_MARK)
    assert not marks["p50"].endswith(report.FLOOR_MARK) and not marks["max"].endswith(report.FLOOR_MARK)
    assert any("at the machine's floor" in line for line in report.table_notes([doc]))
    assert report.delivers_rows([_doc("native", 2, 8000.0, [1, 2, 3, 4, 5], None)])[0][4] == "3 ns ±4%"  # no floor


def test_too_few_trials_never_mark_a_latency_at_the_floor() -> None:
    """Three trials cannot tell a contender from its floor, even one 100x above it: no mark, a note instead."""
    doc = _doc("native", 2, 8000.0, [20_000, 90_000, 300_000, 1_000_000, 3_000_000], None)
    doc = replace(doc, trials=(doc.trials or ())[:3])
    floor = tuple(_scaled(t, lambda p: 1 / 100) for t in doc.trials or ())
    doc = replace(doc, floor=Floor("floor-native", floor, None))
    assert not any(cell.endswith(report.FLOOR_MARK) for cell in report.delivers_rows([doc])[0])
    assert "some latencies not compared with the floor: too few trials to tell" in report.table_notes([doc])


def test_documents_of_two_compare_runs_get_no_paired_verdict() -> None:
    """Round 3 of one run and round 3 of another never ran together: pairing them would judge drift."""
    base, other = fixed_documents()[:2]
    assert other.comparison is not None
    other = replace(other, comparison=replace(other.comparison, seed=2))
    (_, line) = report.story([base, other], base)
    assert line.startswith(
        "native: not from the same compare run as sequential: its trials pair with none, no verdict;"
    )


def test_a_ratio_with_zero_on_one_side_is_not_comparable() -> None:
    base, native = fixed_documents()[:2]
    trials_ = list(base.trials or ())
    trials_[4] = replace(trials_[4], ctx_switches_per_event=0.0)
    base = replace(base, trials=tuple(trials_))
    (_, line) = report.story([base, native], base)
    assert "not comparable: ctx sw/event" in line.split("; ")


def test_a_malformed_trial_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = fixed_json()[0]
    doc["trials"][2]["throughput_eps"] = "fast"
    (tmp_path / "doc.json").write_text(json.dumps(doc))
    assert main(["report", str(tmp_path / "doc.json"), "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert "doc.json: trials[2].throughput_eps: must be a number or null, got a string" in err
    assert "Traceback" not in err


def test_a_run_summary_says_whether_the_allocation_count_covered_every_event() -> None:
    doc = fixed_documents()[0]
    whole = replace(doc, allocations=_counted(doc.events))
    assert f"(all {doc.events} events, separate pass)" in report.run_summary(whole)
    assert "(first 20000 events, separate pass)" in report.run_summary(replace(doc, allocations=_counted(20_000)))


def test_threads_born_and_ended_in_the_window_are_said_to_be_unseen() -> None:
    """A thread started and ended inside the window is never listed: where the threads read spent
    far less CPU than the process tree did, the note and the why say so rather than show shares."""
    seq, native, native_seq = (d for d in fixed_documents() if d.valid)
    assert not any("no longer listed" in n for n in report.table_notes([seq, native, native_seq]))
    hidden = replace(native_seq, trials=tuple(replace(t, cpu_s=10.0) for t in native_seq.trials or ()))
    notes = " ".join(report.table_notes([seq, hidden]))
    assert "native-sequential: most of the CPU time was spent by threads the kernel no longer listed" in notes
    assert report.why(hidden) == "its handling thread started and ended inside the window: its time was not read"
