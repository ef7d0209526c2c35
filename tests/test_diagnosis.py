"""The diagnosis pass (harness/diagnosis.py): its rules on recorded stacks, on a live workload
whose answer is known, where py-spy is missing, and through ``compare --diagnose``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

import implementations
from harness import diagnosis, flamegraph
from harness.cli import main
from harness.document import ResultDocument
from harness.inputs import StreamSource, load_stream
from protocol.errors import InvalidInput

HERE = Path(__file__).parent
RULES, _ = diagnosis.rules_for((3, 13))
LIBC = "0x7f6d942a3f16 (libc.so.6)"
BOOT = ["0x7f6d943278ec (libc.so.6)", "thread_run (libpython3.13.so.1.0)", "Thread._bootstrap (threading.py:1012)",
        "Thread.run (threading.py:992)"]  # fmt: skip

# Stacks as py-spy 0.4.3 recorded them on CPython 3.13 (root first), with the bucket each is.
RECORDED = [
    (["ThreadedRun._work (implementations/threaded.py:74)", "bind.<locals>.handle (semantics.py:64)",
      "mix (protocol/splitmix.py:25)"], "handling"),
    (["ThreadedRun._work (implementations/threaded.py:74)", "handle (semantics.py:62)",
      "pthread_cond_timedwait (libc.so.6)", LIBC], "gil"),
    (["pacer (work.py:16)", "time_sleep (libpython3.13.so.1.0)", "clock_nanosleep (libc.so.6)"], "sleeping"),
    (["pacer (work.py:16)", "time_sleep (libpython3.13.so.1.0)", "pthread_cond_timedwait (libc.so.6)", LIBC], "gil"),
    (["handler (work.py:8)", "lock_PyThread_acquire_lock (libpython3.13.so.1.0)",
      "PyThread_acquire_lock_timed_with_retries (libpython3.13.so.1.0)",
      "PyThread_acquire_lock_timed (libpython3.13.so.1.0)", LIBC, LIBC], "lock"),
    (["consumer (work.py:12)", "Queue.get (queue.py:199)", "Condition.wait (threading.py:359)",
      "lock_PyThread_acquire_lock (libpython3.13.so.1.0)", "PyThread_acquire_lock_timed (libpython3.13.so.1.0)",
      LIBC], "queue"),
    (["ThreadedRun._work (implementations/threaded.py:65)", "_queue_SimpleQueue_get (_queuemodule.c.h:253)",
      "_queue_SimpleQueue_get_impl (_queuemodule.c:418)", LIBC, LIBC], "queue"),
    (["ThreadedRun.close (implementations/threaded.py:133)", "Thread.join (threading.py:1092)", LIBC, LIBC], "other"),
    (["main (resource_tracker.py:242)", "read (libc.so.6)"], "sleeping"),
    (["_worker_main (processes.py:190)", "wait (multiprocessing/connection.py:1148)",
      "_PollLikeSelector.select (selectors.py:415)", "poll (libc.so.6)"], "sleeping"),
    (["hasher (work.py:20)", "_hashlib_openssl_sha256 (_hashopenssl.c.h:595)", "py_evp_fromname (_hashopenssl.c:952)",
      "pthread_cond_timedwait (libc.so.6)", LIBC], "gil"),
    (["run (native_cffi.py:300)", "evb_run (_evb_synthetic.so)", "std::thread::JoinInner::join (_evb_synthetic.so)",
      "pthread_cond_wait (libc.so.6)", LIBC], "queue"),
    (["handle (semantics.py:62)", "__tls_get_addr (ld-linux-x86-64.so.2)"], "handling"),
    # CPython 3.10's code objects have no qualified name: py-spy says "get", not "Queue.get".
    (["consumer (diagnosis_workload.py:31)", "get (queue.py:180)", "wait (threading.py:324)",
      "lock_PyThread_acquire_lock (libpython3.10.so.1.0)", "PyThread_acquire_lock_timed (libpython3.10.so.1.0)",
      LIBC, LIBC], "queue"),
    (["handler (work.py:8)", "get (mymodule.py:3)", "lock_PyThread_acquire_lock (libpython3.10.so.1.0)",
      "PyThread_acquire_lock_timed (libpython3.10.so.1.0)", LIBC], "lock"),  # a get of its own is no queue
]  # fmt: skip


@pytest.mark.parametrize(("frames", "bucket"), RECORDED)
def test_recorded_stacks_land_in_their_bucket(frames: list[str], bucket: str) -> None:
    assert diagnosis.classify(BOOT + frames, RULES) == bucket


def test_raw_lines_parse_with_semicolons_in_a_command_line() -> None:
    line = ('process 10:"python x.py";process 12:"python -c from multiprocessing.forkserver import main; main(1)";'
            'process 15:"python -c a; b";thread (15): MainThread;f (a.py:1);g (b.py:2) 7')  # fmt: skip
    (sample,) = diagnosis.parse_raw(line + "\n\nnot a sample line\n")
    assert (sample.process, sample.tid, sample.thread, sample.frames, sample.count) == (
        15, 15, "MainThread", ["f (a.py:1)", "g (b.py:2)"], 7)  # fmt: skip


def test_attribution_picks_the_handlers() -> None:
    text = "\n".join([
        'process 1:"py";thread (1): MainThread;run (runner.py:1);Thread.join (threading.py:1);' + LIBC + " 5",
        'process 1:"py";thread (2): eventbench-worker-0;w (t.py:1);pthread_cond_wait (libc.so.6) 3',
        'process 1:"py";thread (2): eventbench-worker-0;w (t.py:1) 1',
        'process 1:"py";process 3:"fs";thread (3): MainThread;main (forkserver.py:1);read (libc.so.6) 9',
    ])  # fmt: skip
    threads, folded = diagnosis.attribute(diagnosis.parse_raw(text), RULES, dispatcher_tid=1, own_pid=1,
                                          native_pool=False)  # fmt: skip
    assert [(t.label, t.role, t.samples, t.buckets) for t in threads] == [
        ("eventbench-worker-0", "handler", 4, {"gil": 3, "handling": 1}),
        ("main (dispatches)", "dispatcher", 5, {"other": 5}),
    ]
    assert folded[1].startswith("eventbench-worker-0;[gil];w (t.py:1)")
    svg = flamegraph.render(folded, "t")
    root = ElementTree.fromstring(svg)  # well-formed XML, as browsers and GitHub need
    tips = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert "[gil] (3 samples, 33.33 %)" in tips and "all (9 samples, 100.00 %)" in tips


def test_an_unchecked_python_says_so() -> None:
    rules, note = diagnosis.rules_for((3, 99))
    assert rules is RULES and note is not None and "3.99" in note


def _attach_or_skip() -> str:
    try:
        return diagnosis.py_spy()
    except diagnosis.SamplerUnavailable as e:
        pytest.skip(str(e))


def test_a_known_workload_is_attributed_as_it_behaves(tmp_path: Path) -> None:
    """Each thread of tests/diagnosis_workload.py does one thing; a rule that stops matching on a
    new CPython (or py-spy) moves its samples to another bucket, and this fails."""
    py_spy = _attach_or_skip()
    child = subprocess.Popen([sys.executable, str(HERE / "diagnosis_workload.py"), "4"], stdout=subprocess.PIPE,
                             text=True)  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        raw = tmp_path / "raw.txt"
        done = subprocess.run([py_spy, "record", "--pid", str(child.pid), "--native", "--idle", "--threads",
                               "--format", "raw", "--rate", "100", "--duration", "2", "--output", str(raw)],
                              capture_output=True, text=True, check=False)  # fmt: skip
    finally:
        child.wait(timeout=30)
    if done.returncode != 0 or not raw.is_file():
        pytest.skip(f"py-spy cannot attach here: {done.stderr.strip()[-200:]}")
    rules, unchecked = diagnosis.rules_for()
    shares: dict[str, dict[str, float]] = {}
    for s in diagnosis.parse_raw(raw.read_text()):
        mine = shares.setdefault(s.thread, dict.fromkeys(diagnosis.BUCKETS, 0.0))
        mine[diagnosis.classify(s.frames, rules)] += s.count
    for counts in shares.values():
        total = sum(counts.values())
        for b in counts:
            counts[b] /= total
    why = f"shares {shares}" + (f"; {unchecked}" if unchecked else "")
    # The GIL goes from one spinner to the other. Some of their samples stop in libc code py-spy
    # cannot name, straight under the Python frame ('other': 1-10 % seen, the most under load).
    for spinner in ("spinner-1", "spinner-2"):
        s = shares[spinner]
        assert s["handling"] >= 0.15 and s["gil"] >= 0.15 and s["handling"] + s["gil"] >= 0.8, why
        assert s["lock"] + s["queue"] + s["sleeping"] <= 0.05, why  # the rest is 'other', not a wrong wait
    lockers = [shares["locker-1"], shares["locker-2"]]  # one sleeps holding the lock, the other waits on it
    assert all(s["lock"] + s["sleeping"] + s["gil"] >= 0.9 for s in lockers), why
    # (each wake-up waits for the GIL the spinners hold, so sleeping gives some of its share to gil)
    # The lower bounds are far under what an idle machine gives (lock 1.0 and sleeping 0.5 summed, queue
    # 0.85, sleeping 0.55): on a loaded one each wake-up waits longer for the GIL. A rule that stops
    # matching takes its bucket to nought, which they catch; the sums catch samples going elsewhere.
    assert sum(s["lock"] for s in lockers) >= 0.3 and sum(s["sleeping"] for s in lockers) >= 0.15, why
    assert shares["consumer"]["queue"] >= 0.4 and shares["consumer"]["queue"] + shares["consumer"]["gil"] >= 0.9, why
    assert shares["pacer"]["sleeping"] >= 0.2 and shares["pacer"]["sleeping"] + shares["pacer"]["gil"] >= 0.9, why


def test_without_py_spy_the_table_says_why(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no py-spy on PATH
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))  # nor beside the interpreter
    loaded = load_stream(StreamSource(workload="contention", n_events=500))
    found = diagnosis.diagnose(implementations.get("sequential"), loaded.stream, 1, "closed")
    assert found.unavailable is not None and "py-spy is not installed" in found.unavailable
    assert "not measured: py-spy is not installed" in diagnosis.table(found)
    assert diagnosis.attribution(found).shares == {}


def test_compare_diagnose_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _attach_or_skip()
    code = main(["compare", "--workload", "contention", "--n-events", "3000", "--impl", "sequential,threaded",
                 "--workers", "2", "--trials", "1", "--alloc-events", "0", "--diagnose",
                 "--results-dir", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    (run,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run / "diagnosis" / "summary.json").read_text())
    by_name = {c["contender"]: c for c in summary["contenders"]}
    if any(c["unavailable"] for c in by_name.values()):
        pytest.skip(f"py-spy cannot attach here: {[c['unavailable'] for c in by_name.values()]}")
    assert "threaded: where the handling threads' time goes" in out
    threaded = by_name["threaded"]
    assert {t["thread"] for t in threaded["threads"]} >= {"eventbench-worker-0", "eventbench-worker-1"}
    assert (run / "diagnosis" / "threaded.svg").read_text().count("[gil]") >= 1
    docs = [json.loads(p.read_text()) for p in run.glob("*.json")]
    doc = next(d for d in docs if d.get("implementation") == "threaded")
    assert doc["schema_version"] == 7 and doc["diagnosis"]["samples"] > 0
    assert sum(doc["diagnosis"]["shares"].values()) == pytest.approx(1.0)
    assert os.path.getsize(run / "diagnosis" / "sequential.svg") > 0


def test_compare_diagnose_in_open_loop_keeps_the_timeline_and_reports_both(tmp_path: Path) -> None:
    """The diagnosis pass and the interval logs meet in one document, and report.md links the flame graph."""
    _attach_or_skip()
    code = main(["compare", "--workload", "mixed", "--n-events", "1500", "--impl", "sequential", "--trials", "1",
                 "--alloc-events", "0", "--diagnose", "--report", "--results-dir", str(tmp_path)])  # fmt: skip
    assert code == 0
    (run,) = (tmp_path / "runs").iterdir()
    doc = json.loads((run / "sequential-w1-open.json").read_text())
    assert doc["diagnosis"] is not None and doc["timeline"]["log"] == "sequential-w1-open.hlog"
    assert (run / "sequential-w1-open.hlog").is_file()
    report_md = (run / "report" / "report.md").read_text()
    assert "the diagnosis pass" in report_md and "(../diagnosis/sequential.svg)" in report_md


def test_a_failed_sampled_run_leaves_the_trials_and_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pass runs after every trial: its failure must not throw the comparison away."""

    def wrong(contender: object, *args: object, **kwargs: object) -> diagnosis.Diagnosis:
        raise implementations.ContenderError("threaded: handling event 7 failed: InjectedFault()")

    monkeypatch.setattr(diagnosis, "diagnose", wrong)
    code = main(["compare", "--workload", "contention", "--n-events", "500", "--impl", "sequential,threaded",
                 "--workers", "2", "--trials", "1", "--alloc-events", "0", "--diagnose",
                 "--results-dir", str(tmp_path)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "not measured: the sampled run failed: threaded: handling event 7 failed" in out
    (run,) = (tmp_path / "runs").iterdir()
    assert (run / "threaded-w2-closed.json").is_file()


# perf's stacks of the native engine's workers (leaf first), as perf script printed them here.
KERNEL = ["__schedule ([kernel.kallsyms])", "schedule ([kernel.kallsyms])", "futex_wait ([kernel.kallsyms])"]
NATIVE = [
    ([*KERNEL, "syscall (libc.so.6)", "std::thread::park (_evb.so)",
               "crossbeam_channel::context::Context::wait_until (_evb.so)",
               "crossbeam_channel::channel::Receiver<T>::recv (_evb.so)"], True, "S", "queue"),
    ([*KERNEL, "syscall (libc.so.6)", "std::sys::sync::mutex::futex::Mutex::lock_contended (_evb.so)",
               "evb_native::pool::worker (_evb.so)"], True, "S", "lock"),
    (["do_nanosleep ([kernel.kallsyms])", "__GI___clock_nanosleep (libc.so.6)", "std::thread::sleep (_evb.so)"],
     True, "S", "sleeping"),
    (["__sched_yield (libc.so.6)", "std::sys::backtrace::__rust_begin_short_backtrace (_evb.so)"], True, "R",
     "handling"),
    (["evb_native::pool::worker (_evb.so)"], False, "R", "handling"),
    ([*KERNEL, "syscall (libc.so.6)", "evb_native::pool::worker (_evb.so)"], True, "S", "other"),
]  # fmt: skip


@pytest.mark.parametrize(("frames", "off_cpu", "state", "bucket"), NATIVE)
def test_native_stacks_land_in_their_bucket(frames: list[str], off_cpu: bool, state: str, bucket: str) -> None:
    assert diagnosis.classify_native(frames, off_cpu, state) == bucket


def test_perf_weighs_switch_outs_by_their_time_off_the_cpu() -> None:
    wait = ["crossbeam_channel::channel::Receiver<T>::recv (_evb.so)"]
    work = ["evb_native::pool::worker (_evb.so)"]
    samples = [
        ("evb-worker-0", 7, 10.000, "cpu-clock/period=1000000/", "", work),
        ("evb-worker-0", 7, 10.001, "sched:sched_switch", " prev_state=S ==> next_comm=x", wait),
        ("evb-worker-0", 7, 10.004, "cpu-clock/period=1000000/", "", work),
        ("evb-worker-0", 7, 10.005, "sched:sched_switch", " prev_state=S ==> next_comm=x", wait),  # to the window's end
        ("python", 1, 10.002, "cpu-clock/period=1000000/", "", work),  # not a pool thread
    ]  # fmt: skip
    (thread,), folded = diagnosis.perf_attribute(samples, [(9.999, 10.007)])
    assert (thread.label, thread.buckets) == ("evb-worker-0", {"handling": 2000, "queue": 5000})
    assert "evb-worker-0;[queue];crossbeam_channel::channel::Receiver<T>::recv 5000" in folded


def test_without_perf_the_native_table_says_why(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _attach_or_skip()
    try:
        native = implementations.get("native")
    except implementations.Unavailable as e:
        pytest.skip(f"the native engine is not built here: {e}")
    py_spy = Path(diagnosis.py_spy())
    (tmp_path / "py-spy").symlink_to(py_spy)  # py-spy stays; perf is gone
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    loaded = load_stream(StreamSource(workload="contention", n_events=2000))
    found = diagnosis.diagnose(native, loaded.stream, 2, "closed")
    assert any("not measured, perf is not installed" in n for n in found.notes), found.notes
    assert not any(t.label.startswith("evb-worker") for t in found.threads)
    assert "perf is not installed" in " ".join(diagnosis.table(found).split())  # wrapped at 100 columns


def test_a_native_pool_py_spy_took_nothing_of_still_gets_perfs_pass(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """py-spy sees only the native pool's dispatcher, and a loaded machine can leave a short window
    without a sample of it: the workers are perf's, so its pass runs (and says why it could not)."""
    _attach_or_skip()
    try:
        native = implementations.get("native")
    except implementations.Unavailable as e:
        pytest.skip(f"the native engine is not built here: {e}")

    def no_sample(*_: object) -> list[diagnosis.Sample]:
        raise diagnosis.NoSamples("py-spy wrote no samples (as under load)")

    monkeypatch.setattr(diagnosis, "parse_speedscope", no_sample)
    monkeypatch.setattr(diagnosis, "MAX_RUNS", 2)
    which = shutil.which
    monkeypatch.setattr(diagnosis.shutil, "which", lambda name, **kw: None if name == "perf" else which(name, **kw))
    loaded = load_stream(StreamSource(workload="contention", n_events=2000))
    found = diagnosis.diagnose(native, loaded.stream, 2, "closed")
    if found.unavailable and "attach" in found.unavailable:
        pytest.skip(f"py-spy cannot attach here: {found.unavailable}")
    assert found.unavailable == "neither py-spy nor perf sampled a thread of the run", found
    assert any("py-spy took no sample in 2 runs" in n for n in found.notes), found.notes
    assert any("not measured, perf is not installed" in n for n in found.notes), found.notes


def test_samples_outside_the_window_are_dropped_for_every_thread() -> None:
    """The calling thread's ticks inside the sampler's own code (before the window opens, after it
    closes) are dropped, at the same ticks, from every thread."""
    frames = [{"name": n, "file": f, "line": line} for n, f, line in [
        ("sampled", "/h/diagnosis.py", 380), ("run_once", "/h/runner.py", 202), ("get", "/q.py", 1),
        ("handle", "/s.py", 5), ("0x7f00", "/lib/libc.so.6", 0), ('process 1:"py"', "", 0)]]  # fmt: skip
    doc = {"shared": {"frames": frames}, "profiles": [
        {"type": "sampled", "name": 'Process 1 Thread 1 "MainThread"', "samples": [[5, 0], [5, 1], [5, 1], [5, 0]]},
        {"type": "sampled", "name": 'Process 1 Thread 2 "eventbench-worker-0"', "samples": [[2, 4], [3], [3], [2, 4]]},
    ]}  # fmt: skip
    found = [(s.tid, s.thread, s.frames) for s in diagnosis.parse_speedscope(doc, caller_tid=1)]
    assert found == [(1, "MainThread", ["run_once (runner.py:202)"])] * 2 + [
        (2, "eventbench-worker-0", ["handle (s.py:5)"])] * 2  # fmt: skip


def test_a_stored_diagnosis_reads_back_and_a_broken_one_is_refused() -> None:
    stored = [p for p in (HERE.parent / "results" / "diagnosis-2026-12-03").rglob("threaded-w2-closed.json")]
    assert stored, "results/diagnosis-2026-12-03 keeps threaded's documents"
    obj = json.loads(stored[0].read_text())
    doc = ResultDocument.from_json(obj, str(stored[0]))
    assert doc.diagnosis is not None and sum(doc.diagnosis.shares.values()) == pytest.approx(1.0)
    assert doc.to_json()["diagnosis"] == obj["diagnosis"]
    obj["diagnosis"]["shares"]["gil"] = 1.5
    with pytest.raises(InvalidInput, match=r"diagnosis\.shares: must map buckets to shares between 0 and 1"):
        ResultDocument.from_json(obj, "x.json")
