"""Activation layer kinds: ReLU, LeakyReLU, PReLU, ELU, Softmax, and Rescaling.

Each computes what tf-keras 2.x and Keras 3 compute (docs/formats.md section 5.5); where the
two differ (Softmax's masked positions, LeakyReLU's key name, Rescaling's mask) the writer's
generation decides through ``ctx.keras3``. Every config key read is declared in ``keys``. To add one, declare it below and append it to
``KINDS``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import ConfigError
from .activations import _softmax
from .base import ANY, STEPS, Blocked, Kind, axes_of, same_shape, stepwise, stepwise_on, weights_of


def _number(layer, key: str, default: Optional[float], low: Optional[float] = None) -> Optional[float]:
    """A float config value (tf-keras writes some as 0-d arrays, read back as plain numbers)."""
    value = layer.config.get(key, default)
    if value is None:
        return default
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or (
            low is not None and value < low):
        bound = "" if low is None else f" >= {low}"
        raise ConfigError(f"layer '{layer.path}' ({layer.class_name}): '{key}' is {value!r}, not a number{bound}")
    return float(value)


# ---------------------------------------------------------------------- ReLU


def relu_values(x: np.ndarray, max_value: Optional[float], negative_slope: float, threshold: float) -> np.ndarray:
    """tf-keras ``backend.relu`` / Keras 3 ``activations.relu``: x above the threshold, else
    0, clipped to [0, max_value], minus ``negative_slope * relu(threshold - x)``."""
    x = np.asarray(x, dtype=np.float32)
    y = np.where(x > threshold, x, np.float32(0)) if threshold != 0 else np.maximum(x, np.float32(0))
    if max_value is not None:
        y = np.clip(y, np.float32(0), np.float32(max_value))
    if negative_slope != 0:
        y = y - np.float32(negative_slope) * np.maximum(np.float32(threshold) - x, np.float32(0))
    return y.astype(np.float32)


def relu(layer, xs, masks, call, ctx):
    y = relu_values(xs[0], _number(layer, "max_value", None, low=0.0), _number(layer, "negative_slope", 0.0, low=0.0),
                    _number(layer, "threshold", 0.0, low=0.0))
    return [y], [masks[0]]


# ---------------------------------------------------------------------- LeakyReLU, ELU


def leaky_slope(layer) -> float:
    """tf-keras writes ``alpha``, Keras 3 ``negative_slope`` (and an old ``alpha``, when given,
    replaces it); both layers default to 0.3 (Keras 3's ``leaky_relu`` *function*: 0.2)."""
    key = "alpha" if layer.config.get("alpha") is not None else "negative_slope"
    return _number(layer, key, 0.3)


def leaky_relu(layer, xs, masks, call, ctx):
    x = np.asarray(xs[0], dtype=np.float32)
    slope = np.float32(leaky_slope(layer))
    return [np.where(x >= 0, x, slope * x).astype(np.float32)], [masks[0]]


def elu(layer, xs, masks, call, ctx):
    x = np.asarray(xs[0], dtype=np.float32)
    alpha = np.float32(_number(layer, "alpha", 1.0))
    return [np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(np.float32)], [masks[0]]


# ---------------------------------------------------------------------- PReLU


def _shared_axes(layer) -> tuple:
    value = layer.config.get("shared_axes")
    if value is None:
        return ()
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(a, int) and not isinstance(a, bool) and a >= 1 for a in values):
        raise ConfigError(f"layer '{layer.path}' (PReLU): 'shared_axes' is {value!r}, not axes >= 1")
    return tuple(values)


def prelu(layer, xs, masks, call, ctx):
    """``relu(x) - alpha * relu(-x)``, alpha of shape input_shape[1:] with shared axes 1."""
    x = np.asarray(xs[0], dtype=np.float32)
    (alpha,) = weights_of(layer, 1, "alpha")[:1]
    shape = list(x.shape[1:])
    for a in _shared_axes(layer):
        if a > len(shape):
            raise ConfigError(f"layer '{layer.path}' (PReLU): shared axis {a} does not exist in an input of rank {x.ndim}")
        shape[a - 1] = 1
    if alpha.shape != tuple(shape):
        raise ConfigError(f"layer '{layer.path}' (PReLU) has alpha of shape {alpha.shape}; an input of shape {x.shape} "
                          f"needs {tuple(shape)}")
    return [(np.maximum(x, 0) - alpha * np.maximum(-x, 0)).astype(np.float32)], [masks[0]]


def _prelu_streams(layer, call, sources, planner) -> str:
    if 1 in _shared_axes(layer):
        return STEPS
    raise Blocked(f"layer '{layer.path}' (PReLU) has an alpha per time step (shared_axes does not include 1)")


# ---------------------------------------------------------------------- Softmax


def _softmax_over(x: np.ndarray, axes: tuple) -> np.ndarray:
    if len(axes) == 1:
        return np.moveaxis(_softmax(np.moveaxis(x, axes[0], -1)), -1, axes[0])
    top = x.max(axis=axes, keepdims=True)
    return np.exp(x - (top + np.log(np.exp(x - top).sum(axis=axes, keepdims=True))))


def softmax(layer, xs, masks, call, ctx):
    """Masked positions: tf-keras adds ``(1 - mask) * -1e9`` (``robust_masking``: sets them to
    -1e9) before the softmax; Keras 3 sets them to -1e9 and zeroes them afterwards, so a fully
    masked row is all zeros in Keras 3 and a softmax of ``x - 1e9`` in tf-keras."""
    x = np.asarray(xs[0], dtype=np.float32)
    axis = layer.config.get("axis", -1)
    axes = axes_of(layer, -1 if axis is None else axis, x.ndim)
    mask = masks[0] if masks else None
    if mask is not None:
        mask = np.asarray(mask)
        try:
            np.broadcast_shapes(mask.shape, x.shape)
            if mask.ndim > x.ndim:
                raise ValueError
        except ValueError:
            raise ConfigError(f"layer '{layer.path}' (Softmax) is given a mask of shape {mask.shape}, which does not "
                              f"broadcast to its input of shape {x.shape}") from None
        keep = mask > 0.5 if mask.dtype != bool else mask
        if ctx.keras3 or layer.config.get("robust_masking"):
            x = np.where(keep, x, np.float32(-1e9)).astype(np.float32)
        else:
            x = (x + (np.float32(1) - keep.astype(np.float32)) * np.float32(-1e9)).astype(np.float32)
    y = _softmax_over(x, axes).astype(np.float32)
    if mask is not None and ctx.keras3:
        y = np.where(keep, y, np.float32(0)).astype(np.float32)
    return [y], [masks[0] if masks else None]


# ---------------------------------------------------------------------- Rescaling


def _scale(layer, key: str, default: float):
    value = layer.config.get(key, default)
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return np.asarray(value, dtype=np.float32)
    return np.float32(_number(layer, key, default))


def rescaling(layer, xs, masks, call, ctx):
    """``cast(x, float32) * scale + offset`` (a list broadcasts over the last axis)."""
    x = np.asarray(xs[0]).astype(np.float32)
    scale, offset = _scale(layer, "scale", 1.0), _scale(layer, "offset", 0.0)
    try:
        y = x * scale + offset
    except ValueError:
        raise ConfigError(f"layer '{layer.path}' (Rescaling): scale {np.shape(scale)} and offset {np.shape(offset)} do not "
                          f"broadcast to its input of shape {x.shape}") from None
    if y.shape != x.shape:
        raise ConfigError(f"layer '{layer.path}' (Rescaling): scale and offset change the shape of its input {x.shape}")
    # tf-keras's Rescaling does not support masking and drops a mask; Keras 3's passes it on
    return [y.astype(np.float32)], [masks[0] if ctx.keras3 else None]


def _exports(name: str) -> dict:
    return {"onnx": name, "torch": name}


def _kind(name: str, compute, keys, streams=stepwise, **more) -> Kind:
    return Kind(names=(name,), family="activation_layers", compute=compute, output_shape=same_shape, streams=streams,
                keys=dict.fromkeys(keys, ANY), **more)


KINDS = [
    _kind("ReLU", relu, ("max_value", "negative_slope", "threshold"), exports=_exports("relu")),
    _kind("LeakyReLU", leaky_relu, ("alpha", "negative_slope"), exports=_exports("leaky_relu")),
    _kind("PReLU", prelu, ("shared_axes",), _prelu_streams, weights=lambda c, children: (1, 0), var_names=("alpha",),
          exports=_exports("prelu")),
    _kind("ELU", elu, ("alpha",), exports=_exports("elu")),
    _kind("Softmax", softmax, ("axis", "robust_masking"), stepwise_on("axis"), exports=_exports("softmax")),
    _kind("Rescaling", rescaling, ("scale", "offset"), exports=_exports("rescaling")),
]
