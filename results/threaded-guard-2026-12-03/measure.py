"""threaded on the order book: one lock for the shared positions, or locks by account?

Both variants run the same handler on the same stream; only the guard differs. Trials are
interleaved in shuffled pairs; each ratio is striped/one-lock events/s within one round, and
the statement is the median ratio with its 95 % interval (harness.stats).

    python results/threaded-guard-2026-12-03/measure.py [TRIALS]
"""

from __future__ import annotations

import random
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from harness import stats, workload
from harness.reference import reference_digest
from harness.runner import figures, run_once
from implementations.threaded import Threaded, ThreadedRun

STRIPES = 64


def striped_guard(stripes: int):  # type: ignore[no-untyped-def]
    locks = [threading.Lock() for _ in range(stripes)]
    everything = threading.Lock()

    @contextmanager
    def guard(*ids: int) -> Iterator[None]:
        if not ids:  # the whole shared state: not used by the order book, which names both accounts
            with everything:
                yield
            return
        with ExitStack() as stack:
            for s in sorted({i % stripes for i in ids}):  # one order for every thread: no deadlock
                stack.enter_context(locks[s])
            yield

    return guard


class Striped(Threaded):
    def open(self, stream, workers):  # type: ignore[no-untyped-def]
        # The guard is given to the run as it binds the handler, before its workers start: a
        # subclass that rebound the handler after them raced them (see README).
        return ThreadedRun(stream, workers, striped_guard(STRIPES))


def main() -> None:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    rng = random.Random(20261203)
    for name, workers in (("book-contention", 2), ("book", 2), ("book-contention", 4)):
        stream = workload.generate(workload.builtin(name).with_events(100_000))
        ref = reference_digest(stream)
        ratios = []
        for _ in range(trials):
            pair = [("one lock", Threaded()), ("striped", Striped())]
            rng.shuffle(pair)
            eps = {}
            for label, contender in pair:
                outcome = run_once(contender, stream, workers=workers, mode="closed", reference_digest=ref)
                assert outcome.valid, (label, outcome.failures())
                eps[label] = figures(outcome, stream).throughput_eps
            ratios.append(eps["striped"] / eps["one lock"])
        ci = stats.median_interval(ratios, 0.95)
        print(
            f"{name} ({stream.n_events} events, {workers} workers): striped/one-lock events/s "
            f"median {ci.point:.3f} [{ci.low:.3f}-{ci.high:.3f}] ({ci.confidence:.0%}, n={ci.n}); "
            f"range {min(ratios):.3f}-{max(ratios):.3f}"
        )


if __name__ == "__main__":
    main()
