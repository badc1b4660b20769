#!/usr/bin/env bash
# Crash loop: kill -9 `moisson import dc` KILLS times at random moments, then `moisson harvest`
# KILLS times, checking the store after every kill (`moisson check`), then finishes both and
# asserts that nothing was lost or duplicated: the imported store holds exactly the N input
# records, and the harvested store exactly the records of the upstream store.
# Usage: benches/kill_loop.sh [KILLS_EACH] [N_RECORDS]   (defaults 100 and 20000: 200 kills)
# Takes about 6 minutes with the defaults on the 2-core development machine.
set -euo pipefail
cd "$(dirname "$0")/.."
KILLS=${1:-100}
N=${2:-20000}
WORK=$PWD/target/bench-kill
PORT=${BENCH_PORT:-18095}
rm -rf "$WORK"; mkdir -p "$WORK"
cargo build --release --quiet --bin moisson --example gen_records
BIN=$PWD/target/release/moisson
DATA="$WORK/records.jsonl"
target/release/examples/gen_records "$N" > "$DATA"
fail() { echo "FAILED: $*" >&2; exit 1; }
ids() { "$BIN" --data "$1" export 2>/dev/null | python3 -c '
import json, sys
ids = [json.loads(l).get("id") for l in sys.stdin]
ids = [i for i in ids if i]
print(len(ids), len(set(ids)))'; }
started=$(date +%s)

kill_at_random() { # max_ms command...
  local max=$1; shift
  "$@" >/dev/null 2>&1 &
  local pid=$!
  sleep "$(python3 -c "import random; print(random.uniform(0.05, $max / 1000))")"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

for k in $(seq "$KILLS"); do
  kill_at_random 2500 env MOISSON_LOG=error "$BIN" --data "$WORK/imported" import dc "$DATA"
  "$BIN" --data "$WORK/imported" check >"$WORK/check.txt" 2>&1 || { cat "$WORK/check.txt"; fail "check after import kill $k"; }
done
MOISSON_LOG=error "$BIN" --data "$WORK/imported" import dc "$DATA" 2>>"$WORK/import.log"
read -r total distinct < <(ids "$WORK/imported")
[ "$total" = "$N" ] && [ "$distinct" = "$N" ] || fail "import: $total records, $distinct distinct, expected $N"
echo "import: $KILLS kills, then $total records, none lost or duplicated"

MOISSON_LOG=warn "$BIN" --data "$WORK/imported" serve --bind "127.0.0.1:$PORT" 2>>"$WORK/serve.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
for k in $(seq "$KILLS"); do
  kill_at_random 3000 env MOISSON_LOG=error "$BIN" --data "$WORK/harvested" harvest --url "http://127.0.0.1:$PORT/oai" up
  "$BIN" --data "$WORK/harvested" check >"$WORK/check.txt" 2>&1 || { cat "$WORK/check.txt"; fail "check after harvest kill $k"; }
done
MOISSON_LOG=error "$BIN" --data "$WORK/harvested" harvest --url "http://127.0.0.1:$PORT/oai" up 2>>"$WORK/harvest.log" \
  || fail "the harvest after the kills failed"
read -r total distinct < <(ids "$WORK/harvested")
[ "$total" = "$N" ] && [ "$distinct" = "$N" ] || fail "harvest: $total records, $distinct distinct, expected $N"
echo "harvest: $KILLS kills, then $total records, none lost or duplicated"
echo "kill loop passed: $((2 * KILLS)) kills in $(( $(date +%s) - started )) s"
