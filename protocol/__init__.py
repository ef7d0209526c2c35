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
