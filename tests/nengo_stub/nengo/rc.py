"""``nengo.rc``: only the ``[precision] bits`` setting."""

import numpy as np


class RC:
    def __init__(self):
        self._values = {("precision", "bits"): "64"}

    def set(self, section, option, value):
        if (section, option) != ("precision", "bits"):
            raise NotImplementedError(f"the conformance stub has no rc setting [{section}] {option}")
        if str(value) not in ("32", "64"):
            raise ValueError(f"precision bits must be 32 or 64, got {value!r}")
        self._values[(section, option)] = str(value)

    def get(self, section, option):
        return self._values[(section, option)]

    @property
    def float_dtype(self):
        return np.float32 if self.get("precision", "bits") == "32" else np.float64


rc = RC()
