"""The contract every other part of eventbench is written against, and nothing else.

The packages sit in layers, each importing only the ones below it:

* ``protocol`` (this one): the ``.evts`` stream and its files (``events``), what a scenario
  declares (``scenario``), what a contender does (``contender``), the digest's mixer
  (``splitmix``), the one error type for bad input (``errors``) and whole-or-nothing writes
  (``storage``). The standard library and numpy only.
* ``scenarios``: the registry, the built-in scenarios, and reading a file whose scenario is
  any known one.
* ``implementations``: the contenders (the Python executors, the native engine, the floors).
* ``harness``: everything that drives, checks, measures and reports a run, and the CLI.
"""

from __future__ import annotations

# Where the contract's modules were before they came here, for a plugin that still imports them.
MOVED = {
    "harness.events": "protocol.events",
    "harness.errors": "protocol.errors",
    "harness.splitmix": "protocol.splitmix",
    "harness.storage": "protocol.storage",
    "implementations.base": "protocol.contender",
    "scenarios.base": "protocol.scenario",
}


def moved_hint(error: BaseException) -> str:
    """For a plugin that failed to import a module the contract moved: where it is now (and the
    names it renamed); otherwise nothing."""
    if isinstance(error, ModuleNotFoundError) and error.name in MOVED:
        return f" (now {MOVED[error.name]}; Session is PreparedRun, its handle() is run())"
    return ""
