"""Runs a script (argv[2:]) after making K small objects that stay alive (argv[1]), as one more
import would leave: how much unrelated start-up state moves a callgrind per-event count."""

import runpy
import sys

keep = [[i] for i in range(int(sys.argv[1]))]  # long-lived objects, as one more import would leave
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
