"""Writes the float16 fixtures in this folder with real Keras (tf_keras 2.21 / Keras 3.15.1, the
sample generator's environment, TensorFlow on CPU); run from the repository root with it:

    /work/kenv/bin/python tests/data/float16/make_float16.py

Models (``<gen>_<model>.h5`` for tf_keras, ``<gen>_<model>.keras`` for Keras 3), each with
random weights (normal, sd 0.5) and, beside it, ``<gen>_<model>.npz``: ``input/<k>``,
``output/<k>`` (Keras's predictions) and ``layer/<name>`` (every named layer's (first) output, from a
model that returns them all):

- ``stack``: Input(30,6) -> LSTM(12, float16, return_sequences) -> GRU(8, mixed_float16,
  return_sequences) -> SimpleRNN(6, relu, mixed_float16) -> Dense(3, sigmoid, mixed_float16)
  -> Dense(2) (float32, after float16 layers);
- ``gru_before``: Input(25,5) -> Dense(7, tanh, float16) -> GRU(9, reset_after=False,
  go_backwards, float16, return_sequences) -> Activation(sigmoid, float16) -> Dropout(float16);
- ``masked``: token ids (20 steps, zero-padded rows) -> Embedding(40, 8, mask_zero,
  mixed_float16) -> Bidirectional(LSTM(6, mixed_float16, return_sequences), sum) ->
  Bidirectional(GRU(5, float16), ave) and Bidirectional(SimpleRNN(4, float16), concat);
- ``long``: Input(400,4) -> LSTM(16, mixed_float16) (cell values grow: many roundings);
- ``moves``: the layers that only move values, each float16: Dense(4) -> ZeroPadding1D ->
  Cropping1D -> Permute -> Reshape -> Concatenate (with the float32 input) -> Flatten ->
  RepeatVector(3), then float16 wrappers of float32 layers: Bidirectional(LSTM(5), sum,
  mixed_float16) -> Bidirectional(GRU(3), ave, float16);
- ``options``: Masking (zero-padded rows) -> LSTM(5, use_bias=False, unroll, return_sequences,
  return_state, float16) -> GRU(4, use_bias=False, go_backwards, mixed_float16); SimpleRNN(3,
  zero_output_for_mask, float16) on the masked input; Dense(2, use_bias=False, float16) on the
  LSTM's h; the LSTM's c as an output.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

CODE = r"""
import numpy as np
if GEN == "k2":
    import tf_keras as K
    ext = "h5"
else:
    import keras as K
    ext = "keras"
L = K.layers
r = np.random.RandomState(16)
F16, MIX = "float16", "mixed_float16"

def build(name):
    if name == "stack":
        i = K.Input((30, 6), name="x")
        y = L.LSTM(12, dtype=F16, return_sequences=True, name="lstm")(i)
        y = L.GRU(8, dtype=MIX, return_sequences=True, name="gru")(y)
        y = L.SimpleRNN(6, activation="relu", dtype=MIX, name="rnn")(y)
        y = L.Dense(3, activation="sigmoid", dtype=MIX, name="d16")(y)
        y = L.Dense(2, name="d32")(y)
        return K.Model(i, y), [r.normal(0, 1, (4, 30, 6)).astype("float32")]
    if name == "gru_before":
        i = K.Input((25, 5), name="x")
        y = L.Dense(7, activation="tanh", dtype=F16, name="dense")(i)
        y = L.GRU(9, reset_after=False, go_backwards=True, return_sequences=True, dtype=F16, name="gru")(y)
        y = L.Activation("sigmoid", dtype=F16, name="act")(y)
        y = L.Dropout(0.5, dtype=F16, name="drop")(y)
        return K.Model(i, y), [r.normal(0, 1, (3, 25, 5)).astype("float32")]
    if name == "masked":
        i = K.Input((20,), name="ids", dtype="int32")
        e = L.Embedding(40, 8, mask_zero=True, dtype=MIX, name="emb")(i)
        y = L.Bidirectional(L.LSTM(6, dtype=MIX, return_sequences=True), merge_mode="sum", name="bi_lstm")(e)
        a = L.Bidirectional(L.GRU(5, dtype=F16), merge_mode="ave", name="bi_gru")(y)
        b = L.Bidirectional(L.SimpleRNN(4, dtype=F16), merge_mode="concat", name="bi_rnn")(y)
        ids = r.randint(1, 40, (4, 20)).astype("int32")
        ids[1, 12:] = 0
        ids[2, 3:] = 0
        return K.Model(i, [a, b]), [ids]
    if name == "moves":
        i = K.Input((6, 4), name="x")
        y = L.Dense(4, dtype=F16, name="dense")(i)
        y = L.ZeroPadding1D(1, dtype=F16, name="pad")(y)
        y = L.Cropping1D((2, 0), dtype=F16, name="crop")(y)
        y = L.Permute((2, 1), dtype=F16, name="perm")(y)
        y = L.Reshape((6, 4), dtype=F16, name="reshape")(y)
        y = L.Concatenate(dtype=F16, name="cat")([y, i])
        y = L.Flatten(dtype=F16, name="flat")(y)
        y = L.RepeatVector(3, dtype=F16, name="repeat")(y)
        y = L.Bidirectional(L.LSTM(5, return_sequences=True), merge_mode="sum", dtype=MIX, name="bi")(y)
        y = L.Bidirectional(L.GRU(3), merge_mode="ave", dtype=F16, name="bi2")(y)
        return K.Model(i, [y]), [r.normal(0, 1, (3, 6, 4)).astype("float32")]
    if name == "options":
        i = K.Input((12, 3), name="x")
        m = L.Masking(name="mask")(i)
        y, h, c = L.LSTM(5, use_bias=False, unroll=True, return_sequences=True, return_state=True, dtype=F16,
                         name="lstm")(m)
        g = L.GRU(4, use_bias=False, go_backwards=True, dtype=MIX, name="gru")(y)
        s = L.SimpleRNN(3, activation="tanh", zero_output_for_mask=True, return_sequences=True, dtype=F16,
                        name="rnn")(m)
        d = L.Dense(2, use_bias=False, dtype=F16, name="dense")(h)
        x = r.normal(0, 1, (3, 12, 3)).astype("float32")
        x[1, 8:] = 0
        x[2, 2:] = 0
        return K.Model(i, [g, s, d, c]), [x]
    i = K.Input((400, 4), name="x")
    y = L.LSTM(16, dtype=MIX, name="lstm")(i)
    return K.Model(i, [y]), [r.normal(0, 1, (2, 400, 4)).astype("float32")]

for name in ("stack", "gru_before", "masked", "long", "moves", "options"):
    model, xs = build(name)
    model.set_weights([r.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    out = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    out = out if isinstance(out, list) else [out]
    rec = {f"input/{k}": x for k, x in enumerate(xs)}
    rec.update({f"output/{k}": np.asarray(o) for k, o in enumerate(out)})
    named = [l for l in model.layers if not isinstance(l, L.InputLayer)]
    firsts = [l.output[0] if isinstance(l.output, (list, tuple)) else l.output for l in named]
    every = K.Model(model.inputs, firsts).predict(xs if len(xs) > 1 else xs[0], verbose=0)
    every = every if isinstance(every, list) else [every]
    rec.update({f"layer/{l.name}": np.asarray(v) for l, v in zip(named, every)})
    path = os.path.join(HERE, f"{GEN}_{name}")
    model.save(f"{path}.{ext}")
    np.savez_compressed(f"{path}.npz", **rec)
    print(GEN, name, {k: (v.shape, str(v.dtype)) for k, v in rec.items()})
"""

if __name__ == "__main__":
    for gen in ("k2", "k3"):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
        code = f"GEN = {gen!r}\nHERE = {HERE!r}\nimport os\n" + CODE
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
