#!/usr/bin/python3
"""PyTorch training peer of `snn fit`, and a gradient oracle.

Rebuilds the network that `snn export --format npz --mode rate` wrote (see tests/bench/README.md) in PyTorch with the
rate-mode forward pass NengoDL trains (rate neurons: J = gain·x + bias, out = amplitude·f(J); exact max pooling)
and trainable parameters: the connection kernels, the biases of connections that keep one, and the ensembles'
per-neuron biases (snn_npz.Network.parameter_names), each under its array name in the archive.

Training (default): --epochs over the Fashion-MNIST training set (IDX files, pixels × --input-scale), shuffled every
epoch (--seed), batches of --batch (the last one smaller when the set does not divide), softmax cross-entropy,
Adam or SGD; prints images/s and the mean loss per epoch and the test accuracy, and with --json writes them.

  torch_train_peer.py (--export NET.npz | --snn SNN --model MODEL) [--epochs 1] [--batch 64] [--optimizer adam|sgd]
                      [--lr 1e-3] [--momentum 0] [--threads 2] [--seed 0] [--reinit] [--json OUT.json]
                      [--train-images I.gz --train-labels L.gz --test-data X.npy --test-labels Y.npy]
                      [--check-snn SNN --model MODEL]

Gradient oracle (no training):

  torch_train_peer.py --export NET.npz --grad-dump OUT.npz --data X.npy --labels Y.npy [--input-scale S]
                      [--dtype float32|float64] [--fd-check K]

  x = X (all N samples, cast to float32 (or --dtype) and multiplied by --input-scale, reshaped to the input op's
  shape); z = the model output before the readout softmax (the logits, (N, K)); y = Y (class indices, or one-hot
  rows: their argmax);
      loss = (1/N) · Σ_n ( log Σ_k exp(z[n,k]) − z[n, y[n]] )        (torch.nn.functional.cross_entropy, mean)
  OUT.npz holds `loss` (a 0-d array), `logits` (N, K), and for every parameter the gradient d loss / d parameter
  under the parameter's array name in NET.npz, with that array's shape (kernels in Keras layout). --fd-check K
  compares K large and K random elements of every gradient with central differences of the loss in float64.

--check-snn SNN (with --model, the model the archive came from): runs `snn predict --mode rate` (one step) on the
first --check-images test images and compares its probabilities with this network's (before any training).
"""

import argparse
import gzip
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

from snn_npz import Network, parse_scale, snn

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared")
FASHION = os.path.join(SHARED, "data", "fashion-mnist")


def read_idx(path):
    """An IDX file (gzipped or not): magic 0x0000 08 <rank>, big-endian int32 sizes, then unsigned bytes."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise SystemExit(f"{path}: not an IDX file of unsigned bytes")
    rank = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(shape).copy()


def class_indices(y):
    y = np.asarray(y)
    return (y.argmax(1) if y.ndim == 2 else y).astype(np.int64)


class Trainable:
    """The archive's network with its parameters as leaf tensors; `logits` runs the one-step rate forward pass."""

    def __init__(self, path, dtype=torch.float32):
        self.net = Network(path, dtype)
        self.net.skip_unit_factors = True
        self.net.rate_only()
        self.names = self.net.parameter_names()
        self.dtype = dtype
        for name in self.names:
            self.net.arrays[name].requires_grad_(True)
        first = next(op for op in self.net.ops if op["id"] == self.net.s["inputs"][0])
        self.input_shape = tuple(first["shape"])
        if len(self.net.s["inputs"]) != 1 or len(self.net.s["outputs"]) != 1:
            raise SystemExit("only models with one input and one output are supported")

    def parameters(self):
        return [self.net.arrays[n] for n in self.names]

    def logits(self, x):
        self.net.prepare()                         # transposed kernels etc. from the current parameters
        return self.net.run([x.reshape(x.shape[0], *self.input_shape)], 1, softmax=False)[0]

    def reinit(self, seed):
        """Keras' defaults for a fresh network: Glorot uniform kernels (fan_in = receptive field × input channels,
        fan_out = receptive field × output channels, limit sqrt(6 / (fan_in + fan_out))), zero biases."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for op in self.net.ops:
                if op["type"] in ("dense", "conv"):
                    k = self.net.arrays[op["kernel"]]
                    field = int(np.prod(k.shape[:-2])) if k.dim() > 2 else 1
                    fan_in, fan_out = field * k.shape[-2], field * k.shape[-1]
                    limit = float(np.sqrt(6.0 / (fan_in + fan_out)))
                    k.copy_(torch.rand(k.shape, generator=g, dtype=torch.float64).mul_(2 * limit).sub_(limit))
            kernels = {op["kernel"] for op in self.net.ops if op["type"] in ("dense", "conv")}
            for name in self.names:
                if name not in kernels:
                    self.net.arrays[name].zero_()


def scaled(x, scale, dtype):
    x = torch.from_numpy(np.ascontiguousarray(x)).to(torch.float32)
    if scale is not None:
        x = x * torch.tensor(scale)                 # the same float32 product as the CLI's --input-scale
    return x.to(dtype)


def accuracy(model, x, y, scale, batch=1000):
    correct = 0
    with torch.no_grad():
        for s0 in range(0, x.shape[0], batch):
            z = model.logits(scaled(x[s0:s0 + batch], scale, model.dtype))
            correct += int((z.argmax(1).numpy() == y[s0:s0 + batch]).sum())
    return correct / x.shape[0]


def grad_dump(model, a, scale):
    x = scaled(np.load(a.data), scale, model.dtype)
    y = torch.from_numpy(class_indices(np.load(a.labels)))
    if y.shape[0] != x.shape[0]:
        raise SystemExit(f"{a.labels}: {y.shape[0]} labels for {x.shape[0]} samples")
    z = model.logits(x)
    loss = F.cross_entropy(z, y, reduction="mean")
    grads = torch.autograd.grad(loss, model.parameters())
    out = {"loss": loss.detach().numpy(), "logits": z.detach().numpy()}
    for name, g in zip(model.names, grads):
        out[name] = np.ascontiguousarray(g.numpy())     # C order (a dense kernel's gradient comes transposed)
    np.savez(a.grad_dump, **out)
    print(f"wrote {a.grad_dump}: loss {float(loss):.9g} over {x.shape[0]} samples, "
          f"{len(model.names)} gradients ({', '.join(model.names)})", file=sys.stderr)
    if a.fd_check:
        fd_check(a, x, y, out)


def fd_check(a, x, y, grads, h=1e-6, tolerance=1e-4):
    """Checks the dumped gradients against central differences of the loss in float64: per parameter the a.fd_check
    elements with the largest gradients and as many random ones. Where the one-sided differences disagree the loss has
    a kink there (a ReLU at 0, a max-pool tie) and the element is counted, not compared. Exits 1 when a smooth
    element's difference exceeds tolerance × the parameter's largest gradient."""
    model = Trainable(a.export, torch.float64)
    x, rng, failed = x.to(torch.float64), np.random.default_rng(a.seed), False

    def loss():
        with torch.no_grad():
            return float(F.cross_entropy(model.logits(x), y, reduction="mean"))

    for name in model.names:
        flat, g = model.net.arrays[name].detach().view(-1), grads[name].astype(np.float64).ravel()
        scale = max(1e-12, float(np.abs(g).max()))
        picks = list(np.argsort(-np.abs(g))[: a.fd_check]) + list(rng.integers(0, g.size, a.fd_check))
        worst, kinks = 0.0, 0
        for i in picks:
            old = float(flat[i])
            base = loss()
            flat[i] = old + h
            up = loss()
            flat[i] = old - h
            down = loss()
            flat[i] = old
            right, left = (up - base) / h, (base - down) / h
            if abs(right - left) > 1e-5 * max(1e-2, abs(right) + abs(left)):
                kinks += 1
                continue
            worst = max(worst, abs((up - down) / (2 * h) - g[i]) / scale)
        failed |= worst > tolerance
        print(f"fd check {name}: {len(picks)} elements, {kinks} at a kink; max |central difference - gradient| / "
              f"max |gradient| = {worst:.2g}", file=sys.stderr)
    if failed:
        raise SystemExit(f"fd check: a gradient differs from the central difference by more than {tolerance:g}")


def check_snn(model, a, x_test, scale):
    work = tempfile.mkdtemp(prefix="snn-train-peer-")
    raw = x_test[: a.check_images]
    data = os.path.join(work, "x.npy")
    np.save(data, raw)
    snn(a.check_snn, ["predict", a.model, "--input", data, "--output", os.path.join(work, "ours"), "--mode", "rate",
                      "--batch", "100", "--threads", str(a.threads),
                      "--input-scale", a.input_scale])
    ours = np.load(os.path.join(work, "ours", "output_0.npy")).reshape(raw.shape[0], -1)
    with torch.no_grad():
        peer = torch.softmax(model.logits(scaled(raw, scale, model.dtype)), dim=-1).numpy()
    diff = np.abs(ours.astype(np.float64) - peer.astype(np.float64))
    agree = float((ours.argmax(1) == peer.argmax(1)).mean())
    print(f"check: snn predict --mode rate vs this network on {raw.shape[0]} test images: max |diff| {diff.max():.3g}, "
          f"mean {diff.mean():.3g}, argmax agreement {100 * agree:.2f}%", file=sys.stderr)
    return {"check_images": int(raw.shape[0]), "check_max_abs_diff": float(diff.max()),
            "check_mean_abs_diff": float(diff.mean()), "check_argmax_agreement": agree}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--export", help="the snn-network archive (exported with --mode rate)")
    ap.add_argument("--snn", help="the snn executable: exports --model when --export is not given")
    ap.add_argument("--model", help="the Keras model (for the export and --check-snn)")
    ap.add_argument("--input-scale", default="1/255", help="factor on the inputs (float32), e.g. 1/255 or 1")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--momentum", type=float, default=0.0, help="SGD momentum")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reinit", action="store_true", help="start from Glorot-uniform kernels and zero biases")
    ap.add_argument("--train-images", default=os.path.join(FASHION, "train-images-idx3-ubyte.gz"))
    ap.add_argument("--train-labels", default=os.path.join(FASHION, "train-labels-idx1-ubyte.gz"))
    ap.add_argument("--train-count", type=int, help="use only the first N training images")
    ap.add_argument("--test-data", default=os.path.join(FASHION, "x_test_nhwc_u8.npy"))
    ap.add_argument("--test-labels", default=os.path.join(FASHION, "y_test.npy"))
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--check-snn", metavar="SNN", help="compare with `snn predict --mode rate` first (needs --model)")
    ap.add_argument("--check-images", type=int, default=1000)
    ap.add_argument("--grad-dump", metavar="OUT.npz", help="write the loss and gradients of one batch; no training")
    ap.add_argument("--data", help="--grad-dump: the batch (.npy)")
    ap.add_argument("--labels", help="--grad-dump: its labels (.npy: class indices or one-hot)")
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="--grad-dump arithmetic")
    ap.add_argument("--fd-check", type=int, default=0, metavar="K",
                    help="--grad-dump: check K largest and K random elements per parameter against central differences")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    scale = parse_scale(a.input_scale)
    npz = a.export
    if npz is None:
        if not (a.snn and a.model):
            ap.error("give --export NET.npz, or --snn and --model to export one")
        npz = os.path.join(tempfile.mkdtemp(prefix="snn-train-peer-"), "net.npz")
        snn(a.snn, ["export", a.model, "--format", "npz", "--out", npz, "--mode", "rate"])
    if a.check_snn and not a.model:
        ap.error("--check-snn needs --model")

    if a.grad_dump:
        if not (a.data and a.labels):
            ap.error("--grad-dump needs --data and --labels")
        a.export = npz
        grad_dump(Trainable(npz, torch.float64 if a.dtype == "float64" else torch.float32), a, scale)
        return

    model = Trainable(npz)
    x_test = np.load(a.test_data)
    y_test = class_indices(np.load(a.test_labels))
    result = {"export": os.path.basename(npz), "model": model.net.s["model"], "source": model.net.s["source"],
              "torch": torch.__version__, "threads": a.threads, "batch": a.batch, "optimizer": a.optimizer, "lr": a.lr,
              "momentum": a.momentum, "seed": a.seed, "reinit": a.reinit, "parameters": model.names,
              "parameter_count": int(sum(p.numel() for p in model.parameters()))}
    if a.check_snn:
        result.update(check_snn(model, a, x_test, scale))
    if a.reinit:
        model.reinit(a.seed)
    result["test_accuracy_before"] = accuracy(model, x_test, y_test, scale)

    x_train = read_idx(a.train_images)
    y_train = read_idx(a.train_labels).astype(np.int64)
    if a.train_count:
        x_train, y_train = x_train[: a.train_count], y_train[: a.train_count]
    x_train = scaled(x_train, scale, torch.float32).reshape(x_train.shape[0], *model.input_shape)
    y_train = torch.from_numpy(y_train)
    n = x_train.shape[0]
    if a.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=a.lr)   # Keras' defaults differ only in eps (1e-7 vs 1e-8)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
    order_gen = torch.Generator().manual_seed(a.seed)
    epochs = []
    for epoch in range(a.epochs):
        order = torch.randperm(n, generator=order_gen)
        total, count = 0.0, 0
        start, cpu = time.perf_counter(), time.process_time()
        for s0 in range(0, n, a.batch):
            idx = order[s0:s0 + a.batch]
            xb, yb = x_train.index_select(0, idx), y_train.index_select(0, idx)
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model.logits(xb), yb, reduction="mean")
            loss.backward()
            opt.step()
            total += float(loss) * idx.shape[0]
            count += idx.shape[0]
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        acc = accuracy(model, x_test, y_test, scale)
        epochs.append({"epoch": epoch + 1, "seconds": seconds, "images_per_second": n / seconds, "cpu_seconds": cpu,
                       "images_per_cpu_second": n / cpu,
                       "mean_loss": total / count, "test_accuracy": acc, "load_average": os.getloadavg()[0]})
        print(f"epoch {epoch + 1}: {n} images in {seconds:.1f} s = {n / seconds:,.0f} images/s ({cpu:.1f} CPU s), mean loss {total / count:.4f}, "
              f"test accuracy {acc:.4f}, load average {os.getloadavg()[0]:.1f}", file=sys.stderr)
    result.update({"train_images": n, "epochs": epochs, "images_per_second": epochs[-1]["images_per_second"] if epochs else None,
                   "test_accuracy": epochs[-1]["test_accuracy"] if epochs else result["test_accuracy_before"]})
    print(json.dumps({k: v for k, v in result.items() if k != "parameters"}))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
