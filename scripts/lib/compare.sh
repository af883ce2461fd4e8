# Sourced by scripts/bench: the side-by-side comparison with ElastAlert 2 (docs/benchmarks.md,
# "Side by side with ElastAlert 2"). For each K in ELASTALERT_K, K rules for each tool from
# benches/tools/compare_rules.py (rule n: a successful IAM action, 18 actions that occur in the
# events and 7 that never do, on event.ingested, the 6 minutes before NOW), run once each over the
# same events on the same server: `lookout run --once` and ElastAlert's rules run once
# (benches/tools/elastalert_once.py). RUNS runs, interleaved (the side that goes first alternates);
# each run records wall time, user+sys CPU and peak RSS (/usr/bin/time), the server's CPU over
# the run and the alerts written: lookout's from its log, ElastAlert's from its writeback index.
# With COMPARE_WITH, the other lookout binary runs as a third side ("lookout@before").
#
# Uses what scripts/bench sets: URL, SERVER_PID, WORK, LOOKOUT, BEFORE, NOW, SOURCE_INDEX, RUNS,
# CONCURRENCY, server_cpu. Each run is bounded by COMPARE_TIMEOUT seconds [1800]. lookout's rules
# have the @timestamp fallback disabled, as ElastAlert's rule has none; COMPARE_FALLBACK=1 keeps
# Kibana's default fallback (a broader rule: see benches/tools/compare_rules.py).

source "$(dirname "${BASH_SOURCE[0]}")/elastalert.sh"

COMPARE_TIMEOUT="${COMPARE_TIMEOUT:-1800}"
COMPARE_FALLBACK="${COMPARE_FALLBACK:-0}"

# Fails, naming the actions, unless the 18 actions occur (succeeding) in the events and the 7
# never do.
compare_check_events() {
  local answer="$WORK/action-counts.json"
  curl -fsS -X POST "$URL/$SOURCE_INDEX/_search" -H 'Content-Type: application/json' -d '{
    "size": 0,
    "query": {"bool": {"filter": [
      {"term": {"event.dataset": "aws.cloudtrail"}},
      {"term": {"event.provider": "iam.amazonaws.com"}},
      {"term": {"event.outcome": "success"}}]}},
    "aggs": {"actions": {"terms": {"field": "event.action", "size": 1000}}}}' >"$answer"
  python3 benches/tools/compare_rules.py --check-counts "$answer"
}

# One lookout run over the rules in $2 (K=$3, run $4) with binary $5, labelled $1.
compare_lookout() {
  local label="$1" rules="$2" k="$3" run="$4" binary="$5" suffix="$RANDOM$RANDOM"
  local log="$WORK/compare-lookout.log" timing="$WORK/compare-time.txt" before after status=0
  before="$(server_cpu)"
  LOOKOUT_ES_URL="$URL" LOOKOUT_RULES_FOLDERS="$rules" LOOKOUT_CONCURRENCY="$CONCURRENCY" \
    LOOKOUT_ALERTS_INDEX="cmp-alerts-$suffix" LOOKOUT_STATE_INDEX="cmp-state-$suffix" \
    LOOKOUT_EXECUTIONS_INDEX="cmp-executions-$suffix" RUST_LOG=info \
    timeout --kill-after=10 "$COMPARE_TIMEOUT" \
    /usr/bin/time -v -o "$timing" "$binary" run --once --now "$NOW" 2>"$log" || status=$?
  after="$(server_cpu)"
  local alerts failed
  alerts="$(awk '/rule execution/ { for (i = 1; i <= NF; i++) if ($i ~ /^created=/) { sub(/^created=/, "", $i); s += $i } } END { print s + 0 }' "$log")"
  failed="$(grep -c 'rule execution failed' "$log" || true)"
  if [ "$status" -eq 124 ]; then
    echo "   $label K=$k run $run: timed out after $COMPARE_TIMEOUT s (COMPARE_TIMEOUT)" >&2
  elif [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
    echo "   $label K=$k run $run: exit $status, $failed failed executions: $(grep -m1 -o 'error=.*' "$log" || tail -n1 "$log")" >&2
    status=1
  fi
  compare_record "$label" "$k" "$run" "$timing" "$alerts" "$before" "$after" "$status"
  curl -fsS -X DELETE "$URL/cmp-alerts-$suffix*,cmp-state-$suffix*,cmp-executions-$suffix*?ignore_unavailable=true&allow_no_indices=true" >/dev/null || true
}

# One ElastAlert run over the rules in $1 (K=$2, run $3) with a fresh writeback index.
compare_elastalert() {
  local rules="$1" k="$2" run="$3" suffix="ea-$RANDOM$RANDOM" hostport="${URL#*://}"
  local config="$WORK/elastalert.yaml" out="$WORK/compare-elastalert.out"
  local err="$WORK/compare-elastalert.err" timing="$WORK/compare-time.txt" before after status=0
  cat >"$config" <<EOF
rules_folder: $rules
run_every:
  minutes: 5
buffer_time:
  minutes: 6
es_host: ${hostport%:*}
es_port: ${hostport##*:}
writeback_index: $suffix
alert_time_limit:
  days: 2
EOF
  if ! timeout 120 "$ELASTALERT_VENV/bin/elastalert-create-index" --config "$config" >"$err" 2>&1; then
    echo "   elastalert K=$k run $run: elastalert-create-index failed:" >&2
    tail -n 5 "$err" >&2
    return 1
  fi
  before="$(server_cpu)"
  timeout --kill-after=10 "$COMPARE_TIMEOUT" /usr/bin/time -v -o "$timing" \
    "$ELASTALERT_VENV/bin/python" benches/tools/elastalert_once.py \
    --config "$config" --end "$NOW" >"$out" 2>"$err" || status=$?
  after="$(server_cpu)"
  curl -fsS -X POST "$URL/$suffix/_refresh" >/dev/null || true
  local alerts
  alerts="$(curl -fsS -X POST "$URL/$suffix/_count" -H 'Content-Type: application/json' \
    -d '{"query": {"term": {"alert_sent": true}}}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["count"])' || echo 0)"
  if [ "$status" -eq 124 ]; then
    echo "   elastalert K=$k run $run: timed out after $COMPARE_TIMEOUT s (COMPARE_TIMEOUT)" >&2
  elif [ "$status" -ne 0 ]; then
    echo "   elastalert K=$k run $run: exit $status ($(tail -n1 "$out" 2>/dev/null)); its log ends:" >&2
    grep -m3 -i 'error' "$err" >&2 || tail -n 3 "$err" >&2
  fi
  compare_record elastalert "$k" "$run" "$timing" "$alerts" "$before" "$after" "$status"
  curl -fsS -X DELETE "$URL/$suffix*?ignore_unavailable=true&allow_no_indices=true" >/dev/null || true
}

# Appends one run to $COMPARE_RESULTS and prints it.
compare_record() {
  local side="$1" k="$2" run="$3" timing="$4" alerts="$5" before="$6" after="$7" status="$8"
  awk -v side="$side" -v k="$k" -v run="$run" -v alerts="$alerts" -v before="$before" \
    -v after="$after" -v status="$status" '
    /Elapsed \(wall clock\)/ { n = split($NF, p, ":"); wall = (n == 3) ? p[1] * 3600 + p[2] * 60 + p[3] : p[1] * 60 + p[2] }
    /User time \(seconds\)/ { cpu += $NF }
    /System time \(seconds\)/ { cpu += $NF }
    /Maximum resident set size/ { rss = $NF }
    END {
      server = (before == "nan") ? "nan" : sprintf("%.3f", after - before)
      printf "%s\t%s\t%s\t%.3f\t%.3f\t%d\t%d\t%s\t%s\n", side, k, run, wall, cpu, rss, alerts, server, status
    }' "$timing" >>"$COMPARE_RESULTS"
  tail -n1 "$COMPARE_RESULTS" | awk -F'\t' '{ printf "   %s K=%s run %s: wall %.2f s, cpu %.2f s, rss %d KB, alerts %d, server cpu %s s%s\n", $1, $2, $3, $4, $5, $6, $7, $8, ($9 == "0") ? "" : " (FAILED)" }' >&2
}

compare_with_elastalert() {
  elastalert_install
  echo "== side by side with ElastAlert 2 $ELASTALERT_VERSION: K in $ELASTALERT_K, $RUNS interleaved runs" >&2
  compare_check_events
  COMPARE_RESULTS="$WORK/compare.tsv"
  printf 'side\tk\trun\twall_s\tcpu_s\trss_kb\talerts\tserver_cpu_s\tstatus\n' >"$COMPARE_RESULTS"
  local k run fallback=()
  if [ "$COMPARE_FALLBACK" = "1" ]; then
    fallback=(--fallback)
    echo "   lookout's rules keep Kibana's @timestamp fallback (COMPARE_FALLBACK=1)" >&2
  fi
  for k in $ELASTALERT_K; do
    python3 benches/tools/compare_rules.py --count "$k" --lookout-out "$WORK/compare-$k/lookout" \
      --elastalert-out "$WORK/compare-$k/elastalert" --index "$SOURCE_INDEX*" "${fallback[@]}"
  done
  for run in $(seq 1 "$RUNS"); do
    for k in $ELASTALERT_K; do
      if [ $((run % 2)) -eq 1 ]; then
        compare_lookout lookout "$WORK/compare-$k/lookout" "$k" "$run" "$LOOKOUT"
        compare_elastalert "$WORK/compare-$k/elastalert" "$k" "$run"
      else
        compare_elastalert "$WORK/compare-$k/elastalert" "$k" "$run"
        compare_lookout lookout "$WORK/compare-$k/lookout" "$k" "$run" "$LOOKOUT"
      fi
      if [ -n "$BEFORE" ]; then
        compare_lookout lookout@before "$WORK/compare-$k/lookout" "$k" "$run" "$BEFORE"
      fi
    done
  done
  echo
  python3 benches/tools/compare_summary.py "$COMPARE_RESULTS"
}
