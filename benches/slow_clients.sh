#!/usr/bin/env bash
# Hostile clients against the provider: server RSS and a normal client's latency while
#   - 1,000 clients pipeline 16 ListRecords each and never read (pages of ~300 KB),
#   - 1,100 clients send a POST body one byte every 10 s,
# with the server's limit on open files at 1,024 (soft) and 4,096 (hard), as on a default
# service. Usage: benches/slow_clients.sh [SECONDS] [RECORDS]   (defaults 40 and 20000)
# BENCH_BIN=path runs another build (for a before/after comparison in the same run).
# Needs python3 and prlimit (util-linux). Results go to target/bench-slow/results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-40}
N=${2:-20000}
WORK=target/bench-slow
PORT=${BENCH_PORT:-18090}
mkdir -p "$WORK"
cargo build --release --quiet --bin moisson --example gen_records
BIN=${BENCH_BIN:-target/release/moisson}
DATA="$WORK/records-$N.jsonl"
[ -s "$DATA" ] || target/release/examples/gen_records "$N" > "$DATA"
OUT="$WORK/results.txt"
say() { echo "$@" | tee -a "$OUT"; }
ulimit -n 8192   # the clients' own descriptors

for mode in pipeline slowbody; do
  clients=1000; [ "$mode" = slowbody ] && clients=1100
  rm -rf "$WORK/store"
  MOISSON_LOG=warn "$BIN" --data "$WORK/store" import dc "$DATA" 2>>"$WORK/import.log"
  MOISSON_LOG=warn prlimit --nofile=1024:4096 "$BIN" --data "$WORK/store" serve \
    --bind "127.0.0.1:$PORT" 2>>"$WORK/serve.log" &
  PID=$!
  trap 'kill $PID 2>/dev/null || true' EXIT
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
  idle=$(grep VmRSS /proc/$PID/status | awk '{print $2}')
  peak=0
  ( while kill -0 $PID 2>/dev/null; do
      grep VmRSS /proc/$PID/status 2>/dev/null | awk '{print $2}'; sleep 0.5
    done ) > "$WORK/rss-$mode.txt" &
  SAMPLER=$!
  result=$(python3 benches/support/slow_clients.py "$PORT" "$mode" "$clients" "$SECONDS_EACH")
  peak=$(sort -n "$WORK/rss-$mode.txt" | tail -1)
  kill -TERM $PID; wait $PID || true
  kill $SAMPLER 2>/dev/null || true; wait $SAMPLER 2>/dev/null || true
  trap - EXIT
  say "$($BIN --version 2>/dev/null || echo "$BIN") $mode ($clients clients, ${SECONDS_EACH}s): server RSS idle $((idle / 1024)) MB, peak $((peak / 1024)) MB; $result"
done
