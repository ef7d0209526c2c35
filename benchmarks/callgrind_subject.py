"""The process callgrind counts (run as a script by ``bench_counts``; asv finds no benchmark here).

    python callgrind_subject.py CONTENDER,WORKLOAD,N_EVENTS,GENERATED,DIGEST [...]

Starts once for every run it is given: imports the harness and generates GENERATED events of
each WORKLOAD (so start-up and generation cost the same whatever N_EVENTS is). Then, one run
after the other, it forks a child that drives one closed-loop run of the first N_EVENTS with
CONTENDER on one thread through the harness's checked driver (``harness.runner.checked_run``):
the run's checks and its digest against DIGEST (the reference's, computed outside callgrind by
``bench_counts``) apply as to every other figure, so a wrong run has no count. callgrind counts
the window, as every other figure does: the driver's ``around_window`` calls ``os.getppid()``
as it begins (``bench_counts`` runs callgrind with ``--zero-before=getppid``) and
``os.getpgrp()`` as it ends (``--dump-before=getpgrp`` writes the count then, as part 1), so
``open``, the digest, ``close`` and the checks are not counted. Every child forks from
the same state, so two children that differ only in N_EVENTS differ only in their handling. One
line per run on stdout, in order: ``{"pid": ..., "status": ...}`` (a child's exit status, 0
when its run was right; a failure's traceback is on stderr).

A commit from before the checked driver (asv measures old commits with today's suite) is
counted over the same stretch, and its digest checked against DIGEST; SPEC §4's other checks
are left to that commit's own suites.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Iterator
from typing import Any


def main(runs: list[tuple[str, str, int, int, str]]) -> None:
    import json

    import implementations
    from harness.workload import builtin, generate

    streams = {}
    for _, workload, _, generated, _ in runs:
        if (workload, generated) not in streams:
            streams[workload, generated] = generate(builtin(workload).with_events(generated))
    for contender, workload, n_events, generated, digest in runs:
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                count(implementations.get(contender), streams[workload, generated].prefix(n_events), digest)
                status = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"pid": pid, "status": os.waitstatus_to_exitcode(status)}), flush=True)


def count(contender: Any, stream: Any, digest: str) -> None:
    """One run of ``contender``, its window counted, its digest checked."""
    from harness import runner

    if hasattr(runner, "checked_run"):
        runner.checked_run(contender, stream, workers=1, reference_digest=digest, around_window=_counted)
    else:  # a commit from before the checked driver
        _count_by_hand(contender, stream, digest)


@contextlib.contextmanager
def _counted() -> Iterator[None]:
    os.getppid()  # --zero-before=getppid
    yield
    os.getpgrp()  # --dump-before=getpgrp


def _count_by_hand(contender: Any, stream: Any, digest: str) -> None:
    """The same window at a commit whose runner has no checked driver: the digest is checked
    here, SPEC §4's other checks are not (that commit's own suites ran them)."""
    import numpy as np

    done_ns = np.zeros(stream.n_events, dtype=np.uint64)
    with contender.open(stream, 1) as session:
        with _counted():
            returned = session.handle(done_ns, 0, False)  # the window's name before PreparedRun.run
        # Before the window returned nothing, it returned the digest.
        computed = f"{returned if returned is not None else session.digest():016x}"
    if computed != digest:
        raise RuntimeError(f"{contender.info.name} computed digest {computed}, the reference {digest}")


def parsed(run: str) -> tuple[str, str, int, int, str]:
    contender, workload, n_events, generated, digest = run.split(",")
    return contender, workload, int(n_events), int(generated), digest


if __name__ == "__main__":
    main([parsed(run) for run in sys.argv[1:]])
