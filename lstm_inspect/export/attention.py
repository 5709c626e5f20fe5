"""Attention and AdditiveAttention for export: the mapping (one plan operation, ``attention``)
and how the ONNX and PyTorch writers write it, exactly as run computes it
(:mod:`lstm_inspect.kinds.attention`)::

    scores = q @ k^T (times scale)                    Attention, score_mode="dot"
    scores = w * sum_d tanh(scale * (q_i + k_j))      Attention, score_mode="concat"
    scores = sum_d scale_d * tanh(q_i + k_j)          AdditiveAttention (no scale without use_scale)
    scores = where(keep, scores, scores - 1e9)        keep: the value mask and the causal mask
    out = softmax(scores) @ v, at masked query steps: where(.., 0) (Keras 3) or times 0 (tf-keras)

Inputs are (batch, steps, features); the output mask is the query mask.
"""

from __future__ import annotations

from typing import List, Optional

import numpy as np

from ..errors import ConfigError, UnsupportedError


def lower(low, layer, xs, args, kwargs):
    """The ``attention`` mapping (Attention and AdditiveAttention)."""
    from ..kinds.attention import _causal, _refuse_dot
    from .layers import _keras3, _one

    where = f"layer '{layer.path}' ({layer.class_name})"
    if kwargs.get("return_attention_scores"):
        raise UnsupportedError(f"{where} returns its attention scores, which export does not map")
    if len(xs) not in (2, 3):
        raise ConfigError(f"{where} takes [query, value] or [query, value, key]")
    reason = _refuse_dot(layer) if layer.class_name == "Attention" else None
    if reason:
        raise UnsupportedError(f"{where}: {reason}")
    (q, q_mask), (v, v_mask) = xs[0], xs[1]
    k = xs[2][0] if len(xs) > 2 else v
    if not q.rank == v.rank == k.rank == 3:
        raise UnsupportedError(f"{where} attends inputs of rank {q.rank}; export maps (batch, steps, features)")
    w = [np.asarray(a.value, np.float32) for a in layer.weights]
    c = layer.config
    if layer.class_name == "Attention":
        score = c.get("score_mode", "dot") or "dot"
        use_scale = bool(c.get("use_scale", False))
        need = int(use_scale) + int(score == "concat")
        scale = w[0].reshape(()) if use_scale else None
        weight = w[need - 1].reshape(()) if score == "concat" else None
    else:
        score, need, weight = "additive", int(bool(c.get("use_scale", True))), None
        scale = w[0].reshape(-1) if need else None
    if len(w) < need:
        raise ConfigError(f"{where} has {len(w)} weights; it needs {need}")

    class _Call:  # what kinds.attention._causal reads
        def __init__(self, kwargs):
            self.kwargs = kwargs

    attrs = {"score": score, "causal": _causal(_Call(kwargs), layer), "keras3": _keras3(low),
             "scale": None if scale is None else low.param(layer, "scale", scale),
             "weight": None if weight is None else low.param(layer, "concat_score_weight", weight)}
    y = _one(low, layer, "attention", [q, v, k, q_mask, v_mask], 3, **attrs)
    return [(y, q_mask)]


# ---------------------------------------------------------------------- ONNX


def onnx_attention(g, op, ins) -> str:
    a, p = op.attrs, g.plan.params
    q, v, k, q_mask, v_mask = ins

    def const(key: str) -> str:
        return g.const(p[key], key)

    if a["score"] == "dot":
        s = g.one("MatMul", [q, g.one("Transpose", [k], perm=[0, 2, 1])])
        if a["scale"]:
            s = g.one("Mul", [s, const(a["scale"])])
    else:
        pairs = g.one("Add", [g.one("Unsqueeze", [q, g.ints([2])]), g.one("Unsqueeze", [k, g.ints([1])])])
        if a["score"] == "concat":
            if a["scale"]:
                pairs = g.one("Mul", [const(a["scale"]), pairs])
            s = g.one("Mul", [const(a["weight"]), g.one("ReduceSum", [g.one("Tanh", [pairs]), g.ints([3])], keepdims=0)])
        else:
            t = g.one("Tanh", [pairs])
            if a["scale"]:
                t = g.one("Mul", [const(a["scale"]), t])
            s = g.one("ReduceSum", [t, g.ints([3])], keepdims=0)
    keep: Optional[str] = None
    if v_mask is not None:
        keep = g.one("Unsqueeze", [v_mask, g.ints([1])])
    if a["causal"]:
        shape = g.one("Shape", [s])
        tq = g.one("Gather", [shape, g.const(np.int64(1))], axis=0)
        tv = g.one("Gather", [shape, g.const(np.int64(2))], axis=0)
        one, zero = g.const(np.int64(1)), g.const(np.int64(0))
        rows = g.one("Unsqueeze", [g.one("Range", [zero, tq, one]), g.ints([1])])
        cols = g.one("Unsqueeze", [g.one("Range", [zero, tv, one]), g.ints([0])])
        causal = g.one("GreaterOrEqual", [rows, cols])
        keep = causal if keep is None else g.one("And", [keep, causal])
    if keep is not None:
        s = g.one("Where", [keep, s, g.one("Sub", [s, g.const(np.float32(1e9))])])
    y = g.one("MatMul", [g.one("Softmax", [s], axis=-1), v])
    if q_mask is not None:
        live = g.one("Unsqueeze", [q_mask, g.ints([2])])
        if a["keras3"]:
            y = g.one("Where", [live, y, g.const(np.float32(0))])
        else:
            y = g.one("Mul", [y, g.one("Cast", [live], to=g.onnx.TensorProto.FLOAT)])
    return y


# ---------------------------------------------------------------------- PyTorch


def torch_attention(w, op) -> List[str]:
    """The lines of forward for one ``attention`` operation (``w``: the torch writer)."""
    a = op.attrs
    q, v, k, q_mask, v_mask = op.ins
    y = op.outs[0]
    keys = [key for key in ("scale", "weight") if a[key]]
    if keys:
        w.params = True
        names = {"scale": "scale", "weight": "concat_score_weight"}
        sizes = ", ".join(f"{names[key]}={tuple(w.plan.params[a[key]].shape)!r}" for key in keys)
        w.declare(op.module, f"Params({sizes})", {names[key]: w.plan.params[a[key]] for key in keys})
    m = f"self.{op.module}"
    lines = []
    if a["score"] == "dot":
        lines.append(f"{y} = {q} @ {k}.transpose(1, 2)" + (f" * {m}.scale" if a["scale"] else "") + "  # Attention scores")
    else:
        pairs = f"({q}.unsqueeze(2) + {k}.unsqueeze(1))"
        if a["score"] == "concat":
            pairs = f"{m}.scale * {pairs}" if a["scale"] else pairs
            lines.append(f"{y} = {m}.concat_score_weight * torch.tanh({pairs}).sum(dim=-1)  # concat scores")
        else:
            t = f"{m}.scale * torch.tanh({pairs})" if a["scale"] else f"torch.tanh({pairs})"
            lines.append(f"{y} = ({t}).sum(dim=-1)  # AdditiveAttention scores")
    keep = []
    if v_mask is not None:
        keep.append(f"{v_mask}.unsqueeze(1)")
    if a["causal"]:
        keep.append(f"torch.ones({y}.shape[1], {y}.shape[2], dtype=torch.bool, device={y}.device).tril()")
    if keep:
        lines.append(f"{y} = torch.where({' & '.join(keep)}, {y}, {y} - 1e9)  # masked scores")
    lines.append(f"{y} = torch.softmax({y}, dim=-1) @ {v}")
    if q_mask is not None:
        if a["keras3"]:
            lines.append(f"{y} = torch.where({q_mask}.unsqueeze(-1), {y}, torch.zeros_like({y}))  # masked query steps")
        else:
            lines.append(f"{y} = {y} * {q_mask}.unsqueeze(-1).to({y}.dtype)  # masked query steps")
    return lines
