"""Keras activations in numpy, by the names configs use (docs/formats.md section 5.1).

``hard_sigmoid`` depends on who wrote the file: ``keras2`` = clip(0.2x + 0.5, 0, 1)
(Keras 1/2, tf.keras), ``keras3`` = clip(x/6 + 0.5, 0, 1).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional

import numpy as np

from ..errors import ConfigError, UnsupportedError

#: ``f(x, out=None)``: like a ufunc, writes into ``out`` when given (the step loops reuse buffers).
Activation = Callable[..., np.ndarray]

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def sigmoid(x: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """1 / (1 + exp(-x)). numpy's float32 ``exp`` is vectorised and its ``tanh`` is not, so
    this is about twice as fast as 0.5 * (1 + tanh(x/2)). Where exp(-x) overflows (x < -88)
    the result is exactly 0, as it should be; callers silence the overflow warning."""
    out = np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


def _relu(x: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    return np.maximum(x, 0, out=out)


def _linear(x: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    if out is None:
        return x
    out[...] = x
    return out


def _hard_sigmoid_keras2(x: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    out = np.multiply(x, 0.2, out=out)  # clip(0.2x + 0.5, 0, 1)
    out += 0.5
    return np.clip(out, 0.0, 1.0, out=out)


def _hard_sigmoid_keras3(x: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    out = np.divide(x, 6.0, out=out)  # clip(x/6 + 0.5, 0, 1)
    out += 0.5
    return np.clip(out, 0.0, 1.0, out=out)


def _into(f: Callable[[np.ndarray], np.ndarray]) -> Activation:
    """An activation that computes a new array, given the ``out=`` convention."""

    def g(x: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        y = f(x)
        if out is None:
            return y
        out[...] = y
        return out

    return g


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def _gelu(x: np.ndarray) -> np.ndarray:
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return (0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))).astype(x.dtype)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_ACTIVATIONS: Dict[str, Activation] = {
    "tanh": np.tanh,  # ufuncs take out= themselves
    "sigmoid": sigmoid,
    "relu": _relu,
    "linear": _linear,
    "softsign": _into(lambda x: x / (1 + np.abs(x))),
    "softplus": _into(lambda x: np.logaddexp(x, 0).astype(x.dtype)),
    "elu": _into(_elu),
    "selu": _into(lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0)))),
    "swish": _into(lambda x: x * sigmoid(x)),
    "silu": _into(lambda x: x * sigmoid(x)),
    "gelu": _into(_gelu),
    "exponential": np.exp,
    "softmax": _into(_softmax),
}


def activation(name: str, hard_sigmoid: str = "keras2") -> Activation:
    """The numpy function for an activation name: ``f(x)`` or ``f(x, out=buffer)``."""
    if name == "hard_sigmoid":
        return _hard_sigmoid_keras3 if hard_sigmoid == "keras3" else _hard_sigmoid_keras2
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise UnsupportedError(f"activation '{name}' is not one lstm_inspect can compute") from None


def activation_name(value: Any) -> str:
    """An activation as a config stores it -> its name (``None`` means linear)."""
    if value is None:
        return "linear"
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        inner = value.get("config")
        if isinstance(inner, str):
            return inner
        if isinstance(inner, dict) and isinstance(inner.get("name"), str):
            return inner["name"]
        if isinstance(value.get("class_name"), str) and value["class_name"] != "function":
            return value["class_name"]
    raise ConfigError(f"activation {value!r:.60} is not one lstm_inspect knows")
