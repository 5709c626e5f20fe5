"""Layers that compute in float16 (``dtype='float16'`` or ``'mixed_float16'``), operation by
operation as TensorFlow computes them on CPU (docs/formats.md section 5.6).

A float16 layer casts its floating inputs to float16 and computes with float16 weights
(``mixed_float16`` keeps float32 variables and casts them at use: the same numbers). Every
TensorFlow operation on float16 tensors rounds its result to float16:

* a matrix product accumulates the exact float16 products in float32, then rounds;
* ``+``, ``-``, ``*``, ``tanh``, ``exp``: the exact result, rounded;
* ``sigmoid`` is Eigen's ``e / (1 + e)`` with ``e = exp(x)`` (1 where ``e`` overflows), each
  operation rounded -- not the rounded exact sigmoid (they differ for about one value in four).

lstm-inspect computes each operation in float32 and rounds its result to float16, in Keras's
order of operations (the bias of an LSTM is added after the two products; of a GRU and a
SimpleRNN to the input product), and keeps the values in float32 arrays (every float16 is a
float32). On the models checked (tests/test_float16.py) every value equals TensorFlow's except
where a float32 sum lands exactly halfway between two float16 numbers and TensorFlow's order of
accumulation decides the tie.

Only what was checked against TensorFlow is computed: LSTM, GRU, SimpleRNN (activations
linear, relu, sigmoid, tanh; implementation 2), Dense, Embedding, Activation, and layers that
only move values. Any other layer with a float16 dtype is refused by name.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional

import numpy as np

from .base import dtype_name

#: The dtypes (or dtype policy names) whose layers compute in float16.
HALF_DTYPES = ("float16", "mixed_float16")

#: Activations computed in float16 exactly as TensorFlow computes them.
HALF_ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh")


def computes_in_float16(config: Mapping[str, Any]) -> bool:
    return dtype_name(config.get("dtype")) in HALF_DTYPES


def to_half(x: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``x`` rounded to float16 (past 65504: infinity), as float32."""
    with np.errstate(over="ignore"):
        rounded = np.asarray(x, dtype=np.float32).astype(np.float16)
    if out is None:
        return rounded.astype(np.float32)
    out[...] = rounded
    return out


def half_inputs(xs: List[Any]) -> List[Any]:
    """A float16 layer's floating inputs cast to float16 (integer inputs stay as they are)."""
    return [to_half(x) if isinstance(x, np.ndarray) and x.dtype.kind == "f" else x for x in xs]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        e = to_half(np.exp(x))
        return np.where(np.isinf(e), np.float32(1.0), to_half(e / to_half(e + np.float32(1.0))))


_ACTIVATIONS: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, np.float32(0.0)),
    "sigmoid": _sigmoid,
    "tanh": lambda x: to_half(np.tanh(x)),
}


def half_activation(name: str) -> Callable[[np.ndarray], np.ndarray]:
    return _ACTIVATIONS[name]


def half_refusal(config: Mapping[str, Any], recurrent: bool = False) -> Optional[str]:
    """Why a float16 layer with this config is not computed exactly, or None."""
    from ..errors import LstmInspectError
    from .activations import activation_name

    dtype = dtype_name(config.get("dtype"))
    keys = ("activation", "recurrent_activation") if recurrent else ("activation",)
    for key in keys:
        if key not in config:
            continue
        try:
            name = activation_name(config[key])
        except LstmInspectError:  # an unknown activation is refused by name where it is looked up
            continue
        if name not in HALF_ACTIVATIONS:
            return f"{key}='{name}' with dtype='{dtype}' is not supported (in float16: {', '.join(HALF_ACTIVATIONS)})"
    if recurrent and config.get("implementation", 2) == 1:
        return f"implementation=1 with dtype='{dtype}' is not supported"
    return None


# ---------------------------------------------------------------------- layers


def dense(layer, xs, masks, call, ctx):
    from .core import dense_weights

    kernel, bias = dense_weights(layer, xs[0])
    y = to_half(xs[0] @ to_half(kernel))
    if bias is not None:
        y = to_half(y + to_half(bias))
    return [half_activation(_act_name(layer))(y)], [masks[0]]


def embedding(layer, xs, masks, call, ctx):
    """The embeddings table's rows, cast to float16 (the token ids are not cast)."""
    from .core import embedding as lookup

    outs, out_masks = lookup(layer, xs, masks, call, ctx)
    return [to_half(outs[0])], out_masks


def activation_layer(layer, xs, masks, call, ctx):
    return [half_activation(_act_name(layer))(xs[0])], [masks[0]]


def _act_name(layer) -> str:
    from .activations import activation_name

    return activation_name(layer.config.get("activation", "linear"))


# ---------------------------------------------------------------------- recurrent steps
# The step functions of kinds/cells.py for float16 layers: the same arguments, every
# operation rounded. ``x_t`` is the step's input product, rounded (with the input bias added
# and rounded for GRU and SimpleRNN); an LSTM's bias comes after the recurrent product
# (``a.step_bias``).


def lstm_step(a, x_t, h_tm1, c_tm1, gates_t, c_t, h_t):
    u = a.units
    z = to_half(x_t + to_half(h_tm1 @ a.U))
    if a.step_bias is not None:
        z = to_half(z + a.step_bias)
    i, f, o = a.rec_act(z[:, :u]), a.rec_act(z[:, u : 2 * u]), a.rec_act(z[:, 3 * u :])
    c_hat = a.act(z[:, 2 * u : 3 * u])
    gates_t[:, :u], gates_t[:, u : 2 * u], gates_t[:, 2 * u : 3 * u], gates_t[:, 3 * u :] = i, f, c_hat, o
    # c = f * c_tm1 + i * c_hat; h = o * act(c)
    c_t[...] = to_half(to_half(f * c_tm1) + to_half(i * c_hat))
    h_t[...] = to_half(o * a.act(c_t))
    return c_t


def gru_step(a, x_t, h_tm1, c_tm1, gates_t, c_t, h_t):
    u = a.units
    if a.reset_after:
        h_proj = to_half(h_tm1 @ a.U)
        if a.recurrent_bias is not None:
            h_proj = to_half(h_proj + a.recurrent_bias)
        z = a.rec_act(to_half(x_t[:, :u] + h_proj[:, :u]))
        r = a.rec_act(to_half(x_t[:, u : 2 * u] + h_proj[:, u : 2 * u]))
        r_h = to_half(r * h_proj[:, 2 * u :])
    else:
        h_proj = to_half(h_tm1 @ a.U[:, : 2 * u])
        z = a.rec_act(to_half(x_t[:, :u] + h_proj[:, :u]))
        r = a.rec_act(to_half(x_t[:, u : 2 * u] + h_proj[:, u:]))
        r_h = to_half(to_half(r * h_tm1) @ a.U[:, 2 * u :])
    hh = a.act(to_half(x_t[:, 2 * u :] + r_h))
    gates_t[:, :u], gates_t[:, u : 2 * u], gates_t[:, 2 * u :] = z, r, hh
    # h = z * h_tm1 + (1 - z) * hh
    h_t[...] = to_half(to_half(z * h_tm1) + to_half(to_half(np.float32(1.0) - z) * hh))
    return None


def simple_rnn_step(a, x_t, h_tm1, c_tm1, gates_t, c_t, h_t):
    h_t[...] = a.act(to_half(x_t + to_half(h_tm1 @ a.U)))
    return None


STEPS = {"lstm": lstm_step, "gru": gru_step, "simple_rnn": simple_rnn_step}


def prepare(view, w: Dict[str, Optional[np.ndarray]]):
    """``(step, kernel, recurrent_kernel, input bias, recurrent bias, step bias)`` of a float16
    layer, rounded: the input bias is added to the input product (GRU, SimpleRNN), the step
    bias after the recurrent product (LSTM)."""
    W, U, bias = (None if v is None else to_half(v) for v in (w["kernel"], w["recurrent_kernel"], w["bias"]))
    if view.kind == "lstm":
        return STEPS["lstm"], W, U, None, None, bias
    if bias is not None and bias.ndim == 2:  # GRU reset_after: (input bias, recurrent bias)
        return STEPS[view.kind], W, U, bias[0], bias[1], None
    return STEPS[view.kind], W, U, bias, None, None
