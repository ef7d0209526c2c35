"""eventbench's harness: workloads, runs, checks, figures and the command line.

The harness owns everything that must be the same for every contender: the
event stream (generation and ``.evts`` files), the clock, the checks of SPEC §4
and the statistics. Implementations (``implementations/``) own only handling.
"""

__version__ = "0.1.0"
