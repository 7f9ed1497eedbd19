"""Checks that the conformance stub follows the published Nengo timing and neuron math (nengo-semantics.md
§2-§3), independently of snn. Run by NengoExportTests (PYTHONPATH=tests/nengo_stub); prints OK."""

import numpy as np

import nengo

dt, tau = 0.001, 0.01
a = np.exp(-dt / tau)
b = 1 - a

# A synapse (update mode) delays by one step, on a connection and on a probe alike; no synapse, no delay.
with nengo.Network() as net:
    one = nengo.Node([1.0])
    mid = nengo.Node(size_in=1)
    nengo.Connection(one, mid, synapse=nengo.Lowpass(tau))
    p_mid = nengo.Probe(mid)
    p_filtered = nengo.Probe(one, synapse=nengo.Lowpass(tau))
    p_one = nengo.Probe(one)
with nengo.Simulator(net, dt=dt, progress_bar=False) as sim:
    sim.run_steps(3)
    expected = [0, b, a * b + b]
    assert np.allclose(sim.data[p_mid][:, 0], expected), sim.data[p_mid]
    assert np.allclose(sim.data[p_filtered][:, 0], expected), sim.data[p_filtered]
    assert np.allclose(sim.data[p_one][:, 0], 1)
    sim.reset()
    sim.run_steps(2)
    assert np.allclose(sim.data[p_mid][:, 0], expected[:2]), "reset restores the filter state"

# Neurons: J = bias + gain * (sum of inputs), computed in the same step (no synapse, no delay).
x = np.array([0.3, 0.7])
gain, bias, amplitude = 2.0, np.array([100.0, -1.0]), 0.5
w = np.array([[1.0, 2.0], [-1.0, 0.5]])
with nengo.Network() as net:
    inp = nengo.Node(x)
    spiking = nengo.Ensemble(2, 1, neuron_type=nengo.SpikingRectifiedLinear(
        amplitude=amplitude, initial_state={"voltage": np.array([0.5, 0.0])}),
        gain=nengo.dists.Choice([gain]), bias=bias)
    rate = nengo.Ensemble(2, 1, neuron_type=nengo.RectifiedLinear(), gain=nengo.dists.Choice([1.0]), bias=np.zeros(2))
    out = nengo.Node(size_in=2)
    nengo.Connection(inp, spiking.neurons, transform=nengo.Dense((2, 2), init=w), synapse=None)
    nengo.Connection(inp, rate.neurons, synapse=None)
    nengo.Connection(rate.neurons, out, transform=nengo.Dense((2, 2), init=w), synapse=None)
    p_spikes = nengo.Probe(spiking.neurons)
    p_out = nengo.Probe(out)
with nengo.Simulator(net, dt=dt, progress_bar=False) as sim:
    sim.run_steps(5)
    J = bias + gain * w.dot(x)
    v = np.array([0.5, 0.0])
    for step in range(5):
        v = v + np.maximum(J, 0) * dt
        n = np.floor(v)
        assert np.allclose(sim.data[p_spikes][step], amplitude / dt * n, rtol=1e-6), (step, sim.data[p_spikes][step])
        v = v - n
    assert np.allclose(sim.data[p_out], w.dot(np.maximum(x, 0)), rtol=1e-6)

# float32 precision gives float32 probe data.
nengo.rc.set("precision", "bits", "32")
with nengo.Network() as net:
    p = nengo.Probe(nengo.Node([0.1]))
with nengo.Simulator(net, dt=dt, progress_bar=False) as sim:
    sim.run_steps(1)
    assert sim.data[p].dtype == np.float32
print("OK")
