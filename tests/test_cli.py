"""The `eventbench` command end to end (SPEC §6): outputs, exit codes, files, bad input."""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_orderbook import EIGHT

import implementations
import scenarios
from harness import results, trials, workload
from harness.cli import main
from harness.document import SCHEMA_VERSION, ScenarioId
from harness.stats import PERCENTILE_NAMES
from harness.workload import builtin_names
from protocol.errors import InvalidInput

from fakes import Fake
from orderbook_reference import encode_v2
from reference import spec_digest_of_file_bytes
from strategies import event_rows

SPEC_RESULT_FIELDS = {
    "schema_version", "implementation", "workers", "mode", "events", "n_keys", "digest", "wall_s",
    "throughput_eps", "latency_ns", "allocations_per_event", "cpu_s_per_event", "ctx_switches_per_event",
    "checks", "metadata",
}  # fmt: skip


def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def test_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    names = {i["name"] for i in listing["implementations"]}
    assert {"sequential", "threaded"} <= names
    for entry in listing["implementations"]:
        assert {"name", "language", "model", "available", "reason", "scenarios"} <= set(entry)
    assert list(listing) == ["implementations", "workloads", "scenarios"]  # SPEC §6's two keys stay
    assert sorted(w["name"] for w in listing["workloads"]) == sorted(builtin_names())
    assert {w["scenario"] for w in listing["workloads"]} >= {"synthetic", "orderbook"}
    assert next(i for i in listing["implementations"] if i["name"] == "threaded")["scenarios"] is None  # any
    found = {s["name"]: s for s in listing["scenarios"]}
    assert {"synthetic", "orderbook"} <= set(found)
    every = [w["name"] for s in found.values() if s["available"] for w in s["workloads"]]
    assert sorted(every) == sorted(builtin_names())  # each built-in workload under its one scenario
    assert {w["name"] for w in found["orderbook"]["workloads"]} == set(builtin_names(scenarios.get("orderbook")))
    assert {"sequential", "threaded", "asyncio", "processes"} <= set(found["orderbook"]["contenders"])
    assert "native" in found["orderbook"]["contenders"]  # the engine hosts every scenario with a native library
    assert "c-sequential" not in found["orderbook"]["contenders"]  # its own handlers are synthetic's


def test_list_shows_a_broken_workload_with_its_reason_and_the_rest(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plugin's bad workload TOML is one entry's reason, not the listing's end."""
    real = workload.builtin

    def broken_book_smoke(name: str) -> workload.WorkloadSpec:
        if name == "book-smoke":
            raise InvalidInput("workload 'book-smoke'", "orderbook.depth", "must be at least 1, got 0")
        return real(name)

    monkeypatch.setattr(workload, "builtin", broken_book_smoke)
    assert main(["list"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "book-smoke [unusable: workload 'book-smoke': orderbook.depth: must be at least 1, got 0]" in out
    assert "book-contention" in out and "mixed" in out


@pytest.mark.parametrize(
    ("scenario", "rule"),
    [
        (None, r"must hold its name \(a string\) and version \(a whole number\)"),
        ({"name": "synthetic", "version": True}, "must hold its name"),
        ({"name": 3, "version": 1}, "must hold its name"),
    ],
)
def test_a_version_6_document_must_say_its_scenario(tmp_path: Path, scenario: object, rule: str) -> None:
    out = tmp_path / "run.json"
    assert main(["run", "--impl", "sequential", "--workload", "smoke", "--n-events", "50", "--json", str(out),
                 "--alloc-events", "0"]) == 0  # fmt: skip
    doc = json.loads(out.read_text())
    doc.pop("scenario") if scenario is None else doc.update(scenario=scenario)
    out.write_text(json.dumps(doc))
    with pytest.raises(InvalidInput, match=rule):
        results.load(out)
    doc |= {"schema_version": 5}
    doc.pop("scenario", None)
    out.write_text(json.dumps(doc))
    assert results.load(out).scenario == ScenarioId("synthetic", 1)  # before 6: synthetic, version 1


def test_list_of_one_scenario_fits_100_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--scenario", "orderbook"]) == 0
    out = capsys.readouterr().out
    assert "scenario orderbook (version 1)" in out and "book-contention" in out and "synthetic" not in out
    assert "c-sequential" not in out  # contenders that do not host it are left out
    assert max(map(len, out.splitlines())) < 100


def test_export_then_replay_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "smoke.evts"
    assert main(["export", "--workload", "smoke", "-o", str(path)]) == 0
    expected = spec_digest_of_file_bytes(path.read_bytes())
    out_json = tmp_path / "run.json"
    assert main(["run", "--impl", "threaded", "--events", str(path), "--workers", "3", "--json", str(out_json)]) == 0
    assert set(json.loads(out_json.read_text())) >= SPEC_RESULT_FIELDS
    doc = results.load(out_json)
    assert doc.digest == expected and doc.digest_ok is True and doc.workers == 3
    assert doc.checks == {"all_done": True, "not_before_arrival": True, "per_key_order": True, "all_started": True,
                          "start_not_before_arrival": True, "start_not_after_done": True}  # fmt: skip
    assert doc.starts_recorded is True and doc.service_ns is not None and doc.waiting_ns is None  # closed loop
    assert doc.mode == "closed" and doc.latency_ns is None
    assert doc.allocations_per_event and doc.allocations_per_event > 0
    assert doc.allocations and doc.allocations.events == doc.events
    assert json.loads(out_json.read_text())["schema_version"] == SCHEMA_VERSION
    out = capsys.readouterr().out
    assert "matches the reference" in out and "allocs/event" in out


def test_allocation_counting_can_be_skipped(tmp_path: Path) -> None:
    out_json = tmp_path / "run.json"
    args = ["run", "--impl", "sequential", "--workload", "smoke", "--alloc-events", "0", "--json", str(out_json)]
    assert main(args) == 0
    doc = results.load(out_json)
    assert doc.allocations_per_event is None and doc.allocations is None
    assert main(["run", "--impl", "sequential", "--workload", "smoke", "--alloc-events", "-1"]) == 2


def test_version_1_documents_still_load(tmp_path: Path) -> None:
    out_json = tmp_path / "run.json"
    assert main(["run", "--impl", "sequential", "--workload", "smoke", "--json", str(out_json)]) == 0
    doc = json.loads(out_json.read_text())
    doc["schema_version"] = 1
    del doc["allocations"]
    doc["allocations_per_event"] = None
    out_json.write_text(json.dumps(doc))
    assert results.load(out_json).allocations is None
    assert main(["report", str(out_json), "--out", str(tmp_path / "r"), "--no-plots"]) == 0


def test_run_records_one_worker_for_single_threaded(tmp_path: Path) -> None:
    out_json = tmp_path / "seq.json"
    assert main(["run", "--impl", "sequential", "--workload", "paced", "--n-events", "300",
                 "--workers", "4", "--json", str(out_json)]) == 0  # fmt: skip
    doc = results.load(out_json)
    assert doc.workers == 1 and doc.mode == "open"
    assert doc.latency_ns is not None and set(json.loads(out_json.read_text())["latency_ns"]) == set(PERCENTILE_NAMES)


@pytest.mark.parametrize("name", builtin_names())
def test_verify_every_builtin_workload(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Each built-in's shape, cut to 3,000 events (open-loop ones would take seconds in full)."""
    assert main(["verify", "--workload", name, "--n-events", "3000", "--workers", "1,2,4"]) == 0
    out = capsys.readouterr().out
    scenario = workload.builtin(name).scenario.name
    runs = sum(3 if c.info.parallel else 1 for c in implementations.available() if c.info.hosts(scenario))
    assert out.count(" ok") == runs and "WRONG" not in out


def test_verify_without_input_takes_every_workload_of_the_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--scenario", "orderbook", "--n-events", "500", "--workers", "1,2"]) == 0
    out = capsys.readouterr().out
    for name in builtin_names(scenarios.get("orderbook")):
        assert f"{name} (orderbook v1): reference (sequential)" in out
    assert "WRONG" not in out and "native-sequential" in out and "c-sequential" not in out


def test_an_orderbook_file_written_elsewhere_verifies_and_names_its_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A version-2 file from the tests' own encoder (the contract's eight-event vector): every
    contender that hosts the order book agrees with the contract's digest; asking for another
    scenario, or for a contender that does not host it, is one line and exit 2."""
    path = tmp_path / "eight.evts"
    path.write_bytes(encode_v2(2, EIGHT))
    assert main(["verify", "--events", str(path), "--scenario", "orderbook", "--workers", "1,3"]) == 0
    out = capsys.readouterr().out
    assert "eight (orderbook v1): reference (sequential) digest 5a57408dd2666bdc" in out and "WRONG" not in out
    assert main(["verify", "--events", str(path), "--scenario", "synthetic"]) == 2
    _one_line_error(capsys, str(path), "scenario", "holds orderbook events, not synthetic")
    assert main(["run", "--impl", "c-sequential", "--events", str(path)]) == 2
    _one_line_error(capsys, "c-sequential", "hosts synthetic only, not scenario orderbook")
    assert main(["compare", "--workload", "book-smoke", "--scenario", "synthetic"]) == 2
    _one_line_error(capsys, "book-smoke", "is a workload of scenario orderbook, not synthetic")
    assert main(["list", "--scenario", "nope"]) == 2
    _one_line_error(capsys, "--scenario", "no scenario 'nope' (known: synthetic, orderbook")


def test_report_refuses_documents_of_two_scenarios(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("smoke", "book-smoke"):
        out = tmp_path / f"{name}.json"
        assert main(["run", "--impl", "sequential", "--workload", name, "--n-events", "200", "--json", str(out),
                     "--alloc-events", "0"]) == 0  # fmt: skip
        assert results.load(out).scenario == ScenarioId(workload.builtin(name).scenario.name, 1)
    capsys.readouterr()
    assert main(["report", str(tmp_path), "--no-plots"]) == 2
    _one_line_error(capsys, "scenario", "runs of different scenarios do not compare")
    assert not (tmp_path / "report").exists()
    assert main(["report", str(tmp_path / "smoke.json"), "--scenario", "orderbook", "--no-plots"]) == 2
    _one_line_error(capsys, "smoke.json", "is synthetic, not --scenario orderbook")


def test_verify_names_a_wrong_contender(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(implementations._FACTORIES, "fake-digest", lambda: Fake("digest"))
    assert main(["verify", "--impl", "sequential,fake-digest", "--workload", "smoke"]) == 1
    out = capsys.readouterr().out
    assert "fake-digest" in out and "WRONG: digest" in out


def test_compare_writes_verified_documents(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every contender in every round, in the recorded shuffled order; every trial kept and checked."""
    args = ["compare", "--workload", "smoke", "--workers", "2", "--trials", "3", "--seed", "11"]
    assert main([*args, "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "sequential" in out and "threaded" in out and "against sequential (ratio [interval]; 3 trials each" in out
    (run_dir,) = (tmp_path / "runs").iterdir()
    docs = [results.load(p) for p in sorted(run_dir.glob("*.json"))]
    names = [c.info.name for c in implementations.available()]
    assert sorted(d.implementation for d in docs) == sorted(names)
    assert all(d.valid and d.digest_ok for d in docs)
    assert not list(run_dir.glob(".*"))  # no temporary files left
    orders = trials.round_orders(len(names), 3, 11)
    for doc in docs:
        assert doc.comparison is not None and doc.trials is not None
        assert doc.comparison.seed == 11
        assert doc.comparison.orders == tuple(tuple(names[i] for i in o) for o in orders)
        assert [t.round for t in doc.trials] == [0, 1, 2]
        assert [t.position for t in doc.trials] == [o.index(names.index(doc.implementation)) for o in orders]
        assert all(t.valid and t.digest == doc.reference_digest for t in doc.trials)
        assert doc.throughput_eps == sorted(t.throughput_eps or 0 for t in doc.trials)[1]  # the median
        assert doc.intervals["throughput_eps"].n == 3


def test_compare_reports_a_wrong_contender_without_figures(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(implementations._FACTORIES, "fake-digest", lambda: Fake("digest"))
    assert main(["compare", "--impl", "sequential,fake-digest", "--workload", "smoke",
                 "--results-dir", str(tmp_path)]) == 1  # fmt: skip
    assert "WRONG" in capsys.readouterr().out
    wrong = results.load(next((tmp_path / "runs").glob("*/fake-digest-*.json")))
    assert wrong.valid is False and wrong.throughput_eps is None and wrong.latency_ns is None


def _corrupt_file(tmp_path: Path) -> Path:
    path = tmp_path / "bad.evts"
    assert main(["export", "--workload", "smoke", "--n-events", "20", "-o", str(path)]) == 0
    data = bytearray(path.read_bytes())
    data[32 + 32 * 7 + 28] = 9  # record 7: kind 9
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    "command",
    [["run", "--impl", "sequential"], ["verify"], ["compare", "--results-dir", "{tmp}"]],
    ids=["run", "verify", "compare"],
)
def test_bad_events_file_exits_2_naming_file_and_record(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _corrupt_file(tmp_path)
    capsys.readouterr()
    argv = [part.format(tmp=tmp_path) for part in command] + ["--events", str(path)]
    assert main(argv) == 2
    _one_line_error(capsys, str(path), "record 7", "kind 9")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["run", "--impl", "nope", "--workload", "smoke"], ["nope", "no such implementation"]),
        (["run", "--impl", "sequential", "--workload", "nope"], ["nope", "no built-in workload"]),
        (["run", "--impl", "sequential", "--workload", "smoke", "--workers", "0"], ["--workers", "1..1024"]),
        (["verify", "--workload", "smoke", "--workers", "1,x"], ["--workers", "positive integer"]),
        (["run", "--impl", "sequential", "--workload", "smoke", "--n-events", "-3"], ["events", "0..200000000"]),
        (["run", "--impl", "sequential"], ["one of the arguments --workload --events is required"]),
        (["export", "--workload", "smoke"], ["-o/--output"]),
        (["frobnicate"], ["invalid choice"]),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str], needles: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    _one_line_error(capsys, *needles)


def test_bad_workload_file_leaves_no_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "w.toml"
    spec.write_text("events = 10\n[kinds]\nupdate = 'lots'\n")
    out = tmp_path / "out.evts"
    out.write_bytes(b"previous contents")
    assert main(["export", "--workload", str(spec), "-o", str(out)]) == 2
    _one_line_error(capsys, str(spec), "kinds.update", "must be int or float, got str")
    assert out.read_bytes() == b"previous contents"
    assert main(["run", "--impl", "sequential", "--workload", str(spec), "--json", str(tmp_path / "r.json")]) == 2
    assert not (tmp_path / "r.json").exists()


def test_result_loader_refuses_broken_and_newer_documents(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"schema_version": 1, ')
    with pytest.raises(InvalidInput, match="not a readable result document"):
        results.load(broken)
    newer = tmp_path / "newer.json"
    newer.write_text('{"schema_version": 99}')
    with pytest.raises(InvalidInput, match="99 is not one this eventbench reads"):
        results.load(newer)


def test_installed_command_never_prints_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "short.evts"
    path.write_bytes(b"EVTSTRM1")
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "verify", "--events", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert "shorter than the 32-byte header" in done.stderr


def test_a_reader_that_leaves_early_gets_no_traceback() -> None:
    """`eventbench list | head -1`: the pipe closes before the listing is written."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first write
    done = subprocess.run([sys.executable, "-m", "harness.cli", "list"], stdout=write, stderr=subprocess.PIPE,
                          text=True, check=False, timeout=120)  # fmt: skip
    os.close(write)
    assert done.returncode == 141 and done.stderr == "", done.stderr


# 25 files: each is verified by every contender in both modes (2.5 s here); what more examples would
# find in the contenders, the differential test's 100 per contender and worker count find.
@settings(max_examples=25)
@given(rows=st.integers(1, 300).flatmap(lambda n_keys: st.tuples(st.just(n_keys), event_rows(n_keys, 40, 50_000))))
def test_verify_any_valid_file_written_elsewhere(rows: tuple[int, list[tuple[int, ...]]]) -> None:
    """A .evts file made with struct alone (no eventbench code) verifies, in both modes."""
    n_keys, records = rows
    data = struct.pack("<8sIIQQ", b"EVTSTRM1", 1, n_keys, len(records), 0)
    data += b"".join(struct.pack("<QQQIBBH", *r) for r in records)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "foreign.evts"
        path.write_bytes(data)
        for mode in ("closed", "open"):
            with contextlib.redirect_stdout(io.StringIO()) as out:
                assert main(["verify", "--events", str(path), "--workers", "1,3", "--mode", mode]) == 0
            assert f"digest {spec_digest_of_file_bytes(data)}" in out.getvalue()


def _exported(tmp_path: Path) -> Path:
    path = tmp_path / "s.evts"
    assert main(["export", "--workload", "smoke", "--n-events", "10", "-o", str(path)]) == 0
    return path


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["run", "--impl", "sequential,threaded", "--workload", "smoke"], ["run takes exactly one"]),
        (["run", "--impl", "", "--workload", "smoke"], ["run takes exactly one"]),
        (["export", "--workload", "smoke", "-o", "{tmp}"], ["output", "is a directory"]),
        (["export", "--workload", "smoke", "-o", "{file}/x.evts"], ["output", "not a directory"]),
        (["run", "--impl", "sequential", "--workload", "smoke", "--json", "{tmp}"], ["output", "is a directory"]),
        (["compare", "--workload", "smoke", "--results-dir", "{file}"], ["results directory"]),
        (["verify", "--workload", "smoke", "--workers", "0"], ["--workers", "1..1024"]),
        (["compare", "--workload", "smoke", "--baseline", "nope", "--results-dir", "{tmp}"], ["--baseline", "nope"]),
    ],
)
def test_bad_outputs_and_options_fail_before_any_run(
    argv: list[str], needles: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = _exported(tmp_path)
    capsys.readouterr()
    assert main([a.format(tmp=tmp_path, file=file) for a in argv]) == 2
    _one_line_error(capsys, *needles)
    assert capsys.readouterr().out == ""  # refused before anything ran
    assert not (tmp_path / "runs").exists()


def test_arrivals_beyond_2_63_run_closed_but_not_open(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "far.evts"
    record = struct.pack("<QQQIBBH", 0, 2**64 - 1, 7, 0, 0, 0, 0)
    path.write_bytes(struct.pack("<8sIIQQ", b"EVTSTRM1", 1, 1, 1, 0) + record)
    for command in (["run", "--impl", "sequential"], ["verify"]):
        assert main([*command, "--events", str(path), "--mode", "open"]) == 2
        _one_line_error(capsys, "record 0", "too far to wait for in open loop")
    assert main(["verify", "--events", str(path), "--mode", "closed"]) == 0


def test_written_files_get_ordinary_permissions(tmp_path: Path) -> None:
    import os

    path = _exported(tmp_path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_an_open_loop_compare_measures_the_machine_floor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The floors run in the same rounds; every contender's document holds its floor's trials and the probe."""
    args = ["compare", "--workload", "mixed", "--n-events", "200", "--impl", "sequential,native-sequential",
            "--trials", "2", "--alloc-events", "0", "--results-dir", str(tmp_path)]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "floor-python" in out and "floor-native" in out and "machine: a thread that only reads the clock" in out
    (run_dir,) = (tmp_path / "runs").iterdir()
    docs = {d.implementation: d for d in (results.load(p) for p in run_dir.glob("*.json"))}
    assert docs["floor-python"].model == docs["floor-native"].model == "floor"
    assert docs["floor-python"].digest_ok is None and docs["floor-python"].valid
    for name, floor in (("sequential", "floor-python"), ("native-sequential", "floor-native")):
        held = docs[name].floor
        assert held is not None and held.name == floor and held.trials == docs[floor].trials
        assert held.jitter is not None and held.jitter.reads > 0 and len(held.jitter.probes) == 2
        assert 0 < held.jitter.gaps_ns.p50 <= held.jitter.gaps_ns.max
    assert all(d.comparison and len(d.comparison.orders[0]) == 4 for d in docs.values())
