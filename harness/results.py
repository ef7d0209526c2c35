"""Result documents: built from trials, written atomically, loaded with care.

The document's type, its JSON and its versions are :mod:`harness.document`'s; this module
makes documents of runs and moves them to and from files.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from harness import metadata, timeline
from harness.document import (
    AllocationCount,
    Comparison,
    Floor,
    ResultDocument,
    ScenarioId,
    SweepSettings,
    TimelineLog,
)
from harness.runner import RunOutcome
from harness.stats import PERCENTILE_NAMES, LatencySummary
from harness.trials import Trial, medians
from protocol.errors import InvalidInput
from protocol.events import EventStream
from protocol.storage import atomic_write_text


def document(
    trials: Sequence[Trial],
    workload: dict[str, Any],
    allocations: AllocationCount | None = None,
    comparison: Comparison | None = None,
    floor: Floor | None = None,
    sweep: SweepSettings | None = None,
) -> ResultDocument:
    """The result document of one contender's trials (one, for a single run). A contender wrong
    in any trial keeps every trial's checks but has no figures."""
    if not trials:
        raise ValueError("a result document needs at least one trial")
    first = trials[0].outcome
    valid = all(t.outcome.valid for t in trials)
    records = tuple(t.record() for t in trials)
    intervals = medians(records) if valid else {}
    point = {name: ci.point for name, ci in intervals.items()}
    latency, waiting, service = (
        LatencySummary(**{p: round(point[f"{part}.{p}"]) for p in PERCENTILE_NAMES}) if f"{part}.p50" in point else None
        for part in ("latency_ns", "waiting_ns", "service_ns")
    )
    wrong = next((t.outcome for t in trials if not t.outcome.valid), first)
    digests_ok = [t.outcome.digest_ok for t in trials]
    counted = allocations if allocations and valid else None
    return ResultDocument(
        implementation=first.implementation,
        model=first.model,
        scenario=ScenarioId(first.scenario, first.scenario_version),
        workers=first.workers,
        mode=first.mode,
        workload=workload,
        events=first.n_events,
        n_keys=first.n_keys,
        digest=wrong.digest,
        reference_digest=first.reference_digest,
        digest_ok=None if first.reference_digest is None else all(digests_ok),
        valid=valid,
        failures=_failures(trials),
        checks={c.name: all(t.checks.get(c.name, False) for t in records) for c in first.checks},
        setup_s=statistics.median(t.outcome.setup_ns / 1e9 for t in trials),
        wall_s=statistics.median(t.figures.wall_s for t in trials if t.figures) if valid else None,
        throughput_eps=point.get("throughput_eps"),
        latency_ns=latency,
        allocations_per_event=counted.per_event if counted else None,
        allocations=counted,
        cpu_s=statistics.median(t.outcome.cpu_s for t in trials),
        cpu_s_per_event=point.get("cpu_s_per_event"),
        ctx_switches=round(statistics.median(t.outcome.ctx_switches for t in trials)),
        ctx_switches_per_event=point.get("ctx_switches_per_event"),
        intervals=intervals,
        trials=records,
        comparison=comparison,
        floor=floor,
        metadata=metadata.collect(),
        created_unix_s=time.time(),
        sweep=sweep,
        starts_recorded=first.start_ns is not None,
        waiting_ns=waiting,
        service_ns=service,
    )


def _failures(trials: Sequence[Trial]) -> tuple[str, ...]:
    """Every wrong trial's failures, naming the trial where there were several."""
    if len(trials) == 1:
        return tuple(trials[0].outcome.failures())
    return tuple(f"trial {t.round + 1}: {failure}" for t in trials for failure in t.outcome.failures())


def single_run(outcome: RunOutcome, stream: EventStream, workload: dict[str, Any],
               allocations: AllocationCount | None = None) -> ResultDocument:  # fmt: skip
    """The document of one run (``run``): a comparison of one trial."""
    return document([Trial.of(outcome, stream)], workload, allocations)


def dump(doc: ResultDocument | dict[str, Any], path: Path) -> Path:
    """Writes a result document (or another of the harness's JSON documents: a soak's) atomically."""
    found = doc.to_json() if isinstance(doc, ResultDocument) else doc
    return atomic_write_text(path, json.dumps(found, indent=2, sort_keys=True) + "\n")


def publish(doc: ResultDocument, trials: Sequence[Trial], path: Path) -> ResultDocument:
    """Writes a document to ``path`` and, where its trials kept their latency over time, their
    interval log beside it (``NAME.hlog``, named in the document). Returns the document as
    written, its ``source`` the file (so a report made now finds the log, as one made later would)."""
    kept = [(t.round, t.timeline) for t in trials if t.timeline is not None]
    if kept and len(kept) == len(trials):  # a wrong trial has none: the contender has no figures at all
        log = path.with_name(timeline.log_name(path.name))
        first = kept[0][1]
        about = (f"{doc.implementation} (w{doc.workers}), {doc.scenario.name} v{doc.scenario.version}, "
                 f"{doc.workload.get('name') or doc.workload.get('file', '?')}, {doc.events} events")  # fmt: skip
        timeline.write_log(log, kept, about)
        doc = replace(doc, timeline=TimelineLog(log.name, first.interval_ns, timeline.ASSIGNED_BY,
                                                timeline.SIGNIFICANT_DIGITS))  # fmt: skip
    dump(doc, path)
    return replace(doc, source=str(path))


def timeline_series(doc: ResultDocument) -> timeline.Series | None:
    """The latency over time of a document's trials, merged per interval, read from its log;
    None where it has none (closed loop, before schema 7, a document never written). A missing or
    garbled log is an :class:`InvalidInput` naming it."""
    if doc.timeline is None or doc.source is None:
        return None
    path = Path(doc.source).parent / doc.timeline.log
    found = timeline.read_log(path)
    try:
        return timeline.series(list(found.values()))
    except ValueError as e:
        raise InvalidInput(str(path), "timeline log", str(e)) from None


def load(path: Path) -> ResultDocument:
    """Loads a result document; raises :class:`InvalidInput` for a broken or newer one."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidInput(str(path), "file", f"not a readable result document ({e})") from None
    return ResultDocument.from_json(found, str(path))


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


def one_scenario(docs: Sequence[ResultDocument]) -> None:
    """Refuses documents of more than one scenario (or version): their figures measure different
    work, so no ratio or table of them means anything. Names the first document that differs."""
    if not docs:
        return
    first = docs[0].scenario
    for doc in docs[1:]:
        if doc.scenario != first:
            raise InvalidInput(
                doc.origin, "scenario",
                f"is {doc.scenario.name} v{doc.scenario.version}, but {docs[0].origin} is "
                f"{first.name} v{first.version}: runs of different scenarios do not compare (report them apart)",
            )  # fmt: skip


def file_name(doc: ResultDocument) -> str:
    return f"{doc.implementation}-w{doc.workers}-{doc.mode}.json"


def _documents_under(directory: Path) -> list[Path]:
    """JSON files under ``directory``, except in hidden directories (a run still staging, say)."""
    found = directory.rglob("*.json")
    return [p for p in found if not any(part.startswith(".") for part in p.relative_to(directory).parts)]


def load_many(paths: list[Path]) -> tuple[list[ResultDocument], list[InvalidInput]]:
    """Every result document under ``paths`` (files, or directories searched recursively).

    A broken or newer document is an error, returned beside the documents that did
    load; a JSON file in a directory that is not a result document at all (a pyperf
    file, say) is passed over. Each document's ``source`` is the file it came from.
    """
    docs: list[ResultDocument] = []
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
            docs.append(doc)
    return docs, errors
