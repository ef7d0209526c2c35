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
  shown apart from handling. Documents of 1 and 2 lack both; readers accept 1 to 3.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from harness import metadata
from harness.allocations import AllocationCount
from harness.errors import InvalidInput
from harness.runner import Figures, RunOutcome
from harness.storage import atomic_write_text

SCHEMA_VERSION = 3
SUPPORTED_VERSIONS = (1, 2, 3)
# Fields every supported version has; a document without them is broken, not old.
REQUIRED_KEYS = ("implementation", "workers", "mode", "workload", "events", "valid", "failures", "digest_ok",
                 "throughput_eps", "latency_ns", "cpu_s_per_event", "ctx_switches_per_event", "metadata")  # fmt: skip


def document(
    outcome: RunOutcome,
    figures: Figures | None,
    workload: dict[str, Any],
    allocations: AllocationCount | None = None,
) -> dict[str, Any]:
    """The result document of one run. A wrong run keeps its checks but has no figures."""
    f = figures
    counted = allocations if f else None
    return {
        "schema_version": SCHEMA_VERSION,
        "implementation": outcome.implementation,
        "model": outcome.model,
        "workers": outcome.workers,
        "mode": outcome.mode,
        "workload": workload,
        "events": outcome.n_events,
        "n_keys": outcome.n_keys,
        "digest": outcome.digest,
        "reference_digest": outcome.reference_digest,
        "digest_ok": outcome.digest_ok,
        "valid": outcome.valid,
        "failures": outcome.failures(),
        "checks": {c.name: c.passed for c in outcome.checks},
        "setup_s": outcome.setup_ns / 1e9,
        "wall_s": f.wall_s if f else None,
        "throughput_eps": f.throughput_eps if f else None,
        "latency_ns": f.latency_ns.as_dict() if f and f.latency_ns else None,
        "allocations_per_event": counted.per_event if counted else None,
        "allocations": counted.as_dict() if counted else None,
        "cpu_s": outcome.cpu_s,
        "cpu_s_per_event": f.cpu_s_per_event if f else None,
        "ctx_switches": outcome.ctx_switches,
        "ctx_switches_per_event": f.ctx_switches_per_event if f else None,
        "metadata": metadata.collect(),
        "created_unix_s": time.time(),
    }


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
    sweep = doc.get("sweep")
    if sweep is not None and (
        not isinstance(sweep, dict)
        or not all(isinstance(sweep.get(k), _NUMBER) for k in ("offered_eps", "objective_p99_ns"))
    ):
        errors.append(("sweep", "must hold numbers offered_eps and objective_p99_ns"))
    return errors


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
