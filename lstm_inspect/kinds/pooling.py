"""Pooling kinds: Max/AveragePooling 1D-3D (Keras 1 pool_length/stride/border_mode) and
GlobalAverage/GlobalMaxPooling1D. The window arithmetic is in :mod:`.ops`. To add a pooling
kind, declare it below and append it to ``KINDS``.
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError
from .base import ANY, Kind, config_ints, conv_len, keras1_renames, need_rank, shape_int


def _pooling(n: int, kind: str):
    def pool(layer, xs, masks, call, ctx):
        from . import ops

        x = xs[0]
        need_rank(layer, x, (n + 2,), f"(batch, {n} spatial axes, channels)")
        size = config_ints(layer, "pool_size", n, 2)
        strides = config_ints(layer, "strides", n, list(size)) if layer.config.get("strides") else size
        padding = layer.config.get("padding", "valid")
        if padding not in ("valid", "same"):
            raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}): padding {padding!r} is not valid or same")
        fn = ops.max_pool if kind == "max" else ops.avg_pool
        return [fn(x.astype(np.float32), size, strides, padding)], [None]

    return pool


def _pool_shape(n: int):
    def rule(layer, inputs, ctx):
        x, c = (inputs[0] if inputs else None), layer.config
        if x is None or len(x) != n + 2:
            return None

        def each(v):
            return list(v) if isinstance(v, list) and len(v) == n else [v] * n

        p = each(c.get("pool_size", 2))
        s = each(c.get("strides") or c.get("pool_size", 2))
        pad = c.get("padding", "valid")
        return [None] + [conv_len(x[1 + a], shape_int(p[a]), shape_int(s[a]), 1, pad) for a in range(n)] + [x[-1]]

    return rule


_CHANNELS_LAST = ("channels_last", None)
_POOL_KEYS = {"pool_size": ANY, "strides": ANY, "padding": ANY, "data_format": _CHANNELS_LAST, "dim_ordering": ("tf",)}
_GLOBAL_KEYS = {"data_format": _CHANNELS_LAST, "keepdims": ANY}
_KERAS1_POOL = keras1_renames({"pool_length": "pool_size", "stride": "strides", "border_mode": "padding"})


def global_average_pooling1d(layer, xs, masks, call, ctx):
    x, mask = xs[0].astype(np.float32), masks[0]
    need_rank(layer, x, (3,), "(batch, steps, features)")
    keepdims = bool(layer.config.get("keepdims", False))
    if mask is None:
        return [x.mean(axis=1, keepdims=keepdims)], [None]
    # Mask-aware since Keras 2.2.3: the sum of the live steps over their count, so a fully
    # masked sample is 0/0 = NaN. tf.keras multiplies by the mask (a NaN at a masked step
    # leaks: NaN * 0); Keras 3 selects with ``where`` (it does not). docs/formats.md section 5.2.
    m = mask[..., None]
    live = np.where(m, x, np.float32(0)) if ctx.keras_major >= 3 else x * m.astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        return [live.sum(axis=1, keepdims=keepdims) / m.astype(np.float32).sum(axis=1, keepdims=keepdims)], [None]


def global_max_pooling1d(layer, xs, masks, call, ctx):
    need_rank(layer, xs[0], (3,), "(batch, steps, features)")
    return [xs[0].max(axis=1, keepdims=bool(layer.config.get("keepdims", False)))], [None]


def _global_shape(layer, inputs, ctx):
    x = inputs[0] if inputs else None
    if x is None or len(x) != 3:
        return None
    return [None, 1, x[2]] if layer.config.get("keepdims") else [None, x[2]]


KINDS = [
    Kind(names=("MaxPooling1D",), family="pooling", compute=_pooling(1, "max"), output_shape=_pool_shape(1), keys=_POOL_KEYS,
         keras1_config=_KERAS1_POOL, exports={"onnx": "max_pool_1d", "torch": "max_pool_1d"}),
    Kind(names=("AveragePooling1D",), family="pooling", compute=_pooling(1, "avg"), output_shape=_pool_shape(1), keys=_POOL_KEYS,
         keras1_config=_KERAS1_POOL, exports={"onnx": "avg_pool_1d", "torch": "avg_pool_1d"}),
    Kind(names=("MaxPooling2D",), family="pooling", compute=_pooling(2, "max"), output_shape=_pool_shape(2),
         keys=_POOL_KEYS),
    Kind(names=("AveragePooling2D",), family="pooling", compute=_pooling(2, "avg"), output_shape=_pool_shape(2),
         keys=_POOL_KEYS),
    Kind(names=("MaxPooling3D",), family="pooling", compute=_pooling(3, "max"), output_shape=_pool_shape(3),
         keys=_POOL_KEYS),
    Kind(names=("GlobalAveragePooling1D",), family="pooling", compute=global_average_pooling1d, output_shape=_global_shape,
         keys=_GLOBAL_KEYS, exports={"onnx": "global_average_1d", "torch": "global_average_1d"}),
    Kind(names=("GlobalMaxPooling1D",), family="pooling", compute=global_max_pooling1d, output_shape=_global_shape,
         keys=_GLOBAL_KEYS, exports={"onnx": "global_max_1d", "torch": "global_max_1d"}),
]
