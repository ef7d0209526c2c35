"""The process callgrind counts (run as a script by ``bench_counts``; asv finds no benchmark here).

    python callgrind_subject.py CONTENDER WORKLOAD N_EVENTS GENERATED

Generates GENERATED events of WORKLOAD (so generation costs the same whatever N_EVENTS is),
opens a session for its first N_EVENTS with CONTENDER on one thread and handles them closed
loop. Only the contender's own work differs between two sizes: the harness's checks are not run
here (the other suites check every run they measure).
"""

from __future__ import annotations

import sys


def main(contender: str, workload: str, n_events: int, generated: int) -> None:
    import numpy as np

    import implementations
    from harness.workload import builtin, generate

    stream = generate(builtin(workload).with_events(generated)).prefix(n_events)
    done_ns = np.zeros(stream.n_events, dtype=np.uint64)
    with implementations.get(contender).open(stream, 1) as session:
        session.handle(done_ns, 0, False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
