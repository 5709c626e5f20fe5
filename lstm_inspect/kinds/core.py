"""Core layer kinds: InputLayer, Dense, Activation, Embedding, Masking, the identity
family (dropout and noise layers, inactive at inference), and Lambda (refused).

To add a core kind, declare a ``Kind(...)`` below and append it to ``KINDS``; the
registry, readers, executor, shape pass, streaming planner and ``layers`` pick it up.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..errors import ConfigError, UnsupportedError
from . import half
from .activations import activation, activation_name
from .base import (
    ANY,
    MOVES,
    Half,
    Kind,
    keras1_renames,
    kernel_and_bias,
    need_features,
    need_rank,
    need_vector,
    same_shape,
    stepwise,
    weights_of,
)


def _act(layer, ctx, key: str = "activation"):
    return activation(activation_name(layer.config.get(key, "linear")), ctx.hard_sigmoid)


# ---------------------------------------------------------------------- InputLayer


def _declared(layer):
    c = layer.config
    for key in ("batch_input_shape", "batch_shape"):
        if isinstance(c.get(key), list):
            return [None] + list(c[key][1:])
    return None


def input_layer(layer, xs, masks, call, ctx):
    return [xs[0]], [None]


INPUT = Kind(
    names=("InputLayer",), family="core", role="input", compute=input_layer, exports={"onnx": "input", "torch": "input"},
    output_shape=lambda layer, inputs, ctx: _declared(layer), streams=stepwise,
    keys={"dtype": ANY, "sparse": (False, None), "ragged": (False, None), "optional": (False, None)},
)

# ---------------------------------------------------------------------- Dense


def dense_weights(layer, x) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """A Dense layer's kernel and bias (None without one), checked against its input ``x``."""
    w = weights_of(layer, 1, "a kernel")
    kernel = w[0]
    if kernel.ndim != 2:
        raise ConfigError(f"layer '{layer.path}' (Dense) has a kernel of shape {kernel.shape}; expected (inputs, units)")
    need_rank(layer, x, range(2, 33), "of rank 2 or more (batch, ..., features)")
    need_features(layer, x, kernel.shape[0])
    if layer.config.get("use_bias", True) and len(w) > 1:
        need_vector(layer, w[1], kernel.shape[1], "bias")
        return kernel, w[1]
    return kernel, None


def dense(layer, xs, masks, call, ctx):
    kernel, bias = dense_weights(layer, xs[0])
    y = xs[0].astype(np.float32) @ kernel
    if bias is not None:
        y = y + bias
    return [_act(layer, ctx)(y)], [masks[0]]


def _dense_shape(layer, inputs, ctx):
    x, units = inputs[0], layer.config.get("units")
    if x is None or not isinstance(units, int):
        return None
    return list(x[:-1]) + [units]


DENSE = Kind(
    names=("Dense",), family="core", compute=dense, output_shape=_dense_shape, streams=stepwise,
    keys={"units": ANY, "activation": ANY, "use_bias": ANY, "quantization_config": (None,), "lora_rank": (None, 0)},
    weights=kernel_and_bias, var_names=("kernel", "bias"),
    keras1_config=keras1_renames({"output_dim": "units", "bias": "use_bias", "init": "kernel_initializer"}),
    recognise=lambda names, shapes: bool(names) and names[0] == "kernel" and len(shapes[0]) == 2,
    exports={"onnx": "dense", "torch": "dense"}, half=Half(half.dense),
)

# ---------------------------------------------------------------------- Activation


def activation_layer(layer, xs, masks, call, ctx):
    return [_act(layer, ctx)(xs[0])], [masks[0]]


ACTIVATION = Kind(names=("Activation",), family="core", compute=activation_layer, output_shape=same_shape,
                  streams=stepwise, keys={"activation": ANY}, exports={"onnx": "activation", "torch": "activation"},
                  half=Half(half.activation_layer))

# ---------------------------------------------------------------------- Embedding


def embedding(layer, xs, masks, call, ctx):
    (table,) = weights_of(layer, 1, "an embeddings table")[:1]
    if table.ndim != 2:
        raise ConfigError(f"layer '{layer.path}' (Embedding) has a table of shape {table.shape}; expected (vocabulary, size)")
    ids = np.asarray(xs[0])
    if ids.dtype.kind == "f":
        if not np.isfinite(ids).all():
            raise ConfigError(f"layer '{layer.path}' (Embedding) takes token ids; its input holds NaN or infinity")
        ids = ids.astype(np.int64)
    if ids.dtype.kind == "b":
        ids = ids.astype(np.int64)
    if ids.dtype.kind not in "iu":
        raise ConfigError(f"layer '{layer.path}' (Embedding) takes token ids; its input is {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= table.shape[0]):
        raise UnsupportedError(
            f"layer '{layer.path}': token id {int(ids.max() if ids.max() >= table.shape[0] else ids.min())} is "
            f"outside the embedding's vocabulary of {table.shape[0]}"
        )
    mask = (ids != 0) if layer.config.get("mask_zero") else None
    return [table[ids]], [mask]


def _embedding_shape(layer, inputs, ctx):
    x, size = inputs[0], layer.config.get("output_dim")
    return None if x is None or not isinstance(size, int) else list(x) + [size]


EMBEDDING = Kind(
    names=("Embedding",), family="core", compute=embedding, output_shape=_embedding_shape, streams=stepwise,
    keys={"output_dim": ANY, "mask_zero": ANY, "dropout": ANY, "sparse": (False, None), "quantization_config": (None,),
          "lora_rank": (None, 0)},
    weights=lambda c, children: (1, 0), var_names=("embeddings",),
    recognise=lambda names, shapes: names == ["embeddings"],
    exports={"onnx": "embedding", "torch": "embedding"}, half=Half(half.embedding, round_inputs=False),
)

# ---------------------------------------------------------------------- Masking


def masking(layer, xs, masks, call, ctx):
    x = xs[0]
    need_rank(layer, x, range(2, 33), "of rank 2 or more (batch, ..., features)")
    value = float(layer.config.get("mask_value", 0.0))
    mask = np.any(x != value, axis=-1)
    return [x * mask[..., None].astype(x.dtype)], [mask]


MASKING = Kind(names=("Masking",), family="core", compute=masking, output_shape=same_shape, streams=stepwise,
               keys={"mask_value": ANY}, exports={"onnx": "masking", "torch": "masking"})

# ---------------------------------------------------------------------- identity at inference


def identity(layer, xs, masks, call, ctx):
    return [xs[0]], [masks[0]]


IDENTITY = Kind(
    names=("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization"),
    family="core", compute=identity, output_shape=same_shape, streams=stepwise,
    keys={"rate": ANY, "noise_shape": ANY, "stddev": ANY, "l1": ANY, "l2": ANY},
    keras1_config=keras1_renames({"p": "rate"}),
    exports={"onnx": "identity", "torch": "identity"}, half=MOVES,
)

# ---------------------------------------------------------------------- Lambda: never run

LAMBDA = Kind(
    names=("Lambda",), family="core", compute=None, output_shape=None,
    refusal="holds Python code, which is never executed: lstm-inspect never executes code from a file",
)

KINDS = [INPUT, DENSE, ACTIVATION, EMBEDDING, MASKING, IDENTITY, LAMBDA]
