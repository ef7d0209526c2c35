"""The registry of scenarios: the built-ins below, others found through the entry-point group
``eventbench.scenarios`` (each entry point names a :class:`~protocol.scenario.Scenario`, or a
callable returning one; its name is the scenario's name). A scenario that cannot be used (a
plugin that fails to import, claims a built-in's name or another name) is listed with the reason
and never stops the others, as contenders are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from protocol import events, moved_hint
from protocol.events import EventStream
from protocol.scenario import Scenario
from scenarios import orderbook, synthetic

ENTRY_POINT_GROUP = "eventbench.scenarios"
DEFAULT = "synthetic"

_BUILT_IN = {"synthetic": synthetic.SCENARIO, "orderbook": orderbook.SCENARIO}
SYNTHETIC = synthetic.SCENARIO


@dataclass(frozen=True)
class Registration:
    name: str
    scenario: Scenario | None
    reason: str  # why it is unusable; empty when usable
    origin: str = "built-in"


def _origin(entry_point: EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    return f"plugin {entry_point.value}" + (f" from {dist.name} {dist.version}" if dist is not None else "")


def _plugin(name: str, candidates: list[EntryPoint]) -> Registration:
    origin = _origin(candidates[0])
    if name in _BUILT_IN:
        return Registration(f"{name} (plugin)", None, f"{origin} is ignored: '{name}' is a built-in scenario", origin)
    if len(candidates) > 1:
        return Registration(name, None, f"{len(candidates)} plugins claim this name", origin)
    try:
        loaded = candidates[0].load()
        scenario = loaded if isinstance(loaded, Scenario) else loaded()
    except (Exception, SystemExit) as e:  # a broken plugin is reported, never allowed to stop the others
        return Registration(
            name, None, f"{origin} failed to load: {type(e).__name__}: {' '.join(str(e).split())}{moved_hint(e)}"
        )
    if not isinstance(scenario, Scenario):
        return Registration(name, None, f"{origin} gave a {type(scenario).__name__}, not a Scenario", origin)
    if scenario.name != name:
        return Registration(name, None, f"{origin} calls itself '{scenario.name}', not '{name}'", origin)
    return Registration(name, scenario, "", origin)


def registry() -> list[Registration]:
    """Every scenario, usable or not: the built-ins, then plugins by name."""
    found: dict[str, list[EntryPoint]] = {}
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value)):
        found.setdefault(entry_point.name, []).append(entry_point)
    return [Registration(n, s, "") for n, s in _BUILT_IN.items()] + [_plugin(n, c) for n, c in found.items()]


def get(name: str) -> Scenario:
    """The scenario called ``name``; raises KeyError naming why it is unknown or unusable."""
    if name in _BUILT_IN:
        return _BUILT_IN[name]
    for registration in registry():
        if registration.name == name:
            if registration.scenario is None:
                raise KeyError(f"scenario '{name}' is unusable: {registration.reason}")
            return registration.scenario
    known = ", ".join(r.name for r in registry() if r.scenario is not None)
    raise KeyError(f"no scenario '{name}' (known: {known})")


def read_evts(path: str | os.PathLike[str]) -> EventStream:
    """Reads and validates a ``.evts`` file whose scenario (a version-2 header's) is any known here."""
    return events.read_evts(path, get)


def stream_from_bytes(data: bytes | bytearray | memoryview, source: str = "<bytes>") -> EventStream:
    """The same for a ``.evts`` image held in memory."""
    return events.stream_from_bytes(data, source, get)


__all__ = [
    "DEFAULT", "ENTRY_POINT_GROUP", "SYNTHETIC", "Registration", "Scenario", "get", "read_evts", "registry",
    "stream_from_bytes",
]  # fmt: skip
