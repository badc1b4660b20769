#!/usr/bin/env bash
# Benchmark of `moisson import unimarc` against `import dc` of the same records (issue target:
# the same rate). benches/support/gen_unimarc.rs writes N UNIMARC records like the PMB export
# fixture, in files of 10,000, and the same records' Dublin Core (crosswalked) as JSON Lines;
# each run imports both into fresh stores, alternately, and the medians are compared.
# Parse + map alone: `cargo bench --bench unimarc_parse`.
# Usage: benches/unimarc_import.sh [N_RECORDS] [RUNS]   (defaults 100000 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
RUNS=${2:-3}
WORK=target/bench-unimarc
cargo build --release --quiet --bin moisson --example gen_unimarc
INPUT="$WORK/input-$N"
[ -d "$INPUT" ] && [ -f "$INPUT.jsonl" ] || target/release/examples/gen_unimarc "$N" "$INPUT"
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rate() { # COMMAND... : runs it into a fresh store, prints records/s
  rm -rf "$WORK/store"
  local t0 t1
  t0=$(date +%s.%N)
  MOISSON_LOG=warn "$@" >/dev/null 2>"$WORK/last.err" || { cat "$WORK/last.err"; exit 1; }
  t1=$(date +%s.%N)
  echo "$N / ($t1 - $t0)" | bc -l | xargs printf '%.0f'
}
unimarc=(); dc=()
for run in $(seq "$RUNS"); do
  unimarc+=("$(rate target/release/moisson --data "$WORK/store" import unimarc "$INPUT")")
  dc+=("$(rate target/release/moisson --data "$WORK/store" import dc "$INPUT.jsonl")")
done
mu=$(median "${unimarc[@]}"); md=$(median "${dc[@]}")
echo "import unimarc of $N records ($(du -sh "$INPUT" | cut -f1)): records/s per run: ${unimarc[*]}; median: $mu"
echo "import dc of the same $N records ($(du -sh "$INPUT.jsonl" | cut -f1)): records/s per run: ${dc[*]}; median: $md"
echo "unimarc / dc: $(echo "$mu / $md" | bc -l | xargs printf '%.2f')"
