"""asv benchmarks: every contender on the built-in workloads, figures taken by the harness's runner.

Closed loop (the whole workload as fast as it goes): time, throughput with samples, peak
memory. Open loop (``mixed`` at its own 8,000 events/s): p50 and p99 latency from each
event's intended arrival, with samples. Allocations per event: ``bench_counts``.
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
        suite.contender(contender)
        self.n_events = suite.CLOSED_EVENTS[workload]
        self.expected = digests[workload]
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

    p50 and p99 come from the same runs, made once per commit in ``setup_cache``.
    """

    params = (suite.contender_names(),)
    param_names = ("contender",)
    timeout = 600

    def setup_cache(self) -> dict[str, list[dict[str, int]] | str]:
        expected = suite.reference_digests({suite.OPEN_WORKLOAD: suite.OPEN_EVENTS})[suite.OPEN_WORKLOAD]
        measured: dict[str, list[dict[str, int]] | str] = {}
        for name in suite.contender_names():
            try:
                runs = [
                    suite.checked_run(name, suite.OPEN_WORKLOAD, suite.OPEN_EVENTS, "open", expected)
                    for _ in range(SAMPLES)
                ]
                measured[name] = [run.latency_ns.as_dict() for run in runs]
            except Exception as e:  # raised again by this contender's benchmarks, not by every one
                measured[name] = f"{type(e).__name__}: {e}"
        return measured

    def setup(self, measured: dict[str, list[dict[str, int]] | str], contender: str) -> None:
        if isinstance(measured[contender], str):
            error = str(measured[contender])
            raise NotImplementedError(error) if error.startswith("NotImplementedError") else RuntimeError(error)

    def sample_latency_p50(self, measured: dict[str, list[dict[str, int]]], contender: str) -> list[float]:
        return [summary["p50"] / 1e9 for summary in measured[contender]]

    def sample_latency_p99(self, measured: dict[str, list[dict[str, int]]], contender: str) -> list[float]:
        return [summary["p99"] / 1e9 for summary in measured[contender]]

    sample_latency_p50.unit = "seconds"  # type: ignore[attr-defined]
    sample_latency_p99.unit = "seconds"  # type: ignore[attr-defined]
