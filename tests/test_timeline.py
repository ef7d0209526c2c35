"""Latency over time (harness/timeline.py): HdrHistograms per interval of intended arrival, counted
in bulk as HdrHistogram would count them one by one, merged back to the whole run, written as an
interval log that HdrHistogram's readers (hdrh here, Java's HistogramLogProcessor where installed)
read, and read back by the report, which names a missing or garbled log in one line."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader
from hypothesis import given
from hypothesis import strategies as st

import implementations
from harness import app, report, results, stats, timeline, trials
from harness.cli import main
from harness.inputs import StreamSource
from harness.runner import run_once
from harness.workload import builtin, generate
from protocol.errors import InvalidInput

MS = 1_000_000
INTERVAL = timeline.INTERVAL_NS


def _run(arrivals: list[int], latencies: list[int], t0: int = 5 * 10**12) -> tuple[np.ndarray, np.ndarray, int]:
    """``done_ns``, ``arrival_ns`` and ``t0`` of a run whose events had these latencies."""
    arrival = np.array(arrivals, dtype=np.uint64)
    done = arrival + np.uint64(t0) + np.array(latencies, dtype=np.uint64)
    return done, arrival, t0


def _values(payload: str) -> list[int]:
    """The values an encoded histogram holds, each as its bucket's lowest value (exact below 2048)."""
    h = HdrHistogram.decode(payload)
    counts = timeline.decode(payload)
    return [h.get_value_from_index(int(i)) for i in np.flatnonzero(counts) for _ in range(int(counts[i]))]


# ---------------------------------------------------------------- HdrHistogram's arithmetic, in bulk

EDGES = [0, 1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 10**6, 10**9, timeline.HIGHEST_NS - 1]


@given(st.lists(st.integers(0, timeline.HIGHEST_NS), max_size=200))
def test_bulk_counting_puts_each_value_where_record_value_would(extra: list[int]) -> None:
    values = np.array(EDGES + [2**k + d for k in range(1, 41) for d in (-1, 0, 1)] + extra, dtype=np.int64)
    one_by_one = HdrHistogram(timeline.LOWEST_NS, timeline.HIGHEST_NS, timeline.SIGNIFICANT_DIGITS)
    assert [one_by_one.get_counts_array_index(int(v)) for v in values] == timeline.LAYOUT.index(values).tolist()
    for v in values:
        one_by_one.record_value(int(v))
    assert timeline.encode(values) == one_by_one.encode().decode()  # the same bytes in the log


def test_percentiles_are_hdrhistograms_nearest_rank_at_its_precision() -> None:
    rng = np.random.default_rng(3)
    values = rng.lognormal(11, 1.5, 4000).astype(np.int64)  # 1 µs to seconds
    counts = timeline.decode(timeline.encode(values))
    exact = np.sort(values)
    for p in (50.0, 90.0, 99.0, 99.9, 100.0):
        found, true = timeline.percentile_ns(counts, p), stats.nearest_rank(exact, p)
        assert true <= found <= true + true / 1024, p  # the bucket's highest value: at most 1/1024 above
    # hdrh's own answer where its rank rounding agrees with the nearest rank (p * n / 100 whole)
    h = HdrHistogram.decode(timeline.encode(values))
    assert [h.get_value_at_percentile(p) for p in (50, 90, 99)] == [
        timeline.percentile_ns(counts, p) for p in (50, 90, 99)
    ]
    assert h.get_max_value() == timeline.percentile_ns(counts, 100)


# ---------------------------------------------------------------- intervals


def test_an_event_counts_in_the_interval_of_its_intended_arrival() -> None:
    arrivals = [0, INTERVAL - 1, INTERVAL, 2 * INTERVAL - 1, 4 * INTERVAL, 4 * INTERVAL + 1]
    latencies = [10, 20, 30, 5 * INTERVAL, 40, 50]  # the fourth completes four intervals later: still interval 1
    found = timeline.of_run(*_run(arrivals, latencies), start_unix_ms=1_700_000_000_000)
    assert [(i.index, i.count, i.max_ns) for i in found.intervals] == [(0, 2, 20), (1, 2, 5 * INTERVAL), (4, 2, 50)]
    assert _values(found.intervals[0].payload) == [10, 20]  # intervals 2 and 3 had no arrivals: none written
    assert _values(found.intervals[2].payload) == [40, 50]
    assert found.interval_ns == INTERVAL and found.start_unix_ms == 1_700_000_000_000


def test_an_empty_run_has_no_intervals_and_a_bad_interval_is_refused() -> None:
    assert timeline.of_run(*_run([], [])).intervals == ()
    with pytest.raises(ValueError, match="interval must be positive"):
        timeline.of_run(*_run([0], [1]), interval_ns=0)


def test_merged_intervals_are_the_whole_runs_histogram() -> None:
    rng = np.random.default_rng(11)
    n = 30_000
    arrival = np.sort(rng.integers(0, 3 * 10**9, n))
    latency = rng.lognormal(10, 1.2, n).astype(np.int64)
    latency[(arrival > 1_200 * MS) & (arrival < 1_500 * MS)] += 200 * MS  # a stall
    done, arrival_ns, t0 = _run(arrival.tolist(), latency.tolist())
    found = timeline.of_run(done, arrival_ns, t0)
    assert len(found.intervals) == 30 and sum(i.count for i in found.intervals) == n
    merged = timeline.merge([timeline.decode(i.payload) for i in found.intervals])
    whole = timeline.decode(timeline.encode(latency))
    assert np.array_equal(merged[: len(whole)], whole) and not merged[len(whole) :].any()
    exact = stats.latency_summary(stats.latencies_ns(done, arrival_ns, t0))
    assert exact is not None
    for name in stats.PERCENTILE_NAMES:
        hdr = timeline.percentile_ns(merged, stats.PERCENTILES.get(name, 100.0))
        assert exact.value(name) <= hdr <= exact.value(name) * (1 + 1 / 1024), name


def test_the_series_merges_trials_per_interval_and_shows_the_stall() -> None:
    """The plot's input: per interval, every trial's events together; a stall in one trial's
    interval 2 lifts that interval's max and p99, and no other."""
    quiet = [1000 + 10 * k for k in range(100)]
    first = timeline.of_run(*_run([k * MS for k in range(300)], quiet * 3), start_unix_ms=0)
    stalled = [v + (300 * MS if 200 <= k < 210 else 0) for k, v in enumerate(quiet * 3)]
    second = timeline.of_run(*_run([k * MS for k in range(300)], stalled), start_unix_ms=0)
    found = timeline.series([first, second])
    assert found.trials == 2 and found.interval_ns == INTERVAL
    assert [(s, e) for s, e, *_ in found.as_rows()] == [(0.0, 200), (0.1, 200), (0.2, 200)]
    p50, p99, top = (found.percentiles_ns[p] for p in timeline.PLOTTED)
    # 3 digits: exact below 2048 ns; the ten stalled events were the interval's fastest, so its p50 moves up
    assert p50.tolist() == [1490, 1490, 1540]
    assert p99.tolist()[:2] == [1980, 1980] and top.tolist()[:2] == [1990, 1990]
    assert 300 * MS <= top[2] <= 300 * MS * (1 + 1 / 1024) and p99[2] >= 300 * MS
    with pytest.raises(ValueError, match="different intervals"):
        timeline.series([first, timeline.of_run(*_run([0], [1]), interval_ns=50 * MS)])


def test_a_trial_keeps_its_timeline_in_open_loop_only() -> None:
    stream = generate(builtin("paced").with_events(400))
    sequential = implementations.get("sequential")
    open_run = trials.Trial.of(run_once(sequential, stream, workers=1, mode="open"), stream)
    assert open_run.timeline is not None and sum(i.count for i in open_run.timeline.intervals) == 400
    assert len(open_run.outcome.done_ns) == 0  # what is kept of done_ns is the figures and the timeline
    closed_run = trials.Trial.of(run_once(sequential, stream, workers=1, mode="closed"), stream)
    assert closed_run.timeline is None


# ---------------------------------------------------------------- the log


def _two_trials() -> list[tuple[int, timeline.Timeline]]:
    a = timeline.of_run(*_run([0, 50 * MS, 150 * MS], [1000, 2000, 3_000_000]), start_unix_ms=1_764_000_000_123)
    b = timeline.of_run(*_run([10 * MS, 120 * MS, 260 * MS], [1500, 2500, 4000]), start_unix_ms=1_764_000_001_000)
    return [(0, a), (1, b)]


def test_the_log_reads_back_through_hdrhs_reader_and_ours(tmp_path: Path) -> None:
    kept = _two_trials()
    path = timeline.write_log(tmp_path / "x.hlog", kept, "a test")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#[Histogram log format version 1.2]\n#[StartTime: 1764000000.123 (seconds since epoch), ")
    assert "an event in the interval of its intended arrival, not of its completion" in text
    reader = HistogramLogReader(str(path), HdrHistogram(1, timeline.HIGHEST_NS, 3))
    seen = []
    while (h := reader.get_next_interval_histogram()) is not None:
        seen.append((h.get_tag(), round(h.get_start_time_stamp() - 1_764_000_000_123), h.get_total_count(),
                     h.get_max_value()))  # fmt: skip
    reader.close()
    assert [s[:3] for s in seen] == [("trial-1", 0, 2), ("trial-1", 100, 1), ("trial-2", 0, 1), ("trial-2", 100, 1),
                                     ("trial-2", 200, 1)]  # fmt: skip  # each trial's time from its own start
    assert seen[1][3] == 3_000_319  # 3 ms at 3 digits: its bucket's highest value
    back = timeline.read_log(path)
    assert back == {
        "trial-1": kept[0][1],
        "trial-2": timeline.Timeline(INTERVAL, 1_764_000_000_123, kept[1][1].intervals),
    }


@pytest.mark.skipif(shutil.which("java") is None, reason="no Java here")
def test_javas_histogram_log_processor_reads_the_log(tmp_path: Path) -> None:
    jar = next(Path.home().glob(".m2/repository/org/hdrhistogram/HdrHistogram/*/HdrHistogram-*.jar"), None)
    if jar is None:
        pytest.skip("no HdrHistogram jar in ~/.m2 (mvn dependency:get -Dartifact=org.hdrhistogram:HdrHistogram:2.2.2)")
    path = timeline.write_log(tmp_path / "x.hlog", _two_trials(), "a test")
    out = tmp_path / "java"
    done = subprocess.run(["java", "-cp", str(jar), "org.HdrHistogram.HistogramLogProcessor", "-i", str(path),
                           "-tag", "trial-1", "-outputValueUnitRatio", "1000", "-o", str(out)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in out.read_text().splitlines() if line[:1].isdigit()]
    # Time I:count ( p50 p90 max ) T:count ( ... ) per interval of trial 1, values in µs
    rows = [(round(float(row[0].rstrip(":")), 2), row[1], row[3], row[5]) for row in lines]  # its end, in s
    assert rows == [(0.1, "I:2", "1.000", "2.000"), (0.2, "I:1", "3000.319", "3000.319")]


@pytest.mark.parametrize(
    ("text", "where", "rule"),
    [
        (None, "timeline log", "does not exist"),
        ("#[Histogram log format version 1.2]\n", "timeline log", "holds no interval histograms"),
        ("Tag=trial-1,0.000,0.100,1.0\n", "line 1", "not an interval line"),
        ("#c\nTag=trial-1,0.000,0.100,1.0,HISTFAAAAnotahistogram\n", "line 2", "histogram does not decode"),
        ("Tag=trial-1,0.000,0.100,1.0,{good}\nTag=trial-1,0.100,0.050,1.0,{good}\n", "line 2", "interval differs"),
    ],
)
def test_a_missing_or_garbled_log_is_one_line(tmp_path: Path, text: str | None, where: str, rule: str) -> None:
    path = tmp_path / "x.hlog"
    if text is not None:
        path.write_text(text.replace("{good}", timeline.encode(np.array([5]))), encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        timeline.read_log(path)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"{path}: {where}: ") and rule in message, message


# ---------------------------------------------------------------- documents, the report, compare, run


def test_compare_writes_a_log_per_contender_and_the_report_plots_them(tmp_path: Path) -> None:
    request = app.CompareRequest(StreamSource(workload="paced", n_events=600), tuple(map(implementations.get,
                                 ("sequential", "native"))), results_dir=tmp_path, trials=2, seed=3, alloc_events=0,
                                 with_report=True)  # fmt: skip
    compared = app.compare(request, app.Console(lambda _: None, lambda _: None))
    for doc in compared.documents:  # the floors' too
        assert doc.timeline is not None and doc.timeline.log == results.file_name(doc).replace(".json", ".hlog")
        assert doc.source == str(compared.directory / results.file_name(doc))
        logged = timeline.read_log(compared.directory / doc.timeline.log)
        assert sorted(logged) == ["trial-1", "trial-2"]
        assert all(sum(i.count for i in t.intervals) == 600 for t in logged.values())
    sequential = next(d for d in compared.documents if d.implementation == "sequential")
    assert results.load(compared.directory / "sequential-w1-open.json").timeline == sequential.timeline
    names = {p.name for p in compared.report_files}
    assert "paced-open-600-latency-over-time.png" in names and "paced-open-600-latency-over-time.svg" in names
    assert set(report.timelines(compared.documents, [])) == {"sequential (w1)", "native (w1)"}  # floors left out


def test_the_report_names_a_missing_log_and_plots_the_rest(tmp_path: Path) -> None:
    contenders = tuple(map(implementations.get, ("sequential", "native")))
    request = app.CompareRequest(StreamSource(workload="paced", n_events=300), contenders, results_dir=tmp_path,
                                 trials=1, seed=3, alloc_events=0)  # fmt: skip
    directory = app.compare(request, app.Console(lambda _: None, lambda _: None)).directory
    (directory / "native-w1-open.hlog").unlink()
    err: list[str] = []
    done = app.write_report(
        app.ReportRequest((directory,), tmp_path / "report"), app.Console(lambda _: None, err.append)
    )
    assert [str(e) for e in done.errors] == [f"{directory / 'native-w1-open.hlog'}: timeline log: does not exist"]
    assert err == [f"eventbench: {done.errors[0]}"]
    assert (tmp_path / "report" / "paced-open-300-latency-over-time.png").exists()  # sequential's, still


def test_run_writes_its_log_beside_its_document_and_closed_loop_none(tmp_path: Path) -> None:
    sequential = implementations.get("sequential")
    source = StreamSource(workload="paced", n_events=300)
    measured = app.run_one(app.RunRequest(source, sequential, 1, json=tmp_path / "run.json", alloc_events=0))
    assert measured.document.timeline is not None and measured.document.timeline.log == "run.hlog"
    assert list(timeline.read_log(tmp_path / "run.hlog")) == ["trial-1"]
    closed = app.run_one(app.RunRequest(source, sequential, 1, "closed", tmp_path / "closed.json", alloc_events=0))
    assert closed.document.timeline is None and not (tmp_path / "closed.hlog").exists()


def test_the_interval_is_an_option_and_a_bad_one_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "--impl", "sequential", "--workload", "paced", "--n-events", "600", "--alloc-events", "0"]
    assert main([*args, "--timeline-ms", "20", "--json", str(tmp_path / "run.json")]) == 0
    doc = results.load(tmp_path / "run.json")
    assert doc.timeline is not None and doc.timeline.interval_ns == 20 * MS
    (trial,) = timeline.read_log(tmp_path / "run.hlog").values()
    assert trial.interval_ns == 20 * MS and [i.index for i in trial.intervals] == list(range(3))  # 600 at 10k/s
    capsys.readouterr()
    for bad in ("0.5", "abc", "100000"):
        assert main([*args, "--timeline-ms", bad]) == 2
        assert "--timeline-ms: must be" in capsys.readouterr().err
