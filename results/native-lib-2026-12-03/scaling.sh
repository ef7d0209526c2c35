#!/usr/bin/env bash
# native with 2 workers against native-sequential: synthetic cpu-bound, 100,000 events, closed loop,
# 30 trials of each in shuffled interleaved rounds; every run verified against the reference digest.
# The pool's threads start in the first trial's setup and serve every later trial.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=results/native-lib-2026-12-03/scaling
eventbench compare --impl native,native-sequential --workload cpu-bound --n-events 100000 --workers 2 \
  --mode closed --baseline native-sequential --trials 30 --seed 20261203 --alloc-events 0 --results-dir "$out"
