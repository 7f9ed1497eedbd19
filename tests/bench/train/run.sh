#!/usr/bin/env bash
# Training throughput, Snn against PyTorch (issue 19 item 6): one epoch of the Fashion-MNIST training set on the same
# network (the Fashion CNN's rate network), batch, threads and optimizer (Adam, lr 1e-3), back to back, with the machine
# load before, between and after. A benchmark, not a test: it prints numbers and fails only when a side fails.
#
#   tests/bench/train/run.sh [--count N] [--threads 2] [--batch 64] [--lr 0.001] [--model MODEL.keras]
#
# Snn side: `snn fit` when the CLI has it, else tests/bench/train (Snn.Training.Fit in a small harness).
# PyTorch side: tests/bench/torch_train_peer.py (the same network from `snn export --format npz --mode rate`).
# Each side reports its training loop's wall time and CPU seconds (all threads); the whole process is also timed
# with /usr/bin/time. Needs ../shared (model and data), /usr/bin/python3 with numpy and torch, and the .NET SDK.
set -euo pipefail
cd "$(dirname "$0")/../../.."
root="$PWD"
shared="$root/../shared"
count=60000 threads=2 batch=64 lr=0.001
model="$shared/models/real/image_prediction_on_Fashion_MNIST/fashion_mnist_model.keras"
while [ $# -gt 0 ]; do
  case "$1" in
    --count) count="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --lr) lr="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    *) echo "usage: $0 [--count N] [--threads N] [--batch N] [--lr X] [--model MODEL]" >&2; exit 2 ;;
  esac
done
images="$shared/data/fashion-mnist/train-images-idx3-ubyte.gz"
labels="$shared/data/fashion-mnist/train-labels-idx1-ubyte.gz"
for f in "$model" "$images" "$labels"; do
  [ -f "$f" ] || { echo "missing $f (../shared beside the repository)" >&2; exit 2; }
done
/usr/bin/python3 -c "import numpy, torch" || { echo "/usr/bin/python3 needs numpy and torch (apt-get install python3-torch)" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build src/Snn.Cli -c Release -nologo -clp:ErrorsOnly >/dev/null
snn="$root/src/Snn.Cli/bin/Release/net10.0/Snn.Cli"
load() { cut -d' ' -f1-3 /proc/loadavg; }
timed() { /usr/bin/time -f "%e %U %S" -o "$work/time" "$@"; }

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); load before: $(load)"
if "$snn" --help 2>/dev/null | grep -qE '^  fit '; then
  side="snn fit"
  data="$images" targets="$labels"
  if [ "$count" != 60000 ]; then   # the first --count images, as the PyTorch side takes them
    /usr/bin/python3 - "$images" "$labels" "$count" "$work" <<'EOF2'
import gzip, sys
import numpy as np
images, labels, count, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def idx(path):
    data = gzip.open(path).read()
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(data[3]))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * data[3]).reshape(shape)
np.save(f"{work}/x.npy", idx(images)[:count].reshape(count, 28, 28, 1))
np.save(f"{work}/y.npy", idx(labels)[:count].astype(np.int64))
EOF2
    data="$work/x.npy" targets="$work/y.npy"
  fi
  # --per-neuron-biases: the parameters the PyTorch peer trains (every ensemble's per-neuron bias).
  timed "$snn" fit "$model" --data "$data" --labels "$targets" --input-scale 1/255 --epochs 1 --batch "$batch" \
    --optimizer adam --lr "$lr" --threads "$threads" --per-neuron-biases --out "$work/fit.snnz" --json --no-progress >"$work/snn.json"
else
  side="Snn.Training.Fit (tests/bench/train; no snn fit yet)"
  dotnet build tests/bench/train -c Release -nologo -clp:ErrorsOnly >/dev/null
  timed dotnet tests/bench/train/bin/Release/net10.0/TrainBench.dll epoch "$model" --count "$count" --threads "$threads" \
    --batch "$batch" --lr "$lr" --optimizer adam >"$work/snn.json"
fi
read -r snn_wall snn_user snn_sys <"$work/time"
echo "snn side done ($side); load: $(load)"

"$snn" export "$model" --format npz --mode rate --out "$work/net.npz" >/dev/null
timed /usr/bin/python3 tests/bench/torch_train_peer.py --export "$work/net.npz" --epochs 1 --batch "$batch" --optimizer adam \
  --lr "$lr" --threads "$threads" --seed 0 --train-count "$count" --json "$work/torch.json" >/dev/null
read -r torch_wall torch_user torch_sys <"$work/time"
echo "torch side done; load after: $(load)"

/usr/bin/python3 - "$work/snn.json" "$work/torch.json" "$side" "$snn_wall" "$snn_user" "$snn_sys" "$torch_wall" "$torch_user" "$torch_sys" <<'EOF'
import json, sys
snn_path, torch_path, side = sys.argv[1:4]
sw, su, ss, tw, tu, ts = map(float, sys.argv[4:10])
torch_run = json.load(open(torch_path))
t = torch_run["epochs"][-1]
text = open(snn_path).read().strip()
s = {}
for candidate in (text, text.splitlines()[-1] if text else ""):
    try:
        s = json.loads(candidate)
        break
    except ValueError:
        pass
# `snn fit --json` may report its own timing; without it the whole process's figures stand for the training loop.
def pick(d, *keys):
    for k in keys:
        if isinstance(d, dict) and k in d:
            return d[k]
    return None
n = torch_run["train_images"]
s_ips = pick(s, "images_per_second")
s_cpu = pick(s, "cpu_seconds")
s_loss = pick(s, "mean_loss")
if s_ips is None and isinstance(s, dict) and s.get("history"):
    # snn fit --json: the epoch's wall time; its CPU seconds are the whole process's (import, conversion, data, output too).
    last = s["history"][-1]
    s_ips, s_cpu, s_loss = s.get("samples", n) / last["seconds"], su + ss, last["loss"]
    print("note: snn fit reports the epoch's wall time; its CPU seconds here are the whole process's")
if s_ips is None:
    s_ips, s_cpu = n / sw, su + ss
s_ipc = n / s_cpu if s_cpu else float("nan")
print(f"{'side':<52} {'images/s':>10} {'CPU s':>8} {'images/CPU s':>13} {'mean loss':>10}   whole process: wall, CPU s")
print(f"{side:<52} {s_ips:>10.0f} {s_cpu:>8.1f} {s_ipc:>13.0f} {s_loss if s_loss is not None else float('nan'):>10.4f}   {sw:.1f} s, {su + ss:.1f}")
print(f"{'PyTorch ' + torch_run['torch'] + ' (torch_train_peer.py)':<52} {t['images_per_second']:>10.0f} {t['cpu_seconds']:>8.1f} "
      f"{t['images_per_cpu_second']:>13.0f} {t['mean_loss']:>10.4f}   {tw:.1f} s, {tu + ts:.1f}")
print(f"ratio snn/torch: {s_ips / t['images_per_second']:.2f}x images/s, {s_ipc / t['images_per_cpu_second']:.2f}x images per CPU s "
      f"({n} images, batch {torch_run['batch']}, {torch_run['threads']} threads, adam lr {torch_run['lr']})")
EOF
