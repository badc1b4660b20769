#!/usr/bin/env bash
# Benchmark of the pages for people on a generated store (target: every page well under 10 ms
# on 1,000,000 records). Each page is requested for SECS seconds by wrk over one keep-alive
# connection (so one request at a time); its median, 90th and 99th percentile latencies are
# reported, with /health and /robots.txt, the cheapest answers the server gives, as the
# baseline of the same run. The sitemap file of 50,000 URLs is fetched 5 times with curl.
# Usage: benches/web.sh [N_RECORDS] [SECS]   (defaults 1000000 and 5)
# Needs: wrk (Debian package wrk).
# Results go to target/bench-web/results-N.txt. Reuses the store of an earlier run of N records.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
SECS=${2:-5}
WORK=target/bench-web
PORT=${BENCH_PORT:-18090}
mkdir -p "$WORK"
cargo build --release --quiet --bin moisson --example gen_records
BIN=target/release/moisson
STORE="$WORK/store-$N"
OUT="$WORK/results-$N.txt"
: > "$OUT"
say() { echo "$@" | tee -a "$OUT"; }

if [ ! -d "$STORE" ]; then
  DATA="$WORK/records-$N.jsonl"
  [ -s "$DATA" ] || target/release/examples/gen_records "$N" > "$DATA"
  t0=$(date +%s.%N)
  MOISSON_LOG=warn "$BIN" --data "$STORE" import dc "$DATA" 2>>"$WORK/import.log"
  t1=$(date +%s.%N)
  say "import dc of $N records: $(echo "$t1 - $t0" | bc -l | xargs printf '%.0f') s"
  rm -f "$DATA"
fi

MOISSON_LOG=warn "$BIN" --data "$STORE" serve --bind "127.0.0.1:$PORT" 2>>"$WORK/serve.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
BASE="http://127.0.0.1:$PORT"

say "moisson web pages benchmark: $N records, wrk $SECS s per page on one connection, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), $(date -u +%FT%TZ)"
say "$(printf '%-52s %9s %9s %9s %8s %8s' page 'p50 ms' 'p90 ms' 'p99 ms' 'req/s' bytes)"

# wrk's latency as milliseconds: 512.00us, 1.20ms, 1.01s.
ms() {
  case "$1" in
    *us) echo "${1%us} / 1000" | bc -l;;
    *ms) echo "${1%ms}";;
    *s) echo "${1%s} * 1000" | bc -l;;
  esac | xargs printf '%.3f'
}

bench() {
  local label=$1 url=$2
  local out p50 p90 p99 rps bytes
  out=$(wrk -t1 -c1 -d"${SECS}s" --latency "$url")
  p50=$(ms "$(echo "$out" | awk '$1=="50%" {print $2}')")
  p90=$(ms "$(echo "$out" | awk '$1=="90%" {print $2}')")
  p99=$(ms "$(echo "$out" | awk '$1=="99%" {print $2}')")
  rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
  bytes=$(curl -s "$url" | wc -c)
  say "$(printf '%-52s %9s %9s %9s %8s %8s' "$label" "$p50" "$p90" "$p99" "$rps" "$bytes")"
}

# Generated datestamps span 2010 to 2026: a page of the records before 2014 is a full page
# three quarters of the way down a set's newest-first list.
DEEP="1388534400.oai:bench.example.org:00000000"
FIRST_FILE=$(curl -s "$BASE/sitemap.xml" | grep -o '<loc>[^<]*sitemap-records[^<]*</loc>' | head -1 | sed -e 's/<loc>//' -e 's/<\/loc>//' -e 's/&amp;/\&/g')

bench "/health (baseline)" "$BASE/health"
bench "/robots.txt (baseline)" "$BASE/robots.txt"
bench "/ (home)" "$BASE/"
bench "/sets" "$BASE/sets"
bench "/sets/coll3 (first page)" "$BASE/sets/coll3"
bench "/sets/coll3?before=… (a page deep in the list)" "$BASE/sets/coll3?before=$DEEP"
bench "/sets/coll3:sub2" "$BASE/sets/coll3:sub2"
bench "/records/{id}" "$BASE/records/oai:bench.example.org:$(printf '%08d' $((N / 2)))"
bench "/records/{id} (unknown: 404)" "$BASE/records/oai:bench.example.org:none"
bench "/sources" "$BASE/sources"
bench "/sitemap.xml (index, cut cached)" "$BASE/sitemap.xml"
sitemap=$(for _ in 1 2 3 4 5; do curl -s -o /dev/null -w '%{time_total}\n' "$FIRST_FILE"; done | sort -g | sed -n 3p)
say "$(printf '%-52s %9s %38s' "/sitemap-records.xml (50,000 URLs, median of 5)" "$(echo "$sitemap * 1000" | bc -l | xargs printf '%.1f')" "$(curl -s "$FIRST_FILE" | wc -c)")"

# The first cut of the sitemap index on a fresh server: one scan of the datestamp index.
kill -TERM $PID; wait $PID || true
MOISSON_LOG=warn "$BIN" --data "$STORE" serve --bind "127.0.0.1:$PORT" 2>>"$WORK/serve.log" &
PID=$!
for _ in $(seq 100); do curl -sf "$BASE/health" >/dev/null && break; sleep 0.1; done
say "$(printf '%-52s %9s' "/sitemap.xml (first cut after start)" "$(curl -s -o /dev/null -w '%{time_total}' "$BASE/sitemap.xml" | awk '{printf "%.1f", $1 * 1000}')")"
say "server RSS (VmHWM): $(grep VmHWM /proc/$PID/status | awk '{printf "%.1f MB", $2/1024}')"
kill -TERM $PID; wait $PID || true
