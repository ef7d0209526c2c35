"""Bad input, everywhere: hypothesis feeds malformed input to every entry point.

Entry points: ``.evts`` images (the Python reader, the CLI, the engine's validator,
the engine's run, each contender's ``open``), workload TOML (the loader and the
CLI), command lines, and stored result documents. Whatever the input, each ends
in exit status 2 with one line on stderr (the CLI), a Python exception with a
clear message (``InvalidInput`` or ``ValueError``), or, where the input happens
to be valid, a correct result: never a traceback on the CLI, an abort, a hang
(pytest-timeout stops one) or a half-written file. Every try is counted in
:mod:`tally` for ``nox -s robustness``'s report.

The fast suite runs the hypothesis profile's few examples; ``nox -s robustness``
runs the ``robustness`` profile (thousands).
"""

from __future__ import annotations

import json
import struct
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tally
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import implementations
from harness import cli, results, workload
from harness.document import SCHEMA_VERSION, ResultDocument
from harness.reference import reference_digest
from harness.runner import run_once
from implementations import native_cffi
from protocol.errors import InvalidInput
from protocol.events import HEADER_SIZE, EventStream
from scenarios import SYNTHETIC, read_evts
from scenarios.synthetic.layout import RECORD_DTYPE

from strategies import streams

# Hypothesis runs each test body many times with one tmp_path: that is intended here.
FUZZ = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
CONTENDERS = ["sequential", "threaded", "asyncio", "processes", "native", "native-sequential"]

# ---------------------------------------------------------------- malformed .evts images

HEADER_FIELDS = {"magic": (0, "8s"), "version": (8, "<I"), "n_keys": (12, "<I"), "n_events": (16, "<Q"),
                 "reserved": (24, "<Q")}  # fmt: skip
RECORD_FIELDS = {"seq": (0, "<Q"), "arrival_ns": (8, "<Q"), "value": (16, "<Q"), "key": (24, "<I"),
                 "kind": (28, "B"), "flags": (29, "B"), "work": (30, "<H")}  # fmt: skip
EDGE_U64 = [0, 1, 2**31, 2**32 - 1, 2**32, 2**60, 2**63, 2**64 - 1]


def _field_value(fmt: str) -> st.SearchStrategy[Any]:
    if fmt == "8s":
        return st.one_of(st.binary(min_size=8, max_size=8), st.just(b"EVTSTRM2"))
    bits = struct.calcsize(fmt) * 8
    edges = [v for v in EDGE_U64 if v < 2**bits]
    return st.one_of(st.sampled_from(edges), st.integers(0, 2**bits - 1))


@st.composite
def evts_images(draw: st.DrawFn) -> bytes:
    """A valid image with one corruption: a header or record field, a byte, the length; or noise."""
    image = bytearray(draw(streams(max_events=12)).to_bytes())
    n_events = (len(image) - HEADER_SIZE) // 32
    how = draw(st.sampled_from(["header", "record", "byte", "truncate", "extend", "noise", "none"]))
    if how == "header":
        offset, fmt = HEADER_FIELDS[draw(st.sampled_from(sorted(HEADER_FIELDS)))]
        struct.pack_into(fmt, image, offset, draw(_field_value(fmt)))
    elif how == "record" and n_events:
        index = draw(st.integers(0, n_events - 1))
        offset, fmt = RECORD_FIELDS[draw(st.sampled_from(sorted(RECORD_FIELDS)))]
        struct.pack_into(fmt, image, HEADER_SIZE + 32 * index + offset, draw(_field_value(fmt)))
    elif how == "byte":
        image[draw(st.integers(0, len(image) - 1))] = draw(st.integers(0, 255))
    elif how == "truncate":
        del image[draw(st.integers(0, len(image) - 1)) :]
    elif how == "extend":
        image += draw(st.binary(min_size=1, max_size=64))
    elif how == "noise":
        image = bytearray(draw(st.binary(max_size=200)))
    return bytes(image)


def _verdict(error: BaseException | None) -> str:
    if error is None:
        return "accepted (valid)"
    if isinstance(error, InvalidInput):
        return f"{type(error).__name__} ({error.where.split(' ')[0]})"
    return type(error).__name__


def _check_message(error: BaseException) -> None:
    message = str(error)
    assert message and "\n" not in message, repr(message)
    if isinstance(error, InvalidInput):
        assert error.where and error.rule


@FUZZ
@given(image=evts_images())
def test_evts_python_reader(image: bytes, tmp_path: Path) -> None:
    path = tmp_path / "fuzz.evts"
    path.write_bytes(image)
    try:
        stream = read_evts(path)
        assert stream.to_bytes() == image  # what was accepted is exactly what was read
        tally.record("evts: read_evts", _verdict(None))
    except InvalidInput as e:
        assert e.source == str(path)
        _check_message(e)
        tally.record("evts: read_evts", _verdict(e))


@FUZZ
@given(image=evts_images())
def test_evts_cli(image: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "fuzz.evts"
    path.write_bytes(image)
    code = cli.main(["verify", "--events", str(path), "--impl", "threaded,native", "--workers", "2",
                     "--mode", "closed"])  # fmt: skip
    err = capsys.readouterr().err
    assert code in (cli.EXIT_OK, cli.EXIT_INVALID), err
    if code == cli.EXIT_INVALID:
        assert err.count("\n") == 1 and err.startswith(f"eventbench: {path}: "), err
    tally.record("evts: eventbench verify --events", f"exit {code}")


@FUZZ
@given(image=evts_images())
def test_evts_engine_validator(image: bytes) -> None:
    try:
        native_cffi.validate_file(image)
        tally.record("evts: engine evb_validate_file", _verdict(None))
    except InvalidInput as e:
        _check_message(e)
        tally.record("evts: engine evb_validate_file", _verdict(e))


@FUZZ
@given(image=evts_images(), n_keys=st.one_of(st.integers(0, 40), st.sampled_from([2**24, 2**24 + 1, 2**32 - 1])))
def test_evts_engine_run(image: bytes, n_keys: int) -> None:
    """The records part of a corrupted image, straight into one engine call."""
    body = image[HEADER_SIZE:]
    done = np.zeros(max(1, len(body) // 32), dtype=np.uint64)
    engine = native_cffi.Engine("pool", 2)
    try:
        engine.run_stream(body, n_keys, done, 0, open_loop=False)
        tally.record("evts: engine evb_engine_run", _verdict(None))
    except (InvalidInput, ValueError) as e:
        _check_message(e)
        tally.record("evts: engine evb_engine_run", _verdict(e))
    finally:
        engine.free()


def _unchecked_stream(image: bytes, n_keys: int) -> EventStream:
    """An EventStream built around the validator, as a careless caller might."""
    usable = (max(0, len(image) - HEADER_SIZE) // 32) * 32
    records = np.frombuffer(image[HEADER_SIZE : HEADER_SIZE + usable], dtype=RECORD_DTYPE).copy()
    return EventStream(n_keys, records, "<fuzz>", SYNTHETIC)


@FUZZ
@given(
    image=evts_images(),
    n_keys=st.integers(0, 40),
    workers=st.one_of(st.integers(-2, 4), st.sampled_from([1024, 1025, 10**9]), st.just(True)),
    name=st.sampled_from(CONTENDERS),
)
def test_evts_contender_entry_points(image: bytes, n_keys: int, workers: int, name: str) -> None:
    """Each contender refuses what the reader would have refused, and bad worker counts: in ``open``
    (the Python contenders), or when the engine validates the records at the start of the run."""
    contender = implementations.get(name)
    stream = _unchecked_stream(image, n_keys)
    try:
        with contender.open(stream, workers):
            pass
        outcome = run_once(contender, stream, workers=workers, mode="closed")
    except (InvalidInput, ValueError) as e:
        _check_message(e)
        tally.record(f"contender open() and run: {name}", _verdict(e))
        return
    assert 1 <= workers <= 1024 and not isinstance(workers, bool)
    assert outcome.valid and outcome.digest == reference_digest(stream), outcome.failures()
    tally.record(f"contender open() and run: {name}", _verdict(None))


def test_a_header_claiming_2_60_events_allocates_nothing(tmp_path: Path) -> None:
    """Refused on the file's size before anything is read or allocated for the body."""
    header = struct.pack("<8sIIQQ", b"EVTSTRM1", 1, 4, 2**60, 0)
    path = tmp_path / "liar.evts"
    path.write_bytes(header + bytes(64))
    tracemalloc.start()
    try:
        with pytest.raises(InvalidInput, match="a header of 1152921504606846976 events needs exactly"):
            read_evts(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024, f"{peak} bytes allocated refusing a 96-byte file"
    before = native_cffi.alloc_counters()[2]
    with pytest.raises(InvalidInput, match="size"):
        native_cffi.validate_file(header + bytes(64))
    assert native_cffi.alloc_counters()[2] - before < 4096  # the error message, nothing more
    tally.record("evts: 2^60-event header", "refused on size, < 64 KiB (Python) / < 4 KiB (engine) allocated")


# ---------------------------------------------------------------- workload TOML

# No mid-sized integers: a valid 10^8-event workload would take minutes to generate, not find bugs.
_ANY = st.one_of(
    st.integers(-5, 300),
    st.sampled_from([-(2**70), 2**70, 2**63, 2**64]), st.floats(allow_nan=True), st.booleans(), st.text(max_size=8),
    st.lists(st.integers(-5, 70_000), max_size=3),
    st.dictionaries(st.sampled_from(["a", "update"]), st.integers(), max_size=2),
)  # fmt: skip
_TOP = {
    "name": st.one_of(st.just("fz"), st.text(max_size=6)),
    "seed": st.one_of(st.integers(0, 9), st.sampled_from([-1, 2**64, 2**64 - 1])),
    "events": st.one_of(st.integers(0, 300), st.sampled_from([-1, 200_000_001, 10**12, 2**63])),
    "keys": st.one_of(st.integers(1, 50), st.sampled_from([0, -3, 16_777_217, 2**40])),
    "key_distribution": st.sampled_from(["uniform", "zipf", "pareto", ""]),
    "zipf_exponent": st.one_of(st.floats(0.1, 3), st.sampled_from([0, -1, 11, float("inf"), float("nan")])),
}
_KINDS = st.dictionaries(st.sampled_from(["update", "compute", "block", "aggregate", "updates"]),
                       st.one_of(st.integers(-2, 5), st.floats(allow_nan=True)), max_size=4)  # fmt: skip
_WORK = st.dictionaries(st.sampled_from(["compute_rounds", "block_us", "sleep"]),
                        st.one_of(st.lists(st.integers(-1, 70_000), max_size=3), st.sampled_from([[0, 50], [1, 30]])),
                        max_size=2)  # fmt: skip
_ARRIVAL = st.dictionaries(st.sampled_from(["process", "rate_eps", "burst_size", "jitter"]),
                           st.one_of(st.sampled_from(["closed", "constant", "poisson", "bursts", "never"]),
                                     st.sampled_from([1e5, 1e6, 0, -5, 1e10, 1e-9]), st.integers(0, 4)),
                           max_size=3)  # fmt: skip


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan" if value != value else ("inf" if value > 0 else "-inf") if abs(value) == float("inf") else repr(value)
        )
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string, escapes and all
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"


@st.composite
def workload_texts(draw: st.DrawFn) -> str:
    """Workload TOML with wrong types, out-of-range and absurd values, unknown keys; or broken TOML."""
    top = draw(st.fixed_dictionaries({}, optional=_TOP))
    if draw(st.booleans()):
        top[draw(st.sampled_from([*sorted(_TOP), "colour"]))] = draw(_ANY)  # a wrong type, or an unknown key
    lines = [f"{key} = {_toml_value(value)}" for key, value in top.items()]
    for table, strategy in (("kinds", _KINDS), ("work", _WORK), ("arrival", _ARRIVAL)):
        if draw(st.booleans()):
            lines += [f"[{table}]"] + [f"{k} = {_toml_value(v)}" for k, v in draw(strategy).items()]
    text = "\n".join(lines) + "\n"
    if draw(_ONE_IN_TEN):  # sometimes not TOML at all
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(["[", "= =", '"', "\x00", "]]"])) + text[cut:]
    return text


@FUZZ
@given(text=workload_texts())
def test_workload_loader(text: str, tmp_path: Path) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text(text)
    try:
        spec = workload.load_workload(str(path))
    except InvalidInput as e:
        assert e.source == str(path)
        _check_message(e)
        tally.record("workload TOML: load_workload", _verdict(e))
        return
    assert spec.events <= 1000  # nothing absurd got through (1,000 is the default)
    workload.generate(spec)
    tally.record("workload TOML: load_workload", _verdict(None))


@FUZZ
@given(text=workload_texts())
def test_workload_cli(text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, out = tmp_path / "fuzz.toml", tmp_path / "out.evts"
    path.write_text(text)
    out.unlink(missing_ok=True)
    code = cli.main(["export", "--workload", str(path), "-o", str(out)])
    err = capsys.readouterr().err
    assert code in (cli.EXIT_OK, cli.EXIT_INVALID), err
    if code == cli.EXIT_INVALID:
        assert err.count("\n") == 1 and err.startswith(f"eventbench: {path}: "), err
        assert not out.exists()
    else:
        read_evts(out)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
    tally.record("workload TOML: eventbench export --workload", f"exit {code}")


# ---------------------------------------------------------------- command lines

_ONE_IN_TEN = st.sampled_from([False] * 9 + [True])  # not integers(0, 9) == 0: hypothesis favours 0
_NUMBERS = st.sampled_from(["0", "-1", "1", "2", "3", "1e3", "nan", "inf", "-inf", "x", "", "1,2", "2,,3",
                            "99999999999999999999", "0x10", " 4", "1025"])  # fmt: skip
# Each option: (values that work, awkward values); a flag has none. Most draws take a working
# value, so that the awkward one meets every command's later checks, not only argparse.
_OPTIONS: dict[str, tuple[list[str], st.SearchStrategy[str]] | None] = {
    "--impl": (["sequential", "native", "threaded,native", "native-sequential"], st.sampled_from(["nope", "", ","])),
    "--workload": (["smoke", "contention"], st.sampled_from(["nope", "", "/dev/null", "x.toml", "OUT"])),
    "--events": (["OUT/x.evts"], st.sampled_from(["/nonexistent.evts", "/dev/null", "."])),
    "--n-events": (["40", "0", "7"], st.one_of(_NUMBERS, st.just("200000001"))),
    "--workers": (["1", "2", "3", "1,2"], _NUMBERS),
    "--mode": (["closed"], st.sampled_from(["open", "half", ""])),
    "--alloc-events": (["20", "0"], _NUMBERS),
    "--trials": (["2", "3"], _NUMBERS),
    "--seed": (["7"], _NUMBERS),
    "--baseline": (["sequential"], st.sampled_from(["native", "nope"])),
    "--rates": (
        ["20000", "20000,40000", "10000:40000:2"],
        st.sampled_from(["1000:0:3", "a:b:c", "0", "-5", "1e30", "nan", "3:2"]),
    ),
    "--seconds": (["0.01"], _NUMBERS),
    "--p99-objective-us": (["1000"], _NUMBERS),
    "--preset": (["fast"], st.just("slow")),
    "--processes": (["1"], _NUMBERS),
    "-o": (["OUT/x.evts", "OUT/y.json"], st.sampled_from(["OUT", "/proc/nope/x"])),
    "--json": (["OUT/r.json"], st.sampled_from(["OUT", ""])),
    "--out": (["OUT/report"], st.sampled_from(["/proc/nope", ""])),
    "--report": None,
    "--no-plots": None,
    "--bogus": None,
}
# Each command: what makes it valid (later options override it: argparse keeps the last), and its options.
_COMMANDS: dict[str, tuple[list[str], list[str]]] = {
    "list": ([], ["--json"]),
    "export": (["--workload", "smoke", "-o", "OUT/e.evts"], ["--workload", "--n-events", "-o"]),
    "run": (["--impl", "native", "--workload", "smoke"],
            ["--impl", "--workload", "--events", "--n-events", "--mode", "--workers", "--json", "--alloc-events"]),
    "verify": (["--workload", "smoke"], ["--impl", "--workload", "--events", "--n-events", "--mode", "--workers"]),
    "compare": (["--trials", "2"], ["--impl", "--workload", "--events", "--n-events", "--mode", "--workers",
                                    "--baseline", "--report", "--alloc-events", "--trials", "--seed"]),
    "report": (["RESULTS"], ["--out", "--baseline", "--no-plots"]),
    "sweep": (["--impl", "native", "--rates", "20000", "--trials", "6"],
              ["--impl", "--workload", "--rates", "--p99-objective-us", "--seconds", "--n-events", "--workers",
               "--trials", "--seed"]),
    "bench": ([], ["--impl", "--workload", "--workers", "--preset", "--processes", "-o"]),
    "frobnicate": ([], []),
}  # fmt: skip


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    """A valid command line, then options (mostly the command's own) with working or awkward values,
    a missing value now and then; every run that starts is kept tiny."""
    command = draw(st.sampled_from(sorted(_COMMANDS)))
    base, own = _COMMANDS[command]
    argv = [command, *base]
    for _ in range(draw(st.integers(0, 4))):
        pool = own if own and not draw(_ONE_IN_TEN) else sorted(_OPTIONS)  # now and then another command's
        option = draw(st.sampled_from(pool))
        argv.append(option)
        values = _OPTIONS.get(option)
        if values is None or draw(_ONE_IN_TEN):  # a flag, or now and then a missing value
            continue
        working, awkward = values
        argv.append(draw(awkward) if draw(st.booleans()) and draw(st.booleans()) else draw(st.sampled_from(working)))
    if command in ("run", "verify", "compare", "sweep") and "--n-events" not in argv:
        argv += ["--n-events", "40"]
    if command == "bench":
        argv += ["--n-events", "0"]  # pyperf's worker processes take seconds: bench stops at its checks
    return argv


@FUZZ
@given(argv=command_lines())
def test_command_lines(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "OUT").mkdir(exist_ok=True)
    if not (tmp_path / "OUT" / "x.evts").exists():
        cli.main(["export", "--workload", "smoke", "--n-events", "30", "-o", str(tmp_path / "OUT" / "x.evts")])
    argv = [a.replace("OUT", str(tmp_path / "OUT")).replace("RESULTS", str(tmp_path / "results")) for a in argv]
    if argv[0] in ("compare", "sweep"):
        argv += ["--results-dir", str(tmp_path / "results")]
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code in (cli.EXIT_OK, cli.EXIT_WRONG, cli.EXIT_INVALID), (argv, code, err)
    assert "Traceback" not in err + out
    if code == cli.EXIT_INVALID and argv[0] != "report":  # report names each bad document on a line
        assert err.count("\n") == 1, (argv, err)
    staged = [p for p in (tmp_path / "results").rglob(".*")] if (tmp_path / "results").exists() else []
    assert not staged, staged  # no staging directory left behind
    tally.record("command line: eventbench", f"exit {code}")


# ---------------------------------------------------------------- stored result documents


@pytest.fixture(scope="module")
def good_document() -> ResultDocument:
    stream = workload.generate(workload.load_workload("smoke").with_events(200))
    contender = implementations.get("sequential")
    outcome = run_once(contender, stream, workers=1, mode="closed", reference_digest=reference_digest(stream))
    return results.single_run(outcome, stream, {"name": "smoke"})


@st.composite
def corrupted_documents(draw: st.DrawFn, good: ResultDocument) -> bytes:
    doc = json.loads(json.dumps(good.to_json()))
    how = draw(st.sampled_from(["drop", "retype", "version", "truncate", "byte", "not-json", "not-object"]))
    if how == "drop":
        del doc[draw(st.sampled_from(sorted(doc)))]
    elif how == "retype":
        junk = st.one_of(
            st.none(), st.text(max_size=3), st.integers(), st.lists(st.integers(), max_size=2), st.booleans()
        )
        doc[draw(st.sampled_from(sorted(doc)))] = draw(junk)
    elif how == "version":
        doc["schema_version"] = draw(st.one_of(st.integers(-1, 99), st.text(max_size=2), st.none()))
    text = json.dumps(doc).encode()
    if how == "truncate":
        text = text[: draw(st.integers(0, len(text) - 1))]
    elif how == "byte":
        i = draw(st.integers(0, len(text) - 1))
        text = text[:i] + bytes([draw(st.integers(0, 255))]) + text[i + 1 :]
    elif how == "not-json":
        text = draw(st.binary(max_size=40))
    elif how == "not-object":
        text = json.dumps(draw(st.one_of(st.lists(st.integers()), st.integers(), st.text()))).encode()
    return text


@FUZZ
@given(data=st.data())
def test_stored_documents(data: st.DataObject, good_document: ResultDocument, tmp_path: Path) -> None:
    """A corrupted or newer document is refused with its name; the others beside it still load."""
    folder = tmp_path / "docs"
    folder.mkdir(exist_ok=True)
    results.dump(good_document, folder / "good.json")
    bad = folder / "bad.json"
    bad.write_bytes(data.draw(corrupted_documents(good_document)))
    refused: InvalidInput | None = None
    try:
        results.load(bad)
        verdict = "accepted (still a complete document)"
    except InvalidInput as e:
        assert e.source == str(bad)
        _check_message(e)
        refused, verdict = e, f"InvalidInput ({e.where.split(',')[0]})"
    docs, errors = results.load_many([folder])
    assert [Path(d.source or "").name for d in docs if Path(d.source or "").name == "good.json"] == ["good.json"]
    assert all(e.source == str(bad) for e in errors)
    no_schema = refused is not None and refused.where == "schema_version" and refused.rule.startswith("missing")
    if refused is not None and not no_schema:  # a JSON file with no schema at all is passed over in a folder
        assert len(errors) == 1  # named, beside the good one
    tally.record("result document: results.load", verdict)


def test_a_newer_schema_is_named_and_the_rest_still_report(
    good_document: ResultDocument, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "docs"
    results.dump(good_document, folder / "good.json")
    results.dump(good_document.to_json() | {"schema_version": SCHEMA_VERSION + 1}, folder / "newer.json")
    (folder / "broken.json").write_text('{"schema_version": 2, "implem')
    code = cli.main(["report", str(folder), "--no-plots", "--out", str(tmp_path / "report")])
    err = capsys.readouterr().err.splitlines()
    assert code == cli.EXIT_INVALID
    newer = f"{folder / 'newer.json'}: schema_version: {SCHEMA_VERSION + 1} is not one this eventbench reads"
    assert any(newer in line for line in err)
    assert any(f"{folder / 'broken.json'}: file: not a readable result document" in line for line in err)
    assert (tmp_path / "report" / "report.md").exists()  # the good document was still reported
    tally.record("result document: eventbench report", "newer and broken named, exit 2, the good one reported")


# ---------------------------------------------------------------- writes


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from protocol import storage

    path = tmp_path / "doc.json"
    storage.atomic_write_text(path, "old")

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.os, "fsync", full_disk)
    with pytest.raises(InvalidInput, match=r"doc\.json: output: No space left on device"):
        storage.atomic_write_text(path, "new")

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(storage.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        storage.atomic_write_text(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["doc.json"]
    tally.record("writes: atomic_write", "disk full and Ctrl-C mid-write: old file kept, no temporary")


def test_two_compares_at_once_write_distinct_complete_directories(tmp_path: Path) -> None:
    import subprocess
    import sys

    results_dir = tmp_path / "results"
    command = [sys.executable, "-m", "harness.cli", "compare", "--workload", "contention", "--n-events", "3000",
               "--workers", "2", "--alloc-events", "0", "--results-dir", str(results_dir)]  # fmt: skip
    # From tmp_path, not the checkout: there `python -m` would import the unbuilt source tree.
    runs = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]  # fmt: skip
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    directories = sorted((results_dir / "runs").iterdir())
    assert len(directories) == 2 and not any(d.name.startswith(".") for d in directories)
    docs, errors = results.load_many([results_dir])
    assert not errors
    names = [sorted(doc.implementation for doc in docs if Path(doc.source or "").parent == d) for d in directories]
    assert names[0] == names[1] and {"sequential", "threaded"} <= set(names[0]), names  # each run complete
    tally.record("writes: two compare runs at once", "two distinct directories, every document loads")
