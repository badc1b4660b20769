#!/usr/bin/env bash
# Benchmark of the harvester, end to end with the real binaries (targets in parentheses), each
# figure beside the same figure for a baseline binary measured in the same run (BASELINE=path to
# an earlier `moisson`, built as benches/provider.sh says; unset: no baseline):
#   - static: `moisson harvest --url` of pre-rendered ListRecords pages (pages of 1,000, crawled
#     once from `moisson serve`) served as files by benches/support/static_oai.py, so that the
#     upstream costs next to nothing: the harvester alone                   (>= 30,000/s)
#   - serve: `moisson harvest --url` of a running `moisson serve` of the same records (pages of
#     1,000) into a new store, both processes on this machine, end to end   (>= 30,000/s)
#   - the harvester's peak RSS for each, median
#   - for reference, `moisson import dc` of the same records: the store's own write rate.
# Each binary harvests from its own `moisson serve` (over a store it imported itself).
# Usage: benches/harvest.sh [N_RECORDS] [RUNS] [full|small]   (defaults 100000, 3, full)
#   full:  the provider benchmark's records (benches/support/gen_records.rs, about 3 KB);
#   small: four short Dublin Core values a record (about 200 bytes).
# PERF=1 records `perf record -g` of the first static harvest of each binary in the work dir.
# Results go to target/bench-harvest/results-KIND-N.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
RUNS=${2:-3}
KIND=${3:-full}
WORK=$PWD/target/bench-harvest
PORT=${BENCH_PORT:-18090}
STATIC_PORT=$((PORT + 1))
BASELINE=${BASELINE:-}
[ -n "$BASELINE" ] && [ ! -x "$BASELINE" ] && BASELINE=
mkdir -p "$WORK"
cargo build --release --quiet --bin moisson --example gen_records
BIN=target/release/moisson
DATA="$WORK/records-$KIND-$N.jsonl"
if [ ! -s "$DATA" ]; then
  if [ "$KIND" = full ]; then
    target/release/examples/gen_records "$N" > "$DATA"
  else
    python3 - "$N" > "$DATA" <<'PY'
import datetime, json, sys
n = int(sys.argv[1])
for i in range(n):
    d = datetime.datetime.fromtimestamp(1262304000 + i * 37, datetime.timezone.utc)
    print(json.dumps({"id": f"oai:bench:{i:07d}", "datestamp": d.strftime("%Y-%m-%dT%H:%M:%SZ"),
                      "sets": [f"s{i % 10}"], "dc": {"title": [f"Record number {i}"], "creator": ["Tester, Ann"],
                      "date": ["2020"], "identifier": [f"http://example.org/{i}"]}}))
PY
  fi
fi
OUT="$WORK/results-$KIND-$N.txt"
: > "$OUT"
say() { echo "$@" | tee -a "$OUT"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_up() { for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/health" >/dev/null && return; sleep 0.1; done; }

BINS=("$BIN")
[ -n "$BASELINE" ] && BINS+=("$BASELINE")
tag() { [ "$1" = "$BIN" ] && echo new || echo baseline; }
say "moisson harvester benchmark: $N $KIND records ($(du -h "$DATA" | cut -f1) of JSON Lines), $RUNS runs, $(nproc) cores, $(date -u +%FT%TZ); binaries: ${BINS[*]}"

# Upstreams: each binary's own store and server; static pages crawled from the first.
printf '[server]\npage_size = 1000\nstylesheet = false\n' > "$WORK/serve.toml"
declare -A SERVE_PORT SERVE_PID
p=$PORT
for b in "${BINS[@]}"; do
  t=$(tag "$b")
  rm -rf "$WORK/upstream-$t"
  /usr/bin/time -f "%e %M" -o "$WORK/import.time" env MOISSON_LOG=warn "$b" --data "$WORK/upstream-$t" import dc "$DATA" 2>>"$WORK/import.log"
  read -r secs kb < "$WORK/import.time"
  say "reference ($t): import dc of the same records: $(echo "$N / $secs" | bc -l | xargs printf '%.0f') records/s, peak RSS $((kb / 1024)) MB"
  p=$((p + 2))
  MOISSON_LOG=warn "$b" --config "$WORK/serve.toml" --data "$WORK/upstream-$t" serve --bind "127.0.0.1:$p" 2>>"$WORK/serve.log" &
  SERVE_PID[$t]=$!; PIDS+=($!); SERVE_PORT[$t]=$p
  wait_up "$p"
done
rm -rf "$WORK/static"
python3 benches/support/static_oai.py crawl "http://127.0.0.1:${SERVE_PORT[new]}/oai" "$WORK/static" >/dev/null
python3 benches/support/static_oai.py serve "$WORK/static" "$STATIC_PORT" &
PIDS+=($!)
wait_up "$STATIC_PORT"
say "static pages: $(ls "$WORK/static" | wc -l) files, $(du -sh "$WORK/static" | cut -f1), served by benches/support/static_oai.py"

declare -A RATES RSS
harvest() { # binary, mode, url, run
  local b=$1 mode=$2 url=$3 run=$4 t secs kb rate
  t=$(tag "$b")
  rm -rf "$WORK/local-$t"
  local pre=()
  if [ "${PERF:-}" = 1 ] && [ "$mode" = static ] && [ "$run" = 1 ]; then
    pre=(perf record -g -o "$WORK/perf-$t.data" --)
  fi
  /usr/bin/time -f "%e %M" -o "$WORK/harvest.time" env MOISSON_LOG=warn "${pre[@]}" "$b" --data "$WORK/local-$t" \
    harvest --url "$url" bench 2>>"$WORK/harvest.log"
  read -r secs kb < <(tail -1 "$WORK/harvest.time")
  rate=$(echo "$N / $secs" | bc -l | xargs printf '%.0f')
  RATES[$t-$mode]+="$rate "; RSS[$t-$mode]+="$((kb / 1024)) "
  say "$mode $t run $run: $secs s, $rate records/s, harvester peak RSS $((kb / 1024)) MB ($(tail -1 "$WORK/harvest.log"))"
}
for run in $(seq "$RUNS"); do
  for b in "${BINS[@]}"; do
    harvest "$b" static "http://127.0.0.1:$STATIC_PORT/oai" "$run"
    harvest "$b" serve "http://127.0.0.1:${SERVE_PORT[$(tag "$b")]}/oai" "$run"
  done
done
for mode in static serve; do
  for b in "${BINS[@]}"; do
    t=$(tag "$b")
    say "$mode $t: records/s median $(printf '%s\n' ${RATES[$t-$mode]} | median), harvester peak RSS median $(printf '%s\n' ${RSS[$t-$mode]} | median) MB"
  done
done
for t in "${!SERVE_PID[@]}"; do
  say "server ($t) peak RSS (VmHWM): $(grep VmHWM /proc/${SERVE_PID[$t]}/status | awk '{printf "%.1f MB", $2/1024}')"
done
