"""`eventbench bench`: pyperf worker processes, values per event, files pyperf's own CLI reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import implementations
from harness import reference, rigorous, workload
from harness.app import pyperf_medians
from harness.cli import main
from harness.runner import WrongRun

from fakes import Fake


def test_bench_writes_pyperf_json_that_pyperf_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "bench.json"
    cache = tmp_path / "cache"
    monkeypatch.setenv(reference.ENV_DIR, str(cache))  # pyperf's processes inherit it
    args = ["bench", "--impl", "sequential,threaded", "--workload", "smoke", "--n-events", "300", "--workers", "2",
            "--preset", "fast", "--processes", "2", "-o", str(out), "--no-reference-cache"]  # fmt: skip
    assert main(args) == 0
    assert not cache.exists()  # the bypass reached the process that computes the reference
    printed = capsys.readouterr().out  # the spread, stated as compare states it: median [interval of the median]
    medians = pyperf_medians(out)
    assert sorted(medians) == ["smoke/sequential-w1", "smoke/threaded-w2"]
    for name, ci in medians.items():
        assert ci.low <= ci.point <= ci.high and ci.n >= 2
        assert f"  {name}  " in printed and "[95 % interval of the median]" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json"]  # no partial file left beside it
    suite = json.loads(out.read_text())
    names = [b["metadata"]["name"] for b in suite["benchmarks"]]
    assert names == ["smoke/sequential-w1", "smoke/threaded-w2"]
    for bench in suite["benchmarks"]:
        values = [v for run in bench["runs"] for v in run.get("values", [])]
        assert values and all(0 < v < 0.01 for v in values)  # seconds per event, not per run
        assert bench["metadata"].get("inner_loops") == 300 or suite["metadata"].get("inner_loops") == 300
    for command in (["show", str(out)], ["compare_to", str(out), str(out)], ["check", str(out)]):
        done = subprocess.run([sys.executable, "-m", "pyperf", *command], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr


def test_bench_checks_its_input_before_starting_pyperf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--workload", "no-such-workload", "-o", str(tmp_path / "x.json")]) == 2
    assert main(["bench", "--workload", "smoke", "--n-events", "0", "-o", str(tmp_path / "x.json")]) == 2
    existing = tmp_path / "exists.json"
    existing.write_text("{}")
    assert main(["bench", "--workload", "smoke", "-o", str(existing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 3 and "exists already" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.json"]


def test_a_wrong_contender_is_refused_before_pyperf_times_it() -> None:
    """Checked in the parent process, before pyperf starts any worker."""
    stream = workload.generate(workload.builtin("smoke").with_events(100))
    with pytest.raises(WrongRun, match="fake-digest is wrong"):
        rigorous._verified([implementations.get("sequential"), Fake("digest")], stream, 1)
