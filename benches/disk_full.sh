#!/usr/bin/env bash
# A full disk, for real: a store on a 16 MiB tmpfs (needs root), filled to the last byte.
# `moisson import` must fail with a message saying how many records it committed, leave the
# store consistent, and `moisson serve` must keep answering, read-only.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin moisson
BIN=$PWD/target/release/moisson
MNT=$(mktemp -d)
PORT=${BENCH_PORT:-18097}
mount -t tmpfs -o size=16m tmpfs "$MNT"
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; umount "$MNT"; rmdir "$MNT"; }
trap cleanup EXIT
printf '{"id":"oai:x:%d","dc":{"title":["Record %d"]}}\n' $(seq 1 200 | awk '{print $1, $1}') > "$MNT/small.jsonl"
"$BIN" --data "$MNT/store" import dc "$MNT/small.jsonl"
python3 -c 'import json
for i in range(5000): print(json.dumps({"id": f"oai:y:{i}", "dc": {"title": ["x" * 3000 + str(i)]}}))' > /tmp/disk_full_big.jsonl
dd if=/dev/zero of="$MNT/fill" bs=4k 2>/dev/null || true
if "$BIN" --data "$MNT/store" import dc /tmp/disk_full_big.jsonl 2>"$MNT/err.txt"; then
  echo "FAILED: the import on a full disk succeeded"; exit 1
fi
grep -q "records before that" "$MNT/err.txt" || { cat "$MNT/err.txt"; echo "FAILED: no count of committed records"; exit 1; }
echo "import on a full disk: $(tail -1 "$MNT/err.txt")"
MOISSON_LOG=warn "$BIN" --data "$MNT/store" serve --bind "127.0.0.1:$PORT" 2>"$MNT/serve.txt" &
SERVER=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PORT/oai?verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:x:7" | grep -q "Record 7" \
  || { echo "FAILED: serve does not answer"; exit 1; }
echo "serve on a full disk: answers ($(grep -o 'read-only ([^)]*)' "$MNT/serve.txt" | head -1))"
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
rm -f "$MNT/fill"
"$BIN" --data "$MNT/store" check | tail -1
rm -f /tmp/disk_full_big.jsonl
echo "disk-full check passed"
