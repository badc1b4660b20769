#!/usr/bin/env bash
# Benchmark of the data provider on a generated store (issue targets in parentheses):
#   - `moisson import dc` of N records, records/s               (>= 50,000/s for 1M)
#   - a full ListRecords harvest by a keep-alive client, records/s (>= 100,000/s)
#   - first page vs 9,000th page latency, medians                (deep within 20%)
#   - GetRecord with wrk, 4 connections: requests/s and p99      (>= 20,000/s, p99 <= 5 ms)
#   - server peak RSS during the harvest                         (<= 128 MB)
# Usage: benches/provider.sh [N_RECORDS] [RUNS]   (defaults 1000000 and 3)
# Needs: wrk (Debian package wrk). Results go to target/bench-provider/results-N.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
RUNS=${2:-3}
WORK=target/bench-provider
PORT=${BENCH_PORT:-18080}
mkdir -p "$WORK"
cargo build --release --quiet --bin moisson --example gen_records --example harvest_client
BIN=target/release/moisson
DATA="$WORK/records-$N.jsonl"
[ -s "$DATA" ] || target/release/examples/gen_records "$N" > "$DATA"
OUT="$WORK/results-$N.txt"
: > "$OUT"
say() { echo "$@" | tee -a "$OUT"; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

say "moisson provider benchmark: $N records ($(du -h "$DATA" | cut -f1) of JSON Lines), $RUNS runs, $(nproc) cores, $(date -u +%FT%TZ)"

rates=()
for run in $(seq "$RUNS"); do
  rm -rf "$WORK/store"
  t0=$(now)
  MOISSON_LOG=warn "$BIN" --data "$WORK/store" import dc "$DATA" 2>>"$WORK/import.log"
  t1=$(now)
  rates+=("$(echo "$N / ($t1 - $t0)" | bc -l)")
done
say "import dc: records/s per run: $(printf '%.0f ' "${rates[@]}")  median: $(printf '%s\n' "${rates[@]}" | median | xargs printf '%.0f')"
say "store size on disk: $(du -sh "$WORK/store" | cut -f1)"

MOISSON_LOG=warn "$BIN" --data "$WORK/store" serve --bind "127.0.0.1:$PORT" 2>>"$WORK/serve.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done

harvest=(); first=(); deep=()
for run in $(seq "$RUNS"); do
  h=$(wrk -t1 -c1 -d600s -s benches/support/harvest.lua "http://127.0.0.1:$PORT" | grep '^harvest:')
  say "harvest run $run (wrk, one keep-alive connection): $h"
  harvest+=("$(echo "$h" | sed -E 's/.* ([0-9]+) records\/s.*/\1/')")
done
say "ListRecords full harvest: records/s median: $(printf '%s\n' "${harvest[@]}" | median)"
say "server peak RSS (VmHWM) after the harvests: $(grep VmHWM /proc/$PID/status | awk '{printf "%.1f MB", $2/1024}')"
for run in $(seq "$RUNS"); do
  j=$(target/release/examples/harvest_client "http://127.0.0.1:$PORT/oai" 9000 30)
  echo "$j" >> "$WORK/harvest-runs.json"
  first+=("$(echo "$j" | python3 -c 'import json,sys; print(json.load(sys.stdin)["first_page_median_ms"])')")
  deep+=("$(echo "$j" | python3 -c 'import json,sys; print(json.load(sys.stdin)["deep_page_median_ms"])')")
  say "harvest_client run $run: $j"
done
say "first page median ms: $(printf '%s\n' "${first[@]}" | median); page 9000 median ms: $(printf '%s\n' "${deep[@]}" | median)"
j=$(BENCH_GZIP=1 target/release/examples/harvest_client "http://127.0.0.1:$PORT/oai" 9000 5)
say "harvest with gzip (one run, reqwest client): $j"

rps=(); p99=()
for run in $(seq "$RUNS"); do
  w=$(BENCH_RECORDS=$N wrk -t2 -c4 -d15s --latency -s benches/support/getrecord.lua "http://127.0.0.1:$PORT")
  rps+=("$(echo "$w" | awk '/Requests\/sec/ {print $2}')")
  p=$(echo "$w" | awk '$1=="99%" {print $2}')
  case "$p" in *us) v=$(echo "${p%us} / 1000" | bc -l);; *ms) v=${p%ms};; *s) v=$(echo "${p%s} * 1000" | bc -l);; esac
  p99+=("$v")
  say "GetRecord run $run: $(echo "$w" | awk '/Requests\/sec/ {print $2}') req/s, p99 $p"
done
say "GetRecord: requests/s median: $(printf '%s\n' "${rps[@]}" | median), p99 median ms: $(printf '%s\n' "${p99[@]}" | median | xargs printf '%.2f')"
say "server peak RSS (VmHWM) at the end: $(grep VmHWM /proc/$PID/status | awk '{printf "%.1f MB", $2/1024}')"
kill -TERM $PID; wait $PID || true
