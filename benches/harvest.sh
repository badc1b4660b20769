#!/usr/bin/env bash
# Benchmark of the harvester, end to end with the real binaries (issue targets in parentheses):
#   `moisson serve` over a store of N records (pages of 1,000) is harvested by
#   `moisson harvest --url` into a new store, RUNS times:
#   - records/s end to end, median                       (>= 50,000/s for 1,000,000 records)
#   - the harvester's peak RSS, median                   (<= 200 MB)
#   - for reference, `moisson import dc` of the same records: the store's own write rate.
# Usage: benches/harvest.sh [N_RECORDS] [RUNS] [small|full]   (defaults 1000000, 3, small)
#   small: four short Dublin Core values a record (about 200 bytes);
#   full:  the provider benchmark's records (benches/support/gen_records.rs, about 3 KB).
# Results go to target/bench-harvest/results-KIND-N.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
RUNS=${2:-3}
KIND=${3:-small}
WORK=target/bench-harvest
PORT=${BENCH_PORT:-18090}
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

say "moisson harvester benchmark: $N $KIND records ($(du -h "$DATA" | cut -f1) of JSON Lines), $RUNS runs, $(nproc) cores, $(date -u +%FT%TZ)"
rm -rf "$WORK/upstream"
/usr/bin/time -f "%e %M" -o "$WORK/import.time" env MOISSON_LOG=warn "$BIN" --data "$WORK/upstream" import dc "$DATA" 2>>"$WORK/import.log"
read -r secs kb < "$WORK/import.time"
say "reference: import dc of the same records: $(echo "$N / $secs" | bc -l | xargs printf '%.0f') records/s, peak RSS $((kb / 1024)) MB"

printf '[server]\npage_size = 1000\nstylesheet = false\n' > "$WORK/serve.toml"
MOISSON_LOG=warn "$BIN" --config "$WORK/serve.toml" --data "$WORK/upstream" serve --bind "127.0.0.1:$PORT" 2>>"$WORK/serve.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done

rates=(); rss=()
for run in $(seq "$RUNS"); do
  rm -rf "$WORK/local"
  /usr/bin/time -f "%e %M" -o "$WORK/harvest.time" env MOISSON_LOG=warn "$BIN" --data "$WORK/local" \
    harvest --url "http://127.0.0.1:$PORT/oai" bench 2>>"$WORK/harvest.log"
  read -r secs kb < "$WORK/harvest.time"
  rate=$(echo "$N / $secs" | bc -l | xargs printf '%.0f')
  rates+=("$rate"); rss+=("$((kb / 1024))")
  say "harvest run $run: $secs s, $rate records/s, harvester peak RSS $((kb / 1024)) MB ($(tail -1 "$WORK/harvest.log"))"
done
say "harvest: records/s median $(printf '%s\n' "${rates[@]}" | median), harvester peak RSS median $(printf '%s\n' "${rss[@]}" | median) MB"
say "server peak RSS (VmHWM): $(grep VmHWM /proc/$PID/status | awk '{printf "%.1f MB", $2/1024}')"
kill -TERM $PID; wait $PID || true
