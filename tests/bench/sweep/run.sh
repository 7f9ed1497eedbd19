#!/usr/bin/env bash
# The sweep benchmark of issue 20: a 16-point grid (percentile x neuron x max-pool x bias-shift, each read at 2, 4, 8
# and 16 steps) on the bundled Fashion-MNIST CNN and its 1000 bundled test images, run once in one process
# (snn sweep --threads 2) and once on a localhost Orleans cluster of two snn worker processes (snn sweep --cluster);
# prints both wall times, the units, the overhead per unit and the machine's load, and checks that both runs wrote the
# same sweep.json, byte for byte. Not a test: a measurement. Usage: tests/bench/sweep/run.sh [SHARD_SIZE (default 250)]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && cd .. && pwd)"
cd "$root"
shard="${1:-250}"
dotnet build src/Snn.Cli -c Release -nologo -clp:ErrorsOnly >/dev/null
snn=(dotnet "$root/src/Snn.Cli/bin/Release/net10.0/Snn.Cli.dll")
work="$(mktemp -d)"
trap 'kill ${w0:-} ${w1:-} 2>/dev/null || true; rm -rf "$work"' EXIT
model=src/Snn/Demo/fashion-cnn/model.json
x=src/Snn/Demo/fashion-mnist-1000/x.npy
y=src/Snn/Demo/fashion-mnist-1000/y.npy
grid="steps=2,4,8,16; percentile=99,99.9; neuron=signed,if; max-pool=count,avg; bias-shift=off,on"
common=("$model" --data "$x" --labels "$y" --input-scale 1/255 --calibrate "$x" --calib-samples 200 --grid "$grid" --shard-size "$shard" --no-progress)

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cat > "$work/cluster.json" <<JSON
{ "cluster_id": "snn-bench", "service_id": "snn-sweep", "clustering": "localhost",
  "silos": [ { "silo_port": $(port), "gateway_port": $(port) }, { "silo_port": $(port), "gateway_port": $(port) } ],
  "units_per_worker": 1, "threads_per_unit": 1, "unit_timeout_s": 3600, "attempts": 6 }
JSON

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s.%N)
"${snn[@]}" sweep "${common[@]}" --threads 2 --out "$work/local" > /dev/null
local_s=$(echo "$(date +%s.%N) - $start" | bc)

"${snn[@]}" worker --cluster "$work/cluster.json" > "$work/w0.log" 2>&1 & w0=$!
"${snn[@]}" worker --cluster "$work/cluster.json" --silo 1 > "$work/w1.log" 2>&1 & w1=$!
sleep 8   # both silos up (a worker is ready in 2.6-5 s here)
echo "load between: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s.%N)
"${snn[@]}" sweep "${common[@]}" --out "$work/cluster" --cluster "$work/cluster.json" > /dev/null
cluster_s=$(echo "$(date +%s.%N) - $start" | bc)
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

units=$(ls "$work/local/units" | wc -l)
same=$(cmp -s "$work/local/sweep.json" "$work/cluster/sweep.json" && echo yes || echo NO)
printf 'points 16, units %d (shards of %d images)\n' "$units" "$shard"
printf 'one process, 2 threads: %.1f s\n' "$local_s"
printf 'two workers (Orleans, localhost): %.1f s\n' "$cluster_s"
printf 'overhead per unit: %.2f s ((cluster - local) / units, both using the same 2 cores)\n' "$(echo "($cluster_s - $local_s) / $units" | bc -l)"
printf 'sweep.json identical: %s\n' "$same"
[ "$same" = yes ]
