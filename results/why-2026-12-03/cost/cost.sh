#!/bin/sh
# The diagnosis pass's cost: compare with and without --diagnose, interleaved (the order
# alternates pair by pair), every contender, a small closed-loop workload; wall seconds each.
set -e
for pair in 1 2 3 4; do
  for arm in $( [ $((pair % 2)) = 1 ] && echo "plain diagnose" || echo "diagnose plain" ); do
    flag=$( [ "$arm" = diagnose ] && echo --diagnose || true )
    start=$(date +%s.%N)
    eventbench compare --workload contention --n-events 20000 --trials 3 --alloc-events 0 --workers 2 \
        $flag --results-dir "${TMPDIR:-/tmp}/eventbench-cost" > /dev/null 2>&1
    end=$(date +%s.%N)
    echo "pair $pair $arm $(echo "$end - $start" | bc)"
  done
done
