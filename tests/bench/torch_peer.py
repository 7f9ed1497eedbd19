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
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

FORMAT = "snn-network"
VERSION = 2


def f32(v):
    """A JSON number (written by snn as the exact double of a float32) as a float32 scalar tensor."""
    return torch.tensor(np.float32(v), dtype=torch.float32)


# ---------------------------------------------------------------------------------------------------- layout helpers

def to_channels_first(x, rank, channels_last):
    """(N, *spatial, C) -> (N, C, *spatial) view (no copy), or x itself when already channels first."""
    if not channels_last:
        return x
    return x.permute(0, rank + 1, *range(1, rank + 1))


def to_layout(y, rank, channels_last):
    """(N, C, *spatial) -> the op's layout (a view)."""
    if not channels_last:
        return y
    return y.permute(0, *range(2, rank + 2), 1)


def explicit_pad(before, after):
    """F.pad's argument: last dimension first."""
    pads = []
    for b, a in zip(reversed(before), reversed(after)):
        pads += [b, a]
    return pads


CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


def floor_nonnegative(v, out):
    """out = floor(v) where v >= 1, else 0."""
    torch.floor(v, out=out)
    out.clamp_min_(0)


# ---------------------------------------------------------------------------------------------------- the network

class Network:
    """The exported network; `run` simulates a batch for T steps and returns the mean readout per output."""

    def __init__(self, path):
        archive = np.load(path)
        self.s = json.loads(archive["structure.json"])
        if self.s.get("format") != FORMAT or self.s.get("version") != VERSION:
            raise SystemExit(f"{path}: not a {FORMAT} v{VERSION} archive")
        if self.s["temporal"]:
            raise SystemExit("temporal models are not supported by the peer")
        if self.s["synapse"] is not None:
            raise SystemExit("synapses (--synapse) are not supported by the peer")
        self.arrays = {k: torch.from_numpy(np.ascontiguousarray(archive[k])) for k in archive.files if k != "structure.json"}
        self.dt = f32(self.s["dt"])
        self.ops = self.s["ops"]
        self.prepared = {}
        for op in self.ops:
            self.prepared[op["id"]] = self._prepare(op)

    def a(self, name):
        return self.arrays[name]

    def _prepare(self, op):
        t = op["type"]
        p = {}
        if t == "dense":
            p["w"] = self.a(op["kernel"]).t().contiguous()          # [out, in] for F.linear
            p["b"] = self.a(op["bias"]) if op["bias"] and not op["bias_folded_into"] else None
        elif t == "conv":
            rank = len(op["kernel_size"])
            k = self.a(op["kernel"])                                  # Keras: (*k, in/groups, out)
            p["w"] = k.permute(rank + 1, rank, *range(rank)).contiguous()
            p["b"] = self.a(op["bias"]) if op["bias"] and not op["bias_folded_into"] else None
        elif t == "activation" and op["neurons"] is not None:
            n = op["neurons"]
            # Per-channel calibration: per-neuron gains, and the factor on the ensemble's output (1 / scale).
            p["gain"] = self.a(n["neuron_gain"]) if n.get("neuron_gain") else f32(n["gain"])
            p["out_scale"] = self.a(n["output_scale"]) if n.get("output_scale") else None
            p["bias"] = self.a(n["bias"])
            p["v0"] = self.a(n["initial_voltage"]) if n["initial_voltage"] else None
            if "amplitude" in n:
                p["alpha"] = f32(n["amplitude"]) / self.dt           # float32, as the runtime computes it
                p["amplitude"] = f32(n["amplitude"])
            if isinstance(n.get("slope"), str):
                p["slope"] = self.a(n["slope"])
            elif "slope" in n:
                p["slope"] = f32(n["slope"])
        elif t == "gather":
            index = self.a(op["index"]).long()
            zero = index < 0
            p["index"] = torch.where(zero, torch.full_like(index, op["input_size"]), index)
            p["pad"] = bool(zero.any())
        elif t == "affine":
            p["scale"] = self.a(op["scale"])
            p["shift"] = self.a(op["shift"])
        return p

    # ------------------------------------------------------------------------------------------- run

    def run(self, inputs, steps):
        """inputs: list of float32 tensors (B, *shape); returns the mean readout of every output, (B, *shape)."""
        batch = inputs[0].shape[0]
        T = steps
        values = {}
        for op in self.ops:
            t = op["type"]
            p = self.prepared[op["id"]]
            xs = [values[i] for i in op["inputs"]]
            if t == "input":
                x = inputs[op["index"]]
                # Constant-current encoding: the same input every step, simulated for every step (time-major).
                y = x.unsqueeze(0).expand(T, *x.shape).reshape(T * batch, *x.shape[1:])
            elif t == "dense":
                x = xs[0]
                y = F.linear(x.reshape(x.shape[0], -1, p["w"].shape[1]), p["w"], p["b"]).reshape(x.shape[0], *op["shape"])
            elif t == "conv":
                y = self.conv(op, p, xs[0])
            elif t == "pool":
                y = self.pool(op, xs[0], T)
            elif t == "activation":
                y = xs[0] if op["neurons"] is None else self.neurons(op, p, xs[0], T)
                if op["neurons"] is not None and p.get("out_scale") is not None:
                    y = y * p["out_scale"]
            elif t == "affine":
                x = xs[0]
                shape = [1] * (len(op["shape"]) + 1)
                shape[op["axis"] + 1] = -1
                y = x * p["scale"].view(shape) + p["shift"].view(shape)
            elif t == "sum":
                y = None
                for w, x in zip(op["weights"], xs):
                    term = x if w == 1 else x * f32(w)
                    y = term if y is None else y + term
            elif t == "concat":
                y = torch.cat(xs, dim=op["axis"] + 1)
            elif t == "reshape":
                y = xs[0].reshape(xs[0].shape[0], *op["shape"])
            elif t == "gather":
                flat = xs[0].reshape(xs[0].shape[0], -1)
                if p["pad"]:
                    flat = torch.cat([flat, flat.new_zeros(flat.shape[0], 1)], dim=1)
                y = flat.index_select(1, p["index"]).reshape(flat.shape[0], *op["shape"])
            else:
                raise SystemExit(f"op '{op['id']}': type {t} is not supported by the peer")
            values[op["id"]] = y
        outputs = []
        inv = torch.tensor(np.float32(1) / np.float32(T))             # 1f / T, as the runtime computes it
        for o in self.s["outputs"]:
            v = values[o["op"]].reshape(T, batch, *o["shape"])
            acc = torch.zeros_like(v[0])
            for step in range(T):                                     # float32 running sum, as the runtime does
                acc = acc + v[step]
            mean = acc * inv
            if o["softmax"]:
                mean = torch.softmax(mean, dim=-1)
            outputs.append(mean)
        return outputs

    def conv(self, op, p, x):
        rank = len(op["kernel_size"])
        last = op["channels_last"]
        xc = to_channels_first(x, rank, last)
        before, after = op["pad_before"], op["pad_after"]
        if before == after:
            padding = tuple(before)
        else:
            xc = F.pad(xc, explicit_pad(before, after))
            padding = 0
        y = CONV[rank](xc, p["w"], p["b"], stride=tuple(op["strides"]), padding=padding,
                       dilation=tuple(op["dilation"]), groups=op["groups"])
        return to_layout(y, rank, last)

    def pool(self, op, x, T):
        rank = len(op["pool_size"])
        last = op["channels_last"]
        k, s = tuple(op["pool_size"]), tuple(op["strides"])
        before, after = op["pad_before"], op["pad_after"]
        method = op["method"]
        xc = to_channels_first(x, rank, last)
        if method == "avg":
            if not any(before) and not any(after):
                y = AVG[rank](xc, k, s)
            elif before == after and all(b <= kk // 2 for b, kk in zip(before, k)):
                y = AVG[rank](xc, k, s, padding=tuple(before), count_include_pad=False)
            else:
                # TF 'same' average: the sum over the real cells divided by their number.
                pads = explicit_pad(before, after)
                area = float(np.prod(k))
                sums = AVG[rank](F.pad(xc, pads), k, s) * area
                ones = F.pad(torch.ones_like(xc[:1, :1]), pads)
                y = sums / (AVG[rank](ones, k, s) * area)
            return to_layout(y, rank, last)

        def maxpool(v, **kw):
            if any(before) or any(after):
                v = F.pad(v, explicit_pad(before, after), value=float("-inf"))
            return MAX[rank](v, k, s, **kw)

        if method == "exact":
            return to_layout(maxpool(xc), rank, last)
        # Spiking max pooling with per-input cumulative counts (float32 running sums over the steps).
        n = xc.shape[0] // T
        steps = xc.reshape(T, n, *xc.shape[1:])
        counts = torch.empty_like(steps)
        counts[0] = steps[0]
        for t in range(1, T):
            torch.add(counts[t - 1], steps[t], out=counts[t])
        counts = counts.reshape(xc.shape)
        if method == "count":
            # Emit the increase of each window's running max of the counts.
            m = maxpool(counts)
            mt = m.reshape(T, n, *m.shape[1:])
            prev = torch.cat([torch.zeros_like(mt[:1]), mt[:-1]])
            y = (mt - prev).reshape(m.shape)
        elif method == "gate":
            # Pass the current input of the window's element with the largest count (first on ties).
            m, idx = maxpool(counts, return_indices=True)
            padded = xc if not (any(before) or any(after)) else F.pad(xc, explicit_pad(before, after))
            y = padded.flatten(2).gather(2, idx.flatten(2)).reshape(m.shape)
        else:
            raise SystemExit(f"pool '{op['id']}': method {method} is not supported by the peer")
        return to_layout(y, rank, last)

    def neurons(self, op, p, x, T):
        n = op["neurons"]
        kind = n["type"]
        j = torch.mul(x, p["gain"]).add_(p["bias"])                  # J = gain * input + bias (a new tensor)
        if kind == "RectifiedLinear":
            return torch.clamp_min(j, 0) * p["amplitude"]
        if kind == "Sigmoid":
            return (1 / f32(n["tau_ref"])) / (1 + torch.exp(-j))
        if kind == "Tanh":
            return torch.tanh(j) / f32(n["tau_ref"])
        if kind in ("LeakyReLU", "SpikingLeakyReLU"):
            th = f32(n["threshold"])
            mx = float("inf") if n["max_value"] is None else f32(n["max_value"])
            f = torch.clamp_max(torch.where(j >= th, j, p["slope"] * (j - th)), mx)
            if kind == "LeakyReLU":
                return f * p["amplitude"]
            return self.integrate(op, p, f.mul_(self.dt), T, lambda v, out: torch.trunc(v, out=out), zero_reset=False)
        if kind == "SpikingRectifiedLinear":
            jdt = j.clamp_min_(0).mul_(self.dt)
            if n["reset"] == "zero":
                return self.integrate(op, p, jdt, T, floor_nonnegative, zero_reset=True)
            return self.integrate(op, p, jdt, T, lambda v, out: torch.floor(v, out=out), zero_reset=False)
        if kind == "IF":
            # n = floor(v) when v >= 1, else 0 (the voltage may go negative: signed integration).
            return self.integrate(op, p, j.mul_(self.dt), T, floor_nonnegative, zero_reset=n["reset"] == "zero")
        if kind == "SignedIF":
            # Negative spikes with memory: n = max(floor(v), -c), c the net count so far (never below 0).
            return self.integrate(op, p, j.mul_(self.dt), T, None, zero_reset=False, signed=True)
        raise SystemExit(f"activation '{op['id']}': neuron type {kind} is not supported by the peer")

    def integrate(self, op, p, jdt, T, spikes_into, zero_reset, signed=False):
        """v += J·dt; n = spikes(v); v -= n (or 0 where it spiked); out = amplitude/dt · n, looping over the T steps.
        signed: n = max(floor(v), -c) and c += n, c the net count. In-place ops on preallocated buffers (the float32
        operations are the same as out of place)."""
        steps = jdt.reshape(T, -1, *jdt.shape[1:])
        v = p["v0"].expand(steps.shape[1:]).clone()
        counts = torch.empty_like(steps)
        floor_count = torch.zeros_like(v) if signed else None          # -c: the lowest n a step may emit
        for t in range(T):
            v.add_(steps[t])
            spikes = counts[t]
            if signed:
                torch.floor(v, out=spikes)
                torch.maximum(spikes, floor_count, out=spikes)
                floor_count.sub_(spikes)
            else:
                spikes_into(v, spikes)
            if zero_reset:
                v.masked_fill_(spikes > 0, 0)
            else:
                v.sub_(spikes)
        return counts.mul_(p["alpha"]).reshape(jdt.shape)


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


def snn(cmd, args, capture=True):
    full = [cmd] + args
    print("$ " + " ".join(shlex.quote(a) for a in full), file=sys.stderr, flush=True)
    r = subprocess.run(full, stdout=subprocess.PIPE if capture else None, text=True)
    if r.returncode != 0:
        raise SystemExit(f"snn failed with exit code {r.returncode}")
    return r.stdout


def load_inputs(path, scale, count):
    x = np.load(path)[:count]
    x = x.astype(np.float32)
    if scale is not None:
        x = x * np.float32(scale)                                     # the same float32 product as the CLI
    return x


def parse_scale(s):
    if s is None:
        return None
    if "/" in s:
        a, b = s.split("/")
        return np.float32(float(a) / float(b))
    return np.float32(float(s))


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
