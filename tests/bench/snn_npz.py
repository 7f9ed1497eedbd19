"""The `snn-network` archive (`snn export --format npz`, described in tests/bench/README.md) rebuilt with plain
PyTorch ops, shared by the simulation peer (torch_peer.py) and the training peer (torch_train_peer.py), and the few
helpers both drivers use (running the snn CLI, reading and scaling inputs)."""

import json
import shlex
import subprocess
import sys

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

    # True: rate ReLU ensembles with gain 1 and amplitude 1 compute relu(x + bias), without the two multiplications
    # by 1 (exact, so the values are the same; the training peer sets it: those passes and their backward passes
    # were a third of a training step). The simulation peer keeps the general form, as measured in README.md.
    skip_unit_factors = False

    def __init__(self, path, dtype=torch.float32):
        archive = np.load(path)
        self.s = json.loads(archive["structure.json"])
        if self.s.get("format") != FORMAT or self.s.get("version") != VERSION:
            raise SystemExit(f"{path}: not a {FORMAT} v{VERSION} archive")
        if self.s["temporal"]:
            raise SystemExit("temporal models are not supported by the peer")
        if self.s["synapse"] is not None:
            raise SystemExit("synapses (--synapse) are not supported by the peer")
        self.arrays = {k: torch.from_numpy(np.ascontiguousarray(archive[k])) for k in archive.files if k != "structure.json"}
        if dtype != torch.float32:                                    # e.g. float64 for a gradient oracle
            self.arrays = {k: v.to(dtype) if v.is_floating_point() else v for k, v in self.arrays.items()}
        self.dt = f32(self.s["dt"])
        self.ops = self.s["ops"]
        self.prepare()

    def prepare(self):
        """Derives every op's torch operands (transposed kernels, ...) from `arrays`. A trainer calls it before each
        forward pass, so that the operands are differentiable functions of the parameters it updates."""
        self.prepared = {}
        for op in self.ops:
            self.prepared[op["id"]] = self._prepare(op)

    def parameter_names(self):
        """The arrays a trainer updates, as NengoDL trains a converted network: connection kernels and the biases of
        connections that keep one (dense and conv ops whose bias is not folded into neurons), and the ensembles'
        per-neuron biases (`neurons.bias`, which holds gain × the Keras bias when `bias_folded_into` names the
        ensemble). Folded connection biases are not used by the forward pass and are not parameters. Gains,
        amplitudes, affine and PReLU arrays stay fixed."""
        names = []
        for op in self.ops:
            if op["type"] in ("dense", "conv"):
                names.append(op["kernel"])
                if op["bias"] and not op["bias_folded_into"]:
                    names.append(op["bias"])
            elif op["type"] == "activation" and op["neurons"] is not None:
                names.append(op["neurons"]["bias"])
        return names

    def rate_only(self):
        """Refuses what a rate-mode (ANN) forward pass cannot train: spiking neurons or spiking max pooling."""
        if self.s["mode"] != "rate":
            raise SystemExit("the archive was exported in spiking mode; export with --mode rate to train it")
        for op in self.ops:
            if op["type"] == "activation" and op["neurons"] is not None and op["neurons"]["spiking"]:
                raise SystemExit(f"activation '{op['id']}': spiking neurons ({op['neurons']['type']}) cannot be trained here")
            if op["type"] == "pool" and op["method"] not in ("avg", "exact"):
                raise SystemExit(f"pool '{op['id']}': method {op['method']} is spiking max pooling")

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

    def run(self, inputs, steps, softmax=True):
        """inputs: list of float32 tensors (B, *shape); returns the mean readout of every output, (B, *shape).
        softmax=False: the readout before the softmax of `outputs[].softmax` (the logits)."""
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
            if o["softmax"] and softmax:
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
        if self.skip_unit_factors and kind == "RectifiedLinear" and p["gain"].dim() == 0 and float(p["gain"]) == 1 \
                and float(p["amplitude"]) == 1:
            return torch.relu(x + p["bias"])                          # the same values: x·1 and f·1 are exact
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


# ---------------------------------------------------------------------------------------------------- driver helpers

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
