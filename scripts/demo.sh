#!/usr/bin/env bash
# make demo: the main job on the embedded defaults, from a fresh clone.
# For now: the CKKS round trip at every preset (keygen → encrypt → decrypt)
# from the shell, with the largest error against the input.
set -euo pipefail
aios=${1:-bin/aios}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n$ %s\n' "$*" >&2; "$@"; }

step "$aios" params
printf '3.14159,-2.5,0.001,16,-16,1e-6\n0.5,0.25\n' > "$work/in.csv"
for preset in n12 n13 n14 n15; do
  step "$aios" keygen --preset "$preset" --out "$work/$preset.keys"
  step "$aios" encrypt --keys "$work/$preset.keys" --in "$work/in.csv" --out "$work/$preset.ct"
  step "$aios" decrypt --keys "$work/$preset.keys" --in "$work/$preset.ct" --out "$work/$preset.out.csv"
  paste -d'\n' "$work/in.csv" "$work/$preset.out.csv" | awk -F, -v p="$preset" '
    NR % 2 == 1 { n = split($0, a, ","); next }
    { for (i = 1; i <= n; i++) { d = $i - a[i]; if (d < 0) d = -d; if (d > m) m = d } }
    END { printf "%s: round trip max |error| = %.3g (bound 2^-20 = %.3g)\n", p, m, 2^-20; exit (m > 2^-20) }'
done
