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
tf-keras). MultiHeadAttention is not computed (refused by name).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import ConfigError
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


ATTENTION = Kind(
    names=("Attention",), family="attention", compute=_attention(dot_scores), output_shape=_shape,
    weights=_dot_weights, var_names=("scale", "concat_score_weight"), refuse=_refuse_dot,
    keys={"use_scale": ANY, "score_mode": ("dot", "concat", None), "dropout": ANY, "causal": ANY},
)
ADDITIVE_ATTENTION = Kind(
    names=("AdditiveAttention",), family="attention", compute=_attention(additive_scores), output_shape=_shape,
    weights=lambda c, children: (int(bool(c.get("use_scale", True))), 0), var_names=("scale",),
    keys={"use_scale": ANY, "dropout": ANY, "causal": ANY},
)

KINDS = [ATTENTION, ADDITIVE_ATTENTION]
