"""Keras 3 operations traced into functional configs (docs/formats.md section 3.3): the
mask computations ``NotEqual``, ``Any``, ``LogicalAnd``, ... appear as entries whose
node ``args`` hold the tensors and constants they were called with.

An op entry is told from a same-named layer by ``claims`` (only ``Concatenate`` is both).
To add an op, declare it below with :func:`_op` and append it to ``KINDS``.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional

import numpy as np

from ..errors import ConfigError
from .base import ANY, Kind, stepwise, stepwise_on


def _value(layer, v: Any, k: int) -> np.ndarray:
    if isinstance(v, np.ndarray):
        return v
    if isinstance(v, (bool, int, float)) and not (isinstance(v, int) and abs(v) > 2**63):
        return np.asarray(v)
    raise ConfigError(f"operation '{layer.path}' ({layer.class_name}): argument {k} is not a tensor or a number")


def _args(layer, call, n: int) -> List[np.ndarray]:
    if len(call.args) < n:
        raise ConfigError(f"operation '{layer.path}' ({layer.class_name}) takes {n} arguments, its config gives {len(call.args)}")
    return [_value(layer, v, k) for k, v in enumerate(call.args[:n])]


def _broadcast(layer, arrays: List[np.ndarray]) -> None:
    try:
        np.broadcast_shapes(*[a.shape for a in arrays])
    except ValueError:
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise ConfigError(f"operation '{layer.path}' ({layer.class_name}) is given arguments of shapes {shapes}, which differ") from None


def _axis(layer, ndim: int, allow_none: bool = True, extra: int = 0):
    """The config's axis (an int, a list of ints, or None), checked against the rank."""
    axis = layer.config.get("axis")
    if axis is None and allow_none:
        return None
    axes = axis if isinstance(axis, list) else [axis]
    if not axes or not all(isinstance(a, int) and not isinstance(a, bool) and -(ndim + extra) <= a < ndim + extra for a in axes):
        raise ConfigError(f"operation '{layer.path}' ({layer.class_name}): axis {axis!r} does not fit an argument of rank {ndim}")
    return tuple(axes) if isinstance(axis, list) else axis


def _dtype(layer):
    return bool if layer.config.get("dtype") == "bool" else None


def _binary(fn: Callable) -> Callable:
    def compute(layer, xs, masks, call, ctx):
        a, b = _args(layer, call, 2)
        _broadcast(layer, [a, b])
        return [fn(a, b)], [None]

    return compute


def _unary(fn: Callable) -> Callable:
    def compute(layer, xs, masks, call, ctx):
        (a,) = _args(layer, call, 1)
        return [fn(layer, a)], [None]

    return compute


def _reduce(fn: Callable) -> Callable:
    def compute(layer, xs, masks, call, ctx):
        (a,) = _args(layer, call, 1)
        return [fn(a, axis=_axis(layer, a.ndim), keepdims=bool(layer.config.get("keepdims", False)))], [None]

    return compute


def _expand_dims(layer, a):
    return np.expand_dims(a, _axis(layer, a.ndim, allow_none=False, extra=1))


def _squeeze(layer, a):
    axis = _axis(layer, a.ndim)
    axes = () if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    if any(a.shape[x] != 1 for x in axes):
        raise ConfigError(f"operation '{layer.path}' (Squeeze): axis {axis!r} of an argument of shape {a.shape} is not of size 1")
    return np.squeeze(a, axis)


def _concatenate(layer, xs, masks, call, ctx):
    from .merges import concatenate_arrays

    if not call.args or not isinstance(call.args[0], list):
        raise ConfigError(f"operation '{layer.path}' (Concatenate) takes a list of tensors")
    arrays = [_value(layer, v, k) for k, v in enumerate(call.args[0])]
    return [concatenate_arrays(layer, arrays, layer.config.get("axis", 0))], [None]


# ---------------------------------------------------------------------- shapes (batch None)


def _shape_of(v: Any) -> Optional[List[Optional[int]]]:
    if isinstance(v, list) and all(d is None or isinstance(d, int) for d in v):
        return v
    if isinstance(v, (bool, int, float)):
        return []
    return None


def _broadcast_shape(layer, inputs, ctx):
    shapes = [_shape_of(v) for v in ctx.args] or list(inputs[:1])
    if not shapes or any(s is None for s in shapes):
        return None
    rank = max(len(s) for s in shapes)
    padded = [[1] * (rank - len(s)) + list(s) for s in shapes]
    out = []
    for dims in zip(*padded):
        known = [d for d in dims if d != 1]
        out.append(None if None in known else (known[0] if known else 1))
    return out


def _unary_shape(layer, inputs, ctx):
    x = inputs[0] if inputs else None
    return None if x is None else list(x)


def _reduce_shape(layer, inputs, ctx):
    x, axis = (inputs[0] if inputs else None), layer.config.get("axis")
    if x is None:
        return None
    axes = list(range(len(x))) if axis is None else (axis if isinstance(axis, list) else [axis])
    if not all(isinstance(a, int) and -len(x) <= a < len(x) for a in axes):
        return None
    axes = {a % len(x) for a in axes}
    keep = bool(layer.config.get("keepdims", False))
    return [(1 if k in axes else d) for k, d in enumerate(x) if keep or k not in axes]


def _expand_shape(layer, inputs, ctx):
    x, axis = (inputs[0] if inputs else None), layer.config.get("axis")
    if x is None or not isinstance(axis, int) or not -len(x) - 1 <= axis <= len(x):
        return None
    y = list(x)
    y.insert(axis % (len(x) + 1), 1)
    return y


def _squeeze_shape(layer, inputs, ctx):
    x, axis = (inputs[0] if inputs else None), layer.config.get("axis")
    if x is None or not isinstance(axis, int) or not -len(x) <= axis < len(x):
        return None
    return [d for k, d in enumerate(x) if k != axis % len(x)]


def _concatenate_shape(layer, inputs, ctx):
    from .merges import _joined

    shapes = ctx.args[0] if ctx.args and isinstance(ctx.args[0], list) else None
    if not shapes or not all(_shape_of(s) for s in shapes):
        return None
    return _joined(shapes, layer.config.get("axis", 0))


def _op(name: str, compute, shape, streams=stepwise, keys=None, **more) -> Kind:
    keys = {"axis": ANY, "keepdims": ANY, "dtype": ANY, **(keys or {})}
    return Kind(names=(name,), family="mask_ops", role="op", compute=compute, output_shape=shape, streams=streams,
                keys=keys, **more)


KINDS = [
    _op("NotEqual", _binary(np.not_equal), _broadcast_shape, exports={"onnx": "not_equal", "torch": "not_equal"}),
    _op("Equal", _binary(np.equal), _broadcast_shape),
    _op("LogicalAnd", _binary(np.logical_and), _broadcast_shape, exports={"onnx": "logical_and", "torch": "logical_and"}),
    _op("LogicalOr", _binary(np.logical_or), _broadcast_shape, exports={"onnx": "logical_or", "torch": "logical_or"}),
    _op("LogicalNot", _unary(lambda layer, a: np.logical_not(a)), _unary_shape, exports={"onnx": "logical_not", "torch": "logical_not"}),
    _op("ZerosLike", _unary(lambda layer, a: np.zeros_like(a, dtype=_dtype(layer))), _unary_shape, exports={"onnx": "zeros_like", "torch": "zeros_like"}),
    _op("OnesLike", _unary(lambda layer, a: np.ones_like(a, dtype=_dtype(layer))), _unary_shape),
    # Keras 3 Attention's compute_mask traces ``convert_to_tensor(query_mask)``
    _op("ConvertToTensor", _unary(lambda layer, a: np.asarray(a).astype(_dtype(layer) or np.asarray(a).dtype)),
        _unary_shape, keys={"sparse": (False, None), "ragged": (False, None)},
        exports={"onnx": "convert_to_tensor", "torch": "convert_to_tensor"}),
    _op("Cast", _unary(lambda layer, a: np.asarray(a).astype(_dtype(layer) or np.float32)), _unary_shape),
    _op("Any", _reduce(np.any), _reduce_shape, stepwise_on("axis"), exports={"onnx": "any", "torch": "any"}),
    _op("All", _reduce(np.all), _reduce_shape, stepwise_on("axis"), exports={"onnx": "all", "torch": "all"}),
    _op("ExpandDims", _unary(_expand_dims), _expand_shape, stepwise_on("axis", extra=1), exports={"onnx": "expand_dims", "torch": "expand_dims"}),
    _op("Squeeze", _unary(_squeeze), _squeeze_shape, stepwise_on("axis")),
    _op("Concatenate", _concatenate, _concatenate_shape, stepwise_on("axis"),
        claims=lambda layer: "trainable" not in layer.config and "dtype" not in layer.config, exports={"onnx": "concat_op", "torch": "concat_op"}),
]
