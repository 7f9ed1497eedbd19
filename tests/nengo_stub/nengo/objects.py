"""``nengo.Network``, ``Node``, ``Ensemble`` (and its ``.neurons``), ``Connection`` and ``Probe``."""

import numpy as np

from .dists import Distribution
from .neurons import NeuronType
from .synapses import Lowpass
from .transforms import NoTransform, Transform

_context = []


class Network:
    """A container; objects created inside ``with net:`` are added to it in creation order."""

    def __init__(self, label=None, seed=None):
        self.label, self.seed = label, seed
        self.ensembles, self.nodes, self.connections, self.probes, self.networks = [], [], [], [], []

    def __enter__(self):
        if _context:
            _context[-1].networks.append(self)
        _context.append(self)
        return self

    def __exit__(self, *exc):
        _context.pop()

    def all_objects(self, kind):
        items = list(getattr(self, kind))
        for sub in self.networks:
            items.extend(sub.all_objects(kind))
        return items


def _add(obj, kind):
    if not _context:
        raise RuntimeError(f"{type(obj).__name__} must be created inside a `with nengo.Network():` block")
    getattr(_context[-1], kind).append(obj)


class Node:
    """output None: passthrough (size_out = size_in); an array: constant; a callable: f(t) or f(t, x) each step.
    A callable is called once here, with t = 0, to check its output size, as Nengo does."""

    def __init__(self, output=None, size_in=None, size_out=None, label=None, seed=None):
        self.output, self.label = output, label
        self.size_in = 0 if size_in is None else int(size_in)
        if output is None:
            if size_out is not None and size_out != self.size_in:
                raise ValueError("a passthrough node's size_out equals its size_in")
            self.size_out = self.size_in
        elif callable(output):
            args = (0.0, np.zeros(self.size_in)) if self.size_in > 0 else (0.0,)
            result = np.asarray(output(*args))
            if size_out is not None and result.size != size_out:
                raise ValueError(f"node output has size {result.size}, expected size_out={size_out}")
            self.size_out = result.size
        else:
            if self.size_in:
                raise ValueError("a node with a constant output takes no input")
            self.output = np.asarray(output, dtype=np.float64)
            if self.output.ndim != 1:
                raise ValueError("a constant node output must be a vector")
            self.size_out = self.output.size
        _add(self, "nodes")

    def __repr__(self):
        return f"<Node {self.label!r}>"


class Neurons:
    def __init__(self, ensemble):
        self.ensemble = ensemble
        self.size_in = self.size_out = ensemble.n_neurons


class Ensemble:
    def __init__(self, n_neurons, dimensions, neuron_type=None, gain=None, bias=None, label=None, seed=None, **kwargs):
        if kwargs:
            raise NotImplementedError(f"the conformance stub does not take {sorted(kwargs)}")
        if not isinstance(neuron_type, NeuronType):
            raise NotImplementedError("the conformance stub needs an explicit neuron_type")
        if gain is None or bias is None:
            raise NotImplementedError("the conformance stub needs explicit gain and bias")
        self.n_neurons, self.dimensions = int(n_neurons), int(dimensions)
        self.neuron_type, self.gain, self.bias, self.label = neuron_type, gain, bias, label
        for name, value in (("gain", gain), ("bias", bias)):
            if not isinstance(value, Distribution) and np.shape(value) != (self.n_neurons,):
                raise ValueError(f"{name} must be a distribution or have shape ({self.n_neurons},)")
        self.neurons = Neurons(self)
        _add(self, "ensembles")


class Connection:
    """pre -> transform -> synapse -> post (a Node's input, or an Ensemble's neurons, multiplied by the gain)."""

    def __init__(self, pre, post, synapse=Lowpass(0.005), transform=None, label=None, seed=None, _probe=None):
        if not isinstance(pre, (Node, Neurons)):
            raise NotImplementedError("the conformance stub connects Nodes and Ensemble.neurons only")
        if _probe is None and not isinstance(post, (Node, Neurons)):
            raise NotImplementedError("the conformance stub connects Nodes and Ensemble.neurons only")
        if isinstance(synapse, (int, float)):
            synapse = Lowpass(synapse)
        self.pre, self.post, self.synapse, self.label = pre, post, synapse, label
        self.transform = NoTransform(pre.size_out) if transform is None else transform
        if not isinstance(self.transform, Transform):
            raise NotImplementedError("the conformance stub takes nengo.Dense/Sparse/Convolution transforms only")
        if self.transform.size_in != pre.size_out:
            raise ValueError(f"transform input size {self.transform.size_in} != pre size {pre.size_out}")
        size_in = _probe if _probe is not None else post.size_in
        if self.transform.size_out != size_in:
            raise ValueError(f"transform output size {self.transform.size_out} != post size {size_in}")
        if _probe is None:
            _add(self, "connections")


class Probe:
    """Records an object's output each step (after the step), through an optional synapse."""

    def __init__(self, target, attr=None, synapse=None, label=None):
        if attr not in (None, "output", "spikes"):
            raise NotImplementedError("the conformance stub probes outputs only")
        if isinstance(target, Ensemble):
            raise NotImplementedError("the conformance stub probes Nodes and Ensemble.neurons only")
        if isinstance(synapse, (int, float)):
            synapse = Lowpass(synapse)
        self.target, self.synapse, self.label = target, synapse, label
        self.size_in = target.size_out
        _add(self, "probes")
