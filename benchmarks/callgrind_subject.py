"""The process callgrind counts (run as a script by ``bench_counts``; asv finds no benchmark here).

    python callgrind_subject.py CONTENDER,WORKLOAD,N_EVENTS,GENERATED [...]

Starts once for every run it is given: imports the harness and generates GENERATED events of
each WORKLOAD (so start-up and generation cost the same whatever N_EVENTS is). Then, one run
after the other, it forks a child that calls ``os.getppid()`` first -- ``bench_counts`` runs
callgrind with ``--zero-before=getppid``, so a child's counts start there -- opens a session
for the first N_EVENTS with CONTENDER on one thread, handles them closed loop, and leaves
through ``os._exit`` (what would follow is the same in every run). Every child forks from the
same state, so two children that differ only in N_EVENTS differ only in their handling. One
line per run on stdout, in order: ``{"pid": ..., "status": ...}`` (a child's exit status, 0
when it handled its events; a failure's traceback is on stderr). Only the contender's own work
is counted: the harness's checks are not run here (the other suites check every run they
measure).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import traceback


def main(runs: list[tuple[str, str, int, int]]) -> None:
    import implementations
    from harness.workload import builtin, generate

    streams = {}
    for _, workload, _, generated in runs:
        if (workload, generated) not in streams:
            streams[workload, generated] = generate(builtin(workload).with_events(generated))
    for contender, workload, n_events, generated in runs:
        pid = os.fork()
        if pid == 0:
            os.getppid()  # callgrind zeroes this process's counts here (--zero-before=getppid)
            status = 1
            try:
                handle(implementations.get(contender), streams[workload, generated].prefix(n_events))
                gc.collect()  # what a process's exit would free: a session's reference cycles
                status = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"pid": pid, "status": os.waitstatus_to_exitcode(status)}), flush=True)


def handle(contender, stream) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    done_ns = np.zeros(stream.n_events, dtype=np.uint64)
    with contender.open(stream, 1) as prepared:
        prepared.run(done_ns, 0, False)


def parsed(run: str) -> tuple[str, str, int, int]:
    contender, workload, n_events, generated = run.split(",")
    return contender, workload, int(n_events), int(generated)


if __name__ == "__main__":
    main([parsed(run) for run in sys.argv[1:]])
