"""Ports of sample models written for the tests in plain numpy, outside lstm-inspect's
forward pass: each reads Keras's recorded weights (``weights/<layer>/...`` in the
sample's expected npz) and can make one of the catalogued porting mistakes on purpose.

A port returns what ``compare`` reads: ``<layer>/<quantity>`` traces (batch, steps,
units, in processing order) and ``<layer>/output``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
from conftest import expected_npz

KERAS_GATES = {"lstm": "ifco", "gru": "zrh", "rnn": "h"}


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


ACTS = {
    "tanh": np.tanh,
    "sigmoid": sigmoid,
    "relu": lambda x: np.maximum(x, 0),
    "hard_sigmoid_keras2": lambda x: np.clip(0.2 * x + 0.5, 0, 1),
    "hard_sigmoid_keras3": lambda x: np.clip(x / 6 + 0.5, 0, 1),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0))),
}


@dataclass
class Mistakes:
    """What one layer of a port gets wrong (all off: a correct port)."""

    order: Optional[str] = None  #: the port reads Keras's block k as gate order[k]
    bias_twice: bool = False
    gru_bias_summed: bool = False
    reset_after: Optional[bool] = None  #: the port's GRU convention, when it differs
    recurrent_transposed: bool = False
    kernel_transposed: bool = False
    rec_act: Optional[str] = None  #: the port's recurrent activation
    unreversed: bool = False  #: a go_backwards output flipped back to input order
    ignore_mask: bool = False
    zero_output: Optional[bool] = None  #: the port's choice at masked steps
    chunk: Optional[int] = None  #: restart the states every chunk steps


@dataclass
class Rec:
    """One recurrent layer of a sample, as the port sees it."""

    path: str
    kind: str  #: lstm, gru, rnn
    act: str = "tanh"
    rec_act: str = "sigmoid"
    sequences: bool = True
    backwards: bool = False
    reset_after: bool = True
    zero_output: bool = False
    wrong: Mistakes = field(default_factory=Mistakes)


def run_layer(w: Dict[str, np.ndarray], layer: Rec, x: np.ndarray, mask=None,
              bidirectional_half: bool = False, initial: Optional[List[np.ndarray]] = None) -> Dict[str, np.ndarray]:
    """One recurrent layer from zero states, or from ``initial`` ([h] or [h, c])."""
    m = layer.wrong
    K, U = w["kernel"].astype(np.float64), w["recurrent_kernel"].astype(np.float64)
    b = w.get("bias")
    keras = KERAS_GATES[layer.kind]
    port = m.order or keras
    n = len(keras)
    u = U.shape[0]

    def blocks(a):  # {gate: block} as the port reads them
        parts = np.split(a, n, axis=-1)
        return {g: parts[k] for k, g in enumerate(port)}

    Kg, Ug = blocks(K), blocks(U)
    if m.recurrent_transposed:
        Ug = {g: v.T for g, v in Ug.items()}
    if m.kernel_transposed:
        Kg = {g: v.T for g, v in Kg.items()}
    zero_b = {g: np.zeros(u) for g in keras}
    reset_after = layer.reset_after if m.reset_after is None else m.reset_after
    if b is None:
        b_in, b_rec = zero_b, zero_b
    elif b.ndim == 2:  # reset_after GRU: input and recurrent rows
        b_in, b_rec = blocks(b[0]), blocks(b[1])
        if m.gru_bias_summed or not reset_after:
            b_in, b_rec = {g: b_in[g] + b_rec[g] for g in keras}, zero_b
    else:
        b_in = blocks(b)
        b_rec = blocks(b) if m.bias_twice else zero_b
    act = ACTS[layer.act]
    rec = ACTS[m.rec_act or layer.rec_act]
    batch, time = x.shape[:2]
    order = list(range(time))[::-1] if layer.backwards else list(range(time))
    h = np.zeros((batch, u)) if initial is None else np.asarray(initial[0], np.float64)
    c = np.zeros((batch, u)) if initial is None or len(initial) < 2 else np.asarray(initial[1], np.float64)
    out_prev = np.zeros((batch, u))
    trace: Dict[str, List[np.ndarray]] = {}
    zero_output = layer.zero_output if m.zero_output is None else m.zero_output
    for s, t in enumerate(order):
        if m.chunk and s % m.chunk == 0:
            h, c, out_prev = np.zeros((batch, u)), np.zeros((batch, u)), np.zeros((batch, u))
        x_t = x[:, t]
        if layer.kind == "lstm":
            i = rec(x_t @ Kg["i"] + b_in["i"] + h @ Ug["i"] + b_rec["i"])
            f = rec(x_t @ Kg["f"] + b_in["f"] + h @ Ug["f"] + b_rec["f"])
            cc = act(x_t @ Kg["c"] + b_in["c"] + h @ Ug["c"] + b_rec["c"])
            o = rec(x_t @ Kg["o"] + b_in["o"] + h @ Ug["o"] + b_rec["o"])
            c_t = f * c + i * cc
            h_t = o * act(c_t)
            step = {"i": i, "f": f, "c": cc, "o": o, "cell": c_t}
        elif layer.kind == "gru":
            z = rec(x_t @ Kg["z"] + b_in["z"] + h @ Ug["z"] + b_rec["z"])
            r = rec(x_t @ Kg["r"] + b_in["r"] + h @ Ug["r"] + b_rec["r"])
            if reset_after:
                hh = act(x_t @ Kg["h"] + b_in["h"] + r * (h @ Ug["h"] + b_rec["h"]))
            else:
                hh = act(x_t @ Kg["h"] + b_in["h"] + (r * h) @ Ug["h"] + b_rec["h"])
            h_t = z * h + (1 - z) * hh
            c_t = None
            step = {"z": z, "r": r, "h": hh}
        else:
            h_t = act(x_t @ Kg["h"] + b_in["h"] + h @ Ug["h"] + b_rec["h"])
            c_t = None
            step = {}
        out = h_t
        if mask is not None and not m.ignore_mask:
            keep = mask[:, t][:, None]
            h_t = np.where(keep, h_t, h)
            if c_t is not None:
                c_t = np.where(keep, c_t, c)
                step["cell"] = c_t
            out = np.where(keep, out, 0.0 if zero_output else out_prev)
        for q, v in {**step, "hidden": out}.items():
            trace.setdefault(q, []).append(v)
        h, out_prev = h_t, out
        if c_t is not None:
            c = c_t
    result = {q: np.stack(v, axis=1) for q, v in trace.items()}
    seq = result["hidden"]
    if m.unreversed and not bidirectional_half:
        seq = seq[:, ::-1]
    result["output"] = seq if layer.sequences else result["hidden"][:, -1]
    return result


def port(sample: str, layers: List[Rec], gen: str = "k2", masking: bool = False, bidirectional: Optional[str] = None,
         merge: str = "concat", x: Optional[np.ndarray] = None, source: Optional[Dict[str, np.ndarray]] = None):
    """Run a chain of recurrent layers (optionally behind Masking(0.0)), or the two
    directions of one Bidirectional (concat or sum), as a port; returns (input, arrays).
    The weights (``weights/<path>/<role>``) and input (``input/0``) are the sample's
    recorded ones, or ``source``'s for a model a test wrote itself."""
    npz = expected_npz(sample, gen) if source is None else source
    x = (npz["input/0"] if x is None else x).astype(np.float64)
    mask = np.any(x != 0, axis=-1) if masking else None
    arrays: Dict[str, np.ndarray] = {}

    def weights(path):
        return {k.rsplit("/", 1)[-1]: npz[k] for k in npz if k.startswith(f"weights/{path}/")
                and k.count("/") == path.count("/") + 2}

    if bidirectional:
        fwd, bwd = layers
        wf, wb = weights(fwd.path), weights(bwd.path)
        if fwd.wrong.order == "swap":  # directions-swapped: each direction runs on the other's weights
            fwd.wrong.order = bwd.wrong.order = None
            wf, wb = wb, wf
        yf, yb = run_layer(wf, fwd, x, mask, True), run_layer(wb, bwd, x, mask, True)
        for path, y in ((fwd.path, yf), (bwd.path, yb)):
            arrays.update({f"{path}/{q}": v for q, v in y.items() if q != "output"})
        y_rev = yb["output"] if bwd.wrong.unreversed else yb["output"][:, ::-1]
        both = np.concatenate([yf["output"], y_rev], axis=-1) if merge == "concat" else yf["output"] + y_rev
        arrays[f"{bidirectional}/output"] = both
        return x.astype(np.float32), arrays
    h = x
    for layer in layers:
        y = run_layer(weights(layer.path), layer, h, mask)
        arrays.update({f"{layer.path}/{q}": v for q, v in y.items()})
        h = y["output"]
        if not layer.sequences:
            mask = None
    return x.astype(np.float32), arrays
