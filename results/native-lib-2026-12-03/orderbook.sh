#!/usr/bin/env bash
# The order book: sequential, native-sequential and native (2 workers) side by side, closed loop,
# 20 trials each in shuffled interleaved rounds, every run verified. `book` is the least contended
# order-book workload (400 Zipf instruments, 5,000 accounts); `book-contention` the most.
set -euo pipefail
cd "$(dirname "$0")/../.."
# Ratios are against native-sequential: sequential's 0.03x is native-sequential's 33x over it.
for w in book book-contention; do
  eventbench compare --scenario orderbook --workload "$w" --impl sequential,native-sequential,native \
    --workers 2 --mode closed --baseline native-sequential --trials 20 --seed 20261203 --alloc-events 0 \
    --results-dir "results/native-lib-2026-12-03/orderbook-$w"
done
