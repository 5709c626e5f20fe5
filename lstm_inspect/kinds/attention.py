"""Attention kinds: ``Attention`` (dot-product, Luong) and ``AdditiveAttention`` (Bahdanau),
at inference (dropout is the identity), as tf-keras 2.x and Keras 3 compute them::

    scores = q @ k^T            (Attention, score_mode="dot"; times ``scale`` when use_scale)
    scores = w * Σ tanh(s*(q_i + k_j))   (Attention, score_mode="concat"; s=1 without use_scale)
    scores = Σ scale * tanh(q_i + k_j)   (AdditiveAttention; no scale without use_scale)
    scores -= 1e9 where the value mask or the causal mask (``use_causal_mask``) is False
    out = softmax(scores) @ v, then zeroed at masked query steps

Inputs are ``[query, value]`` or ``[query, value, key]``; the masks Keras propagates are
``[query_mask, value_mask]``; the output mask is the query mask. tf-keras multiplies by the
query mask, Keras 3 selects with ``where`` (a NaN at a masked query step stays only in
tf-keras).

``MultiHeadAttention`` (3-D query/value/key, ``attention_axes`` over time only) projects with
``query``/``key``/``value`` kernels ``(dim, heads, key_dim)`` and biases ``(heads, key_dim)``,
scores ``(Q/√key_dim)·Kᵀ`` per head, masks them with the AND of the query mask ``(B, T, 1)``,
the value and key masks ``(B, 1, S)``, ``use_causal_mask`` and an ``attention_mask`` input,
softmaxes over the value steps, and projects back with ``attention_output`` ``(heads, value_dim,
out)``. Masked scores: tf-keras adds ``-1e9`` (``softmax_robust_masking``: sets it); Keras 3
sets a large negative and, on its ``Softmax``-layer path (``dropout > 0`` or
``return_attention_scores``), zeroes fully masked rows afterwards, where its
``dot_product_attention`` path leaves them uniform. The output mask is the query mask.
Keras 3 clears the masks of its input tensors as it runs (docs/formats.md section 5.5).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import ConfigError, UnsupportedError
from .activations import _softmax
from .base import ANY, Kind, need_inputs, weights_of


def _inputs(layer, xs):
    need_inputs(layer, xs, 2, 3)
    q, v = (np.asarray(a, dtype=np.float32) for a in xs[:2])
    k = np.asarray(xs[2], dtype=np.float32) if len(xs) > 2 else v
    if q.ndim < 3 or v.ndim != q.ndim or k.shape[:-1] != v.shape[:-1] or q.shape[-1] != k.shape[-1]:
        raise ConfigError(f"layer '{layer.path}' ({layer.class_name}) cannot attend query {q.shape} to value {v.shape}"
                          f" and key {k.shape}")
    return q, v, k


def _weights(layer, wanted: int):
    if wanted == 0:
        return []
    return weights_of(layer, wanted, f"{wanted} weight(s)")


def _pairs(q, k):
    return q[..., :, None, :] + k[..., None, :, :]  # (..., Tq, Tv, dim)


def dot_scores(layer, q, k):
    mode = layer.config.get("score_mode", "dot")
    use_scale = bool(layer.config.get("use_scale", False))
    w = _weights(layer, int(use_scale) + int(mode == "concat"))
    scale = w[0].reshape(()) if use_scale else None
    if mode == "dot":
        scores = q @ np.swapaxes(k, -1, -2)
        return scores if scale is None else scores * scale
    weight = w[-1].reshape(())
    pairs = _pairs(q, k) if scale is None else scale * _pairs(q, k)
    return weight * np.tanh(pairs).sum(axis=-1)


def additive_scores(layer, q, k):
    if not layer.config.get("use_scale", True):
        return np.tanh(_pairs(q, k)).sum(axis=-1)
    (scale,) = _weights(layer, 1)[:1]
    if scale.shape != (q.shape[-1],):
        raise ConfigError(f"layer '{layer.path}' (AdditiveAttention) has a scale of shape {scale.shape}; its query has "
                          f"{q.shape[-1]} features")
    return (scale * np.tanh(_pairs(q, k))).sum(axis=-1)


def _mask(layer, m, shape, what: str) -> Optional[np.ndarray]:
    if m is None:
        return None
    m = np.asarray(m, dtype=bool)
    if m.shape != tuple(shape):
        raise ConfigError(f"layer '{layer.path}' ({layer.class_name}) is given a {what} mask of shape {m.shape}; its "
                          f"input needs {tuple(shape)}")
    return m


def _causal(call, layer) -> bool:
    flag = call.kwargs.get("use_causal_mask", False) or layer.config.get("causal", False)
    if not isinstance(flag, bool):
        raise ConfigError(f"layer '{layer.path}' ({layer.class_name}): use_causal_mask is {flag!r}, not true or false")
    return flag


def _attention(scores_of):
    def compute(layer, xs, masks, call, ctx):
        if call.kwargs.get("return_attention_scores"):
            return_scores = True
        else:
            return_scores = False
        q, v, k = _inputs(layer, xs)
        masks = list(masks) + [None] * (3 - len(masks))
        q_mask = _mask(layer, masks[0], q.shape[:-1], "query")
        v_mask = _mask(layer, masks[1], v.shape[:-1], "value")
        scores = scores_of(layer, q, k).astype(np.float32)
        keep = None if v_mask is None else v_mask[..., None, :]
        if _causal(call, layer):
            tq, tv = scores.shape[-2:]
            causal = np.arange(tq)[:, None] >= np.arange(tv)[None, :]
            keep = causal if keep is None else np.logical_and(keep, causal)
        if keep is not None:
            scores = np.where(keep, scores, scores - np.float32(1e9)).astype(np.float32)
        weights = _softmax(scores).astype(np.float32)
        out = (weights @ v).astype(np.float32)
        if q_mask is not None:
            if ctx.keras3:
                out = np.where(q_mask[..., None], out, np.float32(0))
            else:
                out = out * q_mask[..., None].astype(np.float32)
        outs = [out, weights] if return_scores else [out]
        return outs, [q_mask] * len(outs)

    return compute


def _shape(layer, inputs, ctx):
    if len(inputs) < 2 or inputs[0] is None or inputs[1] is None:
        return None
    return list(inputs[0][:-1]) + [inputs[1][-1]]


def _dot_weights(config, children):
    return int(bool(config.get("use_scale", False))) + int(config.get("score_mode", "dot") == "concat"), 0


def _refuse_dot(layer) -> Optional[str]:
    mode = layer.config.get("score_mode", "dot")
    if mode not in ("dot", "concat"):
        return f"score_mode={mode!r} is not supported"
    return None


# ---------------------------------------------------------------------- MultiHeadAttention


def _mha_weights(layer, q, v, k):
    use_bias = bool(layer.config.get("use_bias", True))
    w = weights_of(layer, 8 if use_bias else 4, "query, key, value and output kernels" + (" and biases" if use_bias else ""))
    names = ("query", "key", "value", "attention_output")
    kernels = w[0::2] if use_bias else w
    biases = w[1::2] if use_bias else [None] * 4
    wq, wk, wv, wo = kernels[:4]
    ok = (wq.ndim == wk.ndim == wv.ndim == wo.ndim == 3 and wq.shape[0] == q.shape[-1] and wk.shape[0] == k.shape[-1]
          and wv.shape[0] == v.shape[-1] and wq.shape[1:] == wk.shape[1:] and wo.shape[:2] == wv.shape[1:])
    if not ok:
        shapes = ", ".join(f"{n} {x.shape}" for n, x in zip(names, kernels))
        raise ConfigError(f"layer '{layer.path}' (MultiHeadAttention) has kernels {shapes}, which do not fit query "
                          f"{q.shape}, value {v.shape} and key {k.shape}")
    return list(zip(kernels[:4], biases[:4]))


def _refuse_cleared_masks(layer, call, tensors) -> None:
    """Keras 3's MultiHeadAttention clears the Keras masks of its query, value and key tensors
    (``set_keras_mask(x, None)``) as it runs: every call that reads one of those tensors after
    it, in Keras's execution order, sees no mask. A masked input tensor that another call reads
    too is refused: what each reader sees would depend on that order."""
    for array, mask in tensors:
        if mask is not None and id(array) in call.shared:
            raise UnsupportedError(
                f"layer '{layer.path}' (MultiHeadAttention): Keras 3 clears the masks of its inputs as it runs, so "
                "the other layers reading a masked input of it see a mask or none depending on Keras's "
                "execution order; lstm-inspect does not compute this"
            )


def _project(x, kernel, bias, equation):
    y = np.einsum(equation, x, kernel).astype(np.float32)
    return y if bias is None else (y + bias).astype(np.float32)


def multi_head_attention(layer, xs, masks, call, ctx):
    q = np.asarray(xs[0], dtype=np.float32)
    args, kwargs = call.args, call.kwargs
    v = v_arg = kwargs.get("value", args[1] if len(args) > 1 else None)
    k = k_arg = kwargs.get("key", args[2] if len(args) > 2 else None)
    if not isinstance(v, np.ndarray):
        raise ConfigError(f"layer '{layer.path}' (MultiHeadAttention) is called without a value tensor")
    k_given = isinstance(k, np.ndarray)
    k = k if k_given else v
    v, k = np.asarray(v, dtype=np.float32), np.asarray(k, dtype=np.float32)
    if q.ndim != 3 or v.ndim != 3 or k.shape[:2] != v.shape[:2] or q.shape[0] != v.shape[0]:
        raise ConfigError(f"layer '{layer.path}' (MultiHeadAttention) needs query (batch, T, dim) and value/key "
                          f"(batch, S, dim); got {q.shape}, {v.shape}, {k.shape}")
    (wq, bq), (wk, bk), (wv, bv), (wo, bo) = _mha_weights(layer, q, v, k)
    # the masks Keras fills in from the tensors (Keras 3: value/key masks only where passed)
    # Keras 3 reads the query's own mask inside the call (its mask argument is not filled in for a
    # call with several tensor arguments, docs/formats.md section 3.3); tf.keras passes it in
    q_mask = kwargs.get("query_mask", call.mask_of(xs[0]) if ctx.keras3 else (masks[0] if masks else None))
    v_mask = kwargs.get("value_mask", call.mask_of(v_arg))
    k_mask = kwargs.get("key_mask", call.mask_of(k_arg) if k_given else (None if ctx.keras3 else v_mask))
    if ctx.keras3:
        _refuse_cleared_masks(layer, call, ((xs[0], q_mask), (v_arg, v_mask), (k_arg, k_mask)))
    T, S = q.shape[1], v.shape[1]
    keep = None
    for m, shape, what in ((q_mask, (q.shape[0], T), "query"), (v_mask, (v.shape[0], S), "value"),
                           (k_mask, (k.shape[0], S), "key")):
        m = _mask(layer, m, shape, what)
        if m is not None:
            m = m[:, :, None] if what == "query" else m[:, None, :]
            keep = m if keep is None else np.logical_and(keep, m)
    if _causal(call, layer):
        causal = (np.arange(T)[:, None] >= np.arange(S)[None, :])[None]
        keep = causal if keep is None else np.logical_and(keep, causal)
    given = kwargs.get("attention_mask")
    if given is not None:
        given = np.asarray(given).astype(bool)
        try:
            np.broadcast_shapes(given.shape, (q.shape[0], T, S))
        except ValueError:
            raise ConfigError(f"layer '{layer.path}' (MultiHeadAttention) is given an attention_mask of shape "
                              f"{given.shape}; it needs ({q.shape[0]}, {T}, {S})") from None
        keep = given if keep is None else np.logical_and(given, keep)
    key_dim = wq.shape[-1]
    Q = _project(q, wq, bq, "btd,dnh->btnh")
    K = _project(k, wk, bk, "bsd,dnh->bsnh")
    V = _project(v, wv, bv, "bsd,dnh->bsnh")
    scores = np.einsum("btnh,bsnh->bnts", (Q * np.float32(1.0 / np.sqrt(float(key_dim)))).astype(np.float32), K)
    scores = scores.astype(np.float32)
    layer_path = bool(layer.config.get("dropout", 0.0)) or bool(kwargs.get("return_attention_scores"))
    if keep is not None:
        keep4 = keep[:, None]  # (B, 1, T, S): every head
        if not ctx.keras3 and not layer.config.get("softmax_robust_masking"):
            scores = (scores + (np.float32(1) - keep4.astype(np.float32)) * np.float32(-1e9)).astype(np.float32)
        else:
            negative = np.float32(-1e9) if (layer_path or not ctx.keras3) else np.float32(-0.7 * 3.38953e38)
            scores = np.where(keep4, scores, negative).astype(np.float32)
    weights = _softmax(scores).astype(np.float32)
    if keep is not None and ctx.keras3 and layer_path:
        weights = np.where(keep4, weights, np.float32(0)).astype(np.float32)
    out = np.einsum("bnts,bsnh->btnh", weights, V).astype(np.float32)
    y = _project(out, wo, bo, "btnh,nho->bto")
    outs = [y, weights] if kwargs.get("return_attention_scores") else [y]
    q_out = None if q_mask is None else np.asarray(q_mask, dtype=bool)
    return outs, [q_out] + [None] * (len(outs) - 1)


def _mha_shape(layer, inputs, ctx):
    q = inputs[0] if inputs else None
    if q is None:
        return None
    out = layer.config.get("output_shape")
    last = q[-1] if out is None else (out[0] if isinstance(out, list) and len(out) == 1 else out)
    return list(q[:-1]) + [last if isinstance(last, int) or last is None else None]


def _mha_weight_count(config, children):
    return (8 if config.get("use_bias", True) else 4), 0


def _attention_axes(value) -> bool:
    return value is None or value in ([1], 1, [-2], -2, (1,))


def _output_shape(value) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, list) and len(value) == 1 and isinstance(value[0], int))


MULTI_HEAD_ATTENTION = Kind(
    names=("MultiHeadAttention",), family="attention", compute=multi_head_attention, output_shape=_mha_shape,
    weights=_mha_weight_count, v3_groups=("query_dense", "key_dense", "value_dense", "output_dense"),
    var_names=("kernel", "bias"),
    keys={"num_heads": ANY, "key_dim": ANY, "value_dim": ANY, "dropout": ANY, "use_bias": ANY,
          "output_shape": _output_shape, "attention_axes": _attention_axes, "softmax_robust_masking": ANY,
          "use_gate": (False, None), "sliding_window": (None,), "flash_attention": (None, False),
          "query_shape": ANY, "key_shape": ANY, "value_shape": ANY},
    exports={"onnx": "multi_head_attention", "torch": "multi_head_attention"},
)

ATTENTION = Kind(
    names=("Attention",), family="attention", compute=_attention(dot_scores), output_shape=_shape,
    weights=_dot_weights, var_names=("scale", "concat_score_weight"), refuse=_refuse_dot,
    keys={"use_scale": ANY, "score_mode": ("dot", "concat", None), "dropout": ANY, "causal": ANY},
    exports={"onnx": "attention", "torch": "attention"},
)
ADDITIVE_ATTENTION = Kind(
    names=("AdditiveAttention",), family="attention", compute=_attention(additive_scores), output_shape=_shape,
    weights=lambda c, children: (int(bool(c.get("use_scale", True))), 0), var_names=("scale",),
    keys={"use_scale": ANY, "dropout": ANY, "causal": ANY},
    exports={"onnx": "attention", "torch": "attention"},
)

KINDS = [ATTENTION, ADDITIVE_ATTENTION, MULTI_HEAD_ATTENTION]
