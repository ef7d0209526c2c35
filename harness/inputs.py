"""What a command runs on: its stream (a recorded file or a workload), the scenario asked for, the
contenders that host it, and the loop it runs in.

Plain values in (names, paths), checked objects out, so that the command line and Python callers
resolve them alike. A refusal is an :class:`InvalidInput` naming the command-line option the
value comes from, since that is how the command line reports it (one line, exit 2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import implementations
import scenarios
from harness import workload
from implementations import Contender
from protocol.errors import InvalidInput
from protocol.events import EventStream
from protocol.scenario import Scenario


@dataclass(frozen=True)
class StreamSource:
    """Which stream: a recorded ``.evts`` file, else a workload (a built-in's name or a TOML file),
    else the scenario's built-in workload for the command. ``scenario``, where given, must be the
    file's or the workload's own; ``n_events`` overrides a workload's event count."""

    events: str | None = None  # the path as given: documents record it so
    workload: str | None = None
    scenario: str | None = None
    n_events: int | None = None


@dataclass(frozen=True)
class LoadedStream:
    stream: EventStream
    label: str  # workload name or file name, for titles and directory names
    info: dict[str, Any]  # what the result documents record about the input
    default_mode: str


def scenario_named(name: str | None) -> Scenario | None:
    """The scenario of ``--scenario``, where given (else the workload or the file names its own)."""
    if name is None:
        return None
    try:
        return scenarios.get(name)
    except KeyError as e:
        raise InvalidInput("--scenario", name, str(e.args[0])) from None


def workload_spec(source: StreamSource, command: str) -> workload.WorkloadSpec:
    """``--workload`` (which must be of ``--scenario`` where both are given), else the scenario's
    built-in workload for ``command`` (compare, sweep or soak)."""
    asked = scenario_named(source.scenario)
    name = source.workload or (asked or scenarios.get(scenarios.DEFAULT)).default_workload(command)
    if name is None:
        assert asked is not None  # synthetic has built-in workloads
        raise InvalidInput(
            "--workload", "missing", f"scenario {asked.name} has no built-in workloads: name a TOML file"
        )
    return workload.load_workload(name, asked)


def load_stream(source: StreamSource) -> LoadedStream:
    if source.events:
        stream = scenarios.read_evts(source.events)
        asked = scenario_named(source.scenario)
        if asked is not None and asked.name != stream.scenario.name:
            raise InvalidInput(
                source.events, "scenario", f"the file holds {stream.scenario.name} events, not {asked.name}"
            )
        if source.n_events is not None:
            raise InvalidInput("--n-events", "argument", "applies to --workload only, not to a recorded --events file")
        has_arrivals = stream.n_events > 0 and int(stream.column("arrival_ns")[-1]) > 0
        info = {"file": str(source.events), "scenario": stream.scenario.name, "events": stream.n_events,
                "n_keys": stream.n_keys}  # fmt: skip
        return LoadedStream(stream, Path(source.events).stem, info, "open" if has_arrivals else "closed")
    spec = workload_spec(source, "compare")
    if source.n_events is not None:
        spec = spec.with_events(source.n_events)
    info = spec.summary() | {"seed": spec.seed, "source": spec.source}
    return LoadedStream(workload.generate(spec), spec.name, info, spec.default_mode)


def run_mode(asked: str | None, loaded: LoadedStream) -> str:
    """``--mode``, else the stream's default; an open loop it cannot wait for is refused here,
    before any run (the runner refuses it too, but only after the reference has run)."""
    mode = asked or loaded.default_mode
    if mode == "open":
        loaded.stream.check_open_loop()
    return mode


def hosting(
    contenders: Sequence[Contender] | None, scenario: Scenario, note: Callable[[str], None] | None = None
) -> list[Contender]:
    """Those that host ``scenario``: every one of ``contenders`` must (else one line saying which
    scenarios it hosts); ``None`` means every available contender that hosts it, and ``note`` is
    told of each that would but cannot here (its native library did not load), with why."""
    if contenders is not None:
        for contender in contenders:
            if not contender.info.hosts(scenario.name):
                raise InvalidInput("--impl", contender.info.name, contender.info.not_hosting(scenario.name))
        return list(contenders)
    available = implementations.available()
    for contender in available:
        if note is not None and scenario.name in dict(contender.info.cannot_host):
            note(f"  left out: {contender.info.name} {contender.info.not_hosting(scenario.name)}")
    chosen = [c for c in available if c.info.hosts(scenario.name)]
    if not chosen:
        raise InvalidInput("--scenario", scenario.name, "no available contender hosts it")
    return chosen
