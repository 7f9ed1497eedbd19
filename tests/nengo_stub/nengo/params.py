"""``nengo.params``: readonly, validated attributes (the subset neuron types use) and FrozenObject."""

import numpy as np


class Parameter:
    """A descriptor holding one value per instance; settable once (Nengo's frozen-object parameters)."""

    equatable = True

    def __init__(self, name, optional=False, readonly=True):
        self.name = name
        self.optional = optional
        self.readonly = readonly

    def __get__(self, instance, owner):
        if instance is None:
            return self
        return instance.__dict__[("param", self.name)]

    def __set__(self, instance, value):
        key = ("param", self.name)
        if self.readonly and key in instance.__dict__:
            raise AttributeError(f"{self.name} is read-only")
        if value is None and not self.optional:
            raise ValueError(f"{self.name} is not optional")
        instance.__dict__[key] = value if value is None else self.coerce(value)

    def coerce(self, value):
        return value


class NumberParam(Parameter):
    def __init__(self, name, low=None, high=None, low_open=False, high_open=False, optional=False, readonly=True):
        super().__init__(name, optional, readonly)
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open

    def coerce(self, value):
        if isinstance(value, np.ndarray) and value.shape == ():
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError(f"{self.name} must be a number, got {value!r}")
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            raise ValueError(f"{self.name} must be {'>' if self.low_open else '>='} {self.low}, got {value}")
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            raise ValueError(f"{self.name} must be {'<' if self.high_open else '<='} {self.high}, got {value}")
        return value


class IntParam(NumberParam):
    def coerce(self, value):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise ValueError(f"{self.name} must be an integer, got {value!r}")
        return super().coerce(int(value))


class BoolParam(Parameter):
    def coerce(self, value):
        if not isinstance(value, bool):
            raise ValueError(f"{self.name} must be a bool, got {value!r}")
        return value


class NdarrayParam(Parameter):
    def __init__(self, name, shape=None, optional=False, readonly=True):
        super().__init__(name, optional, readonly)
        self.shape = shape

    def coerce(self, value):
        array = value.view() if isinstance(value, np.ndarray) else np.array(value, dtype=np.float64)
        if self.shape is not None and "..." not in self.shape and array.ndim != len(self.shape):
            raise ValueError(f"{self.name} must be {len(self.shape)}-D, got shape {array.shape}")
        return array


class DictParam(Parameter):
    equatable = False

    def coerce(self, value):
        if not isinstance(value, dict):
            raise ValueError(f"{self.name} must be a dict, got {value!r}")
        return value


class FrozenObject:
    """Equality and hashing by parameter values (identity for non-equatable ones), as Nengo's FrozenObject."""

    def _params(self):
        return [p for cls in type(self).__mro__ for p in vars(cls).values() if isinstance(p, Parameter)]

    def __eq__(self, other):
        if self is other:
            return True
        if type(self) is not type(other):
            return False
        for p in self._params():
            a, b = p.__get__(self, None), p.__get__(other, None)
            if not (np.array_equal(a, b) if p.equatable else a is b):
                return False
        return True

    def __hash__(self):
        return hash(type(self))
