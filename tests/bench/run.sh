#!/usr/bin/env bash
# The PyTorch peer benchmark: exports the Fashion-MNIST CNN and LeNet-5 with `snn export`, rebuilds each spiking
# network in PyTorch (tests/bench/torch_peer.py), checks that its outputs match `snn predict --mode spiking`, and
# times both simulators with the same thread count, batch and steps.
#
#   tests/bench/run.sh            1000 images per model, batch 100, 32 steps
#   tests/bench/run.sh --small    a CI smoke run: 20 images, batch 10, 4 steps
#
# Environment: THREADS (default: all cores), IMAGES, BATCH, STEPS override the setting; SNN_SHARED points at the
# shared/ folder with the models and data (default: ../shared beside the repository); SNN is the snn executable
# to use (default: a Release build of src/Snn.Cli, built here). Results: tests/bench/out/.
# Installs what it needs: Debian's python3-torch and python3-numpy, and OpenBLAS (libopenblas0-openmp) as the
# system BLAS (Debian's torch calls the libblas.so.3 alternative; the reference BLAS is about 10x slower).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

SMALL=0
for arg in "$@"; do
  case "$arg" in
    --small) SMALL=1 ;;
    *) echo "usage: tests/bench/run.sh [--small]" >&2; exit 2 ;;
  esac
done
if [[ $SMALL == 1 ]]; then IMAGES=${IMAGES:-20}; BATCH=${BATCH:-10}; STEPS=${STEPS:-4}
else IMAGES=${IMAGES:-1000}; BATCH=${BATCH:-100}; STEPS=${STEPS:-32}; fi
THREADS=${THREADS:-$(nproc)}
SHARED=${SNN_SHARED:-$ROOT/../shared}
PY=/usr/bin/python3

if [[ ! -d "$SHARED/models/real" || ! -d "$SHARED/data" ]]; then
  echo "tests/bench: $SHARED (real models and data) is not present; skipping the PyTorch peer benchmark"
  exit 0
fi

apt_install() {
  if [[ $(id -u) != 0 ]]; then echo "tests/bench: need root to apt-get install $*" >&2; return 1; fi
  [[ -n "${BENCH_APT_UPDATED:-}" ]] || { apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null; BENCH_APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q "$@" >/dev/null
}
if ! "$PY" -c "import torch, numpy" 2>/dev/null; then
  echo "tests/bench: installing python3-torch and python3-numpy (Debian)"
  apt_install python3-torch python3-numpy
fi
if ! update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | grep -q '^Value: .*openblas'; then
  echo "tests/bench: installing OpenBLAS as the system BLAS"
  apt_install libopenblas0-openmp || echo "tests/bench: warning: no OpenBLAS; torch's dense layers use the reference BLAS"
fi

if [[ -z "${SNN:-}" ]]; then
  dotnet build -c Release src/Snn.Cli -v q -nologo >/dev/null
  SNN="$ROOT/src/Snn.Cli/bin/Release/net10.0/Snn.Cli"
fi
# The peer allocates its T x batch tensors afresh every batch; glibc returns such large blocks to the kernel and every
# batch then pays the page faults again (on a microVM that made the peer 20x slower: 4.8 s against 0.23 s for a batch of
# the Fashion CNN). Keeping freed memory in the heap gives the peer the reuse a long-running process would have.
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-17179869184} MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-17179869184}
export MALLOC_TOP_PAD_=${MALLOC_TOP_PAD_:-1073741824} MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-1}   # one arena: worker threads reuse it too
OUT="$ROOT/tests/bench/out"
mkdir -p "$OUT"

echo "tests/bench: $IMAGES images x $STEPS steps, batch $BATCH, $THREADS thread(s); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
common=(--snn "$SNN" --images "$IMAGES" --batch "$BATCH" --steps "$STEPS" --threads "$THREADS" --input-scale 1/255)

"$PY" tests/bench/torch_peer.py "${common[@]}" --name fashion-cnn \
  --model "$SHARED/models/real/image_prediction_on_Fashion_MNIST/fashion_mnist_model.keras" \
  --data "$SHARED/data/fashion-mnist/x_test_nhwc_u8.npy" --labels "$SHARED/data/fashion-mnist/y_test.npy" \
  --calibrate "$SHARED/data/fashion-mnist/x_calib_nhwc_u8.npy" --json "$OUT/fashion-cnn.json"

"$PY" tests/bench/torch_peer.py "${common[@]}" --name lenet5 \
  --model "$SHARED/models/real/snn_toolbox/lenet5_mnist_99.14.h5" \
  --data "$SHARED/data/mnist/x_holdout_nchw_u8.npy" --labels "$SHARED/data/mnist/y_holdout.npy" \
  --calibrate "$SHARED/data/mnist/x_calib_nchw_u8.npy" --json "$OUT/lenet5.json"

# Rate mode, one step: the ANN forward pass against PyTorch's (rate neurons, exact max pooling).
ann=(--snn "$SNN" --images "$IMAGES" --batch "$BATCH" --steps 1 --threads "$THREADS" --input-scale 1/255 --mode rate)
"$PY" tests/bench/torch_peer.py "${ann[@]}" --name fashion-ann \
  --model "$SHARED/models/real/image_prediction_on_Fashion_MNIST/fashion_mnist_model.keras" \
  --data "$SHARED/data/fashion-mnist/x_test_nhwc_u8.npy" --labels "$SHARED/data/fashion-mnist/y_test.npy" --json "$OUT/fashion-ann.json"
"$PY" tests/bench/torch_peer.py "${ann[@]}" --name lenet5-ann \
  --model "$SHARED/models/real/snn_toolbox/lenet5_mnist_99.14.h5" \
  --data "$SHARED/data/mnist/x_holdout_nchw_u8.npy" --labels "$SHARED/data/mnist/y_holdout.npy" --json "$OUT/lenet5-ann.json"

"$PY" - "$OUT/fashion-cnn.json" "$OUT/lenet5.json" "$OUT/fashion-ann.json" "$OUT/lenet5-ann.json" <<'EOF'
import json, sys
print("\nimage-steps/s; peer (intra): torch.set_num_threads(N), one batch at a time; peer (batches): N batches at once, 1 torch thread each")
print(f"{'model':<12} {'images':>6} {'steps':>5} {'snn':>9} {'peer intra':>10} {'snn/peer':>8} {'peer batches':>12} {'snn/peer':>8} {'max|diff|':>9} {'mismatch':>8} {'argmax':>7} {'load':>5}")
for path in sys.argv[1:]:
    r = json.load(open(path))
    print(f"{r['name']:<12} {r['images']:>6} {r['steps']:>5} {r['snn_image_steps_per_second']:>9,.0f} "
          f"{r['peer_image_steps_per_second']:>10,.0f} {r['snn_over_peer']:>8.2f} {r['peer_batch_parallel_image_steps_per_second']:>12,.0f} "
          f"{r['snn_over_peer_batch_parallel']:>8.2f} {r['max_abs_diff']:>9.2e} {100 * r['mismatch_fraction']:>7.3f}% "
          f"{100 * r['argmax_agreement']:>6.2f}% {r['load_average']:>5.1f}")
EOF
