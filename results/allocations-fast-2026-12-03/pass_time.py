"""How long the allocation pass takes on every built-in workload, before and after the native reader.

*Before* is ``harness/allocations.py`` as it was at ``BEFORE`` (memray's reader record by record
over a compressed capture, the first 100,000 events by default), loaded from git into this
process; *after* is the installed one (the native reader, the whole stream by default). Both
are run with their own defaults through ``count_allocations`` (warm-up pass, tracked run,
reading, classification: the whole pass), one right after the other for each contender and
workload, so that both see the same machine. Each pair is measured once: the slowest take
minutes. Usage: ``python pass_time.py OUT.jsonl [CONTENDER,...]``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import implementations
from harness import allocations
from harness.workload import builtin, builtin_names, generate

BEFORE = "d205fb6"  # main before this branch
CONTENDERS = ["sequential", "threaded", "asyncio", "processes", "native"]
WORKERS = 2


def _before() -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{BEFORE}:harness/allocations.py"], capture_output=True, text=True, check=True
    ).stdout
    spec = importlib.util.spec_from_loader("allocations_before", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    exec(compile(source, f"{BEFORE}:harness/allocations.py", "exec"), module.__dict__)
    return module


def _pass(module: ModuleType, contender: str, workload: str) -> dict[str, object]:
    stream = generate(builtin(workload))
    t = time.perf_counter()
    try:
        count = module.count_allocations(implementations.get(contender), stream, WORKERS)
    except module.CountingUnavailable as e:
        return {"seconds": time.perf_counter() - t, "not_counted": str(e)}
    return {
        "seconds": time.perf_counter() - t,
        "events": count.events,
        "stream_events": stream.n_events,
        "allocations": count.allocations,
        "per_event": count.per_event,
        "retained": count.retained,
        "method": count.method,
    }


def main(out: Path, contenders: list[str]) -> None:
    before = _before()
    workloads = [w for w in builtin_names() if builtin(w).scenario.name in ("synthetic", "orderbook")]
    with out.open("a") as f:
        for workload in workloads:
            for contender in contenders:
                if not implementations.get(contender).info.hosts(builtin(workload).scenario.name):
                    continue
                for label, module in (("before", before), ("after", allocations)):
                    row = {"workload": workload, "contender": contender, "which": label} | _pass(
                        module, contender, workload
                    )
                    print(json.dumps(row), flush=True)
                    f.write(json.dumps(row) + "\n")
                    f.flush()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2].split(",") if len(sys.argv) > 2 else CONTENDERS)
