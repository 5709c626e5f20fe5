"""Keras activations in numpy, by the names configs use (keras-formats.md section 5.1).

``hard_sigmoid`` depends on who wrote the file: ``keras2`` = clip(0.2x + 0.5, 0, 1)
(Keras 1/2, tf.keras), ``keras3`` = clip(x/6 + 0.5, 0, 1).
"""

from __future__ import annotations

import math
from typing import Callable, Dict

import numpy as np

from .errors import UnsupportedError

Activation = Callable[[np.ndarray], np.ndarray]

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def sigmoid(x: np.ndarray) -> np.ndarray:
    # 0.5 * (1 + tanh(x/2)) is sigmoid without overflow, and cheap.
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def _gelu(x: np.ndarray) -> np.ndarray:
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return (0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))).astype(x.dtype)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_ACTIVATIONS: Dict[str, Activation] = {
    "tanh": np.tanh,
    "sigmoid": sigmoid,
    "relu": lambda x: np.maximum(x, 0),
    "linear": lambda x: x,
    "softsign": lambda x: x / (1 + np.abs(x)),
    "softplus": lambda x: np.logaddexp(x, 0).astype(x.dtype),
    "elu": _elu,
    "selu": lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0))),
    "swish": lambda x: x * sigmoid(x),
    "silu": lambda x: x * sigmoid(x),
    "gelu": _gelu,
    "exponential": np.exp,
    "softmax": _softmax,
}


def activation(name: str, hard_sigmoid: str = "keras2") -> Activation:
    """The numpy function for an activation name."""
    if name == "hard_sigmoid":
        if hard_sigmoid == "keras3":
            return lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0)
        return lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0)
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise UnsupportedError(f"activation '{name}' is not one lstm_inspect can compute") from None
