cd /work/main
export PATH=/work/main/.venv/bin:$PATH
for arm in plain diagnose; do
  flag=$( [ "$arm" = diagnose ] && echo --diagnose || true )
  start=$(date +%s.%N)
  eventbench compare --report $flag --results-dir /tmp/eventbench-main-cost > /dev/null 2>&1
  end=$(date +%s.%N)
  echo "main job $arm $(echo "$end - $start" | bc)"
done
