#!/usr/bin/env bash
# Compile-time curve: `snn inspect` (import, legalize, convert, lower, optimize) on deep weightless models of 1,000 to
# 20,000 layers, wall time and peak memory per run (GNU time). Usage: tests/bench/compile_curve.sh [SNN]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
snn="${1:-$here/../../src/Snn.Cli/bin/Release/net10.0/Snn.Cli}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
sizes="1000 2000 4000 8000 20000"
(cd "$work" && python3 "$here/deep_models.py" $sizes)
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-8s %-22s %8s %10s\n" layers model seconds peak_MB
for n in $sizes; do
  for kind in seq fun; do
    /usr/bin/time -f "%e %M" -o "$work/t" "$snn" inspect "$work/$kind$n/model.json" >/dev/null
    read -r s kb < "$work/t"
    printf "%-8s %-22s %8s %10d\n" "$n" "$([ $kind = seq ] && echo sequential || echo 'functional, reversed')" "$s" $((kb / 1024))
  done
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
