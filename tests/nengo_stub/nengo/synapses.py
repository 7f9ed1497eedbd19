"""``nengo.Lowpass``: a first-order lowpass filter, discretized with zero-order hold."""

import numpy as np


class Lowpass:
    """Lowpass(tau) = LinearFilter([1], [tau, 1]). ZOH: a = exp(-dt/tau), b = 1 - a; one state, no
    feedthrough, so each step X = a*X + b*u, y = X (semantics §2.4). Lowpass(0) passes u straight through."""

    def __init__(self, tau):
        if tau < 0:
            raise ValueError("tau must be >= 0")
        self.tau = tau

    def coefficients(self, dt):
        if self.tau == 0:
            return 0.0, 1.0
        a = float(np.exp(-dt / self.tau))
        return a, 1.0 - a
