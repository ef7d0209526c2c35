"""eventbench's harness: workloads, runs, checks, figures and the command line.

The harness owns everything that must be the same for every contender: the
event stream (generation and ``.evts`` files), the clock, the checks of SPEC §4
and the statistics. Implementations (``implementations/``) own only handling.
"""

__all__ = ["__commit_id__", "__version__"]

try:
    from harness._version import __commit_id__, __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "0.0.0+unknown"
    __commit_id__ = None
