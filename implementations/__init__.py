"""The registry: every contender, by name, in one place.

A contender that cannot run here (a native library that did not build, say) is
still listed, with the reason; ``eventbench list`` shows it rather than failing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from implementations.base import Contender, ContenderError, ContenderInfo, Session, Unavailable
from implementations.event_loop import Asyncio
from implementations.native_cffi import Native, NativeSequential
from implementations.processes import Processes
from implementations.sequential import Sequential
from implementations.threaded import Threaded

__all__ = [
    "REFERENCE",
    "Contender",
    "ContenderError",
    "ContenderInfo",
    "Registration",
    "Session",
    "Unavailable",
    "available",
    "get",
    "registry",
]

REFERENCE = "sequential"

_FACTORIES: dict[str, Callable[[], Contender]] = {
    "sequential": Sequential,
    "threaded": Threaded,
    "asyncio": Asyncio,
    "processes": Processes,
    "native": Native,
    "native-sequential": NativeSequential,
}


@dataclass(frozen=True)
class Registration:
    name: str
    contender: Contender | None
    reason: str  # why it is unavailable; empty when available

    @property
    def available(self) -> bool:
        return self.contender is not None


def registry() -> list[Registration]:
    """Every registered contender, available or not, in registration order."""
    out = []
    for name, factory in _FACTORIES.items():
        try:
            out.append(Registration(name, factory(), ""))
        except Unavailable as e:
            out.append(Registration(name, None, str(e)))
    return out


def available() -> list[Contender]:
    return [r.contender for r in registry() if r.contender is not None]


def get(name: str) -> Contender:
    """The contender called ``name``; raises KeyError or Unavailable with a reason."""
    if name not in _FACTORIES:
        raise KeyError(name)
    return _FACTORIES[name]()
