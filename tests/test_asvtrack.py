"""The regression-tracking tools (tools/asvtrack): verdict rules, the summary, the vendored site, the workflow.

The end-to-end proof — a scratch history with known regressions measured by asv — is the
`canary` nox session: it takes minutes, so it is not part of this suite.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import re
import tarfile
import urllib.request
from pathlib import Path

import pytest
import yaml

from asvtrack import canary, figures, patches, regress, site, vendor
from asvtrack.verdict import Figure, Thresholds, judge

ROOT = Path(__file__).resolve().parents[1]
LIMITS = Thresholds()


def timing(value: float, spread: float = 0.01, unit: str = "seconds") -> Figure:
    samples = [value * (1 + spread * k) for k in (-2, -1, 0, 1, 2)] * 2
    stats = {
        "ci_99_a": value * (1 - 3 * spread),
        "ci_99_b": value * (1 + 3 * spread),
        "q_25": value,
        "q_75": value,
        "repeat": len(samples),
        "number": 1,
    }
    return Figure(value, unit, samples, stats)


def count(value: float, unit: str) -> Figure:
    return Figure(value, unit)


@pytest.mark.parametrize(
    ("before", "after", "verdict"),
    [
        (0.0034, 1.0034, "regressed"),  # one more allocation per event, from nearly none
        (108.3, 109.3, "regressed"),  # one more on a contender that already allocates 108: still caught
        (108.3, 108.5, "unchanged"),  # threads' jitter
        (1.0034, 0.0034, "improved"),
    ],
)
def test_allocations_are_judged_by_the_change_per_event(before: float, after: float, verdict: str) -> None:
    change = judge("a", "", count(before, "allocations/event"), count(after, "allocations/event"), LIMITS)
    assert change.verdict == verdict and change.kind == "count"


@pytest.mark.parametrize(("after", "verdict"), [(1.25, "regressed"), (1.019, "unchanged"), (0.75, "improved")])
def test_instructions_are_judged_by_ratio(after: float, verdict: str) -> None:
    before = count(314_000.0, "instructions/event")
    change = judge("i", "", before, count(314_000.0 * after, "instructions/event"), LIMITS)
    assert change.verdict == verdict


def test_a_significant_slowdown_beyond_the_factor_regresses() -> None:
    assert judge("t", "", timing(1.0), timing(1.3), LIMITS).verdict == "regressed"


def test_a_slowdown_within_the_noise_does_not() -> None:
    change = judge("t", "", timing(1.0, spread=0.2), timing(1.15, spread=0.2), LIMITS)
    assert change.verdict == "unchanged" and "not significant" in change.how_much


def test_without_samples_the_confidence_intervals_decide() -> None:
    """asv keeps samples only when asked (--record-samples); without them its test compares intervals."""
    apart = judge("t", "", _without_samples(timing(1.0)), _without_samples(timing(1.3)), LIMITS)
    overlapping = judge("t", "", _without_samples(timing(1.0, 0.2)), _without_samples(timing(1.15, 0.2)), LIMITS)
    assert (apart.verdict, overlapping.verdict) == ("regressed", "unchanged")


def _without_samples(figure: Figure) -> Figure:
    return Figure(figure.value, figure.unit, None, figure.stats)


def test_throughput_is_higher_is_better() -> None:
    slower = judge("tp", "", timing(1000.0, unit="events/s"), timing(700.0, unit="events/s"), LIMITS)
    faster = judge("tp", "", timing(1000.0, unit="events/s"), timing(1400.0, unit="events/s"), LIMITS)
    assert (slower.verdict, faster.verdict) == ("regressed", "improved")


def test_a_benchmark_that_starts_failing_is_a_regression_and_one_that_skips_is_not() -> None:
    failed = judge("t", "", timing(1.0), Figure(None, "seconds"), LIMITS)
    skipped = judge("t", "", timing(1.0), Figure(float("nan"), "seconds"), LIMITS)
    assert failed.regressed and not skipped.regressed


def test_timings_gate_only_when_asked() -> None:
    slower = judge("t", "", timing(1.0), timing(1.5), LIMITS)
    assert regress.gating([slower], "counts") == [] and regress.gating([slower], "all") == [slower]


def test_the_summary_of_a_clean_change_says_so() -> None:
    changes = [
        judge(
            "bench_counts.I.track_instructions_per_event",
            "sequential, cpu-bound",
            count(314_000.0, "instructions/event"),
            count(314_000.0, "instructions/event"),
            LIMITS,
        )
    ]
    text = regress.summary(changes, "counts", "title")
    assert "**No regression**" in text and "1 figures compared: 1 counts" in text
    assert "| `bench_counts.I.track_instructions_per_event` | sequential, cpu-bound |" in text


@pytest.mark.parametrize("argv", [["--factor", "1.0"], ["--allocations-delta", "0"], ["--gate", "some"]])
def test_regress_refuses_bad_thresholds(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        regress.parse_args(argv)
    assert exit_info.value.code == 2


def test_regress_names_an_unknown_revision_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert regress.main(["--base", "no-such-revision-anywhere"]) == 2
    assert "no-such-revision-anywhere" in capsys.readouterr().err


# -- asv's stored results, read back -------------------------------------------------------


def _store(results: Path, commit: str, version: str, values: list[float], samples: list[list[float]] | None) -> None:
    """A result file written by asv's own Results class, as `asv run` writes it."""
    from asv.results import Results
    from asv.runner import BenchmarkResult

    result = Results({"machine": "m", "python": "3.11"}, {}, commit, 0, "3.11", "env", {})
    benchmark = {"name": "b.Suite.sample_x", "version": version, "params": [["'native'", "'sequential'"]]}
    if samples is None:
        measured = BenchmarkResult(values, [None, None], [None, None], 0, "", None)
    else:
        measured = BenchmarkResult([True, True], samples, [1, 1], 0, "", None)
    result.add_result(benchmark, measured, record_samples=True)
    result.save(str(results))
    (results / "m" / "machine.json").write_text('{"machine": "m", "version": 1}')


def test_figures_read_back_what_asv_stored(tmp_path: Path) -> None:
    (tmp_path / "benchmarks.json").write_text('{"b.Suite.sample_x": {"unit": "seconds", "version": "1"}, "version": 2}')
    _store(tmp_path, "a" * 40, "1", [], [[1.0, 1.1, 0.9, 1.0, 1.0, 1.05], [2.0, 2.1, 1.9, 2.0, 2.0, 2.05]])
    _store(tmp_path, "b" * 40, "0", [5.0, 6.0], None)  # measured by an older version of the benchmark
    found = figures.load(tmp_path, "m", "a" * 40)
    assert set(found) == {("b.Suite.sample_x", "native"), ("b.Suite.sample_x", "sequential")}
    native = found[("b.Suite.sample_x", "native")]
    assert native.value == pytest.approx(1.0) and native.unit == "seconds" and native.samples is not None
    assert native.stats is not None and len(native.samples) == 6
    assert figures.load(tmp_path, "m", "b" * 40) == {}  # stale: left out, not compared


def test_figures_without_a_discovered_suite_say_so(tmp_path: Path) -> None:
    with pytest.raises(figures.NoResults, match=r"benchmarks\.json does not exist"):
        figures.load(tmp_path, "m", "a" * 40)


def test_the_canary_reads_asvs_published_regressions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    html = tmp_path / ".asv" / "html"
    html.mkdir(parents=True)
    name = canary.page_name(canary.ALLOCATIONS, "native, cpu-bound")
    (html / "regressions.json").write_text(
        '{"regressions": [["' + name.replace("'", "'") + '", "graphs/x.json", {}, 0, 1.0, 1.0, '
        "[[null, 7, 0.0034, 1.0034]]]]}"
    )
    (html / "index.json").write_text('{"revision_to_hash": {"7": "' + "c" * 40 + '"}}')
    monkeypatch.setattr(canary.asvcli, "html_dir", lambda root: root / ".asv" / "html")
    found = canary.published_regressions(tmp_path)
    assert found == [{"benchmark": name, "params": {}, "before": 0.0034, "after": 1.0034, "commit": "c" * 40}]
    assert name == "bench_counts.Allocations.track_allocations_per_event('native', 'cpu-bound')"


# -- the vendored site ---------------------------------------------------------------------


def _fake_package(cache: Path, files: dict[str, bytes]) -> vendor.Package:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    tarball = buffer.getvalue()
    package = vendor.Package("fake", "1.0.0", base64.b64encode(hashlib.sha512(tarball).digest()).decode())
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "fake-1.0.0.tgz").write_bytes(tarball)
    return package


def _sri(data: bytes) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_vendor_points_the_page_at_local_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    same, rebuilt = b"console.log('same');", b"console.log('ours');"
    package = _fake_package(tmp_path / "cache", {"a.js": same, "b.js": rebuilt})
    monkeypatch.setattr(
        vendor,
        "ASSETS",
        {
            "https://cdn.example/a.min.js": (package, "a.js", "a.js"),
            "https://cdn.example/b.min.js": (package, "b.js", "lib/b.js"),
        },
    )
    monkeypatch.setattr(vendor, "EXTRA_FILES", [])
    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text(
        f'<script src="https://cdn.example/a.min.js" integrity="{_sri(same)}"></script>\n'
        f'<script src="https://cdn.example/b.min.js" integrity="{_sri(b"the cdn build")}"></script>\n'
        '<a href="https://github.com/airspeed-velocity/asv/">asv</a><script src="asv.js"></script>\n'
    )
    notes = vendor.vendor(html, tmp_path / "cache")
    page = (html / "index.html").read_text()
    assert f'src="vendor/a.js" integrity="{_sri(same)}"' in page  # same bytes: the browser still checks
    assert '<script src="vendor/lib/b.js"></script>' in page  # other bytes: no integrity to claim
    assert "cdn.example" not in page and 'href="https://github.com/airspeed-velocity/asv/"' in page
    assert (html / "vendor" / "lib" / "b.js").read_bytes() == rebuilt and len(notes) == 2
    assert vendor.vendor(html, tmp_path / "cache") == []  # a second pass finds nothing left to do


def test_vendor_refuses_an_unknown_cdn_and_a_tampered_tarball(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = _fake_package(tmp_path / "cache", {"a.js": b"x"})
    monkeypatch.setattr(vendor, "EXTRA_FILES", [])
    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text('<script src="https://elsewhere.example/new.js"></script>')
    with pytest.raises(vendor.VendorError, match=r"elsewhere\.example/new\.js"):
        vendor.vendor(html, tmp_path / "cache")
    tampered = vendor.Package(package.name, package.version, "A" * 86 + "==")
    with pytest.raises(vendor.VendorError, match="is not the pinned"):
        vendor.fetch(tampered, tmp_path / "cache")


def test_asv_page_assets_are_all_known() -> None:
    """Every CDN address in the installed asv's page is in vendor.ASSETS (an asv upgrade shows here)."""
    import asv

    page = (Path(asv.__file__).parent / "www" / "index.html").read_text()
    urls = {m.group("url") for m in vendor.EXTERNAL.finditer(page) if "github.com" not in m.group("url")}
    assert urls and urls <= set(vendor.ASSETS)


def test_the_site_is_served_on_loopback(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("hello")
    with site.served(tmp_path) as url:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "index.html", timeout=10) as response:
            assert response.read() == b"hello"


def test_series_pixels_count_colour_not_grey() -> None:
    from PIL import Image

    image = Image.new("RGB", (20, 10), (255, 255, 255))
    for x in range(20):
        image.putpixel((x, 0), (128, 128, 128))  # an axis: grey
        image.putpixel((x, 5), (237, 194, 64))  # a series: flot's yellow
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    assert site.series_pixels(buffer.getvalue()) == 20


# -- the GitHub Actions workflow -------------------------------------------------------------


def _nox_sessions() -> set[str]:
    text = (ROOT / "noxfile.py").read_text()
    named = set(re.findall(r'@nox\.session\([^)]*name="([\w-]+)"', text))
    plain = re.findall(r"@nox\.session(?:\((?![^)]*name=)[^)]*\))?\ndef (\w+)", text)
    return named | set(plain)


def test_the_workflow_is_valid_yaml_and_runs_only_nox_sessions_defined_here() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "benchmarks.yml").read_text())
    assert set(workflow["jobs"]) == {"regress", "measure", "publish"}
    assert workflow["jobs"]["publish"]["needs"] == "measure"
    runs = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    used = {m for run in runs for m in re.findall(r"nox -s ([\w-]+)", run)}
    assert used == {"regress", "history", "publish"} and used <= _nox_sessions()
    for job in ("regress", "measure"):
        assert len(workflow["jobs"][job]["strategy"]["matrix"]["runner"]) >= 2


# -- versions: stored history onto explicit versions -----------------------------------------


def test_adopt_moves_known_source_hashes_and_nothing_else(tmp_path: Path) -> None:
    from asvtrack import versions

    legacy = next(iter(versions.LEGACY["bench_counts.Allocations.track_allocations_per_event"]))
    name = "bench_counts.Allocations.track_allocations_per_event"
    _store_named(tmp_path, "a" * 40, name, legacy)
    _store_named(tmp_path, "b" * 40, name, "f" * 64)  # a hash nobody vouched for: left alone
    before = versions.stored(tmp_path)
    assert versions.orphans(before, {name: "1"}) and len(versions.adopt(tmp_path)) == 1
    after = versions.stored(tmp_path)
    assert set(after) == {(name, "1"), (name, "f" * 64)} and versions.adopt(tmp_path) == []
    problems = versions.orphans(after, {name: "1"})
    assert len(problems) == 1 and name in problems[0] and "bump it deliberately" in problems[0]


def test_a_retired_version_is_not_an_orphan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from asvtrack import versions

    _store_named(tmp_path, "a" * 40, "b.Suite.track_x", "1")
    assert versions.orphans(versions.stored(tmp_path), {"b.Suite.track_x": "2"})
    monkeypatch.setitem(versions.RETIRED, ("b.Suite.track_x", "1"), "counted differently from version 2 on")
    assert versions.orphans(versions.stored(tmp_path), {"b.Suite.track_x": "2"}) == []


def test_a_parameter_added_to_a_benchmark_leaves_its_history_unplaced(tmp_path: Path) -> None:
    from asvtrack import versions

    name = "b.Latency.sample_p99"
    _store_named(tmp_path, "a" * 40, name, "1", params=[["'sequential'", "'native'"]])
    in_store = versions.stored_params(tmp_path)
    assert in_store == {name: {("'sequential'",), ("'native'",)}}
    assert versions.unplaced(in_store, {name: [["'sequential'", "'native'", "'asyncio'"]]}) == []  # a new value
    dropped = versions.unplaced(in_store, {name: [["'sequential'"]]})
    assert len(dropped) == 1 and "1 stored parameter combination(s), such as ('native')" in dropped[0]
    added = versions.unplaced(in_store, {name: [["'sequential'", "'native'"], ["'mixed'", "'book-paced'"]]})
    assert len(added) == 1 and "2 stored parameter combination(s)" in added[0] and "(stored with 1)" in added[0]


def _store_named(results: Path, commit: str, name: str, version: str, params: list[list[str]] | None = None) -> None:
    from asv.results import Results
    from asv.runner import BenchmarkResult

    result = Results({"machine": "m", "python": "3.11"}, {}, commit, 0, "3.11", "env", {})
    values = [1.0] * math.prod(len(values) for values in params or [])
    measured = BenchmarkResult(values, [None] * len(values), [None] * len(values), 0, "", None)
    result.add_result({"name": name, "version": version, "params": params or []}, measured)
    result.save(str(results))
    (results / "m" / "machine.json").write_text('{"machine": "m", "version": 1}')


# -- the published page, read the right way round --------------------------------------------


def test_every_mend_finds_its_anchor_in_the_installed_asv() -> None:
    """Each edit of asv's page anchors on asv's text exactly once (an asv upgrade shows here)."""
    import asv

    www = Path(asv.__file__).parent / "www"
    for patch in patches.PATCHES:
        assert (www / patch.file).read_text().count(patch.anchor) == 1, (patch.file, patch.anchor[:60])


def test_the_mends_know_direction_and_spread_from_the_published_figures(tmp_path: Path) -> None:
    units = {"b.S.sample_throughput": "events/s", "b.S.track_allocations": "allocations/event", "b.S.time_x": "seconds"}
    (tmp_path / "index.json").write_text(json.dumps({"benchmarks": {n: {"unit": u} for n, u in units.items()}}))
    graphs = tmp_path / "graphs" / "machine-m"
    graphs.mkdir(parents=True)
    (graphs / "b.S.track_allocations.json").write_text("[[1, [737.3, 0.0033, null]], [2, null]]")
    (graphs / "b.S.time_x.json").write_text("[[1, 0.30], [2, 0.031]]")  # under 20x apart: linear
    (graphs / "b.S.sample_throughput.json").write_text("[[1, [0, 5e6]]]")  # zero is not a value on a log axis
    known = patches.figures(tmp_path)
    assert known["higher_is_better"] == ["b.S.sample_throughput"]
    assert known["log_axis"] == ["b.S.track_allocations"]


def test_the_mends_apply_to_asvs_page_and_refuse_one_that_changed(tmp_path: Path) -> None:
    import asv

    www = Path(asv.__file__).parent / "www"
    for name in {patch.file for patch in patches.PATCHES}:
        (tmp_path / name).write_text((www / name).read_text())
    (tmp_path / "index.json").write_text('{"benchmarks": {}}')
    (tmp_path / "graphs").mkdir()
    patches.apply(tmp_path)
    assert "EVENTBENCH.higher_is_better" in (tmp_path / "summarylist.js").read_text()
    assert (tmp_path / patches.FIGURES_SCRIPT).read_text().startswith("var EVENTBENCH = {")
    with pytest.raises(patches.PatchError, match=r"summarylist\.js"):
        patches.apply(tmp_path)  # the anchors are gone: a second pass, or a new asv, is refused


def test_versions_names_a_broken_store_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from asvtrack import versions

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "a.json").write_text("{not json")
    assert versions.main(["adopt", str(tmp_path)]) == 2
    assert versions.main(["check", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "a.json" in err and "nowhere is not a directory" in err and "Traceback" not in err
