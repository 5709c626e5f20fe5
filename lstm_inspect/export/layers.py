"""Mappings of the layers around the recurrent ones: convolution, normalisation, pooling,
reshaping, and the mask operations Keras 3 traces into a Functional config. Each lowers a
layer to plan operations (see :mod:`.plan`), or refuses a config it cannot express."""

from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from ..errors import ConfigError, UnsupportedError
from ..model import Layer
from .plan import Lowering, Value


def _one(low: Lowering, layer: Layer, op: str, ins, rank: int, dtype: str = "float32", **attrs) -> Value:
    (y,) = low.plan.add(op, ins, [low.plan.value(rank, dtype, hint=layer.name)], layer.path, low.module(layer), **attrs)
    return y


def _ints(layer: Layer, key: str, default) -> List[int]:
    v = layer.config.get(key, default)
    v = [v] if isinstance(v, int) else list(v)
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in v):
        raise ConfigError(f"layer '{layer.path}' ({layer.class_name}): '{key}' is {v!r}")
    return v


def _channels_last(layer: Layer) -> None:
    if layer.config.get("data_format", "channels_last") not in ("channels_last", None):
        raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}) is channels_first, which export does not map")


def _conv1d(low, layer, xs, args, kwargs):
    from ..kinds.activations import activation_name
    from .plan import act

    (x, _) = xs[0]
    _channels_last(layer)
    w = [np.asarray(a.value, np.float32) for a in layer.weights]
    kernel = w[0][:, 0] if w[0].ndim == 4 else w[0]  # Keras 1: (length, 1, in, out)
    if low.model.backend == "theano":
        from ..kinds.ops import flip_kernel

        kernel = flip_kernel(kernel)
    if int(layer.config.get("groups", 1) or 1) != 1:
        raise UnsupportedError(f"layer '{layer.path}' (Conv1D) has groups > 1, which export does not map")
    bias = w[1] if layer.config.get("use_bias", True) and len(w) > 1 else None
    y = _conv_op(low, layer, x, low.param(layer, "kernel", kernel), bias, 1)
    return [(act(low, layer, y, activation_name(layer.config.get("activation", "linear"))), None)]


def _conv_op(low, layer, x: Value, kernel: str, bias, groups: int) -> Value:
    """The plan's ``conv1d``: kernel (size, in / groups, out), Keras layout."""
    padding = layer.config.get("padding", "valid")
    if padding not in ("valid", "same", "causal"):
        raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}): padding {padding!r}")
    size = int(low.plan.params[kernel].shape[0])
    return _one(low, layer, "conv1d", [x], 3, kernel=kernel, bias=None if bias is None else low.param(layer, "bias", bias),
                size=size, strides=_ints(layer, "strides", 1)[0], dilation=_ints(layer, "dilation_rate", 1)[0],
                padding=padding, groups=groups)


def _separable_conv1d(low, layer, xs, args, kwargs):
    """A depthwise convolution (groups = channels: input channel c gives outputs c*m .. c*m+m-1,
    as Keras's (k, C, m) kernel read as (k, 1, C*m)), then a pointwise one (a dense over
    channels), the bias, the activation: as run computes it."""
    from ..kinds.activations import activation_name
    from .plan import act

    (x, _) = xs[0]
    _channels_last(layer)
    w = [np.asarray(a.value, np.float32) for a in layer.weights]
    if len(w) < 2 or w[0].ndim != 3 or w[1].ndim != 3 or w[1].shape[:2] != (1, w[0].shape[1] * w[0].shape[2]):
        raise ConfigError(f"layer '{layer.path}' (SeparableConv1D) has no (k, C, m) and (1, C*m, filters) kernels")
    depthwise, pointwise = w[0], w[1]
    channels = depthwise.shape[1]
    kernel = low.param(layer, "depthwise_kernel", depthwise.reshape(depthwise.shape[0], 1, channels * depthwise.shape[2]))
    y = _conv_op(low, layer, x, kernel, None, channels)
    bias = w[2] if layer.config.get("use_bias", True) and len(w) > 2 else None
    p = low.plan
    (y,) = p.add("dense", [y], [p.value(3, hint=layer.name)], layer.path, f"{low.module(layer)}_pointwise",
                 kernel=low.param(layer, "pointwise_kernel", pointwise[0]),
                 bias=None if bias is None else low.param(layer, "bias", bias),
                 units=pointwise.shape[2], features=pointwise.shape[1])
    return [(act(low, layer, y, activation_name(layer.config.get("activation", "linear"))), None)]


def _last_axis(layer: Layer, x: Value) -> None:
    axis = layer.config.get("axis", -1)
    axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
    if not isinstance(axis, int) or axis % x.rank != x.rank - 1:
        raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}) normalises axis {axis!r}; export maps the last axis")


def _batchnorm(low, layer, xs, args, kwargs):
    (x, mask) = xs[0]
    c = layer.config
    if c.get("mode", 0) not in (0, None):
        raise UnsupportedError(f"layer '{layer.path}': Keras 1 BatchNormalization mode {c['mode']}")
    _last_axis(layer, x)
    w = [np.asarray(a.value, np.float32).ravel() for a in layer.weights]
    gamma = w.pop(0) if c.get("scale", True) else np.ones_like(w[-1])
    beta = w.pop(0) if c.get("center", True) else np.zeros_like(w[-1])
    eps = 1e-3 if c.get("epsilon") is None else float(c["epsilon"])
    params = {k: low.param(layer, k, a) for k, a in
              (("weight", gamma), ("bias", beta), ("running_mean", w[0]), ("running_var", w[1]))}
    return [(_one(low, layer, "batchnorm", [x], x.rank, epsilon=eps, **params), mask)]


def _layernorm(low, layer, xs, args, kwargs):
    (x, mask) = xs[0]
    c = layer.config
    _last_axis(layer, x)
    if c.get("rms_scaling"):
        raise UnsupportedError(f"layer '{layer.path}' (LayerNormalization) uses rms_scaling, which export does not map")
    w = [np.asarray(a.value, np.float32).ravel() for a in layer.weights]
    gamma = w.pop(0) if c.get("scale", True) else None
    beta = w.pop(0) if c.get("center", True) else None
    size = len(gamma if gamma is not None else beta)
    gamma = np.ones(size, np.float32) if gamma is None else gamma
    beta = np.zeros(size, np.float32) if beta is None else beta
    eps = 1e-3 if c.get("epsilon") is None else float(c["epsilon"])
    return [(_one(low, layer, "layernorm", [x], x.rank, epsilon=eps, weight=low.param(layer, "weight", gamma),
                  bias=low.param(layer, "bias", beta), size=size), mask)]


def _pool1d(kind: str):
    def mapping(low, layer, xs, args, kwargs):
        (x, _) = xs[0]
        _channels_last(layer)
        size = _ints(layer, "pool_size", 2)[0]
        strides = _ints(layer, "strides", size)[0] if layer.config.get("strides") else size
        padding = layer.config.get("padding", "valid")
        if padding not in ("valid", "same") or x.rank != 3:
            raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}): padding {padding!r}")
        return [(_one(low, layer, "pool1d", [x], 3, kind=kind, size=size, strides=strides, padding=padding), None)]

    return mapping


def _global_max(low, layer, xs, args, kwargs):
    (x, _) = xs[0]
    _channels_last(layer)
    if layer.config.get("keepdims"):
        raise UnsupportedError(f"layer '{layer.path}' (GlobalMaxPooling1D) keeps dims")
    return [(_one(low, layer, "max_time", [x], 2), None)]


def _pair(layer: Layer, key: str, default) -> List[int]:
    v = _ints(layer, key, default)
    return v * 2 if len(v) == 1 else v


def _pad(low, layer, xs, args, kwargs):
    (x, _) = xs[0]
    return [(_one(low, layer, "pad_time", [x], 3, pads=_pair(layer, "padding", 1)), None)]


def _crop(low, layer, xs, args, kwargs):
    (x, _) = xs[0]
    return [(_one(low, layer, "crop_time", [x], 3, crops=_pair(layer, "cropping", [1, 1])), None)]


def _flatten(low, layer, xs, args, kwargs):
    (x, _) = xs[0]
    _channels_last(layer)
    return [(_one(low, layer, "flatten", [x], 2), None)]


def _reshape(low, layer, xs, args, kwargs):
    (x, _) = xs[0]
    target = _ints(layer, "target_shape", None)
    return [(_one(low, layer, "reshape", [x], 1 + len(target), shape=target), None)]


def _permute(low, layer, xs, args, kwargs):
    (x, _) = xs[0]
    dims = _ints(layer, "dims", None)
    if sorted(dims) != list(range(1, x.rank)):
        raise ConfigError(f"layer '{layer.path}' (Permute): dims {dims!r}")
    return [(_one(low, layer, "permute", [x], x.rank, dims=dims), None)]


def _repeat(low, layer, xs, args, kwargs):
    (x, _) = xs[0]
    return [(_one(low, layer, "repeat", [x], 3, n=int(layer.config["n"])), None)]


# ---------------------------------------------------------------------- Keras 3 mask operations


def _tensor(layer: Layer, v: Any) -> Value:
    if isinstance(v, tuple) and isinstance(v[0], Value):
        return v[0]
    raise UnsupportedError(f"operation '{layer.path}' ({layer.class_name}) is given {str(v)[:40]}, not a tensor")


def _op_axis(layer: Layer, rank: int) -> int:
    axis = layer.config.get("axis")
    axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
    if not isinstance(axis, int) or not -rank <= axis < rank:
        raise UnsupportedError(f"operation '{layer.path}' ({layer.class_name}): axis {axis!r}")
    return axis % rank


def _not_equal(low, layer, xs, args, kwargs):
    if len(args) != 2 or not isinstance(args[1], (int, float)) or isinstance(args[1], bool):
        raise UnsupportedError(f"operation '{layer.path}' (NotEqual) compares something other than a tensor and a number")
    x = _tensor(layer, args[0])
    return [(_one(low, layer, "not_equal", [x], x.rank, "bool", value=args[1]), None)]


def _expand_dims(low, layer, xs, args, kwargs):
    x = _tensor(layer, args[0] if args else None)
    axis = _op_axis(layer, x.rank + 1)
    return [(_one(low, layer, "expand_dims", [x], x.rank + 1, x.dtype, axis=axis), None)]


def _convert_to_tensor(low, layer, xs, args, kwargs):
    x = _tensor(layer, args[0] if args else None)
    dtype = layer.config.get("dtype")
    if dtype not in (None, x.dtype) or not (dtype is None or dtype == "bool" or x.dtype != "bool"):
        raise UnsupportedError(f"operation '{layer.path}' (ConvertToTensor) converts {x.dtype} to {dtype}, which export "
                               "does not map")
    return [(x, None)]


def _zeros_like(low, layer, xs, args, kwargs):
    x = _tensor(layer, args[0] if args else None)
    dtype = "bool" if layer.config.get("dtype") == "bool" else "float32"
    return [(_one(low, layer, "zeros_like", [x], x.rank, dtype), None)]


def _logical(op: str):
    def mapping(low, layer, xs, args, kwargs):
        values = [_tensor(layer, a) for a in args[: 1 if op == "not" else 2]]
        rank = max(v.rank for v in values)
        return [(_one(low, layer, f"logical_{op}", values, rank, "bool"), None)]

    return mapping


def _reduce(op: str):
    def mapping(low, layer, xs, args, kwargs):
        x = _tensor(layer, args[0] if args else None)
        if layer.config.get("keepdims"):
            raise UnsupportedError(f"operation '{layer.path}' ({layer.class_name}) keeps dims")
        axis = _op_axis(layer, x.rank)
        return [(_one(low, layer, f"reduce_{op}", [x], x.rank - 1, "bool", axis=axis), None)]

    return mapping


def _concat_op(low, layer, xs, args, kwargs):
    if not args or not isinstance(args[0], list):
        raise UnsupportedError(f"operation '{layer.path}' (Concatenate) takes a list of tensors")
    values = [_tensor(layer, a) for a in args[0]]
    axis = layer.config.get("axis", 0)
    return [(_one(low, layer, "concat", values, values[0].rank, values[0].dtype, axis=int(axis) % values[0].rank), None)]


# ---------------------------------------------------------------------- activation layers, Rescaling


def _keras3(low) -> bool:
    from ..versions import parse_version

    version = parse_version(low.model.semantics_version)
    return version is not None and version[0] >= 3


def _relu(low, layer, xs, args, kwargs):
    from ..kinds.activation_layers import _number

    (x, mask) = xs[0]
    attrs = {"max_value": _number(layer, "max_value", None, low=0.0),
             "negative_slope": _number(layer, "negative_slope", 0.0, low=0.0),
             "threshold": _number(layer, "threshold", 0.0, low=0.0)}
    return [(_one(low, layer, "relu", [x], x.rank, **attrs), mask)]


def _leaky_relu(low, layer, xs, args, kwargs):
    from ..kinds.activation_layers import leaky_slope

    (x, mask) = xs[0]
    return [(_one(low, layer, "leaky_relu", [x], x.rank, slope=leaky_slope(layer)), mask)]


def _elu(low, layer, xs, args, kwargs):
    from ..kinds.activation_layers import _number

    (x, mask) = xs[0]
    return [(_one(low, layer, "elu", [x], x.rank, alpha=_number(layer, "alpha", 1.0)), mask)]


def _prelu(low, layer, xs, args, kwargs):
    from ..kinds.activation_layers import _shared_axes

    (x, mask) = xs[0]
    alpha = np.asarray(layer.weights[0].value, np.float32)
    if alpha.ndim != x.rank - 1:
        raise ConfigError(f"layer '{layer.path}' (PReLU) has alpha of rank {alpha.ndim} for an input of rank {x.rank}")
    for a in _shared_axes(layer):
        if a > alpha.ndim or alpha.shape[a - 1] != 1:
            raise ConfigError(f"layer '{layer.path}' (PReLU): shared axis {a} is not of size 1 in alpha {alpha.shape}")
    return [(_one(low, layer, "prelu", [x], x.rank, alpha=low.param(layer, "alpha", alpha)), mask)]


def _softmax(low, layer, xs, args, kwargs):
    from ..kinds.base import axes_of

    (x, mask) = xs[0]
    if mask is not None:
        raise UnsupportedError(f"layer '{layer.path}' (Softmax) is given a mask, which export does not map")
    axis = layer.config.get("axis", -1)
    axes = axes_of(layer, -1 if axis is None else axis, x.rank)
    if 0 in axes:
        raise UnsupportedError(f"layer '{layer.path}' (Softmax) normalises over the batch axis")
    return [(_one(low, layer, "softmax", [x], x.rank, axes=sorted(set(axes))), None)]


def _rescaling(low, layer, xs, args, kwargs):
    from ..kinds.activation_layers import _scale

    (x, mask) = xs[0]
    if x.dtype != "float32":
        raise UnsupportedError(f"layer '{layer.path}' (Rescaling) is given {x.dtype} values, which export does not map")
    scale, offset = _scale(layer, "scale", 1.0), _scale(layer, "offset", 0.0)
    for name, v in (("scale", scale), ("offset", offset)):
        if np.ndim(v) > 1 or (np.ndim(v) == 1 and x.rank < 2):
            raise UnsupportedError(f"layer '{layer.path}' (Rescaling): {name} of shape {np.shape(v)} is not mapped")
    attrs = {k: (float(v) if np.ndim(v) == 0 else low.param(layer, k, np.asarray(v, np.float32)))
             for k, v in (("scale", scale), ("offset", offset))}
    # tf-keras's Rescaling drops a mask; Keras 3's passes it on (as run computes it)
    return [(_one(low, layer, "rescale", [x], x.rank, **attrs), mask if _keras3(low) else None)]



# ---------------------------------------------------------------------- tensor operations (tf_ops)


def _slice(low, layer, x: Value, spec) -> Value:
    from ..kinds.tf_ops import slice_key

    key = slice_key(layer, spec)
    if Ellipsis in key:
        at = key.index(Ellipsis)
        key = key[:at] + (slice(None),) * (x.rank - len(key) + 1) + key[at + 1:]
    if len(key) > x.rank:
        raise ConfigError(f"layer '{layer.path}' ({layer.class_name}): index {key} has more entries than rank {x.rank}")
    if key and key[0] != slice(None):
        raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}) indexes the batch axis, which is not supported")
    slices, picks = [], []
    for axis, k in enumerate(key):
        if isinstance(k, int):
            picks.append((axis, k))
        elif k != slice(None):
            if k.step is not None and k.step < 0:
                raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}) slices with a negative step, "
                                       "which export does not map")
            slices.append((axis, k.start, k.stop, k.step or 1))
    return _one(low, layer, "slice", [x], x.rank - len(picks), x.dtype, slices=slices, picks=picks)


def _reduction(low, layer, x: Value, fn: str, axis, keepdims: bool) -> Value:
    from ..kinds.tf_ops import _axis

    axes = _axis(layer, axis, x.rank)
    if axes is None:
        raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}) reduces over every axis, the batch included")
    axes = sorted(set(axes))
    return _one(low, layer, "reduce", [x], x.rank if keepdims else x.rank - len(axes), x.dtype, fn=fn, axes=axes,
                keepdims=bool(keepdims))


def _tf_op(low, layer, xs, args, kwargs):
    """tf-keras TFOpLambda / SlicingOpLambda: the op's keywords are its node's."""
    name = str(layer.config.get("function")).replace("math.", "")
    values = [x for x, _ in xs]
    if name == "__operators__.getitem":
        return [(_slice(low, layer, values[0], kwargs.get("slice_spec")), None)]
    if name == "concat":
        axis = kwargs.get("axis", 0)
        if not isinstance(axis, int) or isinstance(axis, bool) or not -values[0].rank <= axis < values[0].rank or \
                axis % values[0].rank == 0:
            raise UnsupportedError(f"layer '{layer.path}' (tf.concat): axis {axis!r} is not mapped")
        return [(_one(low, layer, "concat", values, values[0].rank, values[0].dtype, axis=axis % values[0].rank), None)]
    if name in ("reduce_mean", "reduce_sum", "reduce_max", "reduce_min"):
        return [(_reduction(low, layer, values[0], name[7:], kwargs.get("axis"), kwargs.get("keepdims", False)), None)]
    raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}): tf.{name} is not mapped")


def _attention_lower(low, layer, xs, args, kwargs):
    from .attention import lower

    return lower(low, layer, xs, args, kwargs)


def _mha_lower(low, layer, xs, args, kwargs):
    from .attention import lower_mha

    return lower_mha(low, layer, xs, args, kwargs)


def _get_item(low, layer, xs, args, kwargs):
    if len(args) < 2:
        raise ConfigError(f"operation '{layer.path}' (GetItem) takes a tensor and an index")
    return [(_slice(low, layer, _tensor(layer, args[0]), args[1]), None)]


def _reduce_values(fn: str):
    def mapping(low, layer, xs, args, kwargs):
        x = _tensor(layer, args[0] if args else None)
        return [(_reduction(low, layer, x, fn, layer.config.get("axis"), layer.config.get("keepdims", False)), None)]

    return mapping


MAPPINGS: Dict[str, Any] = {
    "conv1d": _conv1d,
    "separable_conv1d": _separable_conv1d,
    "batchnorm": _batchnorm,
    "layernorm": _layernorm,
    "max_pool_1d": _pool1d("max"),
    "avg_pool_1d": _pool1d("avg"),
    "global_max_1d": _global_max,
    "zero_padding_1d": _pad,
    "cropping_1d": _crop,
    "flatten": _flatten,
    "reshape": _reshape,
    "permute": _permute,
    "repeat_vector": _repeat,
    "not_equal": _not_equal,
    "expand_dims": _expand_dims,
    "zeros_like": _zeros_like,
    "convert_to_tensor": _convert_to_tensor,
    "logical_or": _logical("or"),
    "logical_and": _logical("and"),
    "logical_not": _logical("not"),
    "any": _reduce("any"),
    "all": _reduce("all"),
    "concat_op": _concat_op,
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "prelu": _prelu,
    "softmax": _softmax,
    "rescaling": _rescaling,
    "tf_op": _tf_op,
    "attention": lambda *a: _attention_lower(*a),
    "multi_head_attention": lambda *a: _mha_lower(*a),
    "get_item": _get_item,
    **{f"reduce_{fn}": _reduce_values(fn) for fn in ("mean", "sum", "max", "min")},
}
