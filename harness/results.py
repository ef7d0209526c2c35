"""Result documents: the versioned JSON of one run, written atomically, loaded with care.

Schema history (bump SCHEMA_VERSION on any change a reader would notice):

* 1 — first version: SPEC §6's fields, plus ``valid``, ``failures``,
  ``reference_digest``, ``digest_ok``, ``workload`` and ``cpu_s``/``ctx_switches``
  totals. ``allocations_per_event`` is ``null`` when it was not measured.
* 2 — ``allocations_per_event`` is measured (``harness.allocations``), and
  ``allocations`` holds the counting pass's details (events counted, retained
  blocks, the observer's excluded allocations, the native cross-check); both
  ``null`` when counting was skipped or unavailable.
* 3 — ``model`` (the contender's model: sequential, threads, event loop, processes,
  native ...), by which reports group contenders, and ``setup_s``, the time of the
  contender's untimed setup (``open``: decoding, starting pools and worker processes),
  shown apart from handling. Documents of 1 and 2 lack both.
* 4 — trials (``harness.trials``): ``trials`` holds every trial's figures, checks, digest,
  round and place in its round; the headline figures (``throughput_eps``, ``latency_ns``,
  ``cpu_s_per_event``, ...) are the medians over the trials, and ``intervals`` gives each
  one's median with its 95 % interval (``point``, ``low``, ``high``, ``confidence``, ``n``);
  ``comparison`` (``compare`` only) the seed, every round's order and the method by which
  ratios are judged; ``floor`` (``compare`` only) the machine's floor measured in the same run.
  ``valid`` holds only when every trial was right. A single run (``run``, ``sweep``) is one
  trial. Readers accept 1 to 4; older documents read as one trial.
* 5 — sweep points (``sweep``) run trials too: each point holds its trials, ``comparison``
  (its own seed and round orders) and ``floor`` (the floor that ran in its rounds), and
  ``sweep`` holds ``offered_eps``, ``objective_p99_ns`` and the sweep's ``seed``. A point is
  decided by its median p99's interval (``harness.sweep``); a point of 4 or older is one run
  (a miss confirmed by a second, ``"attempt": 2``), decided by its p99.
* 6 — ``scenario``: the scenario whose semantics the run computed, ``{"name", "version"}``
  (SPEC §7). Documents of 1 to 5 are ``synthetic`` version 1, the only scenario there was.
  Readers refuse to compare documents of different scenarios (:func:`one_scenario`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from harness import metadata
from harness.allocations import AllocationCount
from harness.runner import RunOutcome
from harness.trials import Trial, medians
from protocol.errors import InvalidInput
from protocol.events import EventStream
from protocol.storage import atomic_write_text

SCHEMA_VERSION = 6
SUPPORTED_VERSIONS = (1, 2, 3, 4, 5, 6)
# Fields every supported version has; a document without them is broken, not old.
REQUIRED_KEYS = ("implementation", "workers", "mode", "workload", "events", "valid", "failures", "digest_ok",
                 "throughput_eps", "latency_ns", "cpu_s_per_event", "ctx_switches_per_event", "metadata")  # fmt: skip


def document(
    trials: Sequence[Trial],
    workload: dict[str, Any],
    allocations: AllocationCount | None = None,
    comparison: dict[str, Any] | None = None,
    floor: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The result document of one contender's trials (one, for a single run). A contender wrong
    in any trial keeps every trial's checks but has no figures."""
    if not trials:
        raise ValueError("a result document needs at least one trial")
    first = trials[0].outcome
    valid = all(t.outcome.valid for t in trials)
    trial_dicts = [t.as_dict() for t in trials]
    intervals = medians(trial_dicts) if valid else {}
    point = {name: ci.point for name, ci in intervals.items()}
    latency = {p: round(point[f"latency_ns.{p}"]) for p in _LATENCY_KEYS} if "latency_ns.p50" in point else None
    wrong = next((t.outcome for t in trials if not t.outcome.valid), first)
    digests_ok = [t.outcome.digest_ok for t in trials]
    return {
        "schema_version": SCHEMA_VERSION,
        "implementation": first.implementation,
        "model": first.model,
        "scenario": {"name": first.scenario, "version": first.scenario_version},
        "workers": first.workers,
        "mode": first.mode,
        "workload": workload,
        "events": first.n_events,
        "n_keys": first.n_keys,
        "digest": wrong.digest,
        "reference_digest": first.reference_digest,
        "digest_ok": None if first.reference_digest is None else all(digests_ok),
        "valid": valid,
        "failures": _failures(trials),
        "checks": {
            c.name: all(c.name in t["checks"] and t["checks"][c.name] for t in trial_dicts) for c in first.checks
        },
        "setup_s": statistics.median(t.outcome.setup_ns / 1e9 for t in trials),
        "wall_s": statistics.median(t.figures.wall_s for t in trials if t.figures) if valid else None,
        "throughput_eps": point.get("throughput_eps"),
        "latency_ns": latency,
        "allocations_per_event": allocations.per_event if allocations and valid else None,
        "allocations": allocations.as_dict() if allocations and valid else None,
        "cpu_s": statistics.median(t.outcome.cpu_s for t in trials),
        "cpu_s_per_event": point.get("cpu_s_per_event"),
        "ctx_switches": round(statistics.median(t.outcome.ctx_switches for t in trials)),
        "ctx_switches_per_event": point.get("ctx_switches_per_event"),
        "intervals": {name: ci.as_dict() for name, ci in intervals.items()},
        "trials": trial_dicts,
        "comparison": comparison,
        "floor": floor,
        "metadata": metadata.collect(),
        "created_unix_s": time.time(),
    }


def _failures(trials: Sequence[Trial]) -> list[str]:
    """Every wrong trial's failures, naming the trial where there were several."""
    if len(trials) == 1:
        return trials[0].outcome.failures()
    return [f"trial {t.round + 1}: {failure}" for t in trials for failure in t.outcome.failures()]


def single_run(outcome: RunOutcome, stream: EventStream, workload: dict[str, Any],
               allocations: AllocationCount | None = None) -> dict[str, Any]:  # fmt: skip
    """The document of one run (``run``): a comparison of one trial."""
    return document([Trial.of(outcome, stream)], workload, allocations)


def dump(doc: dict[str, Any], path: Path) -> Path:
    return atomic_write_text(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")


def load(path: Path) -> dict[str, Any]:
    """Loads a result document; raises :class:`InvalidInput` for a broken or newer one."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidInput(str(path), "file", f"not a readable result document ({e})") from None
    if not isinstance(doc, dict) or "schema_version" not in doc:
        raise InvalidInput(str(path), "schema_version", "missing: not an eventbench result document")
    version = doc["schema_version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidInput(str(path), "schema_version", f"must be an integer, got {version!r}")
    if version not in SUPPORTED_VERSIONS:
        who = "a newer eventbench wrote it" if version > max(SUPPORTED_VERSIONS) else "no eventbench writes it"
        raise InvalidInput(
            str(path),
            "schema_version",
            f"{version} is not one this eventbench reads ({', '.join(map(str, SUPPORTED_VERSIONS))}); {who}",
        )
    missing = [key for key in REQUIRED_KEYS if key not in doc]
    if missing:
        raise InvalidInput(str(path), ", ".join(missing), "missing: not a complete result document")
    errors = _shape_errors(doc)
    if errors:
        raise InvalidInput(str(path), *errors[0])
    return doc


_NUMBER = (int, float)
_TYPES: dict[str, tuple[type, ...]] = {
    "implementation": (str,), "workers": (int,), "mode": (str,), "workload": (dict,), "events": (int,),
    "valid": (bool,), "failures": (list,), "metadata": (dict,),
}  # fmt: skip
_OPTIONAL_NUMBERS = ("throughput_eps", "cpu_s_per_event", "ctx_switches_per_event", "allocations_per_event", "setup_s")
_LATENCY_KEYS = ("p50", "p90", "p99", "p999", "max")


def _shape_errors(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """What readers rely on, checked once here so that no report trips over a malformed document."""
    errors = []
    for key, types in _TYPES.items():
        value = doc[key]
        if not isinstance(value, types) or (types == (int,) and isinstance(value, bool)):
            errors.append((key, f"must be {' or '.join(t.__name__ for t in types)}, got {type(value).__name__}"))
    for key in _OPTIONAL_NUMBERS:
        value = doc.get(key)
        if value is not None and (not isinstance(value, _NUMBER) or isinstance(value, bool)):
            errors.append((key, f"must be a number or null, got {type(value).__name__}"))
    if not isinstance(doc.get("model", ""), str):
        errors.append(("model", f"must be a string, got {type(doc['model']).__name__}"))
    latency = doc["latency_ns"]
    if latency is not None and (
        not isinstance(latency, dict) or any(not isinstance(latency.get(k), _NUMBER) for k in _LATENCY_KEYS)
    ):
        errors.append(("latency_ns", f"must be null or hold numbers {', '.join(_LATENCY_KEYS)}"))
    trials = doc.get("trials")
    if trials is not None and (
        not isinstance(trials, list)
        or not all(_is_trial(t) for t in trials)
        or len({t["round"] for t in trials}) != len(trials)
    ):
        errors.append(("trials", "must be a list of trials, each with its own whole-number round, valid (true or "
                                 "false) and numbers or nulls as figures"))  # fmt: skip
    intervals = doc.get("intervals")
    if intervals is not None and not (isinstance(intervals, dict) and all(map(_is_interval, intervals.values()))):
        errors.append(("intervals", f"must map figures to intervals holding numbers {', '.join(_INTERVAL_KEYS)}"))
    sweep = doc.get("sweep")
    if sweep is not None and (
        not isinstance(sweep, dict)
        or not all(isinstance(sweep.get(k), _NUMBER) for k in ("offered_eps", "objective_p99_ns"))
    ):
        errors.append(("sweep", "must hold numbers offered_eps and objective_p99_ns"))
    scenario = doc.get("scenario")
    if doc["schema_version"] >= 6 and not (
        isinstance(scenario, dict)
        and isinstance(scenario.get("name"), str)
        and isinstance(scenario.get("version"), int)
        and not isinstance(scenario.get("version"), bool)
    ):
        errors.append(("scenario", "must hold its name (a string) and version (a whole number)"))
    return errors


_INTERVAL_KEYS = ("point", "low", "high", "confidence", "n")


def _is_interval(ci: object) -> bool:
    return isinstance(ci, dict) and all(isinstance(ci.get(k), _NUMBER) for k in _INTERVAL_KEYS)


def _is_figure(value: object) -> bool:
    return value is None or (isinstance(value, _NUMBER) and not isinstance(value, bool))


def _is_trial(trial: object) -> bool:
    """A trial readers can judge: a whole-number round, valid true or false, every figure a number or null."""
    if not isinstance(trial, dict) or not isinstance(trial.get("valid"), bool):
        return False
    round_index, latency = trial.get("round"), trial.get("latency_ns")
    figures = [trial.get(k) for k in ("throughput_eps", "cpu_s_per_event", "ctx_switches_per_event")]
    return (
        isinstance(round_index, int)
        and not isinstance(round_index, bool)
        and all(map(_is_figure, figures))
        and (latency is None or (isinstance(latency, dict) and all(map(_is_figure, latency.values()))))
    )


def timestamp() -> str:
    """UTC, sortable, safe in a file name: the stamp of every file name the harness makes up."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


class RunDirectory:
    """A fresh directory for one invocation's documents, published whole or not at all.

    Two invocations at once never share one (the name holds a stamp, the pid and a
    counter). Documents go into a hidden staging directory beside the final one
    (``runs/.NAME.partial``); leaving the ``with`` block normally renames it to
    ``runs/NAME`` in one step, and leaving it by an exception (a failed contender,
    Ctrl-C, SIGTERM) removes it: no reader ever sees half a comparison or half a sweep.
    """

    def __init__(self, results_dir: Path, label: str) -> None:
        stamp = timestamp()
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", label)
        runs = results_dir / "runs"
        for attempt in range(1000):
            name = f"{stamp}-{safe}-{os.getpid()}-{attempt}"
            self.staging, self.final = runs / f".{name}.partial", runs / name
            if self.final.exists():
                continue
            try:
                self.staging.mkdir(parents=True, exist_ok=False)
                return
            except FileExistsError:
                continue
            except OSError as e:
                raise InvalidInput(str(results_dir), "results directory", e.strerror or str(e)) from None
        raise InvalidInput(str(results_dir), "results directory", "no fresh run directory name after 1000 tries")

    @property
    def path(self) -> Path:
        """Where documents are written while the invocation runs."""
        return self.staging

    def published(self, path: Path) -> Path:
        """Where ``path`` (under :attr:`path`) is once published."""
        return self.final / path.relative_to(self.staging)

    def __enter__(self) -> RunDirectory:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            return
        try:
            os.rename(self.staging, self.final)
        except OSError as e:
            raise InvalidInput(str(self.final), "results directory", e.strerror or str(e)) from None


def scenario_of(doc: dict[str, Any]) -> tuple[str, int]:
    """The scenario a document's run computed, and its version (before schema 6: synthetic 1)."""
    found = doc.get("scenario") or {"name": "synthetic", "version": 1}
    return str(found["name"]), int(found["version"])


def one_scenario(docs: Sequence[dict[str, Any]]) -> None:
    """Refuses documents of more than one scenario (or version): their figures measure different
    work, so no ratio or table of them means anything. Names the first document that differs."""
    if not docs:
        return
    first = scenario_of(docs[0])
    for doc in docs[1:]:
        found = scenario_of(doc)
        if found != first:
            raise InvalidInput(
                str(doc.get("_path", doc["implementation"])), "scenario",
                f"is {found[0]} v{found[1]}, but {docs[0].get('_path', docs[0]['implementation'])} is "
                f"{first[0]} v{first[1]}: runs of different scenarios do not compare (report them apart)",
            )  # fmt: skip


def file_name(doc: dict[str, Any]) -> str:
    return f"{doc['implementation']}-w{doc['workers']}-{doc['mode']}.json"


def _documents_under(directory: Path) -> list[Path]:
    """JSON files under ``directory``, except in hidden directories (a run still staging, say)."""
    found = directory.rglob("*.json")
    return [p for p in found if not any(part.startswith(".") for part in p.relative_to(directory).parts)]


def load_many(paths: list[Path]) -> tuple[list[dict[str, Any]], list[InvalidInput]]:
    """Every result document under ``paths`` (files, or directories searched recursively).

    A broken or newer document is an error, returned beside the documents that did
    load; a JSON file in a directory that is not a result document at all (a pyperf
    file, say) is passed over. Each document gets ``_path``, where it came from.
    """
    docs: list[dict[str, Any]] = []
    errors: list[InvalidInput] = []
    for given in paths:
        if not given.exists():
            errors.append(InvalidInput(str(given), "path", "does not exist"))
            continue
        found = sorted(_documents_under(given)) if given.is_dir() else [given]
        for path in found:
            try:
                doc = load(path)
            except InvalidInput as e:
                if given.is_dir() and e.where == "schema_version" and "missing" in e.rule:
                    continue
                errors.append(e)
                continue
            doc["_path"] = str(path)
            docs.append(doc)
    return docs, errors
