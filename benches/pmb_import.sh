#!/usr/bin/env bash
# Benchmark of `moisson import pmb` (issue target: 100,000 bulletins into the store at
# >= 20,000/s), beside a baseline binary measured in the same run (BASELINE=path to an earlier
# `moisson`, built as benches/provider.sh says; unset: no baseline); the binaries alternate, so
# both see the same machine load. Parse + map alone: `cargo bench --bench pmb_parse`.
# Usage: benches/pmb_import.sh [N_BULLETINS] [RUNS]   (defaults 100000 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
RUNS=${2:-3}
WORK=target/bench-pmb
cargo build --release --quiet --bin moisson --example gen_pmb
INPUT="$WORK/input-$N"
[ -d "$INPUT" ] || target/release/examples/gen_pmb "$N" "$INPUT"
BINS=(target/release/moisson)
[ -n "${BASELINE:-}" ] && BINS+=("$BASELINE")
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
import() { # binary: the rate of one import into a fresh store
  rm -rf "$WORK/store"
  local t0 t1
  t0=$(date +%s.%N)
  MOISSON_LOG=warn "$1" --data "$WORK/store" import pmb "$INPUT" >/dev/null
  t1=$(date +%s.%N)
  echo "$N / ($t1 - $t0)" | bc -l | xargs printf '%.0f'
}
declare -A RATES
for run in $(seq "$RUNS"); do
  for b in "${BINS[@]}"; do
    RATES[$b]+="$(import "$b") "
  done
done
for b in "${BINS[@]}"; do
  echo "import pmb of $N bulletins ($(du -sh "$INPUT" | cut -f1)) by $b: bulletins/s per run: ${RATES[$b]}; median: $(printf '%s\n' ${RATES[$b]} | median)"
done
t0=$(date +%s.%N)
MOISSON_LOG=warn target/release/moisson --data "$WORK/store" import pmb "$INPUT" >/dev/null
t1=$(date +%s.%N)
echo "re-import of the same $N (all unchanged): $(echo "$N / ($t1 - $t0)" | bc -l | xargs printf '%.0f') bulletins/s"
