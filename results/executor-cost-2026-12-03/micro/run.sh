#!/bin/sh
# Callgrind micro-counts behind the README's decomposition and method comparison.
#   sh run.sh PYTHON   (the asv environment's python: .asv/env/<hash>/bin/python, 3.11.7)
# Needs valgrind; run from this folder inside the repository. Instructions per iteration/event
# are (count at the long size - count at the short size) / the difference, as the suite does.
set -eu
PY=$1
export PYTHONHASHSEED=0 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
tmp=$(mktemp -d)
total() { grep -h "^summary" "$1" | awk '{print $2}'; }
echo "# guard_and_call.py: instructions per iteration (20,000 iterations between the two sizes)"
for v in inline inline-attr closure-attr closure-guard; do
  for n in 10000 30000; do valgrind --tool=callgrind --callgrind-out-file="$tmp/$v.$n" "$PY" guard_and_call.py $v $n 2>/dev/null; done
  echo "$v $(awk "BEGIN {printf \"%.1f\", ($(total "$tmp/$v.30000") - $(total "$tmp/$v.10000")) / 20000}")"
done
echo "# process-per-run subject (2daf0b4), sequential contention 1,000 -> 3,000 events, with K small"
echo "# objects held from start-up (perturb.py K): instructions/event"
git show 2daf0b4:benchmarks/callgrind_subject.py > "$tmp/subject.py"
for k in 0 500 5000; do
  for n in 1000 3000; do
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$tmp/p$k.$n" "$PY" perturb.py $k "$tmp/subject.py" sequential contention $n 3000 2>/dev/null
  done
  echo "K=$k $(awk "BEGIN {printf \"%.3f\", ($(total "$tmp/p$k.3000-01") - $(total "$tmp/p$k.1000-01")) / 2000}")"
done
rm -r "$tmp"
