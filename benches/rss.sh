#!/usr/bin/env bash
# Peak memory of the data provider under the load of issue #10's target (<= 128 MB at 1M
# records): a fresh server on an existing store, one full ListRecords harvest over one
# keep-alive connection, then 10 s of GetRecord for random records with wrk -c4. Prints the
# server's RSS after open, its peak (VmHWM) after the harvest and at the end, and its thread
# count at the end, for each binary given (the first is this tree's release build).
# Usage: benches/rss.sh STORE N_RECORDS [BASELINE_BINARY]
#   STORE: a store made by `moisson import dc` of benches/support/gen_records output (e.g. by
#   benches/provider.sh, in target/bench-provider/store-release); N_RECORDS: how many it holds.
# Needs: wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
STORE=${1:?usage: benches/rss.sh STORE N_RECORDS [BASELINE_BINARY]}
N=${2:?usage: benches/rss.sh STORE N_RECORDS [BASELINE_BINARY]}
PORT=${BENCH_PORT:-18090}
cargo build --release --quiet --bin moisson
BINS=(target/release/moisson)
[ -n "${3:-}" ] && BINS+=("$3")
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null || true; }
trap cleanup EXIT
mb() { grep "$1" "/proc/$PID/status" | awk '{printf "%.1f MB", $2/1024}'; }
for b in "${BINS[@]}"; do
  MOISSON_LOG=warn "$b" --data "$STORE" serve --bind "127.0.0.1:$PORT" >/dev/null 2>&1 &
  PID=$!
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
  echo "--- $b ($N records in $STORE)"
  echo "RSS after open: $(mb VmRSS)"
  wrk -t1 -c1 -d900s -s benches/support/harvest.lua "http://127.0.0.1:$PORT" | grep '^harvest:'
  echo "peak RSS after the harvest: $(mb VmHWM)"
  BENCH_RECORDS=$N wrk -t2 -c4 -d10s -s benches/support/getrecord.lua "http://127.0.0.1:$PORT" |
    awk '/Requests\/sec/ {print "GetRecord (wrk -c4, random records): " $2 " requests/s"}'
  echo "peak RSS at the end: $(mb VmHWM); RSS now: $(mb VmRSS); threads: $(grep Threads "/proc/$PID/status" | awk '{print $2}')"
  kill -TERM "$PID"
  wait "$PID" 2>/dev/null || true
  PID=
done
