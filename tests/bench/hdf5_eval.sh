#!/usr/bin/env bash
# The HDF5 evaluation (issue 18 item 5): Snn's own HDF5 reader and writer against PureHDF (the version in
# Directory.Packages.props), on every criterion the README's "HDF5: why Snn keeps its own reader" reports. Re-run it when
# a new PureHDF version appears: bump the version, run this, compare with the README's numbers.
#
#   tests/bench/hdf5_eval.sh [--quick]     (--quick: 1,000 HDF5 and 200 model mutations instead of 10,000 and 2,000)
#
# Needs /usr/bin/python3 with h5py and numpy; uses ../shared/models/real when present. Takes about 15 minutes on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
h5=10000 keras=2000
if [[ "${1:-}" == "--quick" ]]; then h5=1000 keras=200; fi
dotnet build "$root/tests/bench/Hdf5Eval/Hdf5Eval.csproj" -c Release -nologo -clp:ErrorsOnly >/dev/null
eval_dll="$root/tests/bench/Hdf5Eval/bin/Release/net10.0/Snn.Hdf5Eval.dll"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "## (a) real files and fixtures, every dataset and attribute"
dotnet "$eval_dll" files "$root"

echo "## (b) the HDF5 fuzzer's cases (H5FuzzTests, seed 20250601)"
dotnet "$eval_dll" fuzz-h5 "$root" "$h5"
echo "## (b) the model-import fuzzer's cases (KerasImportFuzzTests, seed 20250722): the HDF5 payload of each"
dotnet "$eval_dll" fuzz-keras "$root" "$keras"

echo "## (c) hostile files: budget 1 GiB, heap limit 3 GiB, 60 s each"
mkdir -p "$work/hostile"
/usr/bin/python3 "$root/tests/bench/hdf5_hostile.py" "$work/hostile"
for f in "$work"/hostile/*.h5 "$root/tests/fixtures/keras/legacy_link_amplification.h5" "$root/tests/fixtures/hdf5/dense.h5"; do
  for r in ours pure; do
    echo "$(basename "$f"):"
    DOTNET_GCHeapHardLimit=0xC0000000 timeout 60 dotnet "$eval_dll" one "$r" "$f" 1073741824 || echo "$r: exit $? (124: still running after 60 s)"
  done
done

echo "## (d) trees Snn writes, written by PureHDF, read by h5py"
mkdir -p "$work/written"
dotnet "$eval_dll" write "$root" "$work/written"
/usr/bin/python3 "$root/tests/bench/hdf5_compare.py" "$work/written"

echo "## (e) speed"
real="$root/../shared/models/real"
if [[ -d "$real" ]]; then
  dotnet "$eval_dll" speed "$real/tiny/vww_96.h5" "$real/image_prediction_on_Fashion_MNIST/fashion_mnist_model.h5"
fi
