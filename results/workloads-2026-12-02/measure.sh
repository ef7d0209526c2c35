#!/bin/bash
# the three per-workload compares, one after another, with trials
cd /work/main
R=results/workloads-2026-12-02
for spec in "cpu-bound 2 500000 20000" "blocking 16 50000 100000" "contention 2 2000000 100000"; do
  set -- $spec
  start=$(date +%s)
  .venv/bin/eventbench compare --workload $1 --workers $2 --n-events $3 --alloc-events $4 --seed 20261202 \
     --results-dir $R/$1 --report > $R/$1.txt 2> $R/$1.log
  echo "rc=$? seconds=$(( $(date +%s) - start ))" >> $R/$1.txt
done
echo done > $R/.finished
