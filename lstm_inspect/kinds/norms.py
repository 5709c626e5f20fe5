"""Normalisation kinds: BatchNormalization (inference: moving statistics) and
LayerNormalization (with Keras 3's rms_scaling). To add one, declare it below and
append it to ``KINDS``.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, UnsupportedError
from .base import ANY, Kind, axes_of, same_shape, stepwise_on, weights_of


def _params(layer, x, axes, arrays, names):
    """Reshape per-feature parameters to broadcast over ``x``, checking their sizes."""
    shape = [1] * x.ndim
    for a in axes:
        shape[a] = x.shape[a]
    size = int(np.prod([x.shape[a] for a in axes]))
    out = []
    for name, array in zip(names, arrays):
        if array is None:
            out.append(None)
            continue
        if array.size != size:
            raise ConfigError(
                f"layer '{layer.path}' ({layer.class_name}) has a {name} of {array.size} values for "
                f"{size} features (input shape {x.shape})"
            )
        out.append(array.reshape(shape))
    return out


def _epsilon(layer) -> float:
    eps = layer.config.get("epsilon", 1e-3)
    return 1e-3 if eps is None else float(eps)


def batch_normalization(layer, xs, masks, call, ctx):
    x = xs[0]
    c = layer.config
    if c.get("mode", 0) not in (0, None):
        raise UnsupportedError(f"layer '{layer.path}': Keras 1 BatchNormalization mode {c['mode']} is not supported")
    scale, center = c.get("scale", True), c.get("center", True)
    w = weights_of(layer, 2 + bool(scale) + bool(center), "gamma, beta, moving mean and variance as configured")
    gamma = w.pop(0) if scale else None
    beta = w.pop(0) if center else None
    axes = axes_of(layer, c.get("axis", -1), x.ndim)
    mean, var, gamma, beta = _params(layer, x, axes, [w[0], w[1], gamma, beta], ["moving mean", "moving variance",
                                                                               "gamma", "beta"])
    y = (x - mean) / np.sqrt(var + _epsilon(layer))  # Keras 1 calls the variance running_std
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return [y.astype(np.float32)], [masks[0]]


def layer_normalization(layer, xs, masks, call, ctx):
    x = xs[0].astype(np.float32)
    c = layer.config
    rms = bool(c.get("rms_scaling"))
    # Keras 3: rms_scaling makes gamma whatever ``scale`` says and drops beta
    scale, center = c.get("scale", True) or rms, c.get("center", True) and not rms
    w = weights_of(layer, bool(scale) + bool(center), "gamma and beta as configured")
    gamma = w.pop(0) if scale else None
    beta = w.pop(0) if center else None
    axes = axes_of(layer, c.get("axis", -1), x.ndim)
    gamma, beta = _params(layer, x, axes, [gamma, beta], ["gamma", "beta"])
    eps = _epsilon(layer)
    if rms:  # Keras 3.15: x * rsqrt(var(x) + eps) * gamma (the variance, despite the name)
        y = x / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    else:
        mean = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, keepdims=True)
        y = (x - mean) / np.sqrt(var + eps)
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return [y], [masks[0]]


def _scale_center(c):
    rms = bool(c.get("rms_scaling"))
    return int(c.get("scale", True) is not False or rms) + int(c.get("center", True) is not False and not rms)


KINDS = [
    Kind(names=("BatchNormalization",), family="norms", compute=batch_normalization, output_shape=same_shape,
         streams=stepwise_on("axis"), weights=lambda c, children: (_scale_center(c), 2),
         keys={"axis": ANY, "epsilon": ANY, "center": ANY, "scale": ANY, "momentum": ANY, "mode": (0, None),
               "renorm": (False, None), "renorm_clipping": ANY, "renorm_momentum": ANY, "synchronized": ANY, "fused": ANY,
               "virtual_batch_size": (None,), "adjustment": (None,)},
         var_names=("gamma", "beta", "moving_mean", "moving_variance"),
         recognise=lambda names, shapes: "moving_mean" in names or "moving_variance" in names, exports={"onnx": "batchnorm", "torch": "batchnorm"}),
    Kind(names=("LayerNormalization",), family="norms", compute=layer_normalization, output_shape=same_shape,
         streams=stepwise_on("axis"), weights=lambda c, children: (_scale_center(c), 0),
         keys={"axis": ANY, "epsilon": ANY, "center": ANY, "scale": ANY, "rms_scaling": ANY}, exports={"onnx": "layernorm", "torch": "layernorm"}),
]
