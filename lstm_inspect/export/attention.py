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


# ---------------------------------------------------------------------- MultiHeadAttention


def _sym(value):
    """A (Value, mask) argument, a Value, or None."""
    if value is None:
        return None, None
    if isinstance(value, tuple):
        return value[0], value[1]
    return value, None


def lower_mha(low, layer, xs, args, kwargs):
    """MultiHeadAttention as run computes it (kinds.attention.multi_head_attention): the masks
    Keras fills in, then per head ``softmax(Q/sqrt(key_dim) K^T, masked) V``, projected back."""
    from ..kinds.attention import _causal
    from .layers import _keras3, _one

    where = f"layer '{layer.path}' (MultiHeadAttention)"
    if kwargs.get("return_attention_scores"):
        raise UnsupportedError(f"{where} returns its attention scores, which export does not map")
    keras3 = _keras3(low)
    q, q_mask = xs[0]
    v, v_mask = _sym(kwargs.get("value", args[1] if len(args) > 1 else None))
    k, k_mask = _sym(kwargs.get("key", args[2] if len(args) > 2 else None))
    if v is None:
        raise ConfigError(f"{where} is called without a value tensor")
    k_given = k is not None
    if not k_given:
        k, k_mask = v, (None if keras3 else v_mask)
    for key in ("query_mask", "value_mask", "key_mask"):
        if key in kwargs:
            given = _sym(kwargs[key])[0]
            if key == "query_mask":
                q_mask = given
            elif key == "value_mask":
                v_mask = given
            else:
                k_mask = given
    if keras3 and any(m is not None and x.name in low.shared for x, m in ((q, q_mask), (v, v_mask), (k, k_mask))):
        raise UnsupportedError(f"{where}: Keras 3 clears the masks of its inputs as it runs, so the other layers "
                               "reading a masked input of it see a mask or none depending on Keras's execution order")
    if not q.rank == v.rank == k.rank == 3:
        raise UnsupportedError(f"{where} attends inputs of rank {q.rank}; export maps (batch, steps, features)")
    am = _sym(kwargs.get("attention_mask"))[0]
    c = layer.config
    use_bias = bool(c.get("use_bias", True))
    w = [np.asarray(a.value, np.float32) for a in layer.weights]
    if len(w) != (8 if use_bias else 4):
        raise ConfigError(f"{where} has {len(w)} weights")
    kernels = w[0::2] if use_bias else w
    biases = w[1::2] if use_bias else [None] * 4
    if any(x.ndim != 3 for x in kernels) or kernels[0].shape[1:] != kernels[1].shape[1:] or \
            kernels[3].shape[:2] != kernels[2].shape[1:]:
        raise ConfigError(f"{where} has kernels of shapes {[x.shape for x in kernels]}")
    heads, key_dim = kernels[0].shape[1:]
    value_dim = kernels[2].shape[2]
    attrs = {"heads": int(heads), "key_dim": int(key_dim), "value_dim": int(value_dim), "causal": _causal(_Call(kwargs), layer)}
    for name, kernel, bias in zip(("query", "key", "value", "output"), kernels, biases):
        flat = kernel.reshape(kernel.shape[0], -1) if name != "output" else kernel.reshape(-1, kernel.shape[2])
        attrs[f"{name}_kernel"] = low.param(layer, f"{name}_kernel", flat)
        attrs[f"{name}_bias"] = None if bias is None else low.param(layer, f"{name}_bias", bias.reshape(-1))
    layer_path = bool(c.get("dropout", 0.0))  # Keras 3's Softmax-layer path (return_attention_scores refused)
    if not keras3 and not c.get("softmax_robust_masking"):
        attrs["masking"], attrs["negative"] = "add", -1e9
    else:
        attrs["masking"] = "where"
        attrs["negative"] = -1e9 if (layer_path or not keras3) else float(np.float32(-0.7 * 3.38953e38))
    attrs["zero_rows"] = keras3 and layer_path
    y = _one(low, layer, "mha", [q, v, k, q_mask, v_mask, k_mask, am], 3, **attrs)
    return [(y, q_mask)]


class _Call:  # what kinds.attention._causal reads
    def __init__(self, kwargs):
        self.kwargs = kwargs


def onnx_mha(g, op, ins) -> str:
    a, p = op.attrs, g.plan.params
    q, v, k, q_mask, v_mask, k_mask, am = ins
    n = a["heads"]

    def project(x: str, name: str, size: int) -> str:
        y = g.one("MatMul", [x, g.const(p[a[f"{name}_kernel"]], a[f"{name}_kernel"])])
        if a[f"{name}_bias"]:
            y = g.one("Add", [y, g.const(p[a[f"{name}_bias"]], a[f"{name}_bias"])])
        return g.one("Transpose", [g.one("Reshape", [y, g.ints([0, 0, n, size])])], perm=[0, 2, 1, 3])  # (B, n, T, h)

    Q = g.one("Mul", [project(q, "query", a["key_dim"]), g.const(np.float32(1.0 / np.sqrt(float(a["key_dim"]))))])
    K = project(k, "key", a["key_dim"])
    V = project(v, "value", a["value_dim"])
    s = g.one("MatMul", [Q, g.one("Transpose", [K], perm=[0, 1, 3, 2])])  # (B, n, T, S)
    keep: Optional[str] = None

    def both(m: str) -> None:
        nonlocal keep
        keep = m if keep is None else g.one("And", [keep, m])

    if q_mask is not None:
        both(g.one("Unsqueeze", [q_mask, g.ints([2])]))
    for m in (v_mask, k_mask):
        if m is not None:
            both(g.one("Unsqueeze", [m, g.ints([1])]))
    if a["causal"]:
        shape = g.one("Shape", [s])
        one, zero = g.const(np.int64(1)), g.const(np.int64(0))
        rows = g.one("Unsqueeze", [g.one("Range", [zero, g.one("Gather", [shape, g.const(np.int64(2))], axis=0), one]),
                                   g.ints([1])])
        cols = g.one("Unsqueeze", [g.one("Range", [zero, g.one("Gather", [shape, g.const(np.int64(3))], axis=0), one]),
                                   g.ints([0])])
        both(g.one("GreaterOrEqual", [rows, cols]))
    if am is not None:
        both(g.one("Not", [g.one("Equal", [am, g.const(np.float32(0))])]))
    if keep is not None:
        keep = g.one("Unsqueeze", [keep, g.ints([1])])  # every head
        if a["masking"] == "add":
            off = g.one("Sub", [g.const(np.float32(1)), g.one("Cast", [keep], to=g.onnx.TensorProto.FLOAT)])
            s = g.one("Add", [s, g.one("Mul", [off, g.const(np.float32(a["negative"]))])])
        else:
            s = g.one("Where", [keep, s, g.const(np.float32(a["negative"]))])
    weights = g.one("Softmax", [s], axis=-1)
    if keep is not None and a["zero_rows"]:
        weights = g.one("Where", [keep, weights, g.const(np.float32(0))])
    out = g.one("Transpose", [g.one("MatMul", [weights, V])], perm=[0, 2, 1, 3])  # (B, T, n, hv)
    out = g.one("Reshape", [out, g.ints([0, 0, n * a["value_dim"]])])
    y = g.one("MatMul", [out, g.const(p[a["output_kernel"]], a["output_kernel"])])
    if a["output_bias"]:
        y = g.one("Add", [y, g.const(p[a["output_bias"]], a["output_bias"])])
    return y


def torch_mha(w, op) -> List[str]:
    a = op.attrs
    q, v, k, q_mask, v_mask, k_mask, am = op.ins
    y, n = op.outs[0], a["heads"]
    names = [f"{r}_{t}" for r in ("query", "key", "value", "output") for t in ("kernel", "bias") if a[f"{r}_{t}"]]
    w.params = True
    w.declare(op.module, "Params(" + ", ".join(f"{x}={tuple(w.plan.params[a[x]].shape)!r}" for x in names) + ")",
              {x: w.plan.params[a[x]] for x in names})
    m = f"self.{op.module}"

    def project(x: str, name: str, size: int) -> str:
        e = f"{x} @ {m}.{name}_kernel" + (f" + {m}.{name}_bias" if a[f"{name}_bias"] else "")
        return f"({e}).reshape({x}.shape[0], {x}.shape[1], {n}, {size}).transpose(1, 2)"

    lines = [f"{y}_q = {project(q, 'query', a['key_dim'])} * {float(np.float32(1.0 / np.sqrt(float(a['key_dim']))))!r}",
             f"{y}_k = {project(k, 'key', a['key_dim'])}",
             f"{y}_v = {project(v, 'value', a['value_dim'])}",
             f"{y} = {y}_q @ {y}_k.transpose(2, 3)  # MultiHeadAttention scores (batch, heads, T, S)"]
    keep = []
    if q_mask is not None:
        keep.append(f"{q_mask}.unsqueeze(2)")
    keep += [f"{x}.unsqueeze(1)" for x in (v_mask, k_mask) if x is not None]
    if a["causal"]:
        keep.append(f"torch.ones({y}.shape[2], {y}.shape[3], dtype=torch.bool, device={y}.device).tril()")
    if am is not None:
        keep.append(f"({am} != 0)")
    if keep:
        lines.append(f"{y}_keep = ({' & '.join(keep)}).unsqueeze(1)")
        if a["masking"] == "add":
            lines.append(f"{y} = {y} + (1.0 - {y}_keep.to({y}.dtype)) * {a['negative']!r}")
        else:
            lines.append(f"{y} = torch.where({y}_keep, {y}, torch.full_like({y}, {a['negative']!r}))")
    lines.append(f"{y} = torch.softmax({y}, dim=-1)")
    if keep and a["zero_rows"]:
        lines.append(f"{y} = torch.where({y}_keep, {y}, torch.zeros_like({y}))")
    lines.append(f"{y} = ({y} @ {y}_v).transpose(1, 2).reshape({y}.shape[0], {y}.shape[2], {n * a['value_dim']})")
    lines.append(f"{y} = {y} @ {m}.output_kernel" + (f" + {m}.output_bias" if a["output_bias"] else ""))
    return lines
