#!/bin/sh
# Issue 17's figures for the order book and the example scenario, on this machine.
# Run from the repository root in an environment with eventbench and examples/scenario-ratelimit
# installed (the dev venv: see the README's Development section).
set -eu
out=results/scenarios-2026-12-03
seed=20261203

# A version-2 file the project did not write: the contract's eight-event vector, encoded by the
# tests' independent reference (tests/orderbook_reference.py, written from the contract alone).
python -c "import sys; sys.path.insert(0, 'tests'); from orderbook_reference import encode_v2; \
from test_orderbook import EIGHT; open('$out/contract-eight.evts', 'wb').write(encode_v2(2, EIGHT))"
eventbench verify --events "$out/contract-eight.evts" --workers 1,2,4 | tee "$out/verify-contract-eight.txt"

eventbench verify --scenario orderbook --workers 1,2,4 | tee "$out/verify-orderbook.txt"
eventbench verify --scenario ratelimit --workers 1,2,4 | tee "$out/verify-ratelimit.txt"

for w in book-contention book; do
    eventbench compare --scenario orderbook --workload "$w" --workers 2 --seed "$seed" --report \
        --results-dir "$out" | tee "$out/compare-$w.txt"
done

python "$out/generation.py" | tee "$out/generation.txt"
