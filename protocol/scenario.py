"""What a scenario is: the contract an event handler is measured against (SPEC §7).

A scenario declares, once:

* its **name and version** (a version-2 event file names both);
* its **record**: a numpy structured dtype holding the harness's columns ``seq`` (u64),
  ``arrival_ns`` (u64) and ``key`` (u32) wherever it likes, and its own fields;
* its **rules** for its own fields, vectorised (:data:`FieldRules`); the harness applies
  SPEC §2's rules for ``seq``, ``arrival_ns`` and ``key`` and reports the earliest record
  broken, naming the file, the record and the rule;
* its **generator**: its own TOML table, parsed by ``params_from_table``, and
  ``fill_fields(params, seed, records)``, which fills its own fields of records whose
  ``seq``, ``arrival_ns`` and ``key`` the harness has drawn;
* its **semantics in Python** (:class:`PythonSemantics`), once, which every Python executor
  (a loop, a thread pool, an event loop, processes) runs; the reference digest is the
  sequential executor's.

A user's scenario is a package that exposes a :class:`Scenario` through the entry-point group
``eventbench.scenarios`` (docs/scenarios.md, and ``examples/scenario-*``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import numpy as np

if TYPE_CHECKING:
    from importlib.abc import Traversable  # for the types only: deprecated at run time from 3.12

# Which records break a rule (a boolean mask over the records) and how to say so for record i.
FieldRules = Callable[[np.ndarray], list[tuple[np.ndarray, Callable[[int], str]]]]

# guard(*ids) -> a context: where an executor runs several handlers at once it is a lock (or
# the locks of those ids' stripes), and nothing where one thread handles every event.
Guard = Callable[..., AbstractContextManager[object]]

# The handler of one event, by its index into the columns: returns the microseconds it then
# waits for I/O (0 for none), which the executor waits its own way.
Handler = Callable[[int], int]

NAME = re.compile(r"[a-z0-9-]{1,24}")  # SPEC §7: a version-2 header holds up to 24 such characters
HARNESS_COLUMNS = {"seq": np.dtype("<u8"), "arrival_ns": np.dtype("<u8"), "key": np.dtype("<u4")}

C = TypeVar("C")  # the decoded columns
K = TypeVar("K")  # every key's state
S = TypeVar("S")  # the state shared by every key
P = TypeVar("P")  # a worker process's part of the keys' state, as it sends it back


class PythonSemantics(Protocol, Generic[C, K, S, P]):
    """A scenario's handling, written once in Python for every Python executor.

    ``columns``, ``new_keys`` and ``new_shared`` are setup (before the clock); ``bind`` gives
    the per-event handler the executor calls in the timed window; ``digest`` is after it.
    Keys are independent: an executor hands each key's events, in ``seq`` order, to one
    handler, so per-key state needs no lock. Shared state is changed only inside ``guard``.
    Processes each bind their own keys and shared state; the parent then merges their parts.
    The reference binds the same keys and shared state once per chunk of the stream, in ``seq``
    order (so that its memory is bounded on any stream): every piece of state must live in
    ``keys`` and ``shared``, none in the handler's closure, and an event's index in ``columns``
    is not its ``seq``.
    """

    def columns(self, records: np.ndarray) -> C:
        """The records as the handler reads them (Python lists: far cheaper per event than numpy)."""
        ...

    def new_keys(self, n_keys: int) -> K: ...

    def new_shared(self) -> S: ...

    def bind(self, columns: C, keys: K, shared: S, guard: Guard) -> Handler: ...

    def keys_part(self, keys: K, owned: Sequence[int]) -> P:
        """What a worker process sends back: the state of the keys it owned."""
        ...

    def merge(self, n_keys: int, parts: Sequence[tuple[Sequence[int], P]], shared: Sequence[S]) -> tuple[K, S]:
        """Every key's state from the workers' parts, and the shared state their partial states sum to."""
        ...

    def digest(self, n_events: int, keys: K, shared: S) -> int: ...


@dataclass(frozen=True)
class DefaultWorkloads:
    """The built-in workload each command takes when ``--workload`` is not given."""

    compare: str  # compare, bench, and list's first
    sweep: str | None = None  # sweep paces it at each rate itself; default: compare's
    soak: str | None = None  # default: compare's


@dataclass(frozen=True)
class Scenario:
    name: str
    version: int
    description: str
    record_dtype: np.dtype
    field_rules: FieldRules
    tables: tuple[str, ...]  # the workload TOML's tables that hold the generator's parameters
    params_from_tables: Callable[[dict[str, dict[str, Any]], str], Any]  # (tables by name, source) -> params
    fill_fields: Callable[[Any, int, np.ndarray], None]  # (params, seed, records) -> None
    python: PythonSemantics[Any, Any, Any, Any]
    workloads: Traversable | None = None  # the built-in workloads' TOML files, if any
    defaults: DefaultWorkloads | None = None  # default: the first built-in workload, for every command
    # Its native library, if it has one: (package, file stem), a scenario crate on the engine crate
    # (implementations/native/engine) built into that package by setuptools-rust. The native
    # contenders host every scenario that has one (docs/scenarios.md, "Your handler in Rust").
    native_library: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ValueError(f"scenario name {self.name!r} must be 1-24 of a-z, 0-9 and '-' (SPEC §7)")
        if not 1 <= self.version < 2**32:
            raise ValueError(f"scenario {self.name}: version must be a u32 of at least 1, got {self.version}")
        fields: dict[str, Any] = dict(self.record_dtype.fields or {})
        for column, dtype in HARNESS_COLUMNS.items():
            if column not in fields or fields[column][0] != dtype:
                raise ValueError(f"scenario {self.name}: its record must hold {column} as {dtype}")

    @property
    def record_size(self) -> int:
        return self.record_dtype.itemsize

    def default_workload(self, command: str) -> str | None:
        """The built-in workload ``command`` (compare, sweep, soak) takes by default, if any."""
        if self.defaults is not None:
            return getattr(self.defaults, command, None) or self.defaults.compare
        return next(iter(self.workload_files()), None)

    def workload_files(self) -> dict[str, Traversable]:
        """The built-in workloads by name."""
        if self.workloads is None:
            return {}
        stems = {f.name[: -len(".toml")]: f for f in self.workloads.iterdir() if f.name.endswith(".toml")}
        return dict(sorted(stems.items()))  # by name: "book" before "book-paced" (by file name it is after)
