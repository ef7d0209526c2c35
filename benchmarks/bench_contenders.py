"""asv benchmarks: every contender on the built-in workloads, figures taken by the harness's runner.

Closed loop (the whole workload as fast as it goes), on ``synthetic``'s and the order book's
workloads: time, throughput with samples, peak memory. Open loop, p50 and p99 latency from
each event's intended arrival, with samples: ``mixed`` at its own 8,000 events/s
(``OpenLoopLatency``, as before scenarios) and the other open workloads, ``book-paced`` today
(``OpenLoopLatencyByWorkload``). A contender that does not host a workload's scenario is
skipped there. Allocations and instructions per event: ``bench_counts``.
"""

from __future__ import annotations

from . import suite

# Independent runs behind each sampled figure. asv's significance test (Mann-Whitney U at
# p < 0.002) cannot call 5 against 5 different even when every sample moved (its smallest p
# is 1/252); 6 against 6 can (1/924), 8 leaves room for an outlier.
SAMPLES = 8


@suite.versioned
class Handle:
    """A whole closed-loop workload: how long it takes, and how much memory the process peaks at."""

    params = (suite.contender_names(), list(suite.CLOSED_EVENTS))
    param_names = ("contender", "workload")
    number = 1  # one handling of the whole stream per sample
    repeat = (3, 10, 4.0)  # 3 to 10 samples per round, at most ~4 s of them
    warmup_time = 0.0  # the first run is not thrown away: a pool's start-up is part of the work
    timeout = 300

    def setup_cache(self) -> dict[str, str]:
        return suite.reference_digests(suite.CLOSED_EVENTS)

    def setup(self, digests: dict[str, str], contender: str, workload: str) -> None:
        suite.require_hosted(contender, workload)
        self.n_events = suite.CLOSED_EVENTS[workload]
        self.expected = suite.expected_digest(digests, workload)
        suite.stream(workload, self.n_events)  # generated before anything is measured

    def _run(self, contender: str, workload: str):  # type: ignore[no-untyped-def]
        return suite.checked_run(contender, workload, self.n_events, "closed", self.expected)

    def time_handle(self, digests: dict[str, str], contender: str, workload: str) -> None:
        self._run(contender, workload)

    def peakmem_handle(self, digests: dict[str, str], contender: str, workload: str) -> None:
        self._run(contender, workload)

    def sample_throughput(self, digests: dict[str, str], contender: str, workload: str) -> list[float]:
        return [float(self._run(contender, workload).throughput_eps) for _ in range(SAMPLES)]

    sample_throughput.unit = "events/s"  # type: ignore[attr-defined]


@suite.versioned
class OpenLoopLatency:
    """Latency as users feel it: open loop at the workload's arrival rate, one second per run.

    p50 and p99 come from the same runs, made once per commit in ``setup_cache``. ``mixed``
    only: other open workloads are ``OpenLoopLatencyByWorkload``'s (a second parameter here
    would leave every stored result without a match).
    """

    params = (suite.contender_names(),)
    param_names = ("contender",)
    timeout = 600

    def setup_cache(self) -> dict[str, list[dict[str, int]] | str]:
        workload, n_events = suite.OPEN_WORKLOAD, suite.OPEN_EVENTS
        expected = suite.reference_digests({workload: n_events})[workload]
        return {name: _latencies(name, workload, n_events, expected) for name in suite.contender_names()}

    def setup(self, measured: dict[str, list[dict[str, int]] | str], contender: str) -> None:
        _raise_if_failed(measured[contender])

    def sample_latency_p50(self, measured: dict[str, list[dict[str, int]]], contender: str) -> list[float]:
        return [summary["p50"] / 1e9 for summary in measured[contender]]

    def sample_latency_p99(self, measured: dict[str, list[dict[str, int]]], contender: str) -> list[float]:
        return [summary["p99"] / 1e9 for summary in measured[contender]]

    sample_latency_p50.unit = "seconds"  # type: ignore[attr-defined]
    sample_latency_p99.unit = "seconds"  # type: ignore[attr-defined]


@suite.versioned
class OpenLoopLatencyByWorkload:
    """The same figures on the other open-loop workloads (``suite.OPEN_WORKLOADS``), one second of
    load per run: the order book's ``book-paced`` today. Runs made once per commit in ``setup_cache``."""

    params = (suite.contender_names(), list(suite.OPEN_WORKLOADS))
    param_names = ("contender", "workload")
    timeout = 600

    def setup_cache(self) -> dict[str, dict[str, list[dict[str, int]] | str]]:
        digests = suite.reference_digests(suite.OPEN_WORKLOADS)
        measured: dict[str, dict[str, list[dict[str, int]] | str]] = {}
        for workload, n_events in suite.OPEN_WORKLOADS.items():
            try:
                expected = suite.expected_digest(digests, workload)
            except NotImplementedError as e:  # no contender can be checked on it at this commit
                measured[workload] = {name: f"NotImplementedError: {e}" for name in suite.contender_names()}
                continue
            names = suite.contender_names()
            measured[workload] = {name: _latencies(name, workload, n_events, expected) for name in names}
        return measured

    def setup(self, measured: dict[str, dict[str, list[dict[str, int]] | str]], contender: str, workload: str) -> None:
        _raise_if_failed(measured[workload][contender])

    def sample_latency_p50(
        self, measured: dict[str, dict[str, list[dict[str, int]]]], contender: str, workload: str
    ) -> list[float]:
        return [summary["p50"] / 1e9 for summary in measured[workload][contender]]

    def sample_latency_p99(
        self, measured: dict[str, dict[str, list[dict[str, int]]]], contender: str, workload: str
    ) -> list[float]:
        return [summary["p99"] / 1e9 for summary in measured[workload][contender]]

    sample_latency_p50.unit = "seconds"  # type: ignore[attr-defined]
    sample_latency_p99.unit = "seconds"  # type: ignore[attr-defined]


def _latencies(name: str, workload: str, n_events: int, expected: str) -> list[dict[str, int]] | str:
    """``SAMPLES`` open-loop runs' latency summaries, or the error (type and message) that stopped
    them, raised again by this contender's benchmarks alone (:func:`_raise_if_failed`)."""
    try:
        suite.require_hosted(name, workload)
        runs = [suite.checked_run(name, workload, n_events, "open", expected) for _ in range(SAMPLES)]
        return [run.latency_ns.as_dict() for run in runs]
    except Exception as e:  # NotImplementedError (a skip) included
        return f"{type(e).__name__}: {e}"


def _raise_if_failed(measured: list[dict[str, int]] | str) -> None:
    if isinstance(measured, str):
        raise NotImplementedError(measured) if measured.startswith("NotImplementedError") else RuntimeError(measured)
