#!/usr/bin/env bash
# Benchmark of the pages for people on a generated store (target: every page well under 10 ms
# on 1,000,000 records). Each page is fetched REQS times with curl after one warm-up request;
# the median and the 90th percentile of curl's time_total are reported, with /health, the
# cheapest answer the server gives, as the baseline of the same run.
# Usage: benches/web.sh [N_RECORDS] [REQS]   (defaults 1000000 and 30)
# Results go to target/bench-web/results-N.txt. Reuses the store of an earlier run of N records.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
REQS=${2:-30}
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

say "moisson web pages benchmark: $N records, $REQS requests per page, $(nproc) cores, $(date -u +%FT%TZ)"
say "$(printf '%-58s %10s %10s %8s' page 'median ms' 'p90 ms' bytes)"

# One timing per line, in milliseconds, of REQS requests to $1.
times() {
  local url=$1
  curl -s -o /dev/null "$url"
  for _ in $(seq "$REQS"); do
    curl -s -o /dev/null -w '%{time_total}\n' "$url"
  done | awk '{printf "%.3f\n", $1 * 1000}' | sort -g
}

bench() {
  local label=$1 url=$2
  local sorted median p90 bytes
  sorted=$(times "$url")
  median=$(echo "$sorted" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  p90=$(echo "$sorted" | awk '{a[NR]=$1} END {i=int(NR*0.9); if (i<1) i=1; print a[i]}')
  bytes=$(curl -s "$url" | wc -c)
  say "$(printf '%-58s %10s %10s %8s' "$label" "$median" "$p90" "$bytes")"
}

# The oldest generated record (i = 0) is dated 2010-01-01T00:00:00Z: a position just after it
# is the deepest page of a set.
DEEP="1262304001.oai:bench.example.org:00000000"
FIRST_FILE=$(curl -s "$BASE/sitemap.xml" | grep -o '<loc>[^<]*sitemap-records[^<]*</loc>' | head -1 | sed -e 's/<loc>//' -e 's/<\/loc>//' -e 's/&amp;/\&/g')

bench "/health (baseline)" "$BASE/health"
bench "/ (home)" "$BASE/"
bench "/sets" "$BASE/sets"
bench "/sets/coll3 (first page)" "$BASE/sets/coll3"
bench "/sets/coll3?before=… (deepest page)" "$BASE/sets/coll3?before=$DEEP"
bench "/sets/coll3:sub2" "$BASE/sets/coll3:sub2"
bench "/records/{id}" "$BASE/records/oai:bench.example.org:$(printf '%08d' $((N / 2)))"
bench "/records/{id} (unknown: 404)" "$BASE/records/oai:bench.example.org:none"
bench "/sources" "$BASE/sources"
bench "/robots.txt" "$BASE/robots.txt"
bench "/sitemap.xml (index, cut cached)" "$BASE/sitemap.xml"
REQS=5 bench "/sitemap-records.xml (one file of 50,000 URLs)" "$FIRST_FILE"

# The first cut of the sitemap index on a fresh server: one scan of the datestamp index.
kill -TERM $PID; wait $PID || true
MOISSON_LOG=warn "$BIN" --data "$STORE" serve --bind "127.0.0.1:$PORT" 2>>"$WORK/serve.log" &
PID=$!
for _ in $(seq 100); do curl -sf "$BASE/health" >/dev/null && break; sleep 0.1; done
say "$(printf '%-58s %10s' "/sitemap.xml (first cut after start)" "$(curl -s -o /dev/null -w '%{time_total}' "$BASE/sitemap.xml" | awk '{printf "%.3f", $1 * 1000}')")"
say "server RSS (VmHWM): $(grep VmHWM /proc/$PID/status | awk '{printf "%.1f MB", $2/1024}')"
kill -TERM $PID; wait $PID || true
