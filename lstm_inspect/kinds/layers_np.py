"""Non-recurrent Keras layers at inference time, in numpy (keras-formats.md section 5.2).

Each function takes the layer, its input arrays and masks, and returns its outputs
and their masks. The registry ``LAYERS`` maps class names to them; the executor
looks layers up there and nowhere else.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .activations import activation
from .activations import activation_name
from ..errors import UnsupportedError
from ..model import Layer

Mask = Optional[np.ndarray]
Result = Tuple[List[np.ndarray], List[Mask]]
LayerFn = Callable[[Layer, List[np.ndarray], List[Mask], "Context"], Result]


class Context:
    """What layer functions may need besides their inputs."""

    def __init__(self, backend: Optional[str], hard_sigmoid: str):
        self.backend = backend
        self.hard_sigmoid = hard_sigmoid


def _weights(layer: Layer) -> List[np.ndarray]:
    return [np.asarray(w.value, dtype=np.float32) for w in layer.weights]


def _act(layer: Layer, ctx: Context, key: str = "activation"):
    return activation(activation_name(layer.config.get(key, "linear")), ctx.hard_sigmoid)


def identity(layer, xs, masks, ctx) -> Result:
    return [xs[0]], [masks[0]]


def input_layer(layer, xs, masks, ctx) -> Result:
    return [xs[0]], [None]


def dense(layer, xs, masks, ctx) -> Result:
    w = _weights(layer)
    use_bias = layer.config.get("use_bias", True) and len(w) > 1
    y = xs[0].astype(np.float32) @ w[0]
    if use_bias:
        y = y + w[1]
    return [_act(layer, ctx)(y)], [masks[0]]


def activation_layer(layer, xs, masks, ctx) -> Result:
    return [_act(layer, ctx)(xs[0])], [masks[0]]


def embedding(layer, xs, masks, ctx) -> Result:
    (table,) = _weights(layer)[:1]
    ids = np.asarray(xs[0])
    if ids.dtype.kind == "f":
        ids = ids.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= table.shape[0]):
        raise UnsupportedError(
            f"layer '{layer.path}': token id {int(ids.max() if ids.max() >= table.shape[0] else ids.min())} is "
            f"outside the embedding's vocabulary of {table.shape[0]}"
        )
    mask = (ids != 0) if layer.config.get("mask_zero") else None
    return [table[ids]], [mask]


def masking(layer, xs, masks, ctx) -> Result:
    x = xs[0]
    value = float(layer.config.get("mask_value", 0.0))
    mask = np.any(x != value, axis=-1)
    return [x * mask[..., None].astype(x.dtype)], [mask]


def flatten(layer, xs, masks, ctx) -> Result:
    x = xs[0]
    return [x.reshape(x.shape[0], -1)], [None]


def reshape(layer, xs, masks, ctx) -> Result:
    x = xs[0]
    return [x.reshape((x.shape[0],) + tuple(layer.config["target_shape"]))], [None]


def permute(layer, xs, masks, ctx) -> Result:
    dims = tuple(int(d) for d in layer.config["dims"])
    return [np.transpose(xs[0], (0,) + dims)], [None]


def repeat_vector(layer, xs, masks, ctx) -> Result:
    x = xs[0]
    n = int(layer.config["n"])
    _fits(layer, x.nbytes * max(n, 0))
    return [np.repeat(x[:, None, :], n, axis=1)], [None]


def _fits(layer: Layer, nbytes: int) -> None:
    """A layer whose config (not its weights) sets its output size: check the output
    against the memory budget before numpy is asked for it."""
    from ..limits import current_budget

    current_budget().check(nbytes, f"the output of layer '{layer.path}'")


def _axes(value, ndim: int) -> Tuple[int, ...]:
    values = value if isinstance(value, (list, tuple)) else [value]
    return tuple(int(a) % ndim for a in values)


def batch_normalization(layer, xs, masks, ctx) -> Result:
    x = xs[0]
    c = layer.config
    w = _weights(layer)
    if c.get("mode", 0) not in (0, None):
        raise UnsupportedError(f"layer '{layer.path}': Keras 1 BatchNormalization mode {c['mode']} is not supported")
    gamma = w.pop(0) if c.get("scale", True) else None
    beta = w.pop(0) if c.get("center", True) else None
    mean, var = w[0], w[1]  # Keras 1 calls the variance running_std
    axes = _axes(c.get("axis", -1), x.ndim)
    shape = [1] * x.ndim
    for a in axes:
        shape[a] = x.shape[a]
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + float(c.get("epsilon", 1e-3)))
    if gamma is not None:
        y = y * gamma.reshape(shape)
    if beta is not None:
        y = y + beta.reshape(shape)
    return [y.astype(np.float32)], [masks[0]]


def layer_normalization(layer, xs, masks, ctx) -> Result:
    x = xs[0].astype(np.float32)
    c = layer.config
    w = _weights(layer)
    gamma = w.pop(0) if c.get("scale", True) else None
    beta = w.pop(0) if c.get("center", True) else None
    axes = _axes(c.get("axis", -1), x.ndim)
    eps = float(c.get("epsilon", 1e-3))
    shape = [1] * x.ndim
    for a in axes:
        shape[a] = x.shape[a]
    if c.get("rms_scaling"):
        y = x / np.sqrt(np.mean(x * x, axis=axes, keepdims=True) + eps)
    else:
        mean = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, keepdims=True)
        y = (x - mean) / np.sqrt(var + eps)
    if gamma is not None:
        y = y * gamma.reshape(shape)
    if beta is not None and not c.get("rms_scaling"):
        y = y + beta.reshape(shape)
    return [y], [masks[0]]


def _int_tuple(v, n: int) -> Tuple[int, ...]:
    return tuple(int(a) for a in v) if isinstance(v, (list, tuple)) else (int(v),) * n


def conv1d(layer, xs, masks, ctx) -> Result:
    from .ops import conv1d as conv, flip_kernel

    c = layer.config
    w = _weights(layer)
    kernel = w[0]
    if kernel.ndim == 4:  # Keras 1 Convolution1D: (filter_length, 1, input_dim, nb_filter)
        kernel = kernel[:, 0]
    if ctx.backend == "theano":
        kernel = flip_kernel(kernel)
    bias = w[1] if c.get("use_bias", True) and len(w) > 1 else None
    y = conv(
        xs[0].astype(np.float32), kernel, bias,
        strides=_int_tuple(c.get("strides", 1), 1)[0],
        padding=c.get("padding", "valid"),
        dilation_rate=_int_tuple(c.get("dilation_rate", 1), 1)[0],
        groups=int(c.get("groups", 1)),
    )
    return [_act(layer, ctx)(y)], [None]


def conv2d(layer, xs, masks, ctx) -> Result:
    from .ops import conv2d as conv, flip_kernel

    c = layer.config
    if c.get("data_format", "channels_last") != "channels_last":
        raise UnsupportedError(f"layer '{layer.path}': Conv2D with data_format channels_first is not supported")
    w = _weights(layer)
    kernel = flip_kernel(w[0]) if ctx.backend == "theano" else w[0]
    bias = w[1] if c.get("use_bias", True) and len(w) > 1 else None
    y = conv(xs[0].astype(np.float32), kernel, bias, strides=_int_tuple(c.get("strides", 1), 2),
             padding=c.get("padding", "valid"), dilation_rate=_int_tuple(c.get("dilation_rate", 1), 2))
    return [_act(layer, ctx)(y)], [None]


def _pooling(n: int, kind: str) -> LayerFn:
    def pool(layer, xs, masks, ctx) -> Result:
        from . import ops

        c = layer.config
        size = _int_tuple(c.get("pool_size", 2), n)
        strides = _int_tuple(c.get("strides") or size, n)
        fn = ops.max_pool if kind == "max" else ops.avg_pool
        return [fn(xs[0].astype(np.float32), size, strides, c.get("padding", "valid"))], [None]

    return pool


def global_average_pooling1d(layer, xs, masks, ctx) -> Result:
    x, mask = xs[0], masks[0]
    if mask is None:
        return [x.mean(axis=1)], [None]
    m = mask[..., None].astype(x.dtype)  # mask-aware since Keras 2.2.3
    return [(x * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1)], [None]


def global_max_pooling1d(layer, xs, masks, ctx) -> Result:
    return [xs[0].max(axis=1)], [None]


def zero_padding1d(layer, xs, masks, ctx) -> Result:
    from .ops import zero_pad1d

    padding = layer.config.get("padding", 1)
    pads = padding if isinstance(padding, (list, tuple)) else [padding, padding]
    if xs[0].ndim == 3 and all(isinstance(p, int) for p in pads):
        batch, steps, channels = xs[0].shape
        _fits(layer, batch * (steps + sum(abs(p) for p in pads)) * channels * 4)
    return [zero_pad1d(xs[0], padding)], [None]


def cropping1d(layer, xs, masks, ctx) -> Result:
    from .ops import crop1d

    return [crop1d(xs[0], layer.config.get("cropping", (1, 1)))], [None]


def _merge(op: Callable[[Sequence[np.ndarray]], np.ndarray]) -> LayerFn:
    def merge(layer, xs, masks, ctx) -> Result:
        return [op(xs)], [_and_masks(masks)]

    return merge


def _and_masks(masks: Sequence[Mask]) -> Mask:
    present = [m for m in masks if m is not None]
    if not present:
        return None
    out = present[0]
    for m in present[1:]:
        out = np.logical_and(out, m)
    return out


def concatenate(layer, xs, masks, ctx) -> Result:
    axis = int(layer.config.get("axis", -1))
    return [np.concatenate(xs, axis=axis)], [_and_masks(masks)]


def keras1_merge(layer, xs, masks, ctx) -> Result:
    mode = layer.config.get("mode", "sum")
    ops = {
        "sum": lambda a: np.sum(a, axis=0),
        "mul": lambda a: np.prod(a, axis=0),
        "ave": lambda a: np.mean(a, axis=0),
        "max": lambda a: np.max(a, axis=0),
    }
    if mode == "concat":
        return [np.concatenate(xs, axis=int(layer.config.get("concat_axis", -1)))], [_and_masks(masks)]
    if mode not in ops:
        raise UnsupportedError(f"layer '{layer.path}': Keras 1 Merge mode {mode!r} is not supported")
    return [ops[mode](np.stack(xs))], [_and_masks(masks)]


LAYERS: Dict[str, LayerFn] = {
    "InputLayer": input_layer,
    "Dense": dense,
    "Activation": activation_layer,
    "Embedding": embedding,
    "Masking": masking,
    "Flatten": flatten,
    "Reshape": reshape,
    "Permute": permute,
    "RepeatVector": repeat_vector,
    "BatchNormalization": batch_normalization,
    "LayerNormalization": layer_normalization,
    "Conv1D": conv1d,
    "Conv2D": conv2d,
    "MaxPooling1D": _pooling(1, "max"),
    "AveragePooling1D": _pooling(1, "avg"),
    "MaxPooling2D": _pooling(2, "max"),
    "AveragePooling2D": _pooling(2, "avg"),
    "MaxPooling3D": _pooling(3, "max"),
    "GlobalAveragePooling1D": global_average_pooling1d,
    "GlobalMaxPooling1D": global_max_pooling1d,
    "ZeroPadding1D": zero_padding1d,
    "Cropping1D": cropping1d,
    "Concatenate": concatenate,
    "Add": _merge(lambda xs: np.sum(np.stack(xs), axis=0)),
    "Subtract": _merge(lambda xs: xs[0] - xs[1]),
    "Multiply": _merge(lambda xs: np.prod(np.stack(xs), axis=0)),
    "Average": _merge(lambda xs: np.mean(np.stack(xs), axis=0)),
    "Maximum": _merge(lambda xs: np.max(np.stack(xs), axis=0)),
    "Minimum": _merge(lambda xs: np.min(np.stack(xs), axis=0)),
    "Merge": keras1_merge,
}
for _name in ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization"):
    LAYERS[_name] = identity
