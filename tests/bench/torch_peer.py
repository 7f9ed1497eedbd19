#!/usr/bin/python3
"""PyTorch peer of the snn simulator.

Rebuilds the spiking network that `snn export --format npz` wrote (see tests/bench/README.md for the format)
with plain PyTorch ops, simulates it multi-step (every layer processes all T steps of a batch at once, as
SpikingJelly's multi-step mode does; only neurons and spiking max pooling loop over time), and

  1. checks its output against `snn predict --mode spiking --readout mean` on the same inputs
     (max abs difference, fraction of mismatching outputs, argmax agreement, accuracies), and
  2. times both with the same thread count: `snn bench --json` (image_steps_per_second) against this peer.

Usage (tests/bench/run.sh calls it once per model):
  torch_peer.py --snn PATH/TO/snn --model MODEL --data X.npy [--labels Y.npy] [--input-scale S]
                [--calibrate C.npy] [--images N] [--batch B] [--steps T] [--threads N] [--json OUT.json]
                [--export NET.npz] [-- extra converter options passed to snn]
"""

import argparse
import concurrent.futures
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

from snn_npz import Network, load_inputs, parse_scale, snn

# ---------------------------------------------------------------------------------------------------- driver

def time_peer(net, x, batch, steps, threads, mode):
    """Seconds to simulate all of x. 'intra': one batch at a time, torch.set_num_threads(threads) (intra-op
    parallelism); 'batch': `threads` batches at once in worker threads with one torch thread each, the way
    snn's runtime parallelizes (whole batches per worker)."""
    starts = list(range(0, x.shape[0], batch))
    run = lambda s0: net.run([torch.from_numpy(x[s0:s0 + batch])], steps)
    if mode == "intra":
        torch.set_num_threads(threads)
        run(0)                                                        # warm-up
        start = time.perf_counter()
        for s0 in starts:
            run(s0)
        return time.perf_counter() - start
    torch.set_num_threads(1)

    def worker(s0):
        torch.set_num_threads(1)
        run(s0)

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, starts[:threads]))                      # warm-up
        start = time.perf_counter()
        list(pool.map(worker, starts))
        seconds = time.perf_counter() - start
    torch.set_num_threads(threads)
    return seconds



def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snn", required=True, help="the snn executable")
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, help="input samples (.npy), scaled by --input-scale")
    ap.add_argument("--labels", help="labels (.npy) for accuracies")
    ap.add_argument("--input-scale")
    ap.add_argument("--calibrate", help="calibration samples for snn's --calibrate")
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--atol", type=float, default=1e-4, help="an output element mismatches when |ours - peer| > atol")
    ap.add_argument("--max-mismatch", type=float, default=0.01,
                    help="exit 1 when more than this fraction of outputs differ by more than --atol")
    ap.add_argument("--export", help="use this exported archive instead of running snn export")
    ap.add_argument("--name", default=None)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--no-bench", action="store_true")
    ap.add_argument("--mode", choices=("spiking", "rate"), default="spiking",
                    help="rate: the ANN (rate neurons, exact max pooling), e.g. with --steps 1 for one forward pass")
    ap.add_argument("extra", nargs="*", help="converter options passed to snn (after --)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.set_grad_enabled(False)
    name = a.name or os.path.basename(a.model)
    conv_opts = list(a.extra)
    if a.calibrate:
        # snn's calibrated defaults: per-channel scales, SignedIF neurons.
        conv_opts += ["--calibrate", a.calibrate]
    if a.input_scale:
        conv_opts += ["--input-scale", a.input_scale]

    work = tempfile.mkdtemp(prefix="snn-peer-")
    npz = a.export or os.path.join(work, "net.npz")
    if not a.export:
        snn(a.snn, ["export", a.model, "--format", "npz", "--out", npz, "--steps", str(a.steps), "--mode", a.mode] + conv_opts)
    net = Network(npz)

    # The same inputs for both: the first N samples, as stored (the CLI scales them by --input-scale).
    raw = np.load(a.data)[: a.images]
    data_path = os.path.join(work, "x.npy")
    np.save(data_path, raw)
    x = load_inputs(data_path, parse_scale(a.input_scale), a.images)
    in_shape = net.s["ops"][[o["id"] for o in net.ops].index(net.s["inputs"][0])]["shape"]
    x = x.reshape(x.shape[0], *in_shape)
    n = x.shape[0]

    # 1. Correctness: snn predict vs the peer.
    out_dir = os.path.join(work, "ours")
    snn(a.snn, ["predict", a.model, "--input", data_path, "--output", out_dir, "--mode", a.mode,
                "--steps", str(a.steps), "--readout", "mean", "--batch", str(a.batch), "--threads", str(a.threads)] + conv_opts)
    outputs = len(net.s["outputs"])
    ours_all = [np.load(os.path.join(out_dir, f"output_{k}.npy")) for k in range(outputs)]
    runs = [net.run([torch.from_numpy(x[s0:s0 + a.batch])], a.steps) for s0 in range(0, n, a.batch)]
    peer_all = [np.concatenate([r[k].numpy() for r in runs]) for k in range(outputs)]
    diff = np.concatenate([np.abs(o.astype(np.float64) - p.astype(np.float64)).ravel() for o, p in zip(ours_all, peer_all)])
    ours, peer = ours_all[0], peer_all[0]                           # argmax and accuracy: the first output
    result = {
        "name": name, "mode": a.mode, "images": n, "steps": a.steps, "batch": a.batch, "threads": a.threads,
        "torch": torch.__version__,
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "atol": a.atol,
        "mismatch_fraction": float((diff > a.atol).mean()),
        "argmax_agreement": float((ours.reshape(n, -1).argmax(1) == peer.reshape(n, -1).argmax(1)).mean()),
    }
    if a.labels:
        y = np.load(a.labels)[:n]
        y = y.argmax(1) if y.ndim == 2 else y
        result["accuracy_snn"] = float((ours.reshape(n, -1).argmax(1) == y).mean())
        result["accuracy_peer"] = float((peer.reshape(n, -1).argmax(1) == y).mean())

    # 2. Throughput with the same thread count, batch and steps.
    if not a.no_bench:
        bench = snn(a.snn, ["bench", a.model, "--data", data_path, "--samples", str(n), "--batch", str(a.batch),
                            "--steps", str(a.steps), "--threads", str(a.threads), "--mode", a.mode, "--json"] + conv_opts)
        line = [l for l in bench.splitlines() if l.startswith("{")][-1]
        ours_bench = json.loads(line)
        result["snn_image_steps_per_second"] = ours_bench["image_steps_per_second"]
        result["snn_seconds"] = ours_bench["seconds"]
        for mode in ("intra", "batch"):
            seconds = time_peer(net, x, a.batch, a.steps, a.threads, mode)
            key = "peer" if mode == "intra" else "peer_batch_parallel"
            result[f"{key}_image_steps_per_second"] = n * a.steps / seconds
            result[f"{key}_seconds"] = seconds
        result["snn_over_peer"] = result["snn_image_steps_per_second"] / result["peer_image_steps_per_second"]
        result["snn_over_peer_batch_parallel"] = result["snn_image_steps_per_second"] / result["peer_batch_parallel_image_steps_per_second"]
        result["load_average"] = os.getloadavg()[0]

    print(json.dumps(result))
    lines = [f"{name} ({a.mode}): {n} images x {a.steps} steps, batch {a.batch}, {a.threads} thread(s), torch {torch.__version__}",
             f"  match: max |snn - peer| = {result['max_abs_diff']:.3g}, mean {result['mean_abs_diff']:.3g}; "
             f"{100 * result['mismatch_fraction']:.3f}% of outputs differ by more than {a.atol:g}; "
             f"argmax agreement {100 * result['argmax_agreement']:.2f}%"]
    if a.labels:
        lines.append(f"  accuracy: snn {result['accuracy_snn']:.4f}, peer {result['accuracy_peer']:.4f}")
    if not a.no_bench:
        lines.append(f"  speed: snn {result['snn_image_steps_per_second']:,.0f} image-steps/s; "
                     f"peer {result['peer_image_steps_per_second']:,.0f} (torch.set_num_threads({a.threads})), ratio snn/peer "
                     f"{result['snn_over_peer']:.2f}; peer {result['peer_batch_parallel_image_steps_per_second']:,.0f} "
                     f"({a.threads} batches at once, 1 thread each), ratio {result['snn_over_peer_batch_parallel']:.2f}; "
                     f"load average {result['load_average']:.1f}")
    print("\n".join(lines), file=sys.stderr)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    if result["mismatch_fraction"] > a.max_mismatch:
        print(f"{name}: FAILED: {100 * result['mismatch_fraction']:.3f}% of the outputs differ from snn's "
              f"(more than the {100 * a.max_mismatch:g}% allowed)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
