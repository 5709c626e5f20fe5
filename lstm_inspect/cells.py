"""Recurrent layers run forward in numpy, keeping every gate at every step.

The equations follow Keras (keras-formats.md section 4): one matrix product gives the
input projections of all timesteps, then each step adds the recurrent product. Masked
steps carry state and output forward, as Keras's ``rnn`` loop does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Sequence

import numpy as np

from .activations import activation
from .gates import GRU_GATES, LSTM_GATES
from .recurrent import RecurrentLayer


@dataclass
class Trace:
    """What a recurrent layer did: arrays of shape (batch, steps, units) in processing order."""

    steps: np.ndarray  #: input time index handled at each step
    gates: Dict[str, np.ndarray] = field(default_factory=dict)
    cell: Optional[np.ndarray] = None
    hidden: Optional[np.ndarray] = None
    output: Optional[np.ndarray] = None  #: what the layer returns (sequence or last step)
    states: Dict[str, np.ndarray] = field(default_factory=dict)  #: final h (and c)
    initial_states: Dict[str, np.ndarray] = field(default_factory=dict)  #: h (and c) before the first step


def run_recurrent(
    view: RecurrentLayer,
    x: np.ndarray,
    mask: Optional[np.ndarray] = None,
    hard_sigmoid: str = "keras2",
    initial_state: Optional[Sequence[np.ndarray]] = None,
    zero_output_for_mask: bool = False,
    progress: Optional[Callable[[str, int, int], None]] = None,
) -> Trace:
    """Run one recurrent layer over ``x`` of shape (batch, time, features).

    ``initial_state`` is ``[h]`` or ``[h, c]`` (zeros when None). With
    ``zero_output_for_mask`` masked steps output zeros instead of the previous output.
    ``progress(path, steps_done, steps_total)`` is called now and then on long runs.
    """
    if view.kind == "conv_lstm":
        from .errors import UnsupportedError

        raise UnsupportedError(f"layer '{view.path}': ConvLSTM is not run yet")
    x = np.asarray(x, dtype=np.float32)
    batch, time = x.shape[0], x.shape[1]
    w = {k: (None if v is None else np.asarray(v, dtype=np.float32)) for k, v in view.canonical().items()}
    act = activation(view.activation, hard_sigmoid)
    rec_act = activation(view.recurrent_activation, hard_sigmoid) if view.recurrent_activation else None
    order = np.arange(time)[::-1] if view.go_backwards else np.arange(time)
    u = view.units

    x_proj = x[:, order] @ w["kernel"]  # (batch, steps, G*u): all input projections at once
    bias = w["bias"]
    if bias is not None:
        x_proj += bias[0] if bias.ndim == 2 else bias
    mask_steps = None if mask is None else np.asarray(mask, dtype=bool)[:, order]

    names = {"lstm": LSTM_GATES, "gru": GRU_GATES}.get(view.kind, ())
    gates = {g: np.empty((batch, time, u), np.float32) for g in names}
    hidden = np.empty((batch, time, u), np.float32)
    cell = np.empty((batch, time, u), np.float32) if view.kind == "lstm" else None
    h_tm1 = np.zeros((batch, u), np.float32)
    c_tm1 = np.zeros((batch, u), np.float32)
    if initial_state is not None:
        h_tm1 = np.broadcast_to(np.asarray(initial_state[0], np.float32), (batch, u)).copy()
        if view.kind == "lstm" and len(initial_state) > 1:
            c_tm1 = np.broadcast_to(np.asarray(initial_state[1], np.float32), (batch, u)).copy()
    initial = {"h": h_tm1, "c": c_tm1} if view.kind == "lstm" else {"h": h_tm1}
    out_tm1 = np.zeros((batch, u), np.float32)
    zeros = np.zeros((batch, u), np.float32)
    U = w["recurrent_kernel"]

    for s in range(time):
        x_t = x_proj[:, s]
        if view.kind == "lstm":
            z = x_t + h_tm1 @ U
            i = rec_act(z[:, 0:u])
            f = rec_act(z[:, u : 2 * u])
            c_hat = act(z[:, 2 * u : 3 * u])
            o = rec_act(z[:, 3 * u :])
            c = f * c_tm1 + i * c_hat
            h = o * act(c)
            step_gates = (i, f, c_hat, o)
        elif view.kind == "gru":
            if view.reset_after:
                h_proj = h_tm1 @ U
                if bias is not None and bias.ndim == 2:
                    h_proj = h_proj + bias[1]
                z = rec_act(x_t[:, 0:u] + h_proj[:, 0:u])
                r = rec_act(x_t[:, u : 2 * u] + h_proj[:, u : 2 * u])
                hh = act(x_t[:, 2 * u :] + r * h_proj[:, 2 * u :])
            else:
                z = rec_act(x_t[:, 0:u] + h_tm1 @ U[:, 0:u])
                r = rec_act(x_t[:, u : 2 * u] + h_tm1 @ U[:, u : 2 * u])
                hh = act(x_t[:, 2 * u :] + (r * h_tm1) @ U[:, 2 * u :])
            h = z * h_tm1 + (1 - z) * hh
            c = None
            step_gates = (z, r, hh)
        else:
            h = act(x_t + h_tm1 @ U)
            c = None
            step_gates = ()
        out = h
        if mask_steps is not None:
            m = mask_steps[:, s, None]
            h = np.where(m, h, h_tm1)
            out = np.where(m, out, zeros if zero_output_for_mask else out_tm1)
            if c is not None:
                c = np.where(m, c, c_tm1)
        for g, value in zip(names, step_gates):
            gates[g][:, s] = value
        hidden[:, s] = out
        if cell is not None:
            cell[:, s] = c
            c_tm1 = c
        h_tm1, out_tm1 = h, out
        if progress is not None and (s % 256 == 255 or s == time - 1):
            progress(view.path, s + 1, time)

    states = {"h": h_tm1} if view.kind != "lstm" else {"h": h_tm1, "c": c_tm1}
    output = hidden if view.return_sequences else hidden[:, -1]
    return Trace(steps=order, gates=gates, cell=cell, hidden=hidden, output=output, states=states,
                 initial_states=initial)
