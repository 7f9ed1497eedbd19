"""``nengo.dists``: the distributions the exported scripts use."""

import numpy as np


class Distribution:
    def sample(self, n, d=None, rng=np.random):
        raise NotImplementedError


class Uniform(Distribution):
    def __init__(self, low, high, integer=False):
        self.low, self.high, self.integer = low, high, integer

    def sample(self, n, d=None, rng=np.random):
        shape = (n,) if d is None else (n, d)
        if self.integer:
            return rng.randint(self.low, self.high, size=shape)
        return rng.uniform(self.low, self.high, size=shape)


class Choice(Distribution):
    def __init__(self, options, weights=None):
        self.options = np.asarray(options, dtype=np.float64)
        if self.options.ndim == 1:
            self.options = self.options[:, None]
        p = np.ones(len(self.options)) if weights is None else np.asarray(weights, dtype=np.float64)
        self.p = p / p.sum()

    def sample(self, n, d=None, rng=np.random):
        # Nengo draws rng.rand(n) and searches the cumulative weights.
        i = np.searchsorted(np.cumsum(self.p), rng.rand(n))
        samples = self.options[i]
        return samples[:, 0] if d is None else samples


def get_samples(dist_or_samples, n, d=None, rng=np.random):
    if isinstance(dist_or_samples, Distribution):
        return dist_or_samples.sample(n, d=d, rng=rng)
    return np.array(dist_or_samples)
