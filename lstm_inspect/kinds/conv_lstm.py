"""ConvLSTM layers run forward in numpy, keeping every gate at every step (docs/formats.md 4.7).

Per step, channels_last, with gate blocks on the kernels' last axis in ``LSTM_GATES`` order::

    x_g = conv(x_t, W_g, strides, padding, dilation_rate) + b_g
    h_g = conv(h_tm1, U_g, strides=1, padding="same")
    i = σ(x_i + h_i);  f = σ(x_f + h_f);  o = σ(x_o + h_o)
    c = f*c_tm1 + i*φ(x_c + h_c);  h = o*φ(c)

The input convolutions of all timesteps are one call; each step adds one recurrent
convolution. Masked steps carry h and c forward, as Keras's ``rnn`` loop does.
ConvLSTM2D is the layer this is checked against; ConvLSTM1D/3D run through the same code.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import ConfigError, LstmInspectError, UnsupportedError
from ..gates import LSTM_GATES, split_gates
from .activations import activation
from .cells import Trace
from .ops import conv
from .recurrent import RecurrentLayer

_DIM_ORDERING = {"th": "channels_first", "tf": "channels_last"}  # Keras 1 ``dim_ordering``


def _setting(cfg, key: str, keras1_key: str, default):
    value = cfg.get(key, cfg.get(keras1_key, default))
    return default if value is None else value


def run_conv_lstm(
    view: RecurrentLayer,
    x: np.ndarray,
    mask: Optional[np.ndarray] = None,
    hard_sigmoid: str = "keras2",
    theano_kernels: bool = False,
) -> Trace:
    """Run one ConvLSTM layer over ``x`` (batch, time, *spatial, channels), channels_last.

    ``theano_kernels``: the file was written by the Theano backend, whose convolutions
    flip their kernels; Keras flips them on loading (``convert_kernel``), and so does this.

    Gates, cell and hidden in the trace have shape (batch, steps, *spatial_out, filters), in
    processing order (reversed in time for ``go_backwards``)."""
    if view.kind != "conv_lstm":
        raise UnsupportedError(f"layer '{view.path}' is a {view.class_name}, not a ConvLSTM")
    cfg = view.config
    data_format = _setting(cfg, "data_format", "dim_ordering", "channels_last")
    data_format = _DIM_ORDERING.get(data_format, data_format)
    if data_format != "channels_last":
        raise UnsupportedError(
            f"layer '{view.path}' ({view.class_name}) is data_format={data_format}; "
            "only channels_last ConvLSTM layers can be run"
        )
    w = {k: (None if v is None else np.asarray(v, dtype=np.float32)) for k, v in view.canonical().items()}
    W, U, b = w["kernel"], w["recurrent_kernel"], w["bias"]
    if theano_kernels:
        from .ops import flip_kernel

        W, U = flip_kernel(W), flip_kernel(U)
    rank = W.ndim - 2  # spatial axes
    strides = _setting(cfg, "strides", "subsample", 1)
    dilation = cfg.get("dilation_rate") or 1  # Keras 1 had no dilation
    padding = _setting(cfg, "padding", "border_mode", "valid")

    x = np.asarray(x, dtype=np.float32)
    if x.ndim != rank + 3 or x.shape[-1] != W.shape[-2]:
        raise ConfigError(
            f"layer '{view.path}' ({view.class_name}) needs input (batch, time, {rank} spatial axes, "
            f"{W.shape[-2]} channels); got shape {x.shape}"
        )
    batch, time = x.shape[0], x.shape[1]
    act = activation(view.activation, hard_sigmoid)
    rec_act = activation(view.recurrent_activation, hard_sigmoid)
    order = np.arange(time)[::-1] if view.go_backwards else np.arange(time)

    # All timesteps' input convolutions in one call: time folded into the batch.
    x_steps = x[:, order].reshape(batch * time, *x.shape[2:])
    try:
        x_proj = conv(x_steps, W, b, strides=strides, padding=padding, dilation_rate=dilation)
    except LstmInspectError as e:
        raise type(e)(f"layer '{view.path}' ({view.class_name}): {e.detail}") from None
    x_proj = x_proj.reshape(batch, time, *x_proj.shape[1:])  # (B, steps, *out, 4f)
    x_gates = split_gates(x_proj, LSTM_GATES)
    state_shape = (batch, *x_proj.shape[2:-1], view.units)
    mask_steps = None if mask is None else np.asarray(mask, dtype=bool)[:, order]

    gates = {g: np.empty((batch, time, *state_shape[1:]), np.float32) for g in LSTM_GATES}
    hidden = np.empty((batch, time, *state_shape[1:]), np.float32)
    cell = np.empty((batch, time, *state_shape[1:]), np.float32)
    h_tm1 = np.zeros(state_shape, np.float32)
    c_tm1 = np.zeros(state_shape, np.float32)

    for s in range(time):
        h_gates = split_gates(conv(h_tm1, U, strides=1, padding="same"), LSTM_GATES)
        z = {g: x_gates[g][:, s] + h_gates[g] for g in LSTM_GATES}
        i = rec_act(z["i"])
        f = rec_act(z["f"])
        c_hat = act(z["c"])
        o = rec_act(z["o"])
        c = f * c_tm1 + i * c_hat
        h = o * act(c)
        if mask_steps is not None:
            m = mask_steps[:, s].reshape((batch,) + (1,) * (h.ndim - 1))
            h = np.where(m, h, h_tm1)
            c = np.where(m, c, c_tm1)
        for g, value in zip(LSTM_GATES, (i, f, c_hat, o)):
            gates[g][:, s] = value
        hidden[:, s] = h
        cell[:, s] = c
        h_tm1, c_tm1 = h, c

    output = hidden if view.return_sequences else hidden[:, -1]
    return Trace(steps=order, gates=gates, cell=cell, hidden=hidden, output=output, states={"h": h_tm1, "c": c_tm1})
