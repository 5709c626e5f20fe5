"""Convolution kinds: Conv1D (Keras 1 Convolution1D) and Conv2D, channels_last.

The arithmetic is in :mod:`.ops`. To add a convolution kind, declare it below and
append it to ``KINDS``.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, UnsupportedError
from .activations import activation, activation_name
from .base import (
    ANY,
    Kind,
    config_int,
    config_ints,
    conv_len,
    keras1_renames,
    kernel_and_bias,
    need_rank,
    need_vector,
    shape_int,
    weights_of,
)

_CONV_KEYS = {"filters": ANY, "kernel_size": ANY, "strides": ANY, "padding": ANY, "dilation_rate": ANY, "groups": ANY,
              "activation": ANY, "use_bias": ANY, "data_format": ("channels_last", None), "dim_ordering": ("tf",)}


def _kernel_and_bias(layer, rank: int, ctx):
    w = weights_of(layer, 1, "a kernel")
    kernel = w[0]
    if kernel.ndim == rank + 3 and rank == 1:  # Keras 1 Convolution1D: (filter_length, 1, input_dim, nb_filter)
        kernel = kernel[:, 0]
    if kernel.ndim != rank + 2:
        raise ConfigError(f"layer '{layer.path}' ({layer.class_name}) has a kernel of shape {kernel.shape}")
    if ctx.backend == "theano":
        from .ops import flip_kernel

        kernel = flip_kernel(kernel)
    bias = w[1] if layer.config.get("use_bias", True) and len(w) > 1 else None
    if bias is not None:
        need_vector(layer, bias, kernel.shape[-1], "bias")
    return kernel, bias


def _channels(layer, x, kernel, groups: int) -> None:
    if x.shape[-1] != kernel.shape[-2] * groups:
        raise ConfigError(
            f"layer '{layer.path}' ({layer.class_name}) needs {kernel.shape[-2] * groups} channels on its last axis, "
            f"got input shape {x.shape}"
        )


def _padding(layer, allowed):
    padding = layer.config.get("padding", "valid")
    if padding not in allowed:
        raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}): padding {padding!r} is not one of {', '.join(allowed)}")
    return padding


def _act(layer, ctx):
    return activation(activation_name(layer.config.get("activation", "linear")), ctx.hard_sigmoid)


def conv1d(layer, xs, masks, call, ctx):
    from .ops import conv1d as conv

    x = xs[0]
    need_rank(layer, x, (3,), "(batch, steps, channels)")
    kernel, bias = _kernel_and_bias(layer, 1, ctx)
    groups = config_int(layer, "groups", 1, low=1)
    _channels(layer, x, kernel, groups)
    if kernel.shape[-1] % groups:
        raise ConfigError(f"layer '{layer.path}' (Conv1D) has {kernel.shape[-1]} filters, not a multiple of groups={groups}")
    y = conv(x.astype(np.float32), kernel, bias, strides=config_ints(layer, "strides", 1, 1)[0],
             padding=_padding(layer, ("valid", "same", "causal")),
             dilation_rate=config_ints(layer, "dilation_rate", 1, 1)[0], groups=groups)
    return [_act(layer, ctx)(y)], [None]


def conv2d(layer, xs, masks, call, ctx):
    from .ops import conv2d as conv

    if layer.config.get("data_format", "channels_last") not in ("channels_last", None):
        raise UnsupportedError(f"layer '{layer.path}': Conv2D with data_format channels_first is not supported")
    x = xs[0]
    need_rank(layer, x, (4,), "(batch, rows, cols, channels)")
    kernel, bias = _kernel_and_bias(layer, 2, ctx)
    _channels(layer, x, kernel, 1)
    y = conv(x.astype(np.float32), kernel, bias, strides=config_ints(layer, "strides", 2, 1),
             padding=_padding(layer, ("valid", "same")), dilation_rate=config_ints(layer, "dilation_rate", 2, 1))
    return [_act(layer, ctx)(y)], [None]


def _conv_shape(n: int):
    def rule(layer, inputs, ctx):
        x, c = (inputs[0] if inputs else None), layer.config
        filters = shape_int(c.get("filters"))
        if x is None or filters is None or len(x) != n + 2:
            return None

        def each(key):
            v = c.get(key, 1)
            return list(v) if isinstance(v, list) and len(v) == n else [v] * n

        k, s, d = each("kernel_size"), each("strides"), each("dilation_rate")
        pad = c.get("padding", "valid")
        return [None] + [conv_len(x[1 + a], shape_int(k[a]), shape_int(s[a]), shape_int(d[a]), pad) for a in range(n)] + [filters]

    return rule


CONV1D = Kind(
    names=("Conv1D",), family="conv", compute=conv1d, output_shape=_conv_shape(1), keras1_names=("Convolution1D",),
    keys=_CONV_KEYS,
    keras1_config=keras1_renames({"nb_filter": "filters", "filter_length": "kernel_size", "subsample_length": "strides",
                                  "border_mode": "padding", "bias": "use_bias"}),
    weights=kernel_and_bias, var_names=("kernel", "bias"), exports={"onnx": "conv1d", "torch": "conv1d"},
    recognise=lambda names, shapes: bool(names) and names[0] == "kernel" and len(shapes[0]) == 3,
)
CONV2D = Kind(
    names=("Conv2D",), family="conv", compute=conv2d, output_shape=_conv_shape(2), keys={**_CONV_KEYS, "groups": (1, None)},
    weights=kernel_and_bias, var_names=("kernel", "bias"),
    recognise=lambda names, shapes: bool(names) and names[0] == "kernel" and len(shapes[0]) == 4,
)


def separable_conv1d(layer, xs, masks, call, ctx):
    """Keras ``SeparableConv1D``: a depthwise convolution (``depthwise_kernel`` (k, C, m): input
    channel c gives output channels c*m .. c*m+m-1, with the strides, padding and dilation),
    then a pointwise one (``pointwise_kernel`` (1, C*m, F)), the bias, the activation."""
    from .ops import conv1d as conv

    if layer.config.get("data_format", "channels_last") not in ("channels_last", None):
        raise UnsupportedError(f"layer '{layer.path}': SeparableConv1D with data_format channels_first is not supported")
    x = xs[0]
    need_rank(layer, x, (3,), "(batch, steps, channels)")
    w = weights_of(layer, 2, "a depthwise and a pointwise kernel")
    depthwise, pointwise = w[0], w[1]
    if depthwise.ndim != 3 or pointwise.ndim != 3 or pointwise.shape[:2] != (1, depthwise.shape[1] * depthwise.shape[2]):
        raise ConfigError(f"layer '{layer.path}' (SeparableConv1D) has kernels of shapes {depthwise.shape} and "
                          f"{pointwise.shape}; expected (k, C, m) and (1, C*m, filters)")
    channels = depthwise.shape[1]
    if x.shape[-1] != channels:
        raise ConfigError(f"layer '{layer.path}' (SeparableConv1D) needs {channels} channels on its last axis, "
                          f"got input shape {x.shape}")
    kernel = depthwise.reshape(depthwise.shape[0], 1, channels * depthwise.shape[2])
    y = conv(x.astype(np.float32), kernel, None, strides=config_ints(layer, "strides", 1, 1)[0],
             padding=_padding(layer, ("valid", "same", "causal")),
             dilation_rate=config_ints(layer, "dilation_rate", 1, 1)[0], groups=channels)
    y = y @ pointwise[0]
    if layer.config.get("use_bias", True) and len(w) > 2:
        need_vector(layer, w[2], pointwise.shape[-1], "bias")
        y = y + w[2]
    return [_act(layer, ctx)(y.astype(np.float32))], [None]


SEPARABLE_CONV1D = Kind(
    names=("SeparableConv1D",), family="conv", compute=separable_conv1d, output_shape=_conv_shape(1),
    keys={**_CONV_KEYS, "groups": (1, None), "depth_multiplier": ANY},
    weights=lambda c, children: ((3 if c.get("use_bias", True) else 2), 0),
    var_names=("depthwise_kernel", "pointwise_kernel", "bias"),
    exports={"onnx": "separable_conv1d", "torch": "separable_conv1d"},
)
#: Convolutions whose weights are read (kernel and bias) but which run cannot compute.
OTHER_CONV = Kind(
    names=("Conv3D", "Conv1DTranspose", "Conv2DTranspose", "DepthwiseConv1D"), family="conv",
    compute=None, output_shape=None, refusal="is not supported", weights=kernel_and_bias,
)

KINDS = [CONV1D, CONV2D, SEPARABLE_CONV1D, OTHER_CONV]
