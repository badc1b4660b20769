#!/usr/bin/env bash
# Benchmark of `moisson import pmb` (issue target: 100,000 bulletins into the store at
# >= 20,000/s). Parse + map alone: `cargo bench --bench pmb_parse`.
# Usage: benches/pmb_import.sh [N_BULLETINS] [RUNS]   (defaults 100000 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
RUNS=${2:-3}
WORK=target/bench-pmb
cargo build --release --quiet --bin moisson --example gen_pmb
INPUT="$WORK/input-$N"
[ -d "$INPUT" ] || target/release/examples/gen_pmb "$N" "$INPUT"
rates=()
for run in $(seq "$RUNS"); do
  rm -rf "$WORK/store"
  t0=$(date +%s.%N)
  MOISSON_LOG=warn target/release/moisson --data "$WORK/store" import pmb "$INPUT"
  t1=$(date +%s.%N)
  rates+=("$(echo "$N / ($t1 - $t0)" | bc -l | xargs printf '%.0f')")
done
t0=$(date +%s.%N)
MOISSON_LOG=warn target/release/moisson --data "$WORK/store" import pmb "$INPUT"
t1=$(date +%s.%N)
echo "import pmb of $N bulletins ($(du -sh "$INPUT" | cut -f1)): bulletins/s per run: ${rates[*]}; median: $(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
echo "re-import of the same $N (all unchanged): $(echo "$N / ($t1 - $t0)" | bc -l | xargs printf '%.0f') bulletins/s"
