"""A minimal pure-numpy stand-in for the ``nengo`` package: a conformance harness for snn's Nengo export tests.

NOT Nengo. It implements only the API subset that ``snn export --format nengo`` scripts use, following the
published Nengo semantics (builder operators, set/inc/read/update scheduling, update-mode synapses, neuron step
math). See ../README.md. Install the real package with ``pip install nengo`` to run exported networks.
"""

__version__ = "3.1.0+snn.conformance.stub"

from . import dists, neurons, params
from .rc import rc
from .objects import Connection, Ensemble, Network, Node, Probe
from .transforms import Convolution, Dense, NoTransform, Sparse
from .synapses import Lowpass
from .neurons import LIF, LIFRate, RectifiedLinear, RegularSpiking, Sigmoid, SpikingRectifiedLinear, Tanh
from .simulator import Simulator
