"""The registry: every contender, by name, in one place.

Built-in contenders are listed below; others come from installed packages through the
entry-point group ``eventbench.contenders`` (README: "Add an implementation in one file"):
each entry point names a :class:`Contender` subclass, or any callable returning a
contender, and its name is the contender's name.

A contender that cannot run here (a native library that did not build, a plugin that
fails to import) is still listed, with the reason; ``eventbench list`` shows it rather
than failing, and nothing a plugin does can stop the built-in contenders from running.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib.metadata import EntryPoint, entry_points

from implementations import calibration
from implementations.event_loop import Asyncio
from implementations.floors import FloorNative, FloorPython
from implementations.native_cffi import Native, NativeSequential
from implementations.processes import Processes
from implementations.sequential import Sequential
from implementations.threaded import Threaded
from protocol import moved_hint
from protocol.contender import Contender, ContenderError, ContenderInfo, PreparedRun, Unavailable

__all__ = [
    "ENTRY_POINT_GROUP",
    "REFERENCE",
    "Contender",
    "ContenderError",
    "ContenderInfo",
    "PreparedRun",
    "Registration",
    "Unavailable",
    "available",
    "floors",
    "get",
    "registry",
]

REFERENCE = "sequential"
ENTRY_POINT_GROUP = "eventbench.contenders"
# What --impl A,B can name and a result file's name can hold.
PLUGIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

_FACTORIES: dict[str, Callable[[], Contender]] = {
    "sequential": Sequential,
    "threaded": Threaded,
    "asyncio": Asyncio,
    "processes": Processes,
    "native": Native,
    "native-sequential": NativeSequential,
}


# Contenders that handle nothing (implementations/floors.py): never in registry(), so never
# verified or compared as contenders; what waiting alone costs, for the figures beside them.
_FLOORS: dict[str, Callable[[], Contender]] = {
    "floor-python": FloorPython,
    "floor-native": FloorNative,
}


def _factories() -> dict[str, Callable[[], Contender]]:
    """The built-in contenders, and the calibration switch's where it is set (implementations/calibration.py)."""
    return _FACTORIES | calibration.factories(_FACTORIES)


@dataclass(frozen=True)
class Registration:
    name: str
    contender: Contender | None
    reason: str  # why it is unavailable; empty when available
    origin: str = "built-in"  # or "plugin <entry point> from <distribution>"

    @property
    def available(self) -> bool:
        return self.contender is not None


def _plugins() -> dict[str, list[EntryPoint]]:
    """Installed entry points of :data:`ENTRY_POINT_GROUP`, by name."""
    found: dict[str, list[EntryPoint]] = {}
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value)):
        found.setdefault(entry_point.name, []).append(entry_point)
    return found


def _origin(entry_point: EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    return f"plugin {entry_point.value}" + (f" from {dist.name} {dist.version}" if dist is not None else "")


def _plugin_contender(name: str, candidates: list[EntryPoint]) -> Contender:
    """The plugin contender ``name``; raises Unavailable saying why it cannot be used."""
    if not PLUGIN_NAME.fullmatch(name):
        raise Unavailable(f"{_origin(candidates[0])}: '{name}' is not a usable name (letters, digits, . _ -)")
    if name in _factories() or name in _FLOORS:
        raise Unavailable(f"{_origin(candidates[0])} is ignored: '{name}' is a built-in contender's name")
    if len(candidates) > 1:
        raise Unavailable(f"{len(candidates)} plugins claim this name: {', '.join(map(_origin, candidates))}")
    origin = _origin(candidates[0])
    try:
        contender = candidates[0].load()()
        info = getattr(contender, "info", None)
    except Unavailable:
        raise
    except (Exception, SystemExit) as e:  # a broken plugin is reported, never allowed to stop the others
        message = " ".join(str(e).split())  # one line in `eventbench list`, whatever the plugin raised
        raise Unavailable(f"{origin} failed to load: {type(e).__name__}: {message}{moved_hint(e)}") from None
    if not isinstance(contender, Contender):
        raise Unavailable(f"{origin} gave a {type(contender).__name__}, not a Contender")
    if not isinstance(info, ContenderInfo):
        raise Unavailable(f"{origin} has no ContenderInfo as its info")
    if info.name != name:
        raise Unavailable(f"{origin} calls itself '{info.name}', not '{name}'")
    if old := _old_protocol(contender):
        raise Unavailable(f"{origin} implements an older protocol: {old} (docs/measurement-window.md)")
    return contender


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    sub: type
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _old_protocol(contender: Contender) -> str:
    """What the PreparedRun classes of the contender's package lack, written for an older protocol:
    ``digest()`` (before it, the window returned the digest) or ``run()`` (the window was called
    ``handle``). Found now, so that ``eventbench list`` says so, rather than a run failing to
    instantiate an abstract class."""
    package = type(contender).__module__.partition(".")[0]
    theirs = [c for c in _subclasses(PreparedRun) if c.__module__.partition(".")[0] == package]
    said = []
    for name, missing in sorted((c.__qualname__, frozenset(getattr(c, "__abstractmethods__", ()))) for c in theirs):
        if "run" in missing:
            said.append(f"{name} has no run() (the window, once called handle(): rename it)")
        if "digest" in missing:
            said.append(f"{name} has no digest() (the window returns nothing; digest() gives the digest after it)")
    return "; ".join(said)


def _registered(name: str, make: Callable[[], Contender], origin: str) -> Registration:
    try:
        return Registration(name, make(), "", origin)
    except Unavailable as e:
        return Registration(name, None, str(e), origin)


def registry() -> list[Registration]:
    """Every registered contender, available or not: the built-in ones, then plugins by name."""
    built_in = _factories()
    out = [_registered(name, factory, "built-in") for name, factory in built_in.items()]
    for name, candidates in _plugins().items():
        shown = f"{name} (plugin)" if name in built_in else name  # listed, never in the built-in's place
        out.append(_registered(shown, partial(_plugin_contender, name, candidates), _origin(candidates[0])))
    return out


def floors() -> list[Registration]:
    """The floors (``model == "floor"``), available or not, with the reason where not."""
    return [_registered(name, factory, "built-in") for name, factory in _FLOORS.items()]


def available() -> list[Contender]:
    return [r.contender for r in registry() if r.contender is not None]


def get(name: str) -> Contender:
    """The contender called ``name``; raises KeyError or Unavailable with a reason."""
    built_in = _factories()
    if name in built_in:
        return built_in[name]()
    plugins = _plugins()
    if name not in plugins:
        raise KeyError(name)
    return _plugin_contender(name, plugins[name])
