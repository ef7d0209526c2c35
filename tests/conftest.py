from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from harness.reference import ENV_DIR

# The tests never read or write the user's cache of reference digests (harness/reference.py):
# each test process, and every eventbench command it starts, keeps its own, removed at exit.
_CACHE = tempfile.mkdtemp(prefix="eventbench-test-cache-")
os.environ[ENV_DIR] = _CACHE
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)

# CI runs more examples; a local run stays quick. Never a deadline: this machine is shared.
settings.register_profile("ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# nox -s tests on the Pythons other than the newest: what differs between versions shows in a few
# examples; the properties' strength is the full run's, on the newest (noxfile.py, tests).
settings.register_profile("versions", max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# nox -s robustness: thousands of malformed inputs per entry point (EVENTBENCH_FUZZ_EXAMPLES to change).
settings.register_profile(
    "robustness",
    max_examples=int(os.environ.get("EVENTBENCH_FUZZ_EXAMPLES", "1000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# An explicit HYPOTHESIS_PROFILE wins (nox -s robustness on a CI runner keeps its thousands).
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    """The robustness tests' counts, for ``nox -s robustness`` (nothing when not asked for)."""
    import tally

    tally.dump()


@pytest.fixture(autouse=True)
def _ctrl_c_raises() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt in the tests, as at a terminal, even where this process was
    started with SIGINT ignored (a background job of a shell without job control: Python then
    never installs its handler, and the tests that send SIGINT would see nothing)."""
    ignored = (
        threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    )
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
