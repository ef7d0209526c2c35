"""`nox -s history`: asv over a range of commits, on this machine's name.

    python -m asvtrack.history [RANGE ...] [--machine NAME] [--bench REGEX ...] [--rerun]

RANGE is asv's (``main~4..main`` by default, ``SHA^!`` for one commit, ``NEW`` for the
commits since the last one measured). Samples are recorded; commits already measured
successfully on this machine are skipped. A failing benchmark is stored as a failure (the
site shows it) and does not fail the session; asv itself failing does.
"""

from __future__ import annotations

import argparse
import sys

from . import asvcli

DEFAULT_RANGE = "main~4..main"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="history", description=__doc__.splitlines()[0])
    parser.add_argument("ranges", nargs="*", default=[DEFAULT_RANGE], help=f"asv ranges (default {DEFAULT_RANGE})")
    parser.add_argument("--machine", default=None, help="asv machine name (default: $EVENTBENCH_ASV_MACHINE or host)")
    parser.add_argument("--bench", action="append", default=[], help="only benchmarks matching (asv -b)")
    parser.add_argument("--rerun", action="store_true", help="measure again even where results exist")
    args = parser.parse_args(argv)
    machine = args.machine or asvcli.default_machine()
    try:
        asvcli.ensure_machine(machine)
        for revisions in args.ranges:
            asvcli.run(machine, revisions, args.bench, rerun=args.rerun)
    except asvcli.AsvFailed as e:
        print(f"history: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
