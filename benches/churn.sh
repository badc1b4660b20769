#!/usr/bin/env bash
# Space reclaimed: N records (about 3 KB of Dublin Core), re-imported ROUNDS times with a
# changed title, then `moisson compact`; the store must come back within 1.5x of a fresh store
# holding the same final records (the live data). Prints the size after each round, and how
# long `compact` took (it rewrites sled's files into a fresh database too).
# Usage: benches/churn.sh [N_RECORDS] [ROUNDS]   (defaults 20000 and 10)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
ROUNDS=${2:-10}
WORK=$PWD/target/bench-churn
rm -rf "$WORK"; mkdir -p "$WORK"
cargo build --release --quiet --bin moisson --example gen_records
BIN=$PWD/target/release/moisson
GEN_NO_DATESTAMPS=1 target/release/examples/gen_records "$N" > "$WORK/round-0.jsonl"
size() { du -sb "$1" | cut -f1; }
MOISSON_LOG=warn "$BIN" --data "$WORK/store" import dc "$WORK/round-0.jsonl" 2>>"$WORK/import.log"
echo "round 0: $(size "$WORK/store") bytes"
for r in $(seq "$ROUNDS"); do
  sed "s/\"title\":\[{\"lang\":\"fr\",\"value\":\"/&(round $r) /" "$WORK/round-0.jsonl" > "$WORK/round.jsonl"
  MOISSON_LOG=warn "$BIN" --data "$WORK/store" import dc "$WORK/round.jsonl" 2>>"$WORK/import.log"
  echo "round $r: $(size "$WORK/store") bytes"
done
"$BIN" --data "$WORK/store" stats | grep -E "value log|index"
started=$(date +%s.%N)
"$BIN" --data "$WORK/store" compact
echo "compact took $(echo "$(date +%s.%N) - $started" | bc -l | xargs printf '%.1f') s"
compacted=$(size "$WORK/store")
MOISSON_LOG=warn "$BIN" --data "$WORK/fresh" import dc "$WORK/round.jsonl" 2>>"$WORK/import.log"
fresh=$(size "$WORK/fresh")
ratio=$(echo "$compacted / $fresh" | bc -l | xargs printf '%.2f')
echo "after compact: $compacted bytes; a fresh store of the same records: $fresh bytes; ratio $ratio (target <= 1.5)"
"$BIN" --data "$WORK/store" check | tail -1
