"""``nengo.Dense``, ``nengo.Sparse``, ``nengo.Convolution`` and NoTransform (semantics §3.3-§3.4)."""

import numpy as np

from .dists import Distribution


class Transform:
    pass


class NoTransform(Transform):
    def __init__(self, size_in):
        self.size_in = self.size_out = size_in


class Dense(Transform):
    """(size_out, size_in); a square matrix may be given as a scalar (eye * init) or a vector (diag)."""

    def __init__(self, shape, init=1.0):
        self.shape = tuple(shape)
        if isinstance(init, Distribution):
            raise NotImplementedError("the conformance stub takes concrete Dense weights only")
        init = np.asarray(init)
        if init.ndim == 2 and init.shape != self.shape:
            raise ValueError(f"Dense init shape {init.shape} does not match {self.shape}")
        if init.ndim < 2 and self.shape[0] != self.shape[1]:
            raise ValueError("a scalar or vector Dense init needs a square shape")
        if init.ndim == 1 and init.shape[0] != self.shape[0]:
            raise ValueError(f"Dense init vector of length {init.shape[0]} for shape {self.shape}")
        self.init = init
        self.size_out, self.size_in = self.shape


class Sparse(Transform):
    """(size_out, size_in) with nonzeros at indices (N x 2, row then column); init is a scalar or N values."""

    def __init__(self, shape, indices=None, init=1.0):
        self.shape = tuple(shape)
        if indices is None:
            raise NotImplementedError("the conformance stub takes Sparse indices only")
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1, 2)
        init = np.asarray(init)
        self.init = np.broadcast_to(init, (len(self.indices),)) if init.ndim == 0 else init
        if len(self.init) != len(self.indices):
            raise ValueError("Sparse init needs one value per index")
        if len(self.indices) and (self.indices.min() < 0 or (self.indices.max(axis=0) >= np.array(self.shape)).any()):
            raise ValueError("Sparse index out of range")
        self.size_out, self.size_in = self.shape


class Convolution(Transform):
    """Correlation (no kernel flip) with TensorFlow padding; kernel shape kernel_size + (in_channels, n_filters)."""

    def __init__(self, n_filters, input_shape, kernel_size=(3, 3), strides=(1, 1), padding="valid",
                 channels_last=True, init=None):
        self.n_filters = n_filters
        self.input_shape = tuple(input_shape)
        self.kernel_size = tuple(kernel_size)
        self.strides = tuple(strides)
        self.padding = padding
        self.channels_last = channels_last
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
        spatial = self.spatial_in
        if len(self.kernel_size) != len(spatial) or len(self.strides) != len(spatial):
            raise ValueError("kernel_size and strides must have one entry per spatial dimension")
        if isinstance(init, Distribution) or init is None:
            raise NotImplementedError("the conformance stub takes concrete Convolution kernels only")
        self.init = np.asarray(init)
        if self.init.shape != self.kernel_size + (self.in_channels, n_filters):
            raise ValueError(f"kernel shape {self.init.shape} does not match "
                             f"{self.kernel_size + (self.in_channels, n_filters)}")
        self.size_in = int(np.prod(self.input_shape))
        self.size_out = int(np.prod(self.output_shape))

    @property
    def in_channels(self):
        return self.input_shape[-1] if self.channels_last else self.input_shape[0]

    @property
    def spatial_in(self):
        return self.input_shape[:-1] if self.channels_last else self.input_shape[1:]

    @property
    def spatial_out(self):
        # valid: ceil((in - k + 1) / s); same: ceil(in / s)
        out = []
        for n, k, s in zip(self.spatial_in, self.kernel_size, self.strides):
            if self.padding == "valid":
                if k > n:
                    raise ValueError("kernel larger than the input with 'valid' padding")
                out.append(-(-(n - k + 1) // s))
            else:
                out.append(-(-n // s))
        return tuple(out)

    @property
    def output_shape(self):
        return self.spatial_out + (self.n_filters,) if self.channels_last else (self.n_filters,) + self.spatial_out
