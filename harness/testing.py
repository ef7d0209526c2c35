"""The differential test of any scenario, for its own test suite, in one line (docs/scenarios.md).

    from harness.testing import differential_tests

    test_ratelimit = differential_tests("ratelimit")

Hypothesis draws streams of the scenario through its own generator: the parameters of one of
its built-in workloads, with a drawn seed, 0-200 events, 1-5,000 keys drawn uniformly or by
Zipf, and an arrival process. Every registered contender that hosts the scenario handles each
stream at 1, 2 and 3 workers (parallel contenders; the others at 1), closed loop, and a short
stream open loop. Every run must pass the runner's checks (every event done, none before its
arrival, each key's events in ``seq`` order) and give the reference digest: the sequential
executor's, on the scenario's Python semantics (``harness.reference.reference_digest``, never
cached: drawn streams would only fill the user's cache). Give
``reference`` (an independent digest of a stream's file bytes, written from the scenario's
contract and sharing no code with its semantics) and the semantics are checked against it too.

A function that makes the test, rather than a pytest plugin (a ``pytest11`` entry point): one
import and one assignment, in plain sight, and nothing loaded into every pytest run of every
environment where eventbench is installed. It needs pytest and hypothesis (``eventbench[test]``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import implementations
import scenarios
from harness import workload
from harness.reference import reference_digest
from harness.runner import run_once
from harness.workload import Arrival, WorkloadSpec
from protocol.events import EventStream
from protocol.scenario import Scenario
from protocol.splitmix import MASK64

__all__ = ["DrawnWorkload", "differential_tests", "drawn_workloads"]

WORKERS = (1, 2, 3)
MAX_EXAMPLES = 10  # per contender, worker count and mode: a process pool starts for every example
MAX_EVENTS = 200
OPEN_LOOP_MAX_EVENTS = 40  # at 20,000 events/s or more: a few milliseconds of pacing at most

# Keys: one, a few (every key hot), or many (most keys idle).
_KEYS = st.one_of(st.just(1), st.integers(1, 8), st.integers(1, 5000))
_RATE_EPS = st.floats(20_000, 1_000_000)
# Arrivals: all at once, or paced (short: the streams are too), in bursts or not.
_ARRIVALS = st.one_of(
    st.just(Arrival()),
    st.builds(Arrival, process=st.sampled_from(["constant", "poisson"]), rate_eps=_RATE_EPS),
    st.builds(Arrival, process=st.just("bursts"), rate_eps=_RATE_EPS, burst_size=st.integers(1, 16)),
)


@dataclass(frozen=True)
class DrawnWorkload:
    """One of a scenario's built-in workloads (None: its parameters' defaults) with everything the
    harness draws replaced: what a failing example prints, and what ``spec()`` makes again."""

    scenario: str
    workload: str | None
    seed: int
    events: int
    keys: int
    key_distribution: str
    zipf_exponent: float
    arrival: Arrival

    def spec(self) -> WorkloadSpec:
        if self.workload is not None:
            base = workload.builtin(self.workload)
        else:
            chosen, source = scenarios.get(self.scenario), f"{self.scenario}'s defaults"
            base = WorkloadSpec(
                self.scenario, source=source, scenario=chosen, params=chosen.params_from_tables({}, source)
            )
        spec = replace(base, seed=self.seed, events=self.events, keys=self.keys, key_distribution=self.key_distribution,
                       zipf_exponent=self.zipf_exponent, arrival=self.arrival)  # fmt: skip
        workload.validate(spec)
        return spec


def drawn_workloads(scenario: Scenario, *, open_loop: bool = False) -> st.SearchStrategy[DrawnWorkload]:
    """Workloads of ``scenario`` for hypothesis: one of its built-in workloads' parameters (its own
    tables), with a drawn seed, event count, keys, key distribution and arrival process."""
    built_in: list[str | None] = [*workload.builtin_names(scenario)]
    return st.builds(
        DrawnWorkload,
        scenario=st.just(scenario.name),
        workload=st.sampled_from(built_in or [None]),
        seed=st.integers(0, MASK64),
        events=st.integers(0, OPEN_LOOP_MAX_EVENTS if open_loop else MAX_EVENTS),
        keys=_KEYS,
        key_distribution=st.sampled_from(workload.KEY_DISTRIBUTIONS),
        zipf_exponent=st.one_of(st.just(1.0), st.floats(0.1, 3.0)),
        arrival=_ARRIVALS,
    )


def _contenders(scenario: str, workers: Sequence[int]) -> list[Any]:
    """pytest parameters: each contender that hosts ``scenario`` at each worker count (a contender
    that is not parallel at 1 only) and mode; a contender that cannot run here is a skip, with why."""
    cases = []
    for registration in implementations.registry():
        contender = registration.contender
        if contender is None:
            skip = pytest.mark.skip(reason=f"{registration.name} is unavailable: {registration.reason}")
            cases.append(pytest.param(None, 1, "closed", marks=skip, id=registration.name))
            continue
        if not contender.info.hosts(scenario):
            why = dict(contender.info.cannot_host).get(scenario)
            if why is not None:  # it would host it, but its library did not load: a skip, with why
                skip = pytest.mark.skip(reason=contender.info.not_hosting(scenario))
                cases.append(pytest.param(None, 1, "closed", marks=skip, id=registration.name))
            continue
        for count in workers if contender.info.parallel else workers[:1]:
            for mode in ("closed", "open"):
                cases.append(pytest.param(contender, count, mode, id=f"{registration.name}-w{count}-{mode}"))
    return cases


def differential_tests(
    scenario: str,
    *,
    reference: Callable[[bytes], str] | None = None,
    streams: st.SearchStrategy[EventStream] | None = None,
    workers: Sequence[int] = WORKERS,
    max_examples: int = MAX_EXAMPLES,
) -> Callable[..., None]:
    """The differential test of ``scenario`` (a registered scenario's name), as a pytest test
    function: assign it to a module-level name that starts with ``test``.

    - ``reference``: an independent digest, from a stream's ``.evts`` file bytes to 16 lowercase
      hex digits; the reference digest must equal it on every stream drawn.
    - ``streams``: your own strategy of this scenario's streams (records the generator never
      writes, say); closed-loop examples then draw from it half the time.
    - ``workers``, ``max_examples`` (per contender, worker count and mode): keep them modest, a
      process pool starts for every example.
    """
    chosen = scenarios.get(scenario)  # a KeyError here says why the scenario is unknown or unusable
    generated = {open_loop: drawn_workloads(chosen, open_loop=open_loop) for open_loop in (False, True)}

    @pytest.mark.parametrize(("contender", "workers", "mode"), _contenders(scenario, list(workers)))
    @settings(max_examples=max_examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def test(contender: implementations.Contender, workers: int, mode: str, data: st.DataObject) -> None:
        open_loop = mode == "open"
        if streams is not None and not open_loop and data.draw(st.booleans(), label="from your streams"):
            stream = data.draw(streams, label="stream")
        else:
            stream = workload.generate(data.draw(generated[open_loop], label="workload").spec())
        assert stream.scenario.name == scenario, f"a stream of {stream.scenario.name}, not of {scenario}"
        expected = reference_digest(stream, cached=False)
        if reference is not None:
            independent = reference(stream.to_bytes())
            assert expected == independent, (
                f"{scenario}'s Python semantics give digest {expected}, its independent reference {independent}"
            )
        outcome = run_once(contender, stream, workers=workers, mode=mode, reference_digest=expected)
        assert outcome.valid, f"{contender.info.name} w={workers} {mode}: {'; '.join(outcome.failures())}"

    test.__name__ = test.__qualname__ = f"test_{scenario.replace('-', '_')}_differential"
    return test
