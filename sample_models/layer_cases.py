"""Sample models for the layers real models use beside recurrent ones (issue 10): the
activation layers, Rescaling, Attention/AdditiveAttention, SeparableConv1D, ConvLSTM1D/3D.

``generate.py`` includes them (its hook adds ``DESCRIPTIONS`` to its own and asks
``build``/``make_inputs`` for these names); they are written in every form.
"""

import numpy as np

#: Recurrent classes (and their cells' gate orders) the generator traces beside its own.
RECURRENT_CLASSES = {"ConvLSTM1D", "ConvLSTM3D"}
GATES = {"ConvLSTM1DCell": ["i", "f", "c", "o"], "ConvLSTM3DCell": ["i", "f", "c", "o"]}

DESCRIPTIONS = {
    "activation_layers": "Sequential Input(5,3) -> LSTM(4, return_sequences) -> ReLU(max_value=0.3, threshold=0.05, "
                         "negative_slope=0.1) -> Dense(4) -> LeakyReLU() (default slope) -> Dense(4) -> "
                         "PReLU(shared_axes=[1]) -> Dense(4) -> PReLU() -> Dense(4) -> ELU(alpha=0.5) -> Dense(3) -> "
                         "Softmax() -> Rescaling(2.0, offset=-0.5) -> LeakyReLU(0.05) -> ReLU() -> ReLU(max_value=0.8)",
    "attention_layers": "Functional q_in(5,) int32 -> Embedding(10,4,mask_zero) q; v_in(6,) int32 -> "
                        "Embedding(10,4,mask_zero) v; Attention(use_scale)([q, v]), AdditiveAttention()([q, v, v]), "
                        "Attention(score_mode='concat', use_scale)([q, v]), Attention()([q, q], use_causal_mask), "
                        "AdditiveAttention(use_scale=False)([q, q], use_causal_mask) -> Concatenate -> "
                        "LSTM(3) (masked by the query mask) -> Dense(1); lengths q 5,3,2 / v 6,2,4",
    "separable_conv": "Sequential Input(9,3) -> SeparableConv1D(4, 3, depth_multiplier=2, same, dilation_rate=2) -> "
                      "SeparableConv1D(3, 2, strides=2, use_bias=False, relu) -> LSTM(3) -> Dense(1)",
    "conv_lstm1d": "Sequential Input(3,7,2) -> ConvLSTM1D(3, 3, padding='same', return_sequences) -> "
                   "ConvLSTM1D(2, 2, strides=2) -> Flatten -> Dense(1)",
    "conv_lstm3d": "Sequential Input(2,4,4,3,1) -> ConvLSTM3D(2, 2, padding='same', return_sequences) -> "
                   "ConvLSTM3D(2, (2,2,1), padding='valid') -> Flatten -> Dense(1)",
    "multi_head_attention": "Functional q_in(5,) int32, v_in(6,) int32 -> an Embedding(10,4,mask_zero) pair q, v "
                            "for each attention; am_in(5,6) float32 0/1; MultiHeadAttention(2,3)(q, v); "
                            "MultiHeadAttention(2,3,value_dim=2,use_bias=False)(q, q', use_causal_mask); "
                            "MultiHeadAttention(2,2,dropout=0.1)(q, v, v); MultiHeadAttention(1,4)(q, v, "
                            "attention_mask=am) -> Concatenate -> LSTM(3) -> Dense(1); lengths q 5,3,2 / v 6,2,4",
    "tf_ops": "Functional Input(5,3) -> LSTM(4, return_sequences) h; h[:, -1], h[:, 1:3], h[:, -2:], h[:, ::2, 0], "
              "h[:, :, 1:3]; mean(h, axis=1), max(h[:, 1:3], axis=1), sum(h, axis=-1), sum(h, [1, 2], keepdims); "
              "concat([h[:, -1], mean], -1) -> Dense(2); tf-keras: tf.* ops as TFOpLambda/SlicingOpLambda layers; "
              "Keras 3: keras.ops as GetItem/Mean/Max/Sum/Concatenate ops",
}


def make_inputs(name, r):
    """Model inputs, identical for both generations (``r``: the generator's RandomState)."""
    def f(*s):
        return r.normal(0.0, 1.0, size=s).astype("float32")
    if name in ("attention_layers", "multi_head_attention"):
        toks = []
        for length, lengths in ((5, [5, 3, 2]), (6, [6, 2, 4])):
            t = r.randint(1, 10, size=(3, length)).astype("int32")
            for b, n in enumerate(lengths):
                t[b, n:] = 0
            toks.append(t)
        if name == "multi_head_attention":
            toks.append((r.uniform(size=(3, 5, 6)) < 0.7).astype("float32"))
        return toks
    shapes = {"activation_layers": (5, 3), "tf_ops": (5, 3), "separable_conv": (9, 3), "conv_lstm1d": (3, 7, 2),
              "conv_lstm3d": (2, 4, 4, 3, 1)}
    return [f(2, *shapes[name])]


def build(name, K):
    L = K.layers
    Seq = K.Sequential

    def inp(shape, n="input", dtype="float32"):
        return K.Input(shape, name=n, dtype=dtype)

    if name == "activation_layers":
        return Seq([inp((5, 3)), L.LSTM(4, return_sequences=True, name="lstm"),
                    L.ReLU(max_value=0.3, threshold=0.05, negative_slope=0.1, name="relu_all"),
                    L.Dense(4, name="dense_a"), L.LeakyReLU(name="leaky_default"),
                    L.Dense(4, name="dense_b"), L.PReLU(shared_axes=[1], name="prelu_shared"),
                    L.Dense(4, name="dense_c"), L.PReLU(name="prelu"),
                    L.Dense(4, name="dense_d"), L.ELU(alpha=0.5, name="elu"),
                    L.Dense(3, name="dense_e"), L.Softmax(name="softmax"),
                    L.Rescaling(2.0, offset=-0.5, name="rescale"),
                    L.LeakyReLU(0.05, name="leaky"), L.ReLU(name="relu"),
                    L.ReLU(max_value=0.8, name="relu_max")], name=name)
    if name == "attention_layers":
        qi, vi = inp((5,), "q_in", "int32"), inp((6,), "v_in", "int32")
        q = L.Embedding(10, 4, mask_zero=True, name="emb_q")(qi)
        v = L.Embedding(10, 4, mask_zero=True, name="emb_v")(vi)
        a = L.Attention(use_scale=True, name="dot")([q, v])
        b = L.AdditiveAttention(name="additive")([q, v, v])
        c = L.Attention(score_mode="concat", use_scale=True, name="concat_score")([q, v])
        d = L.Attention(name="causal")([q, q], use_causal_mask=True)
        e = L.AdditiveAttention(use_scale=False, name="additive_causal")([q, q], use_causal_mask=True)
        y = L.Concatenate(name="concat")([a, b, c, d, e])
        y = L.LSTM(3, name="lstm")(y)
        return K.Model([qi, vi], L.Dense(1, name="dense")(y), name=name)
    if name == "multi_head_attention":
        # each attention reads tensors of its own: Keras 3's MultiHeadAttention clears its inputs'
        # masks as it runs, so a masked tensor read twice would depend on Keras's execution order
        qi, vi, ai = inp((5,), "q_in", "int32"), inp((6,), "v_in", "int32"), inp((5, 6), "am_in")

        def emb(x, name):
            return L.Embedding(10, 4, mask_zero=True, name=name)(x)

        a = L.MultiHeadAttention(2, 3, name="mha")(emb(qi, "emb_q1"), emb(vi, "emb_v1"))
        b = L.MultiHeadAttention(2, 3, value_dim=2, use_bias=False, name="mha_causal")(
            emb(qi, "emb_q2"), emb(qi, "emb_s2"), use_causal_mask=True)
        v3 = emb(vi, "emb_v3")
        c = L.MultiHeadAttention(2, 2, dropout=0.1, name="mha_dropout")(emb(qi, "emb_q3"), v3, v3)
        d = L.MultiHeadAttention(1, 4, name="mha_mask_input")(emb(qi, "emb_q4"), emb(vi, "emb_v4"), attention_mask=ai)
        y = L.LSTM(3, name="lstm")(L.Concatenate(name="concat")([a, b, c, d]))
        return K.Model([qi, vi, ai], L.Dense(1, name="dense")(y), name=name)
    if name == "separable_conv":
        return Seq([inp((9, 3)),
                    L.SeparableConv1D(4, 3, depth_multiplier=2, padding="same", dilation_rate=2, name="sep_a"),
                    L.SeparableConv1D(3, 2, strides=2, use_bias=False, activation="relu", name="sep_b"),
                    L.LSTM(3, name="lstm"), L.Dense(1, name="dense")], name=name)
    if name == "conv_lstm1d":
        return Seq([inp((3, 7, 2)),
                    L.ConvLSTM1D(3, 3, padding="same", return_sequences=True, name="convlstm_a"),
                    L.ConvLSTM1D(2, 2, strides=2, name="convlstm_b"),
                    L.Flatten(name="flatten"), L.Dense(1, name="dense")], name=name)
    if name == "conv_lstm3d":
        return Seq([inp((2, 4, 4, 3, 1)),
                    L.ConvLSTM3D(2, 2, padding="same", return_sequences=True, name="convlstm_a"),
                    L.ConvLSTM3D(2, (2, 2, 1), padding="valid", name="convlstm_b"),
                    L.Flatten(name="flatten"), L.Dense(1, name="dense")], name=name)
    if name == "tf_ops":
        return _tf_ops(K)
    raise KeyError(name)


def _tf_ops(K):
    """The same tensor operations, as each generation writes them (tf.* under tf-keras)."""
    L = K.layers
    if K.__name__ == "tf_keras":
        import tensorflow as tf

        mean, vmax, vsum, concat = tf.reduce_mean, tf.reduce_max, tf.reduce_sum, tf.concat
    else:
        mean, vmax, vsum, concat = K.ops.mean, K.ops.max, K.ops.sum, K.ops.concatenate
    x = K.Input((5, 3), name="input")
    h = L.LSTM(4, return_sequences=True, name="lstm")(x)
    last, mid, tail, strided, feat = h[:, -1], h[:, 1:3], h[:, -2:], h[:, ::2, 0], h[:, :, 1:3]
    pooled = mean(h, axis=1)
    peak = vmax(mid, axis=1)
    total = vsum(h, axis=-1)
    whole = vsum(h, axis=[1, 2], keepdims=True)
    y = L.Dense(2, name="dense")(concat([last, pooled], axis=-1))
    return K.Model(x, [y, peak, total, whole, tail, strided, feat], name="tf_ops")



def conv_nd(x, k, strides, padding):
    """x (B, *spatial, C), k (*window, C, O), any number of spatial axes; TensorFlow 'same'
    (the odd padding after) or 'valid'. The generator's reference for ConvLSTM1D/3D."""
    n = k.ndim - 2
    strides = tuple(strides) if isinstance(strides, (list, tuple)) else (strides,) * n
    if len(strides) != n and len(set(strides)) == 1:  # the recurrent convolution's default (1, 1)
        strides = (strides[0],) * n
    size = x.shape[1:1 + n]
    if padding == "same":
        out = [-(-d // s) for d, s in zip(size, strides)]
        pads = [max((o - 1) * s + w - d, 0) for o, s, w, d in zip(out, strides, k.shape[:n], size)]
        x = np.pad(x, [(0, 0)] + [(p // 2, p - p // 2) for p in pads] + [(0, 0)])
    else:
        out = [(d - w) // s + 1 for d, w, s in zip(size, k.shape[:n], strides)]
    y = np.zeros((x.shape[0], *out, k.shape[-1]), dtype=np.float64)
    for offset in np.ndindex(*k.shape[:n]):
        index = tuple(slice(o, o + (m - 1) * s + 1, s) for o, m, s in zip(offset, out, strides))
        y += np.einsum("...c,co->...o", x[(slice(None), *index)], k[offset])
    return y
