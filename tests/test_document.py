"""The result document's JSON: what is written reads back equal, every stored version still
loads (upgraded in one place), and a field of the wrong type is refused in one line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import results
from harness.allocations import AllocationCount
from harness.document import (
    BEFORE_SCENARIOS,
    SCHEMA_VERSION,
    SUPPORTED_VERSIONS,
    Comparison,
    Floor,
    ResultDocument,
    ScenarioId,
    SweepSettings,
    ThreadTime,
    TimelineLog,
    TrialRecord,
)
from harness.stats import Interval, Jitter, LatencySummary
from protocol.errors import InvalidInput

ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------- documents of every shape

texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
wholes = st.integers(-(2**63), 2**63)
counts = st.integers(0, 2**40)
finite = st.floats(allow_nan=False, allow_infinity=False)
numbers = st.one_of(finite, wholes)  # a figure may be stored as a whole number: it must stay one
times = st.one_of(st.floats(0, allow_nan=False, allow_infinity=False), counts)
json_values = st.recursive(
    st.none() | st.booleans() | wholes | finite | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
free_form = st.dictionaries(texts, json_values, max_size=4)
latencies = st.builds(LatencySummary, numbers, numbers, numbers, numbers, numbers)


@st.composite
def intervals(draw: st.DrawFn) -> Interval:
    low, point, high = sorted(draw(st.lists(numbers, min_size=3, max_size=3)))
    return Interval(point, low, high, draw(st.floats(0, 1)), draw(st.integers(1, 1000)))


trial_records = st.builds(
    TrialRecord,
    round=counts,
    position=st.none() | counts,
    valid=st.booleans(),
    failures=st.lists(texts, max_size=2).map(tuple),
    digest=st.none() | texts,
    checks=st.dictionaries(texts, st.booleans(), max_size=3),
    setup_s=st.none() | numbers,
    cpu_s=st.none() | numbers,
    ctx_switches=st.none() | counts,
    wall_s=st.none() | numbers,
    throughput_eps=st.none() | numbers,
    latency_ns=st.none() | latencies,
    cpu_s_per_event=st.none() | numbers,
    ctx_switches_per_event=st.none() | numbers,
    threads=st.none()
    | st.lists(
        st.builds(ThreadTime, counts, counts, texts, st.booleans(), *[times] * 4, counts, counts),
        max_size=3,
    ).map(tuple),
    threads_ended=st.none() | counts,
    waiting_ns=st.none() | latencies,
    service_ns=st.none() | latencies,
)
trial_lists = st.lists(trial_records, max_size=4, unique_by=lambda t: t.round).map(tuple)
jitters = st.builds(
    Jitter,
    probes=st.lists(st.dictionaries(texts, wholes, max_size=3), max_size=2).map(tuple),
    seconds=numbers,
    reads=counts,
    gaps_ns=latencies,
    over_10us_per_s=numbers,
    over_100us_per_s=numbers,
    over_1ms_per_s=numbers,
)
allocation_counts = st.builds(
    AllocationCount, counts, counts, counts, counts, counts, counts, crate_counter=st.none() | counts, method=texts
)
comparisons = st.builds(
    Comparison,
    seed=wholes,
    trials=counts,
    orders=st.lists(st.lists(texts, max_size=3).map(tuple), max_size=3).map(tuple),
    method=st.none() | texts,
    family_confidence=st.none() | finite,
    floor_unavailable=st.none() | texts,
)
log_names = st.from_regex(r"[a-z0-9_-]{1,8}\.hlog", fullmatch=True)
documents = st.builds(
    ResultDocument,
    implementation=texts,
    model=st.none() | texts,
    scenario=st.builds(ScenarioId, texts, counts),
    workers=counts,
    mode=texts,
    workload=free_form,
    events=counts,
    n_keys=st.none() | counts,
    digest=st.none() | texts,
    reference_digest=st.none() | texts,
    digest_ok=st.none() | st.booleans(),
    valid=st.booleans(),
    failures=st.lists(texts, max_size=2).map(tuple),
    checks=st.dictionaries(texts, st.booleans(), max_size=3),
    setup_s=st.none() | numbers,
    wall_s=st.none() | numbers,
    throughput_eps=st.none() | numbers,
    latency_ns=st.none() | latencies,
    allocations_per_event=st.none() | numbers,
    allocations=st.none() | allocation_counts,
    cpu_s=st.none() | numbers,
    cpu_s_per_event=st.none() | numbers,
    ctx_switches=st.none() | counts,
    ctx_switches_per_event=st.none() | numbers,
    intervals=st.dictionaries(texts, intervals(), max_size=3),
    trials=st.none() | trial_lists,
    comparison=st.none() | comparisons,
    floor=st.none() | st.builds(Floor, texts, trial_lists, st.none() | jitters),
    metadata=free_form,
    created_unix_s=st.none() | numbers,
    sweep=st.none() | st.builds(SweepSettings, numbers, numbers, st.none() | wholes, st.none() | counts),
    timeline=st.none() | st.builds(TimelineLog, log_names, counts, texts, counts),
    starts_recorded=st.none() | st.booleans(),
    waiting_ns=st.none() | latencies,
    service_ns=st.none() | latencies,
)


@given(documents)
def test_a_document_reads_back_equal_from_its_json(doc: ResultDocument) -> None:
    text = json.dumps(doc.to_json(), sort_keys=True)
    back = ResultDocument.from_json(json.loads(text), "doc.json")
    assert back == doc
    assert json.dumps(back.to_json(), sort_keys=True) == text  # whole numbers stay whole, floats floats


# ---------------------------------------------------------------- stored documents, every version


def _stored() -> list[Path]:
    """Every result document the repository keeps under results/ (asv's own JSON is not one)."""
    listed = subprocess.run(["git", "ls-files", "results/*.json"], cwd=ROOT, capture_output=True, text=True)
    paths = [ROOT / p for p in listed.stdout.split()]
    return [p for p in paths if '"schema_version"' in p.read_text(encoding="utf-8")[:100_000]]


STORED = _stored()


def test_every_supported_version_is_among_the_stored_documents() -> None:
    found = {json.loads(p.read_text(encoding="utf-8"))["schema_version"] for p in STORED}
    assert found == set(SUPPORTED_VERSIONS), "a stored document of each version keeps the upgrades tested"


@pytest.mark.parametrize("path", STORED, ids=lambda p: str(p.relative_to(ROOT / "results")))
def test_a_stored_document_loads_and_writes_back(path: Path, tmp_path: Path) -> None:
    """The current version is written back byte for byte; an older one is upgraded once, for good."""
    stored = json.loads(path.read_text(encoding="utf-8"))
    doc = results.load(path)
    if stored["schema_version"] == SCHEMA_VERSION:
        assert results.dump(doc, tmp_path / "doc.json").read_text(encoding="utf-8") == path.read_text(encoding="utf-8")
    again = ResultDocument.from_json(doc.to_json(), "again.json")
    assert again == doc and again.to_json() == doc.to_json()


def test_older_documents_are_upgraded_on_reading() -> None:
    by_version: dict[int, ResultDocument] = {}
    for path in STORED:
        by_version.setdefault(json.loads(path.read_text(encoding="utf-8"))["schema_version"], results.load(path))
    for version, doc in by_version.items():
        assert version >= 6 or doc.scenario == ScenarioId(*BEFORE_SCENARIOS)
        assert version >= 3 or (doc.model is None and doc.setup_s is None)
        assert version >= 4 or (doc.trials is None and doc.intervals == {} and len(doc.trials_or_run()) == 1)
        assert version >= 7 or (doc.starts_recorded is None and doc.waiting_ns is None and doc.service_ns is None)
        assert version >= 7 or all(t.waiting_ns is None and t.service_ns is None for t in doc.trials_or_run())
        assert doc.to_json()["schema_version"] == SCHEMA_VERSION


# ---------------------------------------------------------------- broken documents


def _good() -> dict[str, Any]:
    """The newest stored document of this schema with every part the cases below break (a count of
    allocations, trials with their threads, a comparison, a timeline): a run stored with
    ``--alloc-events 0``, or in closed loop, has not every one to break."""
    for path in STORED:
        doc = json.loads(path.read_text(encoding="utf-8"))
        parts = ("allocations", "comparison", "timeline")
        if (
            doc["schema_version"] == SCHEMA_VERSION
            and all(doc.get(part) for part in parts)
            and doc["trials"][1]["threads"]
        ):
            return dict(doc)
    raise AssertionError("no stored document of this schema has allocations, a comparison, a timeline and threads")


def _set(doc: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """``doc`` with the field at ``path`` (``"trials.2.latency_ns"``) set to ``value``."""
    *parents, last = path.split(".")
    here: Any = doc
    for key in parents:
        here = here[int(key)] if isinstance(here, list) else here[key]
    here[int(last) if isinstance(here, list) else last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "where", "rule"),
    [
        ("workers", "2", "workers", "must be a whole number, got a string"),
        ("workers", True, "workers", "must be a whole number, got true or false"),
        ("valid", "yes", "valid", "must be true or false, got a string"),
        ("digest_ok", 1, "digest_ok", "must be true or false or null, got a number"),
        ("throughput_eps", "fast", "throughput_eps", "must be a number or null, got a string"),
        ("failures", ["x", 1], "failures", "must be a list of strings"),
        ("checks", {"all_done": "yes"}, "checks", "must map names to true or false"),
        ("latency_ns", {"p50": 1}, "latency_ns", "must be null or hold numbers p50, p90, p99, p999, max"),
        ("intervals.throughput_eps.n", 2.5, "intervals.throughput_eps", "(n whole)"),
        ("intervals.throughput_eps.low", 1e300, "intervals.throughput_eps", "interval must hold its point"),
        ("trials.2.round", "3", "trials[2].round", "must be a whole number, got a string"),
        ("trials.2.round", 0, "trials", "each trial must have its own round"),
        ("trials.1.latency_ns", [1, 2], "trials[1].latency_ns", "must be null or hold numbers"),
        ("allocations.events", -0.5, "allocations.events", "must be a whole number, got a number"),
        ("comparison.orders", [["a", 1]], "comparison.orders", "must be a list of rounds, each a list of names"),
        ("comparison.seed", None, "comparison.seed", "must be a whole number, got null"),
        ("floor", [], "floor", "must be null or an object, got a list"),
        ("scenario.version", "1", "scenario", "must hold its name (a string) and version (a whole number)"),
        ("metadata", None, "metadata", "must be an object, got null"),
        ("trials.1.threads.0.on_cpu_s", -0.5, "trials[1].threads[0].on_cpu_s", "must be a finite number, 0 or more"),
        ("trials.1.threads.0.tid", "7", "trials[1].threads[0].tid", "must be a whole number, got a string"),
        ("trials.1.threads", {}, "trials[1].threads", "must be null or a list of threads, got an object"),
        ("timeline", [], "timeline", "must be an object or null, got a list"),
        ("timeline.log", "../elsewhere.hlog", "timeline.log", "must be a file name in the document's directory"),
        ("timeline.interval_ns", "100", "timeline.interval_ns", "must be a whole number, got a string"),
        ("starts_recorded", "yes", "starts_recorded", "must be true or false or null, got a string"),
        ("service_ns", {"p50": 1}, "service_ns", "must be null or hold numbers p50, p90, p99, p999, max"),
        ("trials.1.waiting_ns", [1, 2], "trials[1].waiting_ns", "must be null or hold numbers"),
    ],
)
def test_a_field_of_the_wrong_type_is_refused_in_one_line(path: str, value: object, where: str, rule: str) -> None:
    broken = _set(_good(), path, value)
    with pytest.raises(InvalidInput) as refused:
        ResultDocument.from_json(broken, "bad.json")
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"bad.json: {where}: ") and rule in message, message
