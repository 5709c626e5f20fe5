"""Shape kinds: Flatten, Reshape, Permute, RepeatVector, ZeroPadding1D, Cropping1D.
To add one, declare it below and append it to ``KINDS``.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .base import ANY, MOVES, Kind, config_int, fits_budget, need_rank


def flatten(layer, xs, masks, call, ctx):
    x = xs[0]
    need_rank(layer, x, range(1, 33), "with a batch axis")
    if layer.config.get("data_format") == "channels_first" and x.ndim >= 3:
        x = np.moveaxis(x, 1, -1)  # Keras moves the channels last before flattening
    return [x.reshape(x.shape[0], -1)], [None]


def _flatten_shape(layer, inputs, ctx):
    x = inputs[0] if inputs else None
    if x is None:
        return None
    n = 1
    for d in x[1:]:
        n = None if d is None or n is None else n * d
    return [None, n]


def _target(layer):
    target = layer.config.get("target_shape")
    if not isinstance(target, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= -1 for d in target) \
            or sum(d == -1 for d in target) > 1:
        raise ConfigError(f"layer '{layer.path}' (Reshape): target_shape {target!r} is not a list of sizes (one may be -1)")
    return target


def reshape(layer, xs, masks, call, ctx):
    x = xs[0]
    need_rank(layer, x, range(1, 33), "with a batch axis")
    target = _target(layer)
    size, known = int(np.prod(x.shape[1:], dtype=np.int64)), int(np.prod([d for d in target if d != -1], dtype=np.int64))
    if (known != size and -1 not in target) or (-1 in target and (known == 0 or size % known)):
        raise ConfigError(f"layer '{layer.path}' (Reshape) cannot reshape input of shape {x.shape} to {tuple(target)}")
    return [x.reshape((x.shape[0],) + tuple(target))], [None]


def _reshape_shape(layer, inputs, ctx):
    target = layer.config.get("target_shape")
    if not isinstance(target, list):
        return None
    x = inputs[0] if inputs else None
    if -1 in target:
        if x is None or any(d is None for d in x[1:]):
            return None
        known = int(np.prod([d for d in target if d != -1]))
        target = [int(np.prod(x[1:])) // known if d == -1 else d for d in target] if known else target
    return [None] + list(target)


def permute(layer, xs, masks, call, ctx):
    x = xs[0]
    dims = layer.config.get("dims")
    if not isinstance(dims, list) or sorted(dims) != list(range(1, x.ndim)):
        raise ConfigError(f"layer '{layer.path}' (Permute): dims {dims!r} is not an order of the axes 1..{x.ndim - 1} "
                          f"of its input of shape {x.shape}")
    return [np.transpose(x, (0,) + tuple(int(d) for d in dims))], [None]


def _permute_shape(layer, inputs, ctx):
    x, dims = (inputs[0] if inputs else None), layer.config.get("dims")
    if x is None or not isinstance(dims, list) or sorted(dims) != list(range(1, len(x))):
        return None
    return [None] + [x[d] for d in dims]


def repeat_vector(layer, xs, masks, call, ctx):
    x = xs[0]
    need_rank(layer, x, (2,), "(batch, features)")
    n = config_int(layer, "n")
    fits_budget(layer, x.nbytes * n)
    return [np.repeat(x[:, None, :], n, axis=1)], [None]


def _repeat_shape(layer, inputs, ctx):
    x, n = (inputs[0] if inputs else None), layer.config.get("n")
    return None if x is None or len(x) != 2 or not isinstance(n, int) else [None, n, x[1]]


def _pair(layer, key, default):
    value = layer.config.get(key, default)
    pair = [value, value] if isinstance(value, int) else value
    if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(
            isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in pair):
        raise ConfigError(f"layer '{layer.path}' ({layer.class_name}): {key} {value!r} is not (left, right) whole numbers")
    return pair


def zero_padding1d(layer, xs, masks, call, ctx):
    from .ops import zero_pad1d

    x = xs[0]
    need_rank(layer, x, (3,), "(batch, steps, features)")
    pads = _pair(layer, "padding", 1)
    batch, steps, channels = x.shape
    fits_budget(layer, batch * (steps + sum(pads)) * channels * 4)
    return [zero_pad1d(x, pads)], [None]


def cropping1d(layer, xs, masks, call, ctx):
    from .ops import crop1d

    need_rank(layer, xs[0], (3,), "(batch, steps, features)")
    return [crop1d(xs[0], _pair(layer, "cropping", (1, 1)))], [None]


def _pad_shape(key, default, sign):
    def rule(layer, inputs, ctx):
        x = inputs[0] if inputs else None
        value = layer.config.get(key, default)
        pair = [value, value] if isinstance(value, int) else value
        if x is None or len(x) != 3 or not isinstance(pair, (list, tuple)) or len(pair) != 2 \
                or not all(isinstance(p, int) for p in pair):
            return None
        return [None, None if x[1] is None else x[1] + sign * sum(pair), x[2]]

    return rule


KINDS = [
    Kind(names=("Flatten",), family="reshaping", compute=flatten, output_shape=_flatten_shape,
         keys={"data_format": ("channels_last", "channels_first", None)}, exports={"onnx": "flatten", "torch": "flatten"}, half=MOVES),
    Kind(names=("Reshape",), family="reshaping", compute=reshape, output_shape=_reshape_shape,
         keys={"target_shape": ANY}, exports={"onnx": "reshape", "torch": "reshape"}, half=MOVES),
    Kind(names=("Permute",), family="reshaping", compute=permute, output_shape=_permute_shape,
         keys={"dims": ANY}, exports={"onnx": "permute", "torch": "permute"}, half=MOVES),
    Kind(names=("RepeatVector",), family="reshaping", compute=repeat_vector, output_shape=_repeat_shape,
         keys={"n": ANY}, exports={"onnx": "repeat_vector", "torch": "repeat_vector"}, half=MOVES),
    Kind(names=("ZeroPadding1D",), family="reshaping", compute=zero_padding1d, output_shape=_pad_shape("padding", 1, 1),
         keys={"padding": ANY, "data_format": ("channels_last", None)}, exports={"onnx": "zero_padding_1d", "torch": "zero_padding_1d"}, half=MOVES),
    Kind(names=("Cropping1D",), family="reshaping", compute=cropping1d, output_shape=_pad_shape("cropping", [1, 1], -1),
         keys={"cropping": ANY}, exports={"onnx": "cropping_1d", "torch": "cropping_1d"}, half=MOVES),
]
