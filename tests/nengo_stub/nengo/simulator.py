"""``nengo.Simulator``: builds the network into signals and operators, orders them, and steps them.

Build (semantics §2.3, §3.3): every ensemble gets J (``neurons.in``), a bias set into J by a Copy, a zero
``ens.in`` whose encoder DotInc adds nothing, and SimNeurons; passthrough nodes are Reset each step and summed
into; callable nodes are SimPyFunc; a connection is its transform (Reset + ElementwiseInc/DotInc/SparseDotInc/
ConvInc into a new signal, or nothing for NoTransform), then its synapse in update mode, then an ElementwiseInc
by the gain into neurons or an incrementing Copy into a node; a probe is a connection into a Reset probe signal.
Schedule (§3.2): for every signal, its setters run before its incrementers, then readers, then updaters.
"""

import heapq

import numpy as np

from .dists import get_samples
from .objects import Connection, Ensemble, Neurons, Node
from .rc import rc
from .transforms import Convolution, Dense, NoTransform, Sparse


class Signal:
    def __init__(self, initial, name, dtype):
        self.initial = np.array(initial, dtype=dtype)
        self.value = self.initial.copy()
        self.name = name

    def reset(self):
        self.value[...] = self.initial


class Op:
    sets, incs, reads, updates = (), (), (), ()


class TimeUpdate(Op):
    def __init__(self, step, time, dt):
        self.step_sig, self.time, self.dt, self.sets = step, time, dt, (step, time)

    def run(self):
        self.step_sig.value[...] += 1
        self.time.value[...] = self.step_sig.value * self.dt


class Reset(Op):
    def __init__(self, dst):
        self.dst, self.sets = dst, (dst,)

    def run(self):
        self.dst.value[...] = 0


class Copy(Op):
    def __init__(self, src, dst, inc):
        self.src, self.dst, self.inc, self.reads = src, dst, inc, (src,)
        if inc:
            self.incs = (dst,)
        else:
            self.sets = (dst,)

    def run(self):
        if self.inc:
            self.dst.value[...] += self.src.value
        else:
            self.dst.value[...] = self.src.value


class ElementwiseInc(Op):
    def __init__(self, A, X, Y):
        self.A, self.X, self.Y, self.reads, self.incs = A, X, Y, (A, X), (Y,)

    def run(self):
        self.Y.value[...] += self.A.value * self.X.value


class DotInc(Op):
    def __init__(self, A, X, Y):
        self.A, self.X, self.Y, self.reads, self.incs = A, X, Y, (A, X), (Y,)

    def run(self):
        self.Y.value[...] += self.A.value.dot(self.X.value)


class SparseDotInc(Op):
    def __init__(self, indices, values, X, Y):
        self.rows, self.cols = indices[:, 0], indices[:, 1]
        self.A, self.X, self.Y, self.reads, self.incs = values, X, Y, (values, X), (Y,)

    def run(self):
        products = self.A.value * self.X.value[self.cols]
        self.Y.value[...] += np.bincount(self.rows, weights=products, minlength=self.Y.value.size)


class ConvInc(Op):
    def __init__(self, W, X, Y, conv):
        self.W, self.X, self.Y, self.conv, self.reads, self.incs = W, X, Y, conv, (W, X), (Y,)
        if len(conv.spatial_in) > 2:
            raise NotImplementedError("Convolution > 2D not supported")

    def run(self):
        self.Y.value[...] += correlate(self.X.value, self.W.value, self.conv).ravel()


def correlate(x, kernel, conv):
    """TensorFlow-style correlation: 'same' pads p = max((out-1)*s + k - in, 0), floor(p/2) before."""
    x = x.reshape(conv.input_shape)
    if not conv.channels_last:
        x = np.moveaxis(x, 0, -1)
    k, s, out = conv.kernel_size, conv.strides, conv.spatial_out
    if len(k) == 1:  # 1-D runs as 2-D with a leading dimension of 1
        x, kernel, k, s, out = x[None], kernel[None], (1,) + k, (1,) + s, (1,) + out
    pads = [max((o - 1) * st + kk - n, 0) for o, st, kk, n in zip(out, s, k, x.shape[:2])]
    padded = np.zeros((x.shape[0] + pads[0], x.shape[1] + pads[1], x.shape[2]), dtype=x.dtype)
    padded[pads[0] // 2:pads[0] // 2 + x.shape[0], pads[1] // 2:pads[1] // 2 + x.shape[1]] = x
    y = np.zeros(out + (kernel.shape[-1],), dtype=x.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            patch = padded[i:i + s[0] * (out[0] - 1) + 1:s[0], j:j + s[1] * (out[1] - 1) + 1:s[1]]
            y += patch @ kernel[i, j]
    y = y.reshape(conv.spatial_out + (kernel.shape[-1],))
    return y if conv.channels_last else np.moveaxis(y, -1, 0)


class SimNeurons(Op):
    def __init__(self, neurons, J, output, state):
        self.neurons, self.J, self.output, self.state = neurons, J, output, state
        self.reads, self.sets = (J,), (output,) + tuple(state.values())

    def run(self, dt):
        self.neurons.step(dt, self.J.value, self.output.value, **{k: s.value for k, s in self.state.items()})


class SimPyFunc(Op):
    def __init__(self, output, fn, t, x):
        self.output, self.fn, self.t, self.x = output, fn, t, x
        self.sets = (output,)
        self.reads = (t,) if x is None else (t, x)

    def run(self):
        t = float(self.t.value)
        y = np.asarray(self.fn(t) if self.x is None else self.fn(t, self.x.value.copy()))
        if not np.all(np.isfinite(y)):
            raise RuntimeError(f"node function returned a non-finite value at t={t}")
        self.output.value[...] = y


class LowpassUpdate(Op):
    """SimProcess(Lowpass, mode='update'): writes its output after every read of it in the step."""

    def __init__(self, synapse, input, output, dt):
        self.a, self.b = synapse.coefficients(dt)
        self.input, self.output, self.reads, self.updates = input, output, (input,), (output,)

    def run(self):
        x = self.output.value
        x *= self.a
        x += self.b * self.input.value


def schedule(ops):
    """Toposort: per signal, sets -> incs -> reads -> updates; ties keep build order."""
    slots = {}
    for i, op in enumerate(ops):
        for kind, signals in enumerate((op.sets, op.incs, op.reads, op.updates)):
            for s in signals:
                slots.setdefault(id(s), ([], [], [], []))[kind].append(i)
    succ = [set() for _ in ops]
    for sets, incs, reads, updates in slots.values():
        if len(sets) > 1 or len(updates) > 1:
            raise RuntimeError("a signal is set or updated by more than one operator")
        for before, after in ((sets, incs + reads + updates), (incs, reads + updates), (reads, updates)):
            for a in before:
                succ[a].update(b for b in after if b != a)
    indegree = [0] * len(ops)
    for s in succ:
        for b in s:
            indegree[b] += 1
    ready = [i for i, d in enumerate(indegree) if d == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(ops[i])
        for b in succ[i]:
            indegree[b] -= 1
            if indegree[b] == 0:
                heapq.heappush(ready, b)
    if len(order) != len(ops):
        raise RuntimeError("the operator graph has a cycle")
    return order


class ProbeData(dict):
    def __getitem__(self, probe):
        return np.array(dict.__getitem__(self, probe))


class Simulator:
    def __init__(self, network, dt=0.001, seed=None, progress_bar=True, optimize=True):
        self.dt, self.closed = dt, False
        self.dtype = rc.float_dtype
        self.rng = np.random.RandomState(seed)
        self.ops, self.signals, self.outputs, self.inputs = [], [], {}, {}
        self.gains, self.probe_signals = {}, {}
        self.step_sig = self.signal(0, "step", np.int64)
        self.time = self.signal(0.0, "time", np.float64)
        self.ops.append(TimeUpdate(self.step_sig, self.time, dt))
        for ens in network.all_objects("ensembles"):
            self.build_ensemble(ens)
        for node in network.all_objects("nodes"):
            self.build_node(node)
        for conn in network.all_objects("connections"):
            self.build_connection(conn.pre, conn.transform, conn.synapse, conn.post)
        for probe in network.all_objects("probes"):
            # A connection probe: a Reset sink that a connection from the target increments.
            sink = self.signal(np.zeros(probe.size_in), "probe")
            self.ops.append(Reset(sink))
            self.probe_signals[probe] = sink
            Connection(probe.target, probe, synapse=probe.synapse, _probe=probe.size_in)
            self.build_connection(probe.target, NoTransform(probe.size_in), probe.synapse, sink)
        self.order = schedule(self.ops)
        self.data = ProbeData()
        self.reset()

    def signal(self, initial, name, dtype=None):
        s = Signal(initial, name, self.dtype if dtype is None else dtype)
        self.signals.append(s)
        return s

    def build_ensemble(self, ens):
        n = ens.n_neurons
        gain = get_samples(ens.gain, n, rng=self.rng)
        bias = get_samples(ens.bias, n, rng=self.rng)
        ens_in = self.signal(np.zeros(ens.dimensions), "ens.in")
        J = self.signal(np.zeros(n), "neurons.in")
        out = self.signal(np.zeros(n), "neurons.out")
        self.ops.append(Reset(ens_in))
        self.ops.append(Copy(self.signal(bias, "bias"), J, inc=False))
        state = {k: self.signal(v, k) for k, v in ens.neuron_type.make_state(n, rng=self.rng, dtype=self.dtype).items()}
        self.ops.append(SimNeurons(ens.neuron_type, J, out, state))
        encoders = np.ones((n, ens.dimensions)) * gain[:, None]  # scaled encoders; ens.in stays 0 here
        self.ops.append(DotInc(self.signal(encoders, "encoders"), ens_in, J))
        self.inputs[ens.neurons], self.outputs[ens.neurons] = J, out
        self.gains[ens.neurons] = self.signal(gain, "gain")

    def build_node(self, node):
        if node.output is None:
            sig = self.signal(np.zeros(node.size_in), "node.in")
            self.ops.append(Reset(sig))
            self.inputs[node] = self.outputs[node] = sig
        elif callable(node.output):
            x = None
            if node.size_in > 0:
                x = self.signal(np.zeros(node.size_in), "node.in")
                self.ops.append(Reset(x))
                self.inputs[node] = x
            out = self.signal(np.zeros(node.size_out), "node.out")
            self.ops.append(SimPyFunc(out, node.output, self.time, x))
            self.outputs[node] = out
        else:
            self.outputs[node] = self.signal(node.output, "node.out")

    def build_connection(self, pre, transform, synapse, post):
        signal = self.outputs[pre]
        if isinstance(transform, Dense):
            w = self.signal(transform.init, "W")
            weighted = self.signal(np.zeros(transform.size_out), "weighted")
            self.ops.append(Reset(weighted))
            self.ops.append((ElementwiseInc if w.value.ndim < 2 else DotInc)(w, signal, weighted))
            signal = weighted
        elif isinstance(transform, Sparse):
            weighted = self.signal(np.zeros(transform.size_out), "weighted")
            self.ops.append(Reset(weighted))
            self.ops.append(SparseDotInc(transform.indices, self.signal(transform.init, "W"), signal, weighted))
            signal = weighted
        elif isinstance(transform, Convolution):
            weighted = self.signal(np.zeros(transform.size_out), "weighted")
            self.ops.append(Reset(weighted))
            self.ops.append(ConvInc(self.signal(transform.init, "W"), signal, weighted, transform))
            signal = weighted
        elif not isinstance(transform, NoTransform):
            raise NotImplementedError(type(transform).__name__)
        if synapse is not None:
            filtered = self.signal(np.zeros(signal.value.size), "filtered")
            self.ops.append(LowpassUpdate(synapse, signal, filtered, self.dt))
            signal = filtered
        if isinstance(post, Neurons):
            self.ops.append(ElementwiseInc(self.gains[post], signal, self.inputs[post]))
        else:
            target = post if isinstance(post, type(signal)) else self.inputs[post]
            self.ops.append(Copy(signal, target, inc=True))

    def reset(self, seed=None):
        for s in self.signals:
            s.reset()
        for probe in self.probe_signals:
            dict.__setitem__(self.data, probe, [])
        self.n_steps = 0

    def run_steps(self, steps):
        if self.closed:
            raise RuntimeError("the simulator is closed")
        for _ in range(steps):
            for op in self.order:
                if isinstance(op, SimNeurons):
                    op.run(self.dt)
                else:
                    op.run()
            for probe, sink in self.probe_signals.items():
                dict.__getitem__(self.data, probe).append(sink.value.copy())
            self.n_steps += 1

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
