"""Writes the stacked-cells fixtures in this folder with real Keras (tf_keras 2.21 / Keras 3.15.1,
the sample generator's environment); run from the repository root with that environment:

    /work/kenv/bin/python tests/data/issue10/make_stacked.py

Two models in every form both generations write (``<gen>_<model>.<ext>``):

- ``seq``: Input(5,2) -> Masking -> RNN(StackedRNNCells([LSTMCell(4), GRUCell(3)]), return_sequences)
  -> Dense(1); sample 1 is zero-padded after step 3;
- ``state``: Input(5,2) -> RNN([LSTMCell(3), LSTMCell(2)], return_state) -> its five outputs
  (the last cell's output, then every cell's states in Keras's order: h0, c0, h1, c1);
- ``back``: an RNN(StackedRNNCells, go_backwards=True), which run refuses by name.

Beside each, ``<gen>_<model>.npz``: ``input``, ``output/<k>`` (Keras's predictions) and
``cell_<n>`` (cell n's output sequence, from the same weights run as one LSTM/GRU layer per
cell, return_sequences; the script checks that the last one gives Keras's stacked output); for
``seq`` also ``init/cell_<n>/<h|c>`` and ``init/output/0``: the stacked RNN called with those
initial states (``initial_state=[[h0, c0], h1]``, nested per cell in both generations).
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

CODE = """
import numpy as np
if GEN == "k2":
    import tensorflow as tf, tf_keras as K
    flat = tf.nest.flatten
    forms = ("h5", "keras")
else:
    import keras as K
    flat = K.tree.flatten
    forms = ("keras", "h5")
L = K.layers
r = np.random.RandomState(10)
x = r.normal(0, 1, (2, 5, 2)).astype("float32")
x[1, 3:] = 0

def cells_model(name):
    i = K.Input((5, 2), name="x")
    if name == "seq":
        y = L.RNN(L.StackedRNNCells([L.LSTMCell(4), L.GRUCell(3)]), return_sequences=True, name="rnn")(L.Masking(name="mask")(i))
        return K.Model(i, L.Dense(1, name="dense")(y)), [L.LSTM, L.GRU], [4, 3], True
    if name == "state":
        y = L.RNN([L.LSTMCell(3), L.LSTMCell(2)], return_state=True, name="rnn")(i)
        return K.Model(i, flat(y)), [L.LSTM, L.LSTM], [3, 2], False
    y = L.RNN(L.StackedRNNCells([L.LSTMCell(2), L.LSTMCell(2)]), go_backwards=True, name="rnn")(i)
    return K.Model(i, y), [L.LSTM, L.LSTM], [2, 2], False

for name in ("seq", "state", "back"):
    model, classes, units, masked = cells_model(name)
    model.set_weights([r.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    out = model.predict(x, verbose=0)
    out = out if isinstance(out, list) else [out]
    rec = {"input": x}
    rec.update({f"output/{k}": np.asarray(o) for k, o in enumerate(out)})
    weights = model.get_layer("rnn").get_weights()
    i = K.Input((5, 2))
    h = L.Masking()(i) if masked else i
    layers = []
    for cls, u in zip(classes, units):
        layers.append(cls(u, return_sequences=True, **({"reset_after": True} if cls is L.GRU else {})))
        h = layers[-1](h)
    if name != "back":
        seqs = K.Model(i, [l.output for l in layers])
        for l in layers:
            n = len(l.get_weights())
            l.set_weights(weights[:n])
            weights = weights[n:]
        for n, s in enumerate(seqs.predict(x, verbose=0)):
            rec[f"cell_{n}"] = s
        last = rec[f"cell_{len(layers) - 1}"]
        if name == "seq":  # the masked sample's padded steps: Keras's stacked output holds the last output
            want = out[0]
            dense = model.get_layer("dense").get_weights()
            got = last @ dense[0] + dense[1]
            assert np.abs(got[0] - want[0]).max() < 1e-5 and np.abs(got[1, :3] - want[1, :3]).max() < 1e-5
        else:
            assert np.abs(last[:, -1] - out[0]).max() < 1e-5
    if name == "seq":  # the same layers called with initial_state=[[h0, c0], h1]: Keras's own output
        states = [r.normal(0, 1, (2, u)).astype("float32") for u in (4, 4, 3)]
        inputs = [K.Input((5, 2))] + [K.Input((u,)) for u in (4, 4, 3)]
        y = model.get_layer("rnn")(model.get_layer("mask")(inputs[0]), initial_state=[inputs[1:3], inputs[3]])
        started = K.Model(inputs, model.get_layer("dense")(y))
        rec.update({"init/cell_0/h": states[0], "init/cell_0/c": states[1], "init/cell_1/h": states[2],
                    "init/output/0": started.predict([x] + states, verbose=0)})
    for ext in forms:
        model.save(f"{HERE}/{GEN}_{name}.{ext}")
    np.savez(f"{HERE}/{GEN}_{name}.npz", **rec)
"""

if __name__ == "__main__":
    for gen in ("k2", "k3"):  # the two Keras generations never share a process
        subprocess.run([sys.executable, "-c", f"HERE = {HERE!r}\nGEN = {gen!r}\n" + CODE], check=True)
