"""The reference digest at scale: computed in bounded chunks, cached by content (harness/reference.py)."""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import scenarios
from harness import reference
from harness.cli import build_parser, main
from harness.workload import builtin, generate
from implementations.sequential import reference_digest as chunked
from protocol.contender import ContenderError
from protocol.events import EventStream, validated_stream, write_evts
from protocol.scenario import Scenario
from protocol.splitmix import digest_hex

from orderbook_reference import orderbook_digest_of_file_bytes
from reference import spec_digest_of_file_bytes
from strategies import orderbook_streams, streams

# ---------------------------------------------------------------- the reference, in chunks


@given(stream=streams(max_events=40), sizes=st.lists(st.integers(1, 9), min_size=1, max_size=3))
def test_chunks_of_any_size_give_the_specs_digest(stream: EventStream, sizes: list[int]) -> None:
    """Chunks of 1, 2, 7 events, drawn sizes and the whole stream: one digest, the SPEC's own
    (tests/reference.py: written from the SPEC, sharing no code with the semantics)."""
    expected = spec_digest_of_file_bytes(stream.to_bytes())
    for size in {1, 2, 7, max(1, stream.n_events), *sizes}:
        assert digest_hex(chunked(stream, size)) == expected, size


@given(drawn=orderbook_streams(max_events=40), sizes=st.lists(st.integers(1, 9), min_size=1, max_size=3))
def test_order_book_chunks_of_any_size_give_the_contracts_digest(
    drawn: tuple[EventStream, bytes], sizes: list[int]
) -> None:
    """A cancel names an order by its seq, which may rest in an earlier chunk: still found."""
    stream, data = drawn
    expected = orderbook_digest_of_file_bytes(data)
    for size in {1, 2, 7, max(1, stream.n_events), *sizes}:
        assert digest_hex(chunked(stream, size)) == expected, size


def test_a_reference_that_fails_names_the_event_in_the_whole_stream() -> None:
    stream = generate(builtin("smoke").with_events(50))
    records = stream.records.copy()
    records["value"][37] = 2**64 - 1
    broken = validated_stream(stream.n_keys, records, "<test>", stream.scenario)

    class Fails:  # a scenario whose handler raises on one value: its bug, named with the event
        def __getattr__(self, name: str) -> object:
            return getattr(stream.scenario.python, name)

        def bind(self, columns, keys, shared, guard):  # type: ignore[no-untyped-def]
            handler = stream.scenario.python.bind(columns, keys, shared, guard)
            value = columns.value

            def handle(i: int) -> int:
                if value[i] == 2**64 - 1:
                    raise OverflowError("the largest value")
                return handler(i)

            return handle

    failing = EventStream(broken.n_keys, broken.records, "<test>", replace(stream.scenario, python=Fails()))
    with pytest.raises(ContenderError, match=r"the reference \(sequential\): handling event 37 failed: OverflowError"):
        chunked(failing, 7)


# ---------------------------------------------------------------- the cache


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(reference.ENV_DIR, str(tmp_path / "cache"))
    monkeypatch.delenv(reference.ENV_OFF, raising=False)
    return tmp_path / "cache" / "reference-digests"


def _stream(n_events: int = 3000, name: str = "contention") -> EventStream:
    return generate(builtin(name).with_events(n_events))


def _entry(cache_dir: Path) -> Path:
    (entry,) = cache_dir.iterdir()
    return entry


def test_the_tests_never_use_the_users_cache() -> None:
    """conftest.py points every test process (and the commands it starts) elsewhere."""
    assert not reference.cache_root().resolve().is_relative_to(Path.home().resolve() / ".cache")


def test_a_digest_is_computed_once_then_read(cache_dir: Path) -> None:
    stream = _stream()
    expected = digest_hex(chunked(stream))
    assert reference.reference_digest(stream) == expected
    entry = _entry(cache_dir)
    found = json.loads(entry.read_text())
    assert found["digest"] == expected and found["stream_sha256"] == reference.stream_sha256(stream)
    assert (found["scenario"], found["scenario_version"]) == ("synthetic", 1)
    # Read, not computed again: an entry that says otherwise is believed (its key matches).
    entry.write_text(json.dumps(found | {"digest": "00000000000000ff"}))
    assert reference.reference_digest(stream) == "00000000000000ff"
    # Bypassed: computed, neither read nor written.
    assert reference.reference_digest(stream, cached=False) == expected
    assert json.loads(entry.read_text())["digest"] == "00000000000000ff"


def test_the_environment_bypasses_it(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(reference.ENV_OFF, "1")
    reference.reference_digest(_stream())
    assert not cache_dir.exists()
    monkeypatch.setenv(reference.ENV_OFF, "0")  # "0" is not set
    reference.reference_digest(_stream())
    assert len(list(cache_dir.iterdir())) == 1


@pytest.mark.parametrize(
    "spoil",
    [
        lambda entry: entry.write_bytes(b""),
        lambda entry: entry.write_bytes(b"\xff\xfe not utf-8"),
        lambda entry: entry.write_text('{"format": 1, "dige'),  # cut short
        lambda entry: entry.write_text("[1, 2]"),
        lambda entry: _edit(entry, format=2),
        lambda entry: _edit(entry, digest="not a digest"),
        lambda entry: _edit(entry, digest=12),
        lambda entry: _edit(entry, stream_sha256="0" * 64),  # another stream's, filed under this key
        lambda entry: _edit(entry, reference_code="0" * 64),
        lambda entry: _edit(entry, scenario_version=2),
        lambda entry: (entry.unlink(), entry.mkdir()),  # a directory where the file was
        lambda entry: entry.chmod(0),  # unreadable (not for root, who reads it anyway: then intact)
    ],
)
def test_a_spoilt_entry_is_computed_again(cache_dir: Path, spoil) -> None:  # type: ignore[no-untyped-def]
    stream = _stream()
    expected = reference.reference_digest(stream)
    entry = _entry(cache_dir)
    spoil(entry)
    assert reference.reference_digest(stream) == expected
    if entry.is_file():
        entry.chmod(0o644)
        assert json.loads(entry.read_text())["digest"] == expected  # and written anew


def _edit(entry: Path, **changes: object) -> None:
    entry.write_text(json.dumps(json.loads(entry.read_text()) | changes))


def test_a_cache_that_cannot_be_written_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv(reference.ENV_DIR, str(blocker))  # its reference-digests/ cannot be made
    stream = _stream()
    assert reference.reference_digest(stream) == digest_hex(chunked(stream))


def test_the_stream_hash_is_its_files_sha256(tmp_path: Path) -> None:
    """``sha256sum`` of an exported file finds its entry; its mapped and generated forms agree."""
    for name in ("contention", "book-smoke"):
        stream = _stream(2000, name)
        path = write_evts(stream, tmp_path / f"{name}.evts")
        expected = hashlib.sha256(path.read_bytes()).hexdigest()
        assert reference.stream_sha256(stream) == expected
        assert reference.stream_sha256(scenarios.read_evts(path)) == expected
        strided = EventStream(stream.n_keys, stream.records[::2], "<test>", stream.scenario)  # not one block
        assert reference.stream_sha256(strided) == hashlib.sha256(strided.to_bytes()).hexdigest()


def test_what_the_digest_depends_on_is_in_the_key() -> None:
    stream = _stream(500)
    key = reference.key_of(stream)
    assert key is not None
    more_keys = EventStream(stream.n_keys + 1, stream.records, "<test>", stream.scenario)
    records = stream.records.copy()
    records["value"][-1] ^= 1
    one_value = EventStream(stream.n_keys, records, "<test>", stream.scenario)
    shorter = stream.prefix(499)
    others = [reference.key_of(s) for s in (more_keys, one_value, shorter, _stream(500, "book-smoke"))]
    assert len({key.file_name(), *(k.file_name() for k in others if k)}) == 5
    assert reference.key_of(_stream(500)) == key  # and nothing else: the same stream, the same key


def test_the_references_code_is_its_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An edit to any module of the scenario's package gives another key; the scenario's
    semantics from a module without a source file are never cached."""
    package = tmp_path / "edited_scenario"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helper.py").write_text("STEP = 1\n")
    (package / "semantics.py").write_text(
        "from scenarios.synthetic.semantics import SyntheticPython\n\n\nclass Edited(SyntheticPython):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("edited_scenario.semantics")
    edited = Scenario(**{**scenarios.SYNTHETIC.__dict__, "python": module.Edited()})
    before = reference.reference_code(edited)
    assert before is not None and before != reference.reference_code(scenarios.SYNTHETIC)
    (package / "helper.py").write_text("STEP = 2\n")
    reference._code_of.cache_clear()
    assert reference.reference_code(edited) not in (None, before)

    class Unsourced(module.Edited):  # type: ignore[misc,name-defined]
        pass

    Unsourced.__module__ = "__no_such_module__"
    assert reference.reference_code(Scenario(**{**edited.__dict__, "python": Unsourced()})) is None
    sys.modules.pop("edited_scenario.semantics")
    sys.modules.pop("edited_scenario")
    reference._code_of.cache_clear()


def test_the_cache_directory_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(reference.ENV_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert reference.cache_directory() == tmp_path / "eventbench" / "reference-digests"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert reference.cache_root() == Path.home() / ".cache" / "eventbench"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert reference.cache_root() == Path.home() / ".cache" / "eventbench"


# ---------------------------------------------------------------- the command line


def test_every_command_that_verifies_takes_no_reference_cache() -> None:
    parser = build_parser()
    for argv in (["run", "--impl", "sequential", "--workload", "smoke"], ["verify"], ["compare"], ["bench"],
                 ["sweep", "--impl", "sequential"], ["soak", "--impl", "sequential"]):  # fmt: skip
        assert parser.parse_args([*argv, "--no-reference-cache"]).no_reference_cache, argv
        assert not parser.parse_args(argv).no_reference_cache, argv


def test_run_fills_the_cache_and_cache_clear_empties_it(
    cache_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = ["run", "--impl", "sequential", "--workload", "smoke", "--n-events", "300", "--alloc-events", "0"]
    assert main([*run, "--no-reference-cache"]) == 0
    assert not cache_dir.exists()
    assert main(run) == 0
    assert "matches the reference" in capsys.readouterr().out
    assert main(["cache", "info", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["directory"] == str(cache_dir) and found["entries"] == 1 and found["bytes"] > 0
    assert not found["bypassed"]
    (cache_dir / "keep.txt").write_text("not the cache's")
    (cache_dir / f".{'a' * 64}.json.x1y2.tmp").write_text("a write that never finished")
    assert main(["cache", "clear"]) == 0
    assert "removed 1 reference digest(s)" in capsys.readouterr().out
    assert sorted(p.name for p in cache_dir.iterdir()) == ["keep.txt"]
    assert main(["cache", "info"]) == 0
    assert "0 entries" in capsys.readouterr().out


def test_a_wrong_cached_digest_shows_as_a_wrong_run(cache_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The cache is believed: what it says is what runs are checked against (here, a planted
    wrong digest makes a right contender look wrong; bypassing it shows the truth)."""
    run = ["run", "--impl", "sequential", "--workload", "smoke", "--n-events", "300", "--alloc-events", "0"]
    assert main(run) == 0
    _edit(_entry(cache_dir), digest="0123456789abcdef")
    assert main(run) == 1
    assert "0123456789abcdef" in capsys.readouterr().out
    assert main([*run, "--no-reference-cache"]) == 0
