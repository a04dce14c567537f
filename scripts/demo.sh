#!/usr/bin/env bash
# make demo: the main job on the embedded defaults, from a fresh clone.
#
# Starts an aios node on a temporary data directory with the bundled digits
# model, creates a client token, and runs a client against it over HTTP on
# the digits test split: the client generates its CKKS keys, uploads the
# evaluation keys once, encrypts the samples, the node classifies the
# ciphertexts, the client decrypts — then prints accuracy, agreement with
# the plaintext model and throughput, and stops the node.
set -euo pipefail
aios=${1:-bin/aios}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
node_pid=""
cleanup() {
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then
    kill -TERM "$node_pid"; wait "$node_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n$ %s\n' "$*" >&2; "$@"; }

model="$root/testvectors/models/digits.aios"
data="$root/testvectors/datasets/digits.csv.gz"

step "$aios" model inspect "$model"
printf '\n$ export AIOS_TOKEN=$(%s token create --role client --name demo --data-dir %s)\n' "$aios" "$work/node" >&2
AIOS_TOKEN=$("$aios" token create --role client --name demo --data-dir "$work/node")
export AIOS_TOKEN

printf '\n$ %s serve --data-dir %s --addr 127.0.0.1:0 --model %s &\n' "$aios" "$work/node" "$model" >&2
"$aios" serve --data-dir "$work/node" --addr 127.0.0.1:0 --model "$model" \
  --ready-file "$work/url" --log-level warn 2> "$work/node.log" &
node_pid=$!
for _ in $(seq 1 300); do
  [ -s "$work/url" ] && break
  kill -0 "$node_pid" 2>/dev/null || { cat "$work/node.log" >&2; exit 1; }
  sleep 0.1
done
url=$(cat "$work/url")
echo "node listening on $url" >&2

step "$aios" infer --server "$url" --keys "$work/client.keys" \
  --data "$data" --split test --packing batch --reference "$model"

step "$aios" infer --server "$url" --keys "$work/client-single.keys" \
  --data "$data" --split test --packing single --limit 8 --reference "$model"
