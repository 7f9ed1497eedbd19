"""``nengo.neurons``: NeuronType and the built-in types the exported scripts use (step math: semantics §2.1)."""

import numpy as np

from .dists import Choice, Distribution, Uniform, get_samples
from .params import DictParam, FrozenObject, NumberParam
from .rc import rc


class NeuronType(FrozenObject):
    """Neurons are built generically: make_state() gives the ``state`` signals, step(dt, J, output, **state) runs."""

    state = {}
    negative = True
    spiking = False

    initial_state = DictParam("initial_state", optional=True)

    def __init__(self, initial_state=None):
        self.initial_state = initial_state
        for name, value in (initial_state or {}).items():
            if name not in self.state:
                raise ValueError(f"state variable {name!r} not recognized; should be one of {list(self.state)}")
            if not isinstance(value, (Distribution, list, tuple, np.ndarray)):
                raise ValueError(f"state variable {name!r} must be a distribution or array-like")

    def make_state(self, n_neurons, rng=np.random, dtype=None):
        dtype = rc.float_dtype if dtype is None else dtype
        initial = self.initial_state or {}
        state = {}
        for name, default in self.state.items():
            values = get_samples(initial.get(name, default), n=n_neurons, d=None, rng=rng).astype(dtype)
            if values.shape != (n_neurons,):
                raise ValueError(f"initial {name} has shape {values.shape}, expected ({n_neurons},)")
            state[name] = values
        return state

    def current(self, x, gain, bias):
        x = np.array(x, dtype=float, ndmin=1)
        if x.ndim == 1:
            x = x[:, None]
        return np.asarray(gain) * x + np.asarray(bias)

    def max_rates_intercepts(self, gain, bias):
        raise NotImplementedError("the conformance stub does not derive max rates and intercepts")

    def step(self, dt, J, output, **state):
        raise NotImplementedError("Neurons must provide step")


class RectifiedLinear(NeuronType):
    negative = False
    amplitude = NumberParam("amplitude", low=0, low_open=True)

    def __init__(self, amplitude=1, initial_state=None):
        super().__init__(initial_state)
        self.amplitude = amplitude

    def step(self, dt, J, output):
        output[...] = self.amplitude * np.maximum(0.0, J)


class SpikingRectifiedLinear(RectifiedLinear):
    state = {"voltage": Uniform(low=0, high=1)}
    spiking = True

    def step(self, dt, J, output, voltage):
        voltage += np.maximum(J, 0) * dt
        n_spikes = np.floor(voltage)
        output[...] = (self.amplitude / dt) * n_spikes
        voltage -= n_spikes


class Sigmoid(NeuronType):
    negative = False
    tau_ref = NumberParam("tau_ref", low=0, low_open=True)

    def __init__(self, tau_ref=0.0025, initial_state=None):
        super().__init__(initial_state)
        self.tau_ref = tau_ref

    def step(self, dt, J, output):
        output[...] = (1.0 / self.tau_ref) / (1.0 + np.exp(-J))


class Tanh(NeuronType):
    tau_ref = NumberParam("tau_ref", low=0, low_open=True)

    def __init__(self, tau_ref=0.0025, initial_state=None):
        super().__init__(initial_state)
        self.tau_ref = tau_ref

    def step(self, dt, J, output):
        output[...] = (1.0 / self.tau_ref) * np.tanh(J)


class LIFRate(NeuronType):
    negative = False
    tau_rc = NumberParam("tau_rc", low=0, low_open=True)
    tau_ref = NumberParam("tau_ref", low=0)
    amplitude = NumberParam("amplitude", low=0, low_open=True)

    def __init__(self, tau_rc=0.02, tau_ref=0.002, amplitude=1, initial_state=None):
        super().__init__(initial_state)
        self.tau_rc = tau_rc
        self.tau_ref = tau_ref
        self.amplitude = amplitude

    def step(self, dt, J, output):
        # j = J - 1; out = amplitude / (tau_ref + tau_rc * log1p(1/j)) where j > 0, else 0
        j = J - 1
        output[...] = 0
        positive = j > 0
        output[positive] = self.amplitude / (self.tau_ref + self.tau_rc * np.log1p(1 / j[positive]))


class LIF(LIFRate):
    state = {"voltage": Uniform(low=0, high=1), "refractory_time": Choice([0])}
    spiking = True
    min_voltage = NumberParam("min_voltage", high=0)

    def __init__(self, tau_rc=0.02, tau_ref=0.002, min_voltage=0, amplitude=1, initial_state=None):
        super().__init__(tau_rc=tau_rc, tau_ref=tau_ref, amplitude=amplitude, initial_state=initial_state)
        self.min_voltage = min_voltage

    def step(self, dt, J, output, voltage, refractory_time):
        refractory_time -= dt
        delta_t = np.clip(dt - refractory_time, 0, dt)
        voltage -= (J - voltage) * np.expm1(-delta_t / self.tau_rc)
        spiked = voltage > 1
        output[...] = spiked * (self.amplitude / dt)
        t_spike = dt + self.tau_rc * np.log1p(-(voltage[spiked] - 1) / (J[spiked] - 1))
        voltage[voltage < self.min_voltage] = self.min_voltage
        voltage[spiked] = 0
        refractory_time[spiked] = self.tau_ref + t_spike


class RegularSpiking(NeuronType):
    """Nengo >= 3.1 RegularSpiking(base_type): the base type's rate r drives v += r*dt; n = floor(v); v -= n;
    output = (amplitude / dt) * n."""

    state = {"voltage": Uniform(low=0, high=1)}
    spiking = True
    amplitude = NumberParam("amplitude", low=0, low_open=True)

    def __init__(self, base_type, amplitude=1.0, initial_state=None):
        super().__init__(initial_state)
        self.base_type = base_type
        self.amplitude = amplitude

    def step(self, dt, J, output, voltage):
        self.base_type.step(dt, J, output)
        voltage += output * dt
        n_spikes = np.floor(voltage)
        output[...] = (self.amplitude / dt) * n_spikes
        voltage -= n_spikes
