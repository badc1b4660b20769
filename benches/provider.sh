#!/usr/bin/env bash
# Benchmark of the data provider on a generated store (targets in parentheses), each figure
# beside the same figure for a baseline binary measured in the same run (BASELINE=path to an
# earlier `moisson`, e.g. built from main: git archive main | tar -x -C /tmp/baseline, then
# cargo build --release there; leave BASELINE unset to skip it):
#   - `moisson import dc` of N records, records/s                  (>= 50,000/s for 1M)
#       with the store stamping the datestamps (STAMP=now, the default: how a served store
#       loads) or keeping the generated ones in random order (STAMP=given)
#   - store size on disk vs the rendered payload (the bytes of a full harvest)   (<= 1.3x)
#   - a full ListRecords harvest by a keep-alive client (wrk, one connection)   (>= 250,000/s)
#   - first page vs 9,000th page latency, medians                              (deep within 20%)
#   - GetRecord with wrk, 4 connections, beside nginx serving the same record as a file
#   - server peak RSS during the harvests and the GetRecord load               (<= 128 MB)
# Usage: benches/provider.sh [N_RECORDS] [RUNS]   (defaults 1000000 and 3); SKIP_IMPORT=1 serves
# the stores a previous run imported.
# Needs: wrk; nginx for the comparison (Debian packages wrk, nginx; nginx runs as this user
# on a spare port, with its configuration in the work directory).
# Results go to target/bench-provider/results-N.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
RUNS=${2:-3}
STAMP=${STAMP:-now}
WORK=$PWD/target/bench-provider
PORT=${BENCH_PORT:-18080}
NGINX_PORT=$((PORT + 1))
mkdir -p "$WORK"
cargo build --release --quiet --bin moisson --example gen_records --example harvest_client
BIN=target/release/moisson
DATA="$WORK/records-$N-$STAMP.jsonl"
if [ ! -s "$DATA" ]; then
  if [ "$STAMP" = given ]; then
    target/release/examples/gen_records "$N" > "$DATA"
  else
    GEN_NO_DATESTAMPS=1 target/release/examples/gen_records "$N" > "$DATA"
  fi
fi
OUT="$WORK/results-$N.txt"
: > "$OUT"
say() { echo "$@" | tee -a "$OUT"; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

say "moisson provider benchmark: $N records ($(du -h "$DATA" | cut -f1) of JSON Lines, datestamps $STAMP), $RUNS runs, $(nproc) cores, $(date -u +%FT%TZ)"

BINS=("$BIN")
[ -n "${BASELINE:-}" ] && BINS+=("$BASELINE")

# import dc, alternating the binaries so that both see the same machine load.
declare -A RATES
for run in $(seq "$([ -n "${SKIP_IMPORT:-}" ] && echo 0 || echo "$RUNS")"); do
  for b in "${BINS[@]}"; do
    rm -rf "$WORK/store-$(basename "$(dirname "$b")")"
    store="$WORK/store-$(basename "$(dirname "$b")")"
    t0=$(now)
    MOISSON_LOG=warn "$b" --data "$store" import dc "$DATA" 2>>"$WORK/import.log"
    t1=$(now)
    RATES[$b]="${RATES[$b]:-} $(echo "$N / ($t1 - $t0)" | bc -l | xargs printf '%.0f')"
  done
done
for b in "${BINS[@]}"; do
  [ -n "${SKIP_IMPORT:-}" ] || say "import dc ($b): records/s per run:${RATES[$b]}  median: $(printf '%s\n' ${RATES[$b]} | median)"
  say "store size on disk ($b): $(du -sb "$WORK/store-$(basename "$(dirname "$b")")" | cut -f1) bytes"
done

stop() { # pid: SIGTERM, then wait until it is gone
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
}

for b in "${BINS[@]}"; do
  store="$WORK/store-$(basename "$(dirname "$b")")"
  MOISSON_LOG=warn "$b" --data "$store" serve --bind "127.0.0.1:$PORT" >/dev/null 2>>"$WORK/serve.log" &
  PID=$!; PIDS+=("$PID")
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
  say "--- $b"
  say "server RSS after open: $(grep VmRSS /proc/$PID/status | awk '{printf "%.1f MB", $2/1024}')"
  harvest=()
  for run in $(seq "$RUNS"); do
    h=$(wrk -t1 -c1 -d900s -s benches/support/harvest.lua "http://127.0.0.1:$PORT" | grep '^harvest:')
    say "harvest run $run (wrk, one keep-alive connection): $h"
    harvest+=("$(echo "$h" | sed -E 's/.* ([0-9]+) records\/s.*/\1/')")
  done
  say "ListRecords full harvest: records/s median: $(printf '%s\n' "${harvest[@]}" | median)"
  bytes=$(echo "$h" | sed -E 's/.* ([0-9]+) bytes.*/\1/')
  say "disk / rendered payload: $(echo "$(du -sb "$store" | cut -f1) / $bytes" | bc -l | xargs printf '%.2f') (payload $bytes bytes of responses)"
  say "server peak RSS (VmHWM) after the harvests: $(grep VmHWM /proc/$PID/status | awk '{printf "%.1f MB", $2/1024}')"
  first=(); deep=()
  for run in $(seq "$RUNS"); do
    j=$(target/release/examples/harvest_client "http://127.0.0.1:$PORT/oai" 9000 30)
    echo "$j" >> "$WORK/harvest-runs.json"
    first+=("$(echo "$j" | python3 -c 'import json,sys; print(json.load(sys.stdin)["first_page_median_ms"])')")
    deep+=("$(echo "$j" | python3 -c 'import json,sys; print(json.load(sys.stdin)["deep_page_median_ms"])')")
  done
  say "first page median ms: $(printf '%s\n' "${first[@]}" | median); page 9000 median ms: $(printf '%s\n' "${deep[@]}" | median)"
  rps=(); p99=()
  for run in $(seq "$RUNS"); do
    w=$(BENCH_RECORDS=$N wrk -t2 -c4 -d10s --latency -s benches/support/getrecord.lua "http://127.0.0.1:$PORT")
    rps+=("$(echo "$w" | awk '/Requests\/sec/ {print $2}')")
    p99+=("$(echo "$w" | awk '$1=="99%" {print $2}')")
  done
  say "GetRecord (wrk -c4, random records): requests/s median: $(printf '%s\n' "${rps[@]}" | median), p99 per run: ${p99[*]}"
  say "server peak RSS (VmHWM) at the end: $(grep VmHWM /proc/$PID/status | awk '{printf "%.1f MB", $2/1024}')"
  if [ "$b" = "$BIN" ] && command -v nginx >/dev/null; then
    # nginx serving one record and one list page, pre-rendered, as files.
    mkdir -p "$WORK/nginx/www" "$WORK/nginx/tmp"
    curl -s "http://127.0.0.1:$PORT/oai?verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:bench.example.org:00000042" > "$WORK/nginx/www/record.xml"
    curl -s "http://127.0.0.1:$PORT/oai?verb=ListRecords&metadataPrefix=oai_dc" > "$WORK/nginx/www/page.xml"
    cat > "$WORK/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/tmp; proxy_temp_path $WORK/nginx/tmp;
  fastcgi_temp_path $WORK/nginx/tmp; uwsgi_temp_path $WORK/nginx/tmp; scgi_temp_path $WORK/nginx/tmp;
  default_type text/xml;
  server { listen 127.0.0.1:$NGINX_PORT; root $WORK/nginx/www; }
}
EOF
    nginx -c "$WORK/nginx/nginx.conf" -g 'daemon off;' 2>>"$WORK/nginx/error.log" &
    NPID=$!; PIDS+=("$NPID"); sleep 0.5
    one=(); nrps=(); npage=(); mpage=()
    for run in $(seq "$RUNS"); do
      one+=("$(wrk -t2 -c4 -d10s "http://127.0.0.1:$PORT/oai?verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:bench.example.org:00000042" | awk '/Requests\/sec/ {print $2}')")
      nrps+=("$(wrk -t2 -c4 -d10s "http://127.0.0.1:$NGINX_PORT/record.xml" | awk '/Requests\/sec/ {print $2}')")
      mpage+=("$(wrk -t1 -c1 -d10s "http://127.0.0.1:$PORT/oai?verb=ListRecords&metadataPrefix=oai_dc" | awk '/Requests\/sec/ {print $2}')")
      npage+=("$(wrk -t1 -c1 -d10s "http://127.0.0.1:$NGINX_PORT/page.xml" | awk '/Requests\/sec/ {print $2}')")
    done
    say "the same record (wrk -c4): moisson GetRecord $(printf '%s\n' "${one[@]}" | median) req/s, nginx file $(printf '%s\n' "${nrps[@]}" | median) req/s"
    say "the first ListRecords page (wrk -c1): moisson $(printf '%s\n' "${mpage[@]}" | median) pages/s, nginx file $(printf '%s\n' "${npage[@]}" | median) pages/s"
    kill "$NPID"; wait "$NPID" 2>/dev/null || true
  fi
  stop "$PID"
done
