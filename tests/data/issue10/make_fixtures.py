"""Writes the files in this folder with real Keras (tf_keras 2.21 / Keras 3.15.1, the
sample generator's environment); run from the repository root with that environment:

    /work/kenv/bin/python tests/data/issue10/make_fixtures.py

Layers lstm-inspect reads but (in this branch) does not compute: a file holding them must
load, list its layers and label its gates, and ``run`` must refuse them by name (issue 10,
findings 14, 15 and 19). Weights are Keras's initial ones: only the structure matters here.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

TF_KERAS = """
import tensorflow as tf, tf_keras as K
L = K.layers
x = K.Input((5, 3), name="x")
s = L.LSTM(4, return_sequences=True, name="lstm")(x)
c = tf.concat([s[:, -1], tf.reduce_mean(s, axis=1)], axis=-1)  # SlicingOpLambda, TFOpLambda
K.Model(x, L.Dense(1, name="dense")(c)).save(HERE + "/tfop.h5")
"""

KERAS3 = """
import keras as K
L = K.layers
K.Sequential([K.Input((4, 2)), L.RNN(L.StackedRNNCells([L.LSTMCell(3), L.GRUCell(2)]), name="stacked"),
              L.Dense(1, name="dense")]).save(HERE + "/stacked.keras")
K.Sequential([K.Input((4, 2)), L.RNN(L.StackedRNNCells([L.LSTMCell(3), L.GRUCell(2)]), name="stacked"),
              L.Dense(1, name="dense")]).save(HERE + "/stacked.h5")
K.Sequential([K.Input((4, 2)), L.RNN([L.LSTMCell(3), L.GRUCell(2)], name="cells"),
              L.Dense(1, name="dense")]).save(HERE + "/cells.keras")
for ext in ("keras", "h5"):
    K.Sequential([K.Input((6, 2)), L.SeparableConv1D(3, 2, name="sep"), L.LSTM(2, name="lstm")]).save(HERE + "/sep." + ext)
    K.Sequential([K.Input((4, 2)), L.Rescaling(0.5, name="rescale"), L.LSTM(2, name="lstm")]).save(HERE + "/rescale." + ext)
"""

if __name__ == "__main__":
    for code in (TF_KERAS, KERAS3):  # the two Keras generations never share a process
        subprocess.run([sys.executable, "-c", f"HERE = {HERE!r}\n" + code], check=True)
