#!/usr/bin/env bash
# Fuzz every decoder for the given time each (default 60s), one at a time.
# Usage: scripts/fuzz.sh [60s]
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-60s}
# Each package's fuzz targets, found from the source.
for dir in $(git ls-files '*_test.go' | xargs grep -l '^func Fuzz' | xargs -n1 dirname | sort -u); do
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/^func //' | sort -u); do
    echo "== ./$dir $target ($time)"
    go test "./$dir" -run '^$' -fuzz "^${target}\$" -fuzztime "$time" -fuzzminimizetime 5s -parallel 2
  done
done
