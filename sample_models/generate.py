#!/usr/bin/env python3
"""Regenerate the sample Keras model files and the numbers Keras computed.

Run from the repository root with a throw-away venv that has real Keras:

    python3 -m venv /tmp/kenv
    /tmp/kenv/bin/pip install tensorflow-cpu tf-keras
    /tmp/kenv/bin/python sample_models/generate.py

TensorFlow / tf_keras / Keras 3 are fixture tools only; lstm-inspect never
imports them.  The script cleans and rewrites everything it owns under
sample_models/ (k2/, k3/, expected/, seed.h5, manifest.json, README.md).

Keras 2 (tf_keras) and Keras 3 are run in two child processes of this script
(``--gen k2`` / ``--gen k3``) so the two libraries never share a process.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("PYTHONHASHSEED", "0")

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OWNED = ["k2", "k3", "expected", "seed.h5", "seed_input.json", "manifest.json", "README.md"]
ATOL = 1e-5

# --------------------------------------------------------------------------
# Deterministic numbers
# --------------------------------------------------------------------------


def rng_for(*parts):
    return np.random.RandomState(zlib.crc32("/".join(map(str, parts)).encode()) & 0x7FFFFFFF)


SEED_LSTM = {
    "kernel": [[-0.40927699, -0.53539848, 0.40065038, -0.07722378, 0.30405849, 0.54959822,
                -0.23097005, 0.4720422, 0.05197877, -0.52746099, -0.5856396, -0.43691438]],
    "recurrent_kernel": [
        [-0.25504839, -0.0823682, 0.11609183, 0.41123426, 0.03409858, -0.0647027,
         -0.59183347, -0.15359771, 0.21647622, 0.24863823, 0.46169096, -0.21100986],
        [0.29160395, 0.46513283, 0.33996364, -0.31195125, -0.24458826, -0.09762905,
         0.16202784, -0.01602131, 0.34460208, 0.39724654, 0.31806156, 0.1102117],
        [-0.15919448, -0.33053166, -0.22857222, -0.04912394, -0.21862955, 0.55346996,
         0.38505834, 0.18110731, 0.270677, -0.02759281, 0.42814475, -0.13496138]],
    "bias": [0., 0., 0., 1., 1., 1., 0., 0., 0., 0., 0., 0.],
}
SEED_INPUT = [[[0.725323664], [0.7671179], [0.805884672]]]


BIDIR_MERGE_MODELS = ("bidir_concat", "bidir_sum", "bidir_mul", "bidir_ave", "bidir_none")


def make_inputs(name):
    """Model inputs, identical for both generations."""
    r = rng_for("inputs", name)
    def f(*s):
        return r.normal(0.0, 1.0, size=s).astype("float32")
    if name in ISSUE10_DESCRIPTIONS:
        return issue10_inputs(name, r)
    if name == "seed":
        return [np.array(SEED_INPUT, dtype="float32")]
    if name == "embedding_mask":
        toks = r.randint(1, 10, size=(3, 6)).astype("int32")
        for b, n in enumerate([6, 4, 2]):
            toks[b, n:] = 0
        return [toks]
    if name == "masking":
        x = f(3, 6, 3)
        for b, n in enumerate([6, 4, 1]):
            x[b, n:] = 0.0
        return [x]
    padded = {"functional_masking": ((3, 6, 3), [6, 3, 1]),
              "bidir_masked_states": ((3, 5, 2), [5, 3, 2]),
              "gru_backwards_masked": ((3, 5, 2), [5, 3, -2])}
    if name in padded:  # padded with all-zero rows (Masking(0.0)): n > 0 right-padded, n < 0 left-padded
        shape, lengths = padded[name]
        x = f(*shape)
        for b, n in enumerate(lengths):
            if n >= 0:
                x[b, n:] = 0.0
            else:
                x[b, :shape[1] + n] = 0.0
        return [x]
    if name == "functional_embedding_concat":  # different right-padding per input
        toks = []
        for vocab, lengths in ((8, [6, 4, 2]), (7, [3, 6, 1])):
            t = r.randint(1, vocab, size=(3, 6)).astype("int32")
            for b, n in enumerate(lengths):
                t[b, n:] = 0
            toks.append(t)
        return toks
    shapes = {
        "stacked_lstm": [(5, 3)], "gru_reset_after": [(5, 3)], "gru_reset_before": [(5, 3)],
        "simple_rnn": [(5, 3)], "backwards_relu_nobias": [(5, 2)], "two_input": [(5, 3), (5, 2)],
        "return_state": [(4, 2)], "nested": [(5, 3)], "conv1d_lstm": [(8, 2)],
        "rnn_cells": [(5, 3)], "time_distributed": [(5, 3)], "conv_lstm2d": [(3, 6, 6, 2)],
        "shared_lstm": [(5, 3), (5, 3)], "merges": [(4, 3)], "norms_and_shapes": [(6, 4)],
        "activations": [(5, 2)], "seq2seq_initial_state": [(4, 2), (3, 2)],
        "timedistributed_conv": [(3, 8, 8, 1)],
    }
    if name in layer_cases.DESCRIPTIONS:
        return layer_cases.make_inputs(name, r)
    if name in BIDIR_MERGE_MODELS:
        shapes[name] = [(4, 2)]
    return [f(2, *s) for s in shapes[name]]


def weight_values(model_name, layer_name, idx, wname, shape, conv=False):
    r = rng_for("weights", model_name, layer_name, idx)
    role = wname.split("/")[-1].split(":")[0]
    if role == "gamma":  # BatchNormalization / LayerNormalization scale
        return (1.0 + r.normal(0.0, 0.2, size=shape)).astype("float32")
    if role == "moving_mean":
        return r.normal(0.0, 0.5, size=shape).astype("float32")
    if role == "moving_variance":  # non-trivial, positive
        return r.uniform(0.5, 2.0, size=shape).astype("float32")
    if "bias" in wname or role == "beta":
        v = r.normal(0.0, 0.3, size=shape)
        v = np.where(np.abs(v) < 0.05, np.sign(v + 1e-9) * 0.05, v)  # nonzero
    else:
        v = r.normal(0.0, 0.2 if conv else 0.5, size=shape)
    return v.astype("float32")


# --------------------------------------------------------------------------
# Model definitions (same code for tf_keras and keras 3)
# --------------------------------------------------------------------------

DESCRIPTIONS = {
    "seed": "Sequential Input(3,1) -> LSTM(3, hard_sigmoid) -> Dense(1); fixed weights (README example)",
    "stacked_lstm": "Sequential Input(5,3) -> LSTM(4, return_sequences) -> LSTM(3) -> Dense(2)",
    "bidir_concat": "Sequential Input(4,2) -> Bidirectional(LSTM(3, return_sequences), merge_mode='concat') -> Dense(2)",
    "bidir_sum": "Sequential Input(4,2) -> Bidirectional(LSTM(3, return_sequences), merge_mode='sum') -> Dense(2)",
    "bidir_mul": "Sequential Input(4,2) -> Bidirectional(LSTM(3, return_sequences), merge_mode='mul') -> Dense(2)",
    "bidir_ave": "Sequential Input(4,2) -> Bidirectional(LSTM(3, return_sequences), merge_mode='ave') -> Dense(2)",
    "bidir_none": "Functional Input(4,2) -> Bidirectional(LSTM(3, return_sequences), merge_mode=None); outputs [forward, backward]",
    "gru_reset_after": "Sequential Input(5,3) -> GRU(4, reset_after=True, return_sequences) -> Dense(2)",
    "gru_reset_before": "Sequential Input(5,3) -> GRU(4, reset_after=False, return_sequences) -> Dense(2)",
    "simple_rnn": "Sequential Input(5,3) -> SimpleRNN(3) -> Dense(1)",
    "backwards_relu_nobias": "Sequential Input(5,2) -> LSTM(3, go_backwards, relu, use_bias=False, return_sequences) -> Dense(1) per step",
    "embedding_mask": "Sequential Input(6,) int32 -> Embedding(10,4,mask_zero) -> LSTM(3, return_sequences) -> LSTM(2) -> Dense(1); right-padded lengths 6,4,2",
    "masking": "Sequential Input(6,3) -> Masking(0.0) -> LSTM(3, return_sequences) -> GRU(2) -> Dense(1); zero-padded lengths 6,4,1",
    "two_input": "Functional in_a(5,3) -> LSTM(4); in_b(5,2) -> GRU(3); Concatenate -> Dense(2)",
    "return_state": "Functional Input(4,2) -> LSTM(3, return_sequences, return_state) -> outputs [Dense(1)(seq), h, c]",
    "nested": "Functional Input(5,3) -> inner Sequential[LSTM(3, return_sequences), Dense(2)] -> LSTM(2) -> Dense(1)",
    "conv1d_lstm": "Sequential Input(8,2) -> Conv1D(4,3) -> LSTM(3) -> Dense(1)",
    "rnn_cells": "Sequential Input(5,3) -> RNN(LSTMCell(3), return_sequences) -> RNN(GRUCell(2)) -> Dense(1)",
    "time_distributed": "Sequential Input(5,3) -> LSTM(4, return_sequences) -> TimeDistributed(Dense(2))",
    "conv_lstm2d": "Sequential Input(3,6,6,2) -> ConvLSTM2D(3,(3,3),padding='same') -> Flatten -> Dense(1)",
    # ---- forward-pass semantics: masks through graphs, shared layers, merges, shape ops ----
    "functional_masking": "Functional Input(6,3) -> Masking(0.0) -> Bidirectional(LSTM(3, return_sequences), "
                          "concat) -> LSTM(2) -> Dense(1); zero-padded lengths 6,3,1 (Keras 3 writes "
                          "NotEqual/Any op nodes into the config)",
    "functional_embedding_concat": "Functional in_a(6,) int32 -> Embedding(8,3,mask_zero); in_b(6,) int32 -> "
                                   "Embedding(7,2,mask_zero); Concatenate(-1) -> GRU(3, return_sequences) -> "
                                   "GlobalAveragePooling1D (masked) -> Dense(2); lengths a 6,4,2 / b 3,6,1",
    "shared_lstm": "Functional in_a(5,3), in_b(5,3) -> the SAME LSTM(4) on both (one layer, two nodes) -> "
                   "Subtract -> Dense(1)",
    "merges": "Functional Input(4,3) -> LSTM(3, return_sequences) a, LSTM(3, go_backwards, return_sequences) b "
              "-> Add, Multiply, Average, Maximum, Minimum of a, b -> Concatenate -> TimeDistributed(Dense(1))",
    "norms_and_shapes": "Sequential Input(6,4) -> BatchNormalization -> LSTM(4, return_sequences) -> "
                        "LayerNormalization -> Conv1D(3,2,causal) -> MaxPooling1D(2) -> ZeroPadding1D(1) -> "
                        "Cropping1D((1,0)) -> AveragePooling1D(2,same) -> Flatten -> RepeatVector(2) -> "
                        "SimpleRNN(3, relu, return_sequences) -> Permute((2,1)) -> Reshape((6,)) -> Dense(1)",
    "activations": "Sequential Input(5,2) -> LSTM(3, softsign, hard_sigmoid, return_sequences) -> "
                   "GRU(3, elu, sigmoid, reset_after=False, return_sequences) -> SimpleRNN(3, selu, "
                   "return_sequences) -> Dense(3, swish) -> Dense(3, gelu) -> Dense(2, softplus) -> "
                   "Activation(softmax)",
    "bidir_masked_states": "Functional Input(5,2) -> Masking(0.0) -> Bidirectional(GRU(3, return_sequences, "
                           "return_state), sum); outputs [seq, h_fwd, h_bwd]; zero-padded lengths 5,3,2",
    "seq2seq_initial_state": "Functional enc_in(4,2) -> LSTM(3, return_state) 'enc' -> [_, h, c]; dec_in(3,2) -> "
                             "LSTM(3, return_sequences) 'dec' with initial_state=[h, c] -> Dense(2)",
    "timedistributed_conv": "Sequential Input(3,8,8,1) -> TimeDistributed(Conv2D(2,(3,3),same)) -> "
                            "TimeDistributed(MaxPooling2D(2,2)) -> ConvLSTM2D(2,(2,2),strides=2,valid, "
                            "return_sequences) -> MaxPooling3D((1,2,2)) -> Flatten -> Dense(1)",
    "gru_backwards_masked": "Sequential Input(5,2) -> Masking(0.0) -> GRU(3, go_backwards, reset_after, "
                            "return_sequences) -> SimpleRNN(2, go_backwards) -> Dense(1); zero-padded: lengths 5, 3 "
                            "(right-padded), 2 (left-padded: steps 0-2 are zero)",
}

# --------------------------------------------------------------------------
# Issue 10 ("never a wrong number"): one model per finding, each where Keras does something a
# reader could get wrong. Written in the reduced forms. REFUSED: models lstm-inspect refuses by
# name (tests/conftest.py reads the list from the manifest: they are not "runnable").
# --------------------------------------------------------------------------

ISSUE10_DESCRIPTIONS = {
    "decoder_initial_state_masked": "Functional enc(5,) int -> Embedding(9,3,mask_zero) -> LSTM(3, return_state) 'enc' -> "
                                    "[h, c]; dec(4,) int -> Embedding(9,3,mask_zero) -> LSTM(3, return_sequences)"
                                    "(initial_state=[h, c]) 'dec' -> Dense(4, softmax); finding 1: Keras 3 drops "
                                    "the mask of a call with several tensor arguments, tf_keras masks",
    "bidir_initial_state_masked": "Functional x(5,2) -> Masking -> Bidirectional(GRU(3, return_sequences)) 'bi' "
                                  "(initial_state=[Dense(3)(s), Dense(3)(s)]), s(3,) -> Dense(1); finding 1",
    "nested_masking": "Functional Input(5,3) -> inner Sequential[Masking, LSTM(3, return_sequences)] -> LSTM(2) "
                      "'outer' -> Dense(1); finding 2: Keras 3 records mask null, masks at run time",
    "td_masked_lstm": "Sequential Input(3,4,2) -> Masking -> TimeDistributed(LSTM(3)) -> Flatten -> Dense(1); "
                      "finding 3: the wrapped LSTM is masked",
    "td_embedding_lstm": "Sequential Input(3,5) int -> TimeDistributed(Embedding(7,3,mask_zero)) -> "
                         "TimeDistributed(LSTM(3)) -> Flatten -> Dense(1); finding 3: tf_keras passes the inner mask "
                         "on, Keras 3 does not",
    "softmax_recurrent": "Sequential Input(4,2) -> LSTM(3, recurrent_activation='softmax') -> Dense(1); finding 4 "
                         "(refused)",
    "gap_channels_first": "Sequential Input(4,6) -> GlobalAveragePooling1D(data_format='channels_first') -> Dense(1); "
                          "finding 5 (refused)",
    "flatten_channels_first": "Sequential Input(5,3) -> LSTM(4, return_sequences) -> Flatten(channels_first) -> "
                              "Dense(2); finding 5",
    "global_pool_keepdims": "Functional Input(5,3) -> LSTM(4, return_sequences) -> [GlobalAveragePooling1D(keepdims), "
                            "GlobalMaxPooling1D(keepdims)] -> Concatenate(axis=1) -> Flatten -> Dense(2); finding 6",
    "masked_gap_nan": "Functional tok(5,) int -> Embedding(6,3,mask_zero); x(5,3) -> Add -> GlobalAveragePooling1D "
                      "-> Dense(2); a NaN at a masked step, one sample fully masked; finding 7",
    "float16_lstm": "Sequential Input(4,2) -> LSTM(3, dtype='mixed_float16') -> Dense(1); finding 8 (computed in float16)",
    "negative_axis": "Functional Input(5,3) -> LSTM(4, return_sequences) a -> LayerNormalization(axis=-2) -> "
                     "Concatenate(axis=-2)([ln, a]) -> LSTM(2) -> Dense(1); finding 9",
    "wide_and_narrow": "Sequential Input(4,2) -> LSTM(10, return_sequences) -> LSTM(4) -> Dense(1); finding 11",
    "bidir_backward_nobias": "Sequential Input(4,2) -> Bidirectional(LSTM(3, return_sequences), backward_layer="
                             "LSTM(3, go_backwards, use_bias=False)) -> Dense(1); finding 12",
    "ln_rms_scaling": "Sequential Input(5,3) -> LSTM(4, return_sequences) -> LayerNormalization(rms_scaling=True) -> "
                      "Dense(1); Keras 3 only; finding 13",
    "tensor_mask_kwarg": "Functional x(5,3), m(5,) bool -> LSTM(3)(x, mask=m) -> Dense(1); finding 16",
    "concat_time_masked": "Functional a(4,3) -> Masking, b(3,3) -> Masking -> Concatenate(axis=1) -> LSTM(2) -> "
                          "Dense(1); finding 17",
    "bidir_convlstm": "Sequential Input(3,5,5,2) -> Bidirectional(ConvLSTM2D(2,(3,3),same, return_sequences)) -> "
                      "Flatten -> Dense(1); finding 18",
}
#: model -> the phrase lstm-inspect refuses it with (by name, before anything runs)
ISSUE10_REFUSED = {
    "softmax_recurrent": "recurrent_activation='softmax' is not supported",
    "gap_channels_first": "data_format='channels_first' is not supported",
}
#: models computed in float16 (finding 8): no traces from the float32 reference
ISSUE10_FLOAT16 = {
    "float16_lstm": "computes in float16: Keras's outputs are recorded; the generator's float32 reference gives no traces for it (tests/test_float16.py checks the float16 arithmetic)",
}
#: (model, layer): Keras 3 drops the mask of this call (several tensor arguments); the
#: symbolic tensor's mask is not what the layer was given
ISSUE10_KERAS3_UNMASKED = {("decoder_initial_state_masked", "dec"), ("bidir_initial_state_masked", "bi")}
#: (model, layer, generations) -> the mask Keras gives the call at run time where the recorded
#: tensors carry none (finding 2: Keras 3, a nested model's output mask; the layers inside a
#: nested model are probed without masks): Masking(0.0) of the model input
ISSUE10_RUNTIME_MASKS = {
    ("nested_masking", "outer", ("k3",)): lambda inputs: np.any(inputs[0] != 0.0, axis=-1),
    ("nested_masking", "inner/inner_lstm", ("k2", "k3")): lambda inputs: np.any(inputs[0] != 0.0, axis=-1),
    ("tensor_mask_kwarg", "lstm", ("k2", "k3")): lambda inputs: inputs[1],  # lstm(x, mask=m)
}


def issue10_inputs(name, r):
    def f(*s):
        return r.normal(0.0, 1.0, size=s).astype("float32")

    def tokens(shape, vocab, lengths):
        t = r.randint(1, vocab, size=shape).astype("int32")
        for b, n in enumerate(lengths):
            t[b, n:] = 0
        return t

    def padded(shape, lengths):
        x = f(*shape)
        for b, n in enumerate(lengths):
            x[b, n:] = 0.0
        return x

    if name == "decoder_initial_state_masked":
        return [tokens((3, 5), 9, [5, 3, 1]), tokens((3, 4), 9, [4, 2, 1])]
    if name == "bidir_initial_state_masked":
        return [padded((3, 5, 2), [5, 3, 1]), f(3, 3)]
    if name in ("nested_masking",):
        return [padded((3, 5, 3), [5, 3, 1])]
    if name == "td_masked_lstm":
        x = f(2, 3, 4, 2)
        x[0, 0, 2:] = 0.0
        x[0, 2, :] = 0.0  # a fully masked inner sequence
        x[1, 1, 1:] = 0.0
        return [x]
    if name == "td_embedding_lstm":
        t = r.randint(1, 7, size=(2, 3, 5)).astype("int32")
        t[0, 0, 3:] = 0
        t[1, 2, 1:] = 0
        return [t]
    if name == "masked_gap_nan":
        tok = tokens((3, 5), 6, [3, 0, 5])
        x = f(3, 5, 3)
        x[0, 4, 1] = np.nan  # at a masked step
        return [tok, x]
    if name == "tensor_mask_kwarg":
        return [f(3, 5, 3), np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=bool)]
    if name == "concat_time_masked":
        return [padded((3, 4, 3), [4, 2, 1]), padded((3, 3, 3), [3, 1, 0])]
    shapes = {"softmax_recurrent": (4, 2), "gap_channels_first": (4, 6), "flatten_channels_first": (5, 3),
              "global_pool_keepdims": (5, 3), "float16_lstm": (4, 2), "negative_axis": (5, 3),
              "wide_and_narrow": (4, 2), "bidir_backward_nobias": (4, 2), "ln_rms_scaling": (5, 3),
              "bidir_convlstm": (3, 5, 5, 2)}
    return [f(2, *shapes[name])]


def build_issue10(name, K):
    L = K.layers
    Seq = K.Sequential

    def inp(shape, n="input", dtype="float32"):
        return K.Input(shape, name=n, dtype=dtype)

    if name == "decoder_initial_state_masked":
        e, d = inp((5,), "enc_in", "int32"), inp((4,), "dec_in", "int32")
        _, h, c = L.LSTM(3, return_state=True, name="enc")(L.Embedding(9, 3, mask_zero=True, name="enc_emb")(e))
        y = L.LSTM(3, return_sequences=True, name="dec")(L.Embedding(9, 3, mask_zero=True, name="dec_emb")(d),
                                                         initial_state=[h, c])
        return K.Model([e, d], L.Dense(4, activation="softmax", name="dense")(y), name=name)
    if name == "bidir_initial_state_masked":
        x, s = inp((5, 2), "x"), inp((3,), "s")
        h_f, h_b = L.Dense(3, name="h_f")(s), L.Dense(3, name="h_b")(s)
        y = L.Bidirectional(L.GRU(3, return_sequences=True, name="gru"), name="bi")(
            L.Masking(0.0, name="mask")(x), initial_state=[h_f, h_b])
        return K.Model([x, s], L.Dense(1, name="dense")(y), name=name)
    if name == "nested_masking":
        inner = Seq([inp((5, 3), "inner_input"), L.Masking(0.0, name="mask"),
                     L.LSTM(3, return_sequences=True, name="inner_lstm")], name="inner")
        x = inp((5, 3))
        return K.Model(x, L.Dense(1, name="dense")(L.LSTM(2, name="outer")(inner(x))), name=name)
    if name == "td_masked_lstm":
        return Seq([inp((3, 4, 2)), L.Masking(0.0, name="mask"), L.TimeDistributed(L.LSTM(3, name="lstm"), name="td"),
                    L.Flatten(name="flatten"), L.Dense(1, name="dense")], name=name)
    if name == "td_embedding_lstm":
        return Seq([inp((3, 5), dtype="int32"),
                    L.TimeDistributed(L.Embedding(7, 3, mask_zero=True, name="emb"), name="td_emb"),
                    L.TimeDistributed(L.LSTM(3, name="lstm"), name="td_lstm"),
                    L.Flatten(name="flatten"), L.Dense(1, name="dense")], name=name)
    if name == "softmax_recurrent":
        return Seq([inp((4, 2)), L.LSTM(3, recurrent_activation="softmax", name="lstm"), L.Dense(1, name="dense")],
                   name=name)
    if name == "gap_channels_first":
        return Seq([inp((4, 6)), L.GlobalAveragePooling1D(data_format="channels_first", name="gap"),
                    L.Dense(1, name="dense")], name=name)
    if name == "flatten_channels_first":
        return Seq([inp((5, 3)), L.LSTM(4, return_sequences=True, name="lstm"),
                    L.Flatten(data_format="channels_first", name="flatten"), L.Dense(2, name="dense")], name=name)
    if name == "global_pool_keepdims":
        x = inp((5, 3))
        s = L.LSTM(4, return_sequences=True, name="lstm")(x)
        y = L.Concatenate(axis=1, name="concat")([L.GlobalAveragePooling1D(keepdims=True, name="gap")(s),
                                                  L.GlobalMaxPooling1D(keepdims=True, name="gmp")(s)])
        return K.Model(x, L.Dense(2, name="dense")(L.Flatten(name="flatten")(y)), name=name)
    if name == "masked_gap_nan":
        t, x = inp((5,), "tok", "int32"), inp((5, 3), "x")
        y = L.Add(name="add")([L.Embedding(6, 3, mask_zero=True, name="emb")(t), x])
        return K.Model([t, x], L.Dense(2, name="dense")(L.GlobalAveragePooling1D(name="gap")(y)), name=name)
    if name == "float16_lstm":
        return Seq([inp((4, 2)), L.LSTM(3, dtype="mixed_float16", name="lstm"), L.Dense(1, name="dense")], name=name)
    if name == "negative_axis":
        x = inp((5, 3))
        a = L.LSTM(4, return_sequences=True, name="lstm_a")(x)
        ln = L.LayerNormalization(axis=-2, name="ln")(a)
        y = L.LSTM(2, name="lstm_b")(L.Concatenate(axis=-2, name="concat")([ln, a]))
        return K.Model(x, L.Dense(1, name="dense")(y), name=name)
    if name == "wide_and_narrow":
        return Seq([inp((4, 2)), L.LSTM(10, return_sequences=True, name="wide"), L.LSTM(4, name="narrow"),
                    L.Dense(1, name="dense")], name=name)
    if name == "bidir_backward_nobias":
        return Seq([inp((4, 2)), L.Bidirectional(
            L.LSTM(3, return_sequences=True, name="fwd"), name="bi",
            backward_layer=L.LSTM(3, return_sequences=True, go_backwards=True, use_bias=False, name="bwd")),
            L.Dense(1, name="dense")], name=name)
    if name == "ln_rms_scaling":
        return Seq([inp((5, 3)), L.LSTM(4, return_sequences=True, name="lstm"),
                    L.LayerNormalization(rms_scaling=True, name="ln"), L.Dense(1, name="dense")], name=name)
    if name == "tensor_mask_kwarg":
        x, m = inp((5, 3), "x"), inp((5,), "m", "bool")
        return K.Model([x, m], L.Dense(1, name="dense")(L.LSTM(3, name="lstm")(x, mask=m)), name=name)
    if name == "concat_time_masked":
        a, b = inp((4, 3), "a"), inp((3, 3), "b")
        y = L.Concatenate(axis=1, name="concat")([L.Masking(0.0, name="mask_a")(a), L.Masking(0.0, name="mask_b")(b)])
        return K.Model([a, b], L.Dense(1, name="dense")(L.LSTM(2, name="lstm")(y)), name=name)
    if name == "bidir_convlstm":
        return Seq([inp((3, 5, 5, 2)), L.Bidirectional(
            L.ConvLSTM2D(2, (3, 3), padding="same", return_sequences=True, name="convlstm"), name="bi"),
            L.Flatten(name="flatten"), L.Dense(1, name="dense")], name=name)
    raise KeyError(name)


DESCRIPTIONS.update(ISSUE10_DESCRIPTIONS)
MODEL_NAMES = list(DESCRIPTIONS)

# Size budget: the models above "functional_masking" are written in every form; the later ones
# only as full models (tf_keras .h5, Keras 3 .keras and legacy .h5).  Forms left out are listed
# in the manifest under "omitted_forms" (they are absent from "forms").
ALL_FORMS = ["k2_h5", "k2_weights_h5", "k2_config", "k2_keras",
             "k3_h5", "k3_keras", "k3_weights_h5", "k3_config"]
REDUCED_FORMS = ["k2_h5", "k3_h5", "k3_keras"]
REDUCED_MODELS = set(MODEL_NAMES[MODEL_NAMES.index("functional_masking"):])


# The layer cases of issue 10 (sample_models/layer_cases.py), written in every form.
import layer_cases  # noqa: E402

DESCRIPTIONS.update(layer_cases.DESCRIPTIONS)
MODEL_NAMES += list(layer_cases.DESCRIPTIONS)

OMITTED_REASON = "not written (sample_models size budget: this model is written as k2_h5, k3_h5, k3_keras only)"


def wanted_forms(name):
    return REDUCED_FORMS if name in REDUCED_MODELS else ALL_FORMS


def build(name, K):
    if name in layer_cases.DESCRIPTIONS:
        return layer_cases.build(name, K)
    L = K.layers
    Seq = K.Sequential

    def inp(shape, n="input", dtype="float32"):
        return K.Input(shape, name=n, dtype=dtype)

    if name == "seed":
        return Seq([inp((3, 1)), L.LSTM(3, recurrent_activation="hard_sigmoid", name="lstm"),
                    L.Dense(1, name="dense")], name=name)
    if name == "stacked_lstm":
        return Seq([inp((5, 3)), L.LSTM(4, return_sequences=True, name="lstm_a"),
                    L.LSTM(3, name="lstm_b"), L.Dense(2, name="dense")], name=name)
    if name in BIDIR_MERGE_MODELS:
        mode = name[len("bidir_"):]
        if mode == "none":
            x = inp((4, 2))
            outs = L.Bidirectional(L.LSTM(3, return_sequences=True, name="lstm"),
                                   merge_mode=None, name="bi")(x)
            return K.Model(x, list(outs), name=name)
        return Seq([inp((4, 2)), L.Bidirectional(L.LSTM(3, return_sequences=True, name="lstm"),
                                                 merge_mode=mode, name="bi"),
                    L.Dense(2, name="dense")], name=name)
    if name in ("gru_reset_after", "gru_reset_before"):
        return Seq([inp((5, 3)), L.GRU(4, reset_after=(name == "gru_reset_after"),
                                       return_sequences=True, name="gru"),
                    L.Dense(2, name="dense")], name=name)
    if name == "simple_rnn":
        return Seq([inp((5, 3)), L.SimpleRNN(3, name="rnn"), L.Dense(1, name="dense")], name=name)
    if name == "backwards_relu_nobias":
        return Seq([inp((5, 2)), L.LSTM(3, go_backwards=True, activation="relu", use_bias=False,
                                        return_sequences=True, name="lstm"),
                    L.Dense(1, name="dense")], name=name)
    if name == "embedding_mask":
        return Seq([inp((6,), dtype="int32"), L.Embedding(10, 4, mask_zero=True, name="emb"),
                    L.LSTM(3, return_sequences=True, name="lstm_a"), L.LSTM(2, name="lstm_b"),
                    L.Dense(1, name="dense")], name=name)
    if name == "masking":
        return Seq([inp((6, 3)), L.Masking(0.0, name="mask"),
                    L.LSTM(3, return_sequences=True, name="lstm"), L.GRU(2, name="gru"),
                    L.Dense(1, name="dense")], name=name)
    if name == "two_input":
        a, b = inp((5, 3), "in_a"), inp((5, 2), "in_b")
        y = L.Concatenate(name="concat")([L.LSTM(4, name="lstm_a")(a), L.GRU(3, name="gru_b")(b)])
        return K.Model([a, b], L.Dense(2, name="dense")(y), name=name)
    if name == "return_state":
        x = inp((4, 2))
        seq, h, c = L.LSTM(3, return_sequences=True, return_state=True, name="lstm")(x)
        return K.Model(x, [L.Dense(1, name="dense")(seq), h, c], name=name)
    if name == "nested":
        inner = Seq([inp((5, 3), "inner_input"),
                     L.LSTM(3, return_sequences=True, name="inner_lstm"),
                     L.Dense(2, name="inner_dense")], name="inner")
        x = inp((5, 3))
        y = L.Dense(1, name="dense")(L.LSTM(2, name="outer_lstm")(inner(x)))
        return K.Model(x, y, name=name)
    if name == "conv1d_lstm":
        return Seq([inp((8, 2)), L.Conv1D(4, 3, name="conv"), L.LSTM(3, name="lstm"),
                    L.Dense(1, name="dense")], name=name)
    if name == "rnn_cells":
        return Seq([inp((5, 3)), L.RNN(L.LSTMCell(3), return_sequences=True, name="rnn_lstm"),
                    L.RNN(L.GRUCell(2), name="rnn_gru"), L.Dense(1, name="dense")], name=name)
    if name == "time_distributed":
        return Seq([inp((5, 3)), L.LSTM(4, return_sequences=True, name="lstm"),
                    L.TimeDistributed(L.Dense(2), name="td")], name=name)
    if name == "conv_lstm2d":
        return Seq([inp((3, 6, 6, 2)),
                    L.ConvLSTM2D(3, (3, 3), padding="same", return_sequences=False, name="convlstm"),
                    L.Flatten(name="flatten"), L.Dense(1, name="dense")], name=name)
    if name == "functional_masking":
        x = inp((6, 3))
        m = L.Masking(0.0, name="mask")(x)
        b = L.Bidirectional(L.LSTM(3, return_sequences=True, name="lstm"), merge_mode="concat", name="bi")(m)
        y = L.Dense(1, name="dense")(L.LSTM(2, name="lstm")(b))
        return K.Model(x, y, name=name)
    if name == "functional_embedding_concat":
        a, b = inp((6,), "in_a", "int32"), inp((6,), "in_b", "int32")
        ea = L.Embedding(8, 3, mask_zero=True, name="emb_a")(a)
        eb = L.Embedding(7, 2, mask_zero=True, name="emb_b")(b)
        y = L.Concatenate(axis=-1, name="concat")([ea, eb])
        y = L.GRU(3, return_sequences=True, name="gru")(y)
        y = L.GlobalAveragePooling1D(name="pool")(y)
        return K.Model([a, b], L.Dense(2, name="dense")(y), name=name)
    if name == "shared_lstm":
        a, b = inp((5, 3), "in_a"), inp((5, 3), "in_b")
        shared = L.LSTM(4, name="shared")
        y = L.Subtract(name="subtract")([shared(a), shared(b)])
        return K.Model([a, b], L.Dense(1, name="dense")(y), name=name)
    if name == "merges":
        x = inp((4, 3))
        a = L.LSTM(3, return_sequences=True, name="a")(x)
        b = L.LSTM(3, return_sequences=True, go_backwards=True, name="b")(x)
        ms = [L.Add(name="add")([a, b]), L.Multiply(name="multiply")([a, b]),
              L.Average(name="average")([a, b]), L.Maximum(name="maximum")([a, b]),
              L.Minimum(name="minimum")([a, b])]
        y = L.Concatenate(name="concat")(ms)
        return K.Model(x, L.TimeDistributed(L.Dense(1, name="dense"), name="td")(y), name=name)
    if name == "norms_and_shapes":
        return Seq([inp((6, 4)), L.BatchNormalization(name="bn"),
                    L.LSTM(4, return_sequences=True, name="lstm"),
                    L.LayerNormalization(name="ln"),
                    L.Conv1D(3, 2, padding="causal", name="conv"),
                    L.MaxPooling1D(2, name="maxpool"),
                    L.ZeroPadding1D(1, name="zeropad"),
                    L.Cropping1D((1, 0), name="crop"),
                    L.AveragePooling1D(2, padding="same", name="avgpool"),
                    L.Flatten(name="flatten"),
                    L.RepeatVector(2, name="repeat"),
                    L.SimpleRNN(3, activation="relu", return_sequences=True, name="rnn"),
                    L.Permute((2, 1), name="permute"),
                    L.Reshape((6,), name="reshape"),
                    L.Dense(1, name="dense")], name=name)
    if name == "activations":
        return Seq([inp((5, 2)),
                    L.LSTM(3, activation="softsign", recurrent_activation="hard_sigmoid",
                           return_sequences=True, name="lstm"),
                    L.GRU(3, activation="elu", recurrent_activation="sigmoid", reset_after=False,
                          return_sequences=True, name="gru"),
                    L.SimpleRNN(3, activation="selu", return_sequences=True, name="rnn"),
                    L.Dense(3, activation="swish", name="dense_swish"),
                    L.Dense(3, activation="gelu", name="dense_gelu"),
                    L.Dense(2, activation="softplus", name="dense_softplus"),
                    L.Activation("softmax", name="softmax")], name=name)
    if name == "bidir_masked_states":
        x = inp((5, 2))
        m = L.Masking(0.0, name="mask")(x)
        outs = L.Bidirectional(L.GRU(3, return_sequences=True, return_state=True, name="gru"),
                               merge_mode="sum", name="bi")(m)
        return K.Model(x, list(outs), name=name)
    if name == "seq2seq_initial_state":
        e, d = inp((4, 2), "enc_in"), inp((3, 2), "dec_in")
        _, h, c = L.LSTM(3, return_state=True, name="enc")(e)
        y = L.LSTM(3, return_sequences=True, name="dec")(d, initial_state=[h, c])
        return K.Model([e, d], L.Dense(2, name="dense")(y), name=name)
    if name == "timedistributed_conv":
        return Seq([inp((3, 8, 8, 1)),
                    L.TimeDistributed(L.Conv2D(2, (3, 3), padding="same", name="conv"), name="td_conv"),
                    L.TimeDistributed(L.MaxPooling2D((2, 2), name="pool"), name="td_pool"),
                    L.ConvLSTM2D(2, (2, 2), strides=(2, 2), padding="valid", return_sequences=True,
                                 name="convlstm"),
                    L.MaxPooling3D((1, 2, 2), name="pool3d"),
                    L.Flatten(name="flatten"), L.Dense(1, name="dense")], name=name)
    if name == "gru_backwards_masked":
        return Seq([inp((5, 2)), L.Masking(0.0, name="mask"),
                    L.GRU(3, go_backwards=True, reset_after=True, return_sequences=True, name="gru"),
                    L.SimpleRNN(2, go_backwards=True, name="rnn"),
                    L.Dense(1, name="dense")], name=name)
    return build_issue10(name, K)


# --------------------------------------------------------------------------
# Keras-side helpers
# --------------------------------------------------------------------------

# (model, layer path, weight index) -> factor: push pre-activations to where variants differ
# (exact vs tanh-approximated gelu differ by ~1e-5 near 0, by ~1e-4 around |x| = 2..3).
KERNEL_SCALE = {("activations", "dense_gelu", 0): 4.0}
CONV_CLASSES = {"ConvLSTM2D", "Conv1D", "Conv2D"}
RECURRENT_CLASSES = {"LSTM", "GRU", "SimpleRNN", "RNN", "ConvLSTM2D", *layer_cases.RECURRENT_CLASSES}
GATES = {"LSTMCell": ["i", "f", "c", "o"], "ConvLSTMCell": ["i", "f", "c", "o"],
         "ConvLSTM2DCell": ["i", "f", "c", "o"], "GRUCell": ["z", "r", "h"], "SimpleRNNCell": None,
         **layer_cases.GATES}


def is_model(layer):
    return hasattr(layer, "layers") and type(layer).__name__ in ("Sequential", "Functional", "Model")


def leaf_layers(model, prefix=""):
    for l in model.layers:
        if type(l).__name__ == "InputLayer":
            continue
        if is_model(l):
            yield from leaf_layers(l, prefix + l.name + "/")
        else:
            yield prefix + l.name, l


def set_all_weights(model, model_name):
    for path, layer in leaf_layers(model):
        ws = layer.weights
        if not ws:
            continue
        if model_name == "seed":
            if layer.name == "lstm":
                vals = [np.array(SEED_LSTM[k], "float32") for k in ("kernel", "recurrent_kernel", "bias")]
            else:
                vals = [np.array([[0.5], [-0.7], [0.9]], "float32"), np.array([0.1], "float32")]
        else:
            conv = bool(CONV_CLASSES & {type(layer).__name__, type(getattr(layer, "layer", None)).__name__})
            vals = [weight_values(model_name, path, i, w.name, tuple(w.shape), conv)
                    * KERNEL_SCALE.get((model_name, path, i), 1.0)
                    for i, w in enumerate(ws)]
        layer.set_weights(vals)


def as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def recurrent_entries(model, prefix=""):
    """(path, rnn_layer, wrapper_info) for each recurrent layer / direction."""
    for l in model.layers:
        cls = type(l).__name__
        if cls == "InputLayer":
            continue
        if is_model(l):
            yield from recurrent_entries(l, prefix + l.name + "/")
            continue
        if cls == "Bidirectional":
            print(f"    Bidirectional {l.name}: forward_layer.name={l.forward_layer.name!r} "
                  f"backward_layer.name={l.backward_layer.name!r}")
            yield (prefix + l.name + "/" + l.forward_layer.name, l.forward_layer,
                   {"direction": "forward", "top": l, "toppath": prefix + l.name})
            yield (prefix + l.name + "/" + l.backward_layer.name, l.backward_layer,
                   {"direction": "backward", "top": l, "toppath": prefix + l.name})
        elif cls in RECURRENT_CLASSES:
            yield prefix + l.name, l, {"direction": "forward", "top": l, "toppath": prefix + l.name}


def act_name(a):
    if a is None:
        return None
    if isinstance(a, str):
        return a
    if isinstance(a, dict):  # keras 3 may serialize as dict
        return a.get("config", a.get("class_name"))
    return getattr(a, "__name__", str(a))


def split_gates(arr, role, cell_cls, reset_after):
    names = GATES.get(cell_cls)
    if not names:
        return {}
    n = len(names)
    u = arr.shape[-1] // n
    return {g: arr[..., k * u:(k + 1) * u] for k, g in enumerate(names)}


# --------------------------------------------------------------------------
# Independent numpy reference forward pass (uses only the per-gate blocks)
# --------------------------------------------------------------------------


def np_act(name, gen):
    if name == "tanh":
        return np.tanh
    if name == "relu":
        return lambda x: np.maximum(x, 0.0)
    if name == "sigmoid":
        return lambda x: 1.0 / (1.0 + np.exp(-x))
    if name == "hard_sigmoid":
        if gen == "k2":
            return lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0)
        return lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0)
    if name == "softsign":
        return lambda x: x / (1.0 + np.abs(x))
    if name == "elu":
        return lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))
    if name == "selu":
        a, s = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
        return lambda x: s * np.where(x > 0, x, a * np.expm1(np.minimum(x, 0.0)))
    if name in ("linear", None):
        return lambda x: x
    raise ValueError(name)


def conv2d(x, k, strides=(1, 1), padding="same"):
    """x (B,H,W,C), k (kh,kw,C,O); TensorFlow 'same' (extra pad after) or 'valid' padding."""
    if k.ndim != 4:  # ConvLSTM1D/3D
        return layer_cases.conv_nd(x, k, strides, padding)
    kh, kw = k.shape[:2]
    sh, sw = strides
    H, W = x.shape[1:3]
    if padding == "same":
        oh, ow = -(-H // sh), -(-W // sw)
        ph = max((oh - 1) * sh + kh - H, 0)
        pw = max((ow - 1) * sw + kw - W, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (H - kh) // sh + 1, (W - kw) // sw + 1
    out = np.zeros((x.shape[0], oh, ow, k.shape[-1]), dtype=np.float64)
    for dy in range(kh):
        for dx in range(kw):
            patch = x[:, dy:dy + (oh - 1) * sh + 1:sh, dx:dx + (ow - 1) * sw + 1:sw, :]
            out += np.einsum("bhwc,co->bhwo", patch, k[dy, dx])
    return out


def np_rnn(x, G, info, gen, mask=None, zero_masked_output=False, initial_states=None, trace=None):
    """Run one recurrent layer/direction in processing order.

    x (B,T,...) as seen by the layer; G[role][gate] per-gate blocks.
    Returns (outputs in processing order (B,T,...), final states list).
    ``trace`` (a dict) receives what each step computed, (B, steps, units...) in processing
    order: the gates (LSTM/ConvLSTM ``i f c o``, c = act(candidate); GRU ``z r h``, h = the
    candidate), ``cell`` (LSTM/ConvLSTM: the cell state, carried at masked steps),
    ``hidden`` (the step's output: carried or zeros at masked steps) and ``steps`` (the
    input time index of each step).
    """
    cell = info["cell_cls"]
    act = np_act(info["activation"], gen)
    ract = np_act(info["recurrent_activation"], gen)
    x = x.astype(np.float64)
    if mask is not None:
        mask = mask.astype(bool)
    if info["go_backwards"]:
        x = x[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    B, T = x.shape[:2]
    u = info["units"]
    is_conv = cell.startswith("Conv")
    strides, padding = tuple(info.get("strides") or (1, 1)), info.get("padding") or "same"
    if is_conv:
        spatial = conv2d(x[:, 0], G["kernel"]["i"], strides, padding).shape[1:-1]
        state_shape = (B,) + spatial + (u,)
    else:
        state_shape = (B, u)
    h = np.zeros(state_shape)
    c = np.zeros(state_shape)
    if initial_states:
        h = np.asarray(initial_states[0], np.float64)
        if len(initial_states) > 1:
            c = np.asarray(initial_states[1], np.float64)
    outs = []
    per_step = {}  # quantity -> [value at each step]
    prev_out = np.zeros(state_shape)
    bias = G.get("bias")

    def lin(xt, role, g):
        w = G[role][g]
        if not is_conv:
            return xt @ w
        return conv2d(xt, w, strides, padding) if role == "kernel" else conv2d(xt, w)

    for t in range(T):
        xt = x[:, t]
        if cell == "LSTMCell" or cell.startswith("ConvLSTM"):
            z = {g: lin(xt, "kernel", g) + lin(h, "recurrent_kernel", g)
                 + (bias[g] if bias is not None else 0.0) for g in "ifco"}
            i, f, o = ract(z["i"]), ract(z["f"]), ract(z["o"])
            c_new = f * c + i * act(z["c"])
            h_new = o * act(c_new)
            step_gates = {"i": i, "f": f, "c": act(z["c"]), "o": o}
        elif cell == "GRUCell":
            if info["reset_after"]:
                bx = {g: bias[g][0] for g in "zrh"} if bias is not None else dict.fromkeys("zrh", 0.0)
                bh = {g: bias[g][1] for g in "zrh"} if bias is not None else dict.fromkeys("zrh", 0.0)
                zz = ract(xt @ G["kernel"]["z"] + bx["z"] + h @ G["recurrent_kernel"]["z"] + bh["z"])
                rr = ract(xt @ G["kernel"]["r"] + bx["r"] + h @ G["recurrent_kernel"]["r"] + bh["r"])
                hh = act(xt @ G["kernel"]["h"] + bx["h"] + rr * (h @ G["recurrent_kernel"]["h"] + bh["h"]))
            else:
                b = bias if bias is not None else dict.fromkeys("zrh", 0.0)
                zz = ract(xt @ G["kernel"]["z"] + b["z"] + h @ G["recurrent_kernel"]["z"])
                rr = ract(xt @ G["kernel"]["r"] + b["r"] + h @ G["recurrent_kernel"]["r"])
                hh = act(xt @ G["kernel"]["h"] + b["h"] + (rr * h) @ G["recurrent_kernel"]["h"])
            h_new = zz * h + (1.0 - zz) * hh
            c_new = None
            step_gates = {"z": zz, "r": rr, "h": hh}
        elif cell == "SimpleRNNCell":
            h_new = act(xt @ G["kernel"] + h @ G["recurrent_kernel"] + (bias if bias is not None else 0.0))
            c_new = None
            step_gates = {}
        else:
            raise ValueError(cell)
        if mask is not None:
            m = mask[:, t].reshape((B,) + (1,) * (h.ndim - 1))
            h = np.where(m, h_new, h)
            if c_new is not None:
                c = np.where(m, c_new, c)
            out = np.where(m, h_new, 0.0 if zero_masked_output else prev_out)
        else:
            h = h_new
            if c_new is not None:
                c = c_new
            out = h_new
        prev_out = out
        outs.append(out)
        for g, v in step_gates.items():
            per_step.setdefault(g, []).append(v)
        if c_new is not None:
            per_step.setdefault("cell", []).append(c)
    states = [h] + ([c] if cell != "GRUCell" and cell != "SimpleRNNCell" else [])
    if trace is not None:
        for q, vs in per_step.items():
            trace[q] = np.stack(vs, axis=1).astype(np.float32)
        trace["hidden"] = np.stack(outs, axis=1).astype(np.float32)
        trace["steps"] = np.arange(T)[::-1].copy() if info["go_backwards"] else np.arange(T)
    return np.stack(outs, axis=1), states


# --------------------------------------------------------------------------
# One generation (child process)
# --------------------------------------------------------------------------


def read_keras_version(path):
    try:
        if path.endswith(".keras"):
            with zipfile.ZipFile(path) as z:
                return json.loads(z.read("metadata.json")).get("keras_version")
        import h5py
        with h5py.File(path, "r") as f:
            v = f.attrs.get("keras_version")
            return v.decode() if isinstance(v, bytes) else (None if v is None else str(v))
    except Exception as e:
        return f"<unreadable: {e}>"


def run_generation(gen, part_path):
    if gen == "k2":
        import tf_keras as K
    else:
        import keras as K
    import tensorflow as tf
    tf.random.set_seed(0)
    np.random.seed(0)
    out_dir = os.path.join(HERE, gen)
    exp_dir = os.path.join(HERE, "expected", gen)
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(exp_dir, exist_ok=True)
    result = {"version": K.__version__, "models": {}, "checks": []}

    for name in MODEL_NAMES:
        print(f"[{gen}] {name}")
        rec = {"forms": {}, "skipped": {}, "omitted_forms": {}, "recurrent_layers": [],
               "file_keras_versions": {}, "notes": [], "keras_reload": {}}
        result["models"][name] = rec
        # fresh name counters per model: auto-named objects (Keras 3 mask ops such as NotEqual/Any,
        # RNN cells) get the same names whatever models were built before
        K.backend.clear_session()
        try:
            model = build(name, K)
            set_all_weights(model, name)
        except Exception as e:
            rec["skipped"]["build"] = f"{type(e).__name__}: {e}"
            print(f"    SKIP build: {e}")
            continue
        inputs = make_inputs(name)
        rec["inputs"] = [{"name": (t.name.split(":")[0] if gen == "k2" else t.name),
                          "shape": [None if d is None else int(d) for d in t.shape],
                          "dtype": str(np.dtype(inputs[i].dtype))}
                         for i, t in enumerate(model.inputs)]
        # ---------------- files ----------------
        forms = ([("k2_h5", f"{name}.h5", lambda p: model.save(p)),
                  ("k2_weights_h5", f"{name}_weights.h5", lambda p: model.save_weights(p)),
                  ("k2_config", f"{name}.json", None),
                  ("k2_keras", f"{name}.keras", lambda p: model.save(p))]
                 if gen == "k2" else
                 [("k3_h5", f"{name}.h5", lambda p: model.save(p)),
                  ("k3_keras", f"{name}.keras", lambda p: model.save(p)),
                  ("k3_weights_h5", f"{name}.weights.h5", lambda p: model.save_weights(p)),
                  ("k3_config", f"{name}.config.json", None)])
        for key, fname, fn in forms:
            if key not in wanted_forms(name):
                rec["omitted_forms"][key] = OMITTED_REASON
                continue
            p = os.path.join(out_dir, fname)
            try:
                if fn is None:
                    with open(p, "w") as fh:
                        fh.write(json.dumps(json.loads(model.to_json()), indent=1, sort_keys=False) + "\n")
                else:
                    fn(p)
                rec["forms"][key] = f"{gen}/{fname}"
                if fn is not None:
                    rec["file_keras_versions"][key] = read_keras_version(p)
            except Exception as e:
                if os.path.exists(p):
                    os.remove(p)
                rec["skipped"][key] = f"{type(e).__name__}: {str(e)[:300]}"
                print(f"    SKIP {key}: {rec['skipped'][key]}")
        if gen == "k2" and name == "seed":
            model.save(os.path.join(HERE, "seed.h5"))
            with open(os.path.join(HERE, "seed_input.json"), "w") as fh:  # the README's `run` example input
                json.dump(SEED_INPUT[0], fh)
                fh.write("\n")
        # ---------------- numbers ----------------
        npz = {}
        for i, a in enumerate(inputs):
            npz[f"input/{i}"] = a
        feed = inputs if len(inputs) > 1 else inputs[0]
        preds = as_list(model.predict(feed, verbose=0))
        rec["n_outputs"] = len(preds)
        for k, a in enumerate(preds):
            npz[f"output/{k}"] = np.asarray(a)
        # per-layer inputs/outputs (and input masks) through one probe model
        tensors, slots = [], []
        def add(t):
            for j, s in enumerate(tensors):
                if s is t:
                    return j
            tensors.append(t)
            return len(tensors) - 1
        mask_tensors = []
        def add_mask(t):
            m = getattr(t, "_keras_mask", None)
            if m is None:
                return None
            for j, (s, _) in enumerate(mask_tensors):
                if s is t:
                    return j
            mask_tensors.append((t, m))
            return len(mask_tensors) - 1
        functional = type(model).__name__ != "Sequential"
        tops = [l for l in model.layers if type(l).__name__ != "InputLayer"]
        multi = {}
        for l in tops:
            if is_model(l):  # tf_keras: a nested model's .input/.output are its own graph's
                node = l._inbound_nodes[-1]
                calls = [(node.input_tensors, node.output_tensors)]
            elif functional and len(l._inbound_nodes) > 1:  # shared layer: one call per node
                calls = [(n.input_tensors, n.output_tensors) for n in l._inbound_nodes]
                multi[l.name] = len(calls)
                print(f"    {l.name}: {len(calls)} nodes (shared layer) -> node/{l.name}/<n>/<k>")
            else:
                calls = [(l.input, l.output)]
            unmasked = gen == "k3" and (name, l.name) in ISSUE10_KERAS3_UNMASKED  # issue 10, finding 1
            slots.append([([add(t) for t in as_list(ci)], [add(t) for t in as_list(co)],
                           [None if unmasked else add_mask(t) for t in as_list(ci)]) for ci, co in calls])
        probe = K.Model(model.inputs, tensors)
        vals = [np.asarray(v) for v in as_list(probe.predict(feed, verbose=0))]
        mvals = []
        if mask_tensors:
            if gen == "k2":  # tf_keras: a mask tensor cannot be a model output; read it through a Lambda
                mouts = [K.layers.Lambda(lambda v, mask=None: tf.cast(mask, "int32"))(t) for t, _ in mask_tensors]
            else:
                mouts = [m for _, m in mask_tensors]
            mprobe = K.Model(model.inputs, mouts)
            mvals = [np.asarray(v).astype(bool) for v in as_list(mprobe.predict(feed, verbose=0))]
        layer_calls = {}  # name -> [(inputs, outputs, input masks)] one per node
        for l, cs in zip(tops, slots):
            layer_calls[l.name] = [([vals[j] for j in ii], [vals[j] for j in oo],
                                    [None if j is None else mvals[j] for j in mm]) for ii, oo, mm in cs]
            for n, (_ii, oo, mm) in enumerate(cs):
                key = f"node/{l.name}/{n}" if l.name in multi else f"layer/{l.name}"
                mkey = f"mask/{l.name}/{n}" if l.name in multi else f"mask/{l.name}"
                for k, j in enumerate(oo):
                    npz[f"{key}/{k}"] = vals[j]
                for i, j in enumerate(mm):
                    if j is not None:
                        npz[f"{mkey}/{i}"] = mvals[j]
            if is_model(l):  # nested: inner layers, fed with the recorded input
                inner_tops = [s for s in l.layers if type(s).__name__ != "InputLayer"]
                t2, sl2 = [], []
                def add2(t):
                    for j, s in enumerate(t2):
                        if s is t:
                            return j
                    t2.append(t)
                    return len(t2) - 1
                for s in inner_tops:
                    sl2.append(([add2(t) for t in as_list(s.input)], [add2(t) for t in as_list(s.output)]))
                iprobe = K.Model(l.inputs, t2)
                lin0 = layer_calls[l.name][0][0]
                ifeed = lin0 if len(lin0) > 1 else lin0[0]
                v2 = [np.asarray(v) for v in as_list(iprobe.predict(ifeed, verbose=0))]
                for s, (ii, oo) in zip(inner_tops, sl2):
                    layer_calls[l.name + "/" + s.name] = [([v2[j] for j in ii], [v2[j] for j in oo],
                                                           [None] * len(ii))]
                    for k, j in enumerate(oo):
                        npz[f"layer/{l.name}/{s.name}/{k}"] = v2[j]
        for (m_name, l_name, gens), runtime_mask in ISSUE10_RUNTIME_MASKS.items():  # issue 10, finding 2
            if gen in gens and m_name == name:
                layer_calls[l_name][0][2][0] = npz[f"mask/{l_name}/0"] = runtime_mask(inputs)
        if multi:
            rec["notes"].append("shared layers " + ", ".join(f"{k} ({v} nodes)" for k, v in multi.items())
                                + ": outputs recorded per node as node/<layer>/<n>/<k>, not layer/<layer>/<k>")
        # ---------------- recurrent layers: weights, gates, verification ----------------
        bidir_fwd = {}
        for path, rl, winfo in recurrent_entries(model):
            cell = rl.cell
            cell_cls = type(cell).__name__
            cfg = rl.get_config()
            ccfg = cell.get_config()
            cls = type(rl).__name__
            toppath = winfo["toppath"]
            calls = layer_calls[toppath]
            lin = calls[0][0][0]
            info = {
                "path": path, "class_name": cls,
                "cell_class": (cfg["cell"]["class_name"] if cls == "RNN" else None),
                "direction": winfo["direction"], "units": int(ccfg.get("units", ccfg.get("filters"))),
                "input_dim": int(lin.shape[-1]),
                "activation": act_name(ccfg.get("activation")),
                "recurrent_activation": act_name(ccfg.get("recurrent_activation")),
                "use_bias": bool(ccfg.get("use_bias", True)),
                "go_backwards": bool(cfg.get("go_backwards", False)),
                "return_sequences": bool(cfg.get("return_sequences", False)),
                "gate_order": GATES.get(cell_cls),
            }
            if cell_cls == "GRUCell":
                info["reset_after"] = bool(ccfg.get("reset_after"))
            rec["recurrent_layers"].append(info)
            G = {}
            for w, a in zip(cell.weights, cell.get_weights()):
                role = w.name.split("/")[-1].split(":")[0]
                npz[f"weights/{path}/{role}"] = a
                gs = split_gates(a, role, cell_cls, info.get("reset_after"))
                for g, blk in gs.items():
                    npz[f"gates/{path}/{role}/{g}"] = blk
                G[role] = gs if gs else a
            # ---- verification against Keras's own recorded layer output ----
            ref = dict(info, cell_cls=cell_cls)
            if cls.startswith("ConvLSTM"):
                ref.update(strides=list(ccfg.get("strides", cfg.get("strides"))),
                           padding=ccfg.get("padding", cfg.get("padding")))
            is_bidir = winfo["top"] is not rl
            for n, (ins, outs, masks) in enumerate(calls):
                mask = masks[0]  # the mask Keras passed with the sequence input (None: no mask)
                # initial_state=[...] tensors of the call (Keras 3 also lists the mask among a node's inputs)
                init = [a for a in ins[1:] if a.dtype != bool] if not is_bidir else []
                if is_bidir and name in ISSUE10_DESCRIPTIONS:  # issue 10: a Bidirectional's initial_state halves
                    both = [a for a in ins[1:] if a.dtype != bool]
                    init = both[:len(both) // 2] if winfo["direction"] == "forward" else both[len(both) // 2:]
                init = init or None
                variants = [False, True] if mask is not None else [False]
                check = {"gen": gen, "model": name, "path": path, "ok": False}
                if len(calls) > 1:
                    check["node"] = n
                if init:
                    check["initial_state"] = "from the layer's call (initial_state=[...])"
                diffs = {}
                traces = {}  # zero_masked -> this direction's per-step trace
                try:
                    best = None
                    for zero_masked in variants:
                        traces[zero_masked] = {}
                        seq, states = np_rnn(ins[0], G, ref, gen, mask, zero_masked, init, traces[zero_masked])
                        rs = info["return_sequences"]
                        if is_bidir:  # one direction of a Bidirectional
                            bi = winfo["top"]
                            if winfo["direction"] == "forward":
                                bidir_fwd[(toppath, n, zero_masked)] = (seq if rs else seq[:, -1], states,
                                                                        path, traces[zero_masked])
                                check["note"] = "checked jointly with the backward direction"
                                diff = None
                            else:
                                # Bidirectional re-reverses the backward sequence to input time order
                                b = seq[:, ::-1] if rs else seq[:, -1]
                                f, f_states = bidir_fwd[(toppath, n, zero_masked)][:2]
                                mode = bi.merge_mode
                                if mode is None:
                                    diff = max(np.max(np.abs(f - outs[0])), np.max(np.abs(b - outs[1])))
                                    n_seq = 2
                                else:
                                    merged = {"concat": lambda: np.concatenate([f, b], -1),
                                              "sum": lambda: f + b, "mul": lambda: f * b,
                                              "ave": lambda: (f + b) / 2}[mode]()
                                    diff = np.max(np.abs(merged - outs[0]))
                                    n_seq = 1
                                check["note"] = f"merge_mode={mode}; forward+backward jointly"
                                if len(outs) > n_seq:  # return_state: forward states, then backward
                                    for s_np, s_k in zip(f_states + states, outs[n_seq:]):
                                        diff = max(diff, np.max(np.abs(s_np - s_k)))
                                    check["note"] += "; + returned states of both directions"
                        else:
                            # go_backwards: Keras returns the sequence in processing (reversed) order
                            mine = seq if rs else seq[:, -1]
                            diff = np.max(np.abs(mine - outs[0]))
                            if cfg.get("return_state"):
                                for k, s_np in enumerate(states):
                                    diff = max(diff, np.max(np.abs(s_np - outs[1 + k])))
                                check["note"] = ("sequence" if rs else "last output") + " + returned states " + \
                                    ("h, c" if len(states) == 2 else "h")
                        diffs[zero_masked] = None if diff is None else float(diff)
                        if diff is None:
                            continue
                        if best is None or diff < best[0]:
                            best = (float(diff), zero_masked)
                    if best is not None:
                        check["max_abs_diff"] = best[0]
                        check["ok"] = best[0] < ATOL
                        # the per-step trace of the variant that matched Keras (both directions
                        # of a Bidirectional: the forward one was deferred to this check)
                        recorded = [(path, traces[best[1]])]
                        if is_bidir:
                            _, _, f_path, f_trace = bidir_fwd[(toppath, n, best[1])]
                            recorded.insert(0, (f_path, f_trace))
                        for p_, tr in recorded if check["ok"] or name not in ISSUE10_DESCRIPTIONS else []:
                            base = f"node_trace/{p_}/{n}" if len(calls) > 1 else f"trace/{p_}"
                            for q, v in tr.items():
                                npz[f"{base}/{q}"] = v
                        if mask is not None:
                            if diffs.get(False) == diffs.get(True):
                                check["masked_step_output"] = "indistinguishable here (no masked step after a live one)"
                            else:
                                check["masked_step_output"] = "zeros" if best[1] else "previous output (carried)"
                            check["diff_if_masked_output_carried"] = diffs.get(False)
                            check["diff_if_masked_output_zero"] = diffs.get(True)
                    else:
                        check["ok"] = None
                except Exception as e:
                    import traceback
                    traceback.print_exc()
                    check["error"] = f"{type(e).__name__}: {e}"
                    check["ok"] = False
                result["checks"].append(check)
                status = {True: "OK", False: "FAIL", None: "deferred"}[check["ok"]]
                print(f"    verify {path}{'' if len(calls) == 1 else f' node {n}'}: {status} "
                      f"{check.get('max_abs_diff', '')} {check.get('note', '')} {check.get('masked_step_output', '')}")
        # ---------------- can Keras itself load the full-model files back? ----------------
        for key in ("k2_h5", "k2_keras", "k3_h5", "k3_keras"):
            if key not in rec["forms"]:
                continue
            try:
                back = K.models.load_model(os.path.join(HERE, rec["forms"][key]), compile=False)
                again = as_list(back.predict(feed, verbose=0))
                d = max(float(np.max(np.abs(np.asarray(a) - b))) for a, b in zip(again, preds))
                rec["keras_reload"][key] = "ok" if d < ATOL else f"predictions differ by {d:.3g}"
            except Exception as e:
                rec["keras_reload"][key] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
            if rec["keras_reload"][key] != "ok":
                print(f"    reload {key}: {rec['keras_reload'][key]}")
        np.savez_compressed(os.path.join(exp_dir, f"{name}.npz"), **npz)
        rec["expected"] = f"expected/{gen}/{name}.npz"
    with open(part_path, "w") as fh:
        json.dump(result, fh, indent=1, default=str)


# --------------------------------------------------------------------------
# Parent: clean, run both generations, merge, write manifest + README
# --------------------------------------------------------------------------


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "--gen":
        run_generation(sys.argv[2], sys.argv[3])
        return
    for n in OWNED:
        p = os.path.join(HERE, n)
        if os.path.isdir(p):
            shutil.rmtree(p)
        elif os.path.exists(p):
            os.remove(p)
    tmp = tempfile.mkdtemp(prefix="lstm_inspect_gen_")
    parts = {}
    for gen in ("k2", "k3"):
        part = os.path.join(tmp, f"{gen}.json")
        subprocess.run([sys.executable, os.path.abspath(__file__), "--gen", gen, part], check=True)
        with open(part) as fh:
            parts[gen] = json.load(fh)
    shutil.rmtree(tmp)

    import platform
    info = json.loads(subprocess.run(
        [sys.executable, "-c",
         "import os;os.environ['TF_CPP_MIN_LOG_LEVEL']='3';import json,tensorflow as t,numpy as n,h5py;"
         "print(json.dumps({'tensorflow':t.__version__,'numpy':n.__version__,'h5py':h5py.__version__}))"],
        check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    generator = {"tensorflow": info["tensorflow"], "tf_keras": parts["k2"]["version"],
                 "keras": parts["k3"]["version"], "numpy": info["numpy"], "h5py": info["h5py"],
                 "python": platform.python_version()}
    models = []
    for name in MODEL_NAMES:
        r2, r3 = parts["k2"]["models"][name], parts["k3"]["models"][name]
        base = r2 if "inputs" in r2 else r3
        skipped = {}
        for g, r in (("k2", r2), ("k3", r3)):
            for k, v in r["skipped"].items():
                skipped[k if k.startswith(g) else f"{g}_{k}"] = v
        models.append({
            "name": name, "description": DESCRIPTIONS[name],
            "inputs": base.get("inputs"), "n_outputs": base.get("n_outputs"),
            "forms": {**r2["forms"], **r3["forms"]},
            "expected": {g: r["expected"] for g, r in (("k2", r2), ("k3", r3)) if "expected" in r},
            "recurrent_layers": {"k2": r2["recurrent_layers"], "k3": r3["recurrent_layers"]},
            "keras_version": {"k2": r2["file_keras_versions"].get("k2_h5"),
                              "k3": r3["file_keras_versions"].get("k3_keras")},
            "file_keras_versions": {**r2["file_keras_versions"], **r3["file_keras_versions"]},
            "skipped": skipped,
            "omitted_forms": {**r2.get("omitted_forms", {}), **r3.get("omitted_forms", {})},
            "notes": sorted(set(r2.get("notes", []) + r3.get("notes", []))),
            "keras_reload": {**r2.get("keras_reload", {}), **r3.get("keras_reload", {})},
            **({"refused": ISSUE10_REFUSED[name]} if name in ISSUE10_REFUSED else {}),  # issue 10
            **({"float16": ISSUE10_FLOAT16[name]} if name in ISSUE10_FLOAT16 else {}),
        })
    checks = parts["k2"]["checks"] + parts["k3"]["checks"]
    manifest = {"generator": generator, "gate_label_checks": checks, "models": models}
    with open(os.path.join(HERE, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")
    write_readme(generator, models, checks)

    # ---------------- summary ----------------
    total = 0
    nfiles = 0
    for root, _, files in os.walk(HERE):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
            nfiles += 1
    print("\n=== summary ===")
    print("versions:", json.dumps(generator))
    for m in models:
        print(f"{m['name']:28s} forms={','.join(m['forms'])} skipped={list(m['skipped']) or '-'}"
              f" omitted={list(m['omitted_forms']) or '-'}")
    ok = [c for c in checks if c["ok"] is True]
    bad = [c for c in checks if c["ok"] is False]
    print(f"gate-label checks: {len(ok)} passed, {len(bad)} failed, "
          f"{len(checks) - len(ok) - len(bad)} folded into a joint check")
    for c in bad:
        print("  FAILED:", c)
    print(f"files: {nfiles}, total size {total / 1e6:.2f} MB")
    if bad:
        sys.exit(1)


def write_readme(gen_versions, models, checks):
    lines = []
    w = lines.append
    w("# sample_models — Keras fixture files")
    w("")
    w("Small Keras model files written by **real Keras**, plus the numbers Keras computed for them.")
    w("They are test fixtures for lstm-inspect. TensorFlow, tf_keras and Keras 3 are *fixture tools only*:")
    w("they are never runtime or CI dependencies of lstm-inspect.")
    w("")
    w("## Regenerate")
    w("")
    w("```sh")
    w("python3 -m venv /tmp/kenv && /tmp/kenv/bin/pip install tensorflow-cpu tf-keras")
    w("/tmp/kenv/bin/python sample_models/generate.py      # from the repository root")
    w("```")
    w("")
    w("The script deletes and rewrites `k2/`, `k3/`, `expected/`, `seed.h5`, `manifest.json` and this README.")
    w("It runs tf_keras (Keras 2) and Keras 3 in two child processes. Weights are set explicitly with")
    w("`set_weights` from a seeded `numpy.random.RandomState` (kernels N(0, 0.5), ConvLSTM2D/Conv1D N(0, 0.2),")
    w("biases N(0, 0.3) kept away from zero); the same numbers go into both generations, and inputs are identical.")
    w("")
    w("Versions used for the files checked in:")
    w("")
    for k, v in gen_versions.items():
        w(f"- {k}: {v}")
    w("")
    w("## Files")
    w("")
    w("- `seed.h5` — the README example: Keras 2 (tf_keras) full model of `seed` (same as `k2/seed.h5`).")
    w("- `seed_input.json` — its input sequence (3 steps, 1 feature), for `lstm-inspect run`.")
    w("- `k2/<name>.h5` — tf_keras `model.save(path)`, legacy HDF5 full model (config + weights).")
    w("- `k2/<name>_weights.h5` — tf_keras `model.save_weights(path)`, legacy weights-only HDF5.")
    w("- `k2/<name>.json` — tf_keras `model.to_json()`.")
    w("- `k2/<name>.keras` — tf_keras `model.save(path)` with `.keras` suffix (zip archive).")
    w("- `k3/<name>.h5` — Keras 3 `model.save(path)`, legacy HDF5.")
    w("- `k3/<name>.keras` — Keras 3 native archive (zip: `config.json`, `metadata.json`, `model.weights.h5`).")
    w("- `k3/<name>.weights.h5` — Keras 3 `model.save_weights(path)`.")
    w("- `k3/<name>.config.json` — Keras 3 `model.to_json()`.")
    w("- `expected/k2/<name>.npz`, `expected/k3/<name>.npz` — what that generation's Keras computed.")
    w("- `manifest.json` — machine-readable index: versions, models, inputs, forms, recurrent layers,")
    w("  the `keras_version` string stored in each file, skipped forms (Keras refused), `omitted_forms`")
    w("  (not written, size budget), `keras_reload` (did Keras load the file back), `notes`, and the")
    w("  gate-label check results.")
    w("")
    w("## Models")
    w("")
    w("| name | description | forms written | skipped |")
    w("|---|---|---|---|")
    for m in models:
        sk = "; ".join(f"{k}: {v[:80]}" for k, v in m["skipped"].items()) or "—"
        fs = "all" if len(m["forms"]) == len(ALL_FORMS) else ", ".join(f"`{f}`" for f in m["forms"])
        w(f"| `{m['name']}` | {m['description']} | {fs} | {sk} |")
    w("")
    w("Every layer has an explicit `name=`, so layer paths are the same in both generations (the only")
    w("auto-named things are RNN cells and the Keras 3 mask op nodes, see below; the generator calls")
    w("`clear_session()` before each model so those names do not depend on the models built before).")
    w("")
    w("To stay under the size budget, the models from `functional_masking` on are written only as full")
    w("models: `k2/<name>.h5`, `k3/<name>.h5`, `k3/<name>.keras`. Their manifest entry lists the forms")
    w("left out under `omitted_forms` (those keys are absent from `forms`); tests run only the forms in `forms`")
    w("(`samples()` in tests/conftest.py).")
    w("")
    w("## `expected/*.npz` key scheme")
    w("")
    w("- `input/<i>` — input arrays fed to `predict`, in `model.inputs` order.")
    w("- `output/<k>` — `model.predict` outputs, in order (always indexed, even for one output).")
    w("- `layer/<layer_name>/<k>` — output k of each top-level layer; for the nested model also")
    w("  `layer/<outer>/<inner>/<k>` for the inner model's layers.")
    w("- `weights/<path>/<role>` — for every recurrent layer (each Bidirectional direction, each RNN cell),")
    w("  role in `kernel`, `recurrent_kernel`, `bias` (absent when `use_bias=False`): Keras's own")
    w("  `cell.get_weights()` arrays in Keras's fused layout.")
    w("- `gates/<path>/<role>/<gate>` — per-gate block of that array using Keras's own split along the LAST axis:")
    w("  LSTM / ConvLSTM2D `i, f, c, o`; GRU `z, r, h`. GRU `reset_after=True` bias is `(2, 3u)`")
    w("  (row 0 input bias, row 1 recurrent bias), so its gate blocks are `(2, u)`. SimpleRNN has no gates.")
    w("- `<path>` is the layer path as a user names it: `lstm`, `bi/forward_lstm`, `bi/backward_lstm`,")
    w("  `inner/inner_lstm`, `rnn_lstm` (an `RNN(LSTMCell)` is named by the RNN layer, not the cell).")
    w("- `node/<layer_name>/<n>/<k>` — instead of `layer/...` for a layer called more than once (a shared")
    w("  layer, `shared_lstm`'s `shared`): output k of its n-th call, in call order.")
    w("- `mask/<layer_name>/<i>` — the boolean mask Keras passed along with input i of that layer (only")
    w("  present when there is one), read from the running Keras graph: `True` = live step.")
    w("- `trace/<path>/<quantity>` — what every recurrent layer (each Bidirectional direction, each")
    w("  `RNN(cell)`, ConvLSTM2D) computed at every step, from the generator's numpy reference below, which")
    w("  is checked against Keras's own layer output (so these are Keras's numbers, step by step). float32,")
    w("  shape `(batch, steps, units)` (ConvLSTM2D `(batch, steps, rows, cols, filters)`), in **processing")
    w("  order** (reversed in time for `go_backwards` and a Bidirectional's backward direction):")
    w("  - LSTM / `RNN(LSTMCell)` / ConvLSTM2D: `i`, `f`, `c`, `o` (the gates after their activations; `c` is")
    w("    the candidate `act(x W_c + h U_c + b_c)`), `cell` (the cell state after the step), `hidden`;")
    w("  - GRU / `RNN(GRUCell)` (both `reset_after` ways): `z`, `r`, `h` (`h` is the candidate), `hidden`;")
    w("  - SimpleRNN: `hidden` only;")
    w("  - every kind: `steps` (int, shape `(steps,)`): the input time index handled at each step.")
    w("  `hidden` is the step's output. At a masked step the gates are computed from the carried state")
    w("  (and the step's input) as usual, but the state is not updated: `cell` holds the carried cell state")
    w("  and `hidden` the previous step's output, or zeros where Keras emits zeros (see below).")
    w("  This is what `lstm_inspect.run_model(...).traces[k]` exposes as `.trace.gates[g]`, `.trace.cell`,")
    w("  `.trace.hidden` and `.trace.steps` for the trace whose `.path` is `<path>`.")
    w("- `node_trace/<path>/<n>/<quantity>` — instead of `trace/...` for a layer called more than once")
    w("  (`shared_lstm`'s `shared`): the trace of its n-th call, in call order.")
    w("")
    w("## Gate-label verification")
    w("")
    w("The generator runs an independent numpy forward pass of every recurrent layer that uses only the")
    w("named per-gate blocks and the layer input recorded from Keras, and asserts it matches Keras's recorded")
    w("layer output to 1e-5 (Keras 2 `hard_sigmoid` = clip(0.2x+0.5, 0, 1); Keras 3 = clip(x/6+0.5, 0, 1);")
    w("GRU h = z*h_prev + (1-z)*hh; with masks, masked steps keep the state). Results are in")
    w("`manifest.json` → `gate_label_checks`:")
    w("")
    ok = sum(1 for c in checks if c["ok"] is True)
    bad = sum(1 for c in checks if c["ok"] is False)
    w(f"- {ok} passed, {bad} failed; Bidirectional forward directions are checked jointly with the backward one.")
    w("- A standalone `go_backwards=True` layer returns its sequence in processing (reversed) order;")
    w("  Bidirectional re-reverses its backward half to input time order.")
    w("- With a mask (Embedding `mask_zero`, Masking), masked steps keep the state and emit the *previous*")
    w("  output (not zeros) in both generations, except inside a Bidirectional with `return_sequences`")
    w("  (`functional_masking`, `bidir_masked_states`): there both directions emit *zeros* at masked steps.")
    w("  Each check records which one matched (`masked_step_output`) and the diff of the other.")
    w("- The mask the checks use is the one Keras passed (`mask/...` in the npz), and a layer called with")
    w("  `initial_state=[h, c]` (`seq2seq_initial_state`'s `dec`) starts from those recorded tensors.")
    w("- `seed` uses `hard_sigmoid`, whose definition differs between Keras 2 and Keras 3, so")
    w("  `expected/k2/seed.npz` and `expected/k3/seed.npz` outputs differ for the same weights.")
    w("")
    w("## Forward-pass semantics the samples pin down (observed with the versions above)")
    w("")
    w("- **Concatenate of masked inputs differs between generations** (`functional_embedding_concat`):")
    w("  tf_keras combines the input masks with AND (a step is live only if live in every input);")
    w("  Keras 3 with OR (`any` over the concatenated, broadcast masks). Steps live in only one input")
    w("  are therefore skipped by the GRU in Keras 2 and processed in Keras 3, so the outputs differ;")
    w("  compare `mask/gru/0` in `expected/k2/` and `expected/k3/`. GlobalAveragePooling1D averages only")
    w("  over live steps of its input mask (`mask/pool/0`).")
    w("- **A `go_backwards` RNN with `return_sequences` passes its input mask on unreversed** while its")
    w("  output sequence is in reversed (processing) order (`gru_backwards_masked`: the SimpleRNN's")
    w("  `mask/rnn/0` equals `mask/gru/0`). Row 2 of that input is *left*-padded, so after reversal the")
    w("  padded steps come last and carried-vs-zero outputs are distinguishable.")
    w("- **Keras 3 writes mask computations into a Functional config** as op nodes (`module`")
    w("  `keras.src.ops.numpy`, auto names), and the layers that consume a mask get it explicitly in their")
    w("  inbound node: `\"kwargs\": {\"mask\": <tensor from the last op>}` (RNNs also `\"training\": false`).")
    w("  `functional_masking`: `NotEqual(input, 0.0)` -> `Any(axis=-1)`; `bi` and `lstm` both get `mask=any`")
    w("  (the Masking layer's own node outputs only the data). `functional_embedding_concat`: per input")
    w("  `NotEqual(tokens, 0)` -> `ExpandDims(-1)`, `ZerosLike(embedding)` -> `LogicalOr` (broadcast), then an")
    w("  op whose class_name is `Concatenate` too (named `concatenate`; the layer is `concat`) -> `Any(axis=-1)`,")
    w("  fed to `gru` and `pool` as `mask`. tf_keras configs and Sequential configs have no such nodes.")
    w("- `manifest.json` → `models[].keras_reload` records whether Keras could load each full-model file")
    w("  back and reproduce `predict`. Keras 3 cannot load its own legacy `.h5` of a model with those op")
    w("  nodes (`Unknown layer: 'NotEqual'`); its `.keras` loads.")
    w("- A shared layer (`shared_lstm`) is one layer with two inbound nodes in the config and one set")
    w("  of weights in the file.")
    w("- `activations` uses `hard_sigmoid` (different in the two generations), `softsign`, `elu`, `selu`,")
    w("  `swish` (tf_keras writes `swish`, Keras 3 writes `silu`), `gelu` (both generations: the exact erf")
    w("  form, not the tanh approximation; its kernel is scaled x4 so the two differ by ~1e-4), `softplus`,")
    w("  and a `softmax` Activation layer.")
    w("")
    w("## File layout notes (observed with the versions above)")
    w("")
    w("- tf_keras `.h5` / `_weights.h5`: root attrs `keras_version`, `backend`; weights under")
    w("  `[model_weights/]<layer>/<weight name>`, weight names like `bi/forward_lstm/lstm_cell/kernel:0`,")
    w("  listed in the group's `weight_names` attr. A nested model's weights sit in its group")
    w("  (`inner/inner_lstm/lstm_cell/kernel:0`).")
    w("- Keras 3 legacy `.h5`: same group structure and `keras_version` = Keras 3 version, but weight names have")
    w("  no `:0`, and in a Sequential model they are prefixed by the model name")
    w("  (`bidir_concat/bi/forward_lstm/lstm_cell/kernel`); Functional models have no prefix.")
    w("- Keras 3 `.weights.h5` and the `model.weights.h5` inside `.keras` (both generations): no root attrs;")
    w("  keyed by snake_case class-derived names, not layer names (`layers/lstm`, `layers/lstm_1`,")
    w("  `layers/bidirectional/forward_layer/cell/vars/0..2`, `layers/sequential/layers/...`), variables")
    w("  numbered `vars/0,1,2` (kernel, recurrent_kernel, bias). Keras 3 adds a `name` attr on `vars` groups;")
    w("  tf_keras `.keras` does not. Map them to layers through `config.json` order.")
    w("- tf_keras `.keras` `metadata.json` has `keras_version` = the tf_keras version (e.g. `2.21.0`).")
    w("")
    with open(os.path.join(HERE, "README.md"), "w") as fh:
        fh.write("\n".join(lines))


if __name__ == "__main__":
    main()
