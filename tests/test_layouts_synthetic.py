"""Layouts no installable Keras writes any more, built with h5py exactly as the old
writers laid them out (docs/formats.md sections 2.3, 2.4, 2.6, 4.5 and 6).

The numbers in them are real: per-gate blocks and fused arrays that real Keras
recorded for the sample models (``sample_models/expected/k2/*.npz``, keys
``weights/<path>/<role>`` and ``gates/<path>/<role>/<gate>``). Expected values are
derived from those arrays with Keras's own conversion rules, written out here:

* Keras 1 -> Keras 2 (``K@2.2.4:keras/engine/saving.py preprocess_weights_for_loading``):
  LSTM ``kernel = concat([w[0], w[6], w[3], w[9]])`` ("old: i, c, f, o / new: i, f, c, o"),
  GRU ``kernel = concat([w[0], w[3], w[6]])``; likewise recurrent kernel and bias.
* CuDNN -> plain (``K@2.2.4:keras/engine/saving.py _convert_rnn_weights``):
  per gate block ``k.T.reshape(k.shape, order='F')`` for the kernel, ``r.T`` for the
  recurrent kernel; LSTM bias ``np.sum(np.split(b, 2), axis=0)``, GRU bias
  ``b.reshape((2, -1))``. The same function converts plain -> CuDNN with ``order='C'``
  (``transpose_input(from_cudnn=False)``), which is how the CuDNN files are built here.

Nothing expected comes from lstm_inspect itself.
"""

import json
import re

import h5py
import numpy as np
import pytest
from conftest import MODELS, SAMPLES

import lstm_inspect

KERAS1_LSTM_ORDER = ("i", "c", "f", "o")  # K@1.2.2 LSTM.build: trainable_weights W_i, U_i, b_i, W_c, ...
KERAS1_GRU_ORDER = ("z", "r", "h")  # K@1.2.2 GRU.build: W_z, U_z, b_z, W_r, ...
KERAS1_ROLE = {"W": "kernel", "U": "recurrent_kernel", "b": "bias"}


def k2(name):
    """What real Keras 2 (tf_keras) recorded for a sample model."""
    return np.load(SAMPLES / MODELS[name]["expected"]["k2"])


# ------------------------------------------------------------------------------------
# Writers, following the legacy HDF5 layout (docs/formats.md 2.1, 2.3, 2.4, 2.6)


def write_weights(parent, layer_names, groups):
    """``layer_names`` on ``parent``; per layer a group with ``weight_names`` (bytes, in
    order) and one dataset per name ('/' in a name makes nested groups, as h5py does)."""
    parent.attrs["layer_names"] = np.array([n.encode() for n in layer_names])
    for name in layer_names:
        g = parent.create_group(name)
        arrays = groups.get(name, [])
        g.attrs["weight_names"] = np.array([n.encode() for n, _ in arrays]) if arrays else np.asarray([])
        for weight_name, value in arrays:
            g.create_dataset(weight_name, data=np.asarray(value, dtype=np.float32))


def write_full_model(path, keras_version, model_config, layer_names, groups, backend=None):
    """``model.save()``: Keras 1 writes root keras_version + model_config and *no*
    keras_version/backend on /model_weights (K@1.2.2 keras/models.py save_model);
    Keras 2 writes backend and keras_version on both (K@2.2.4 saving.py)."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = keras_version.encode()
        if backend:
            f.attrs["backend"] = backend.encode()
        f.attrs["model_config"] = json.dumps(model_config).encode("utf8")
        g = f.create_group("model_weights")
        write_weights(g, layer_names, groups)
        if backend:
            g.attrs["keras_version"] = keras_version.encode()
            g.attrs["backend"] = backend.encode()
    return path


def write_weights_only(path, layer_names, groups, keras_version=None, backend=None):
    """``save_weights()``: Keras 1 writes ``layer_names`` only (K@1.2.2
    Container.save_weights); Keras 2 adds backend and keras_version (K@2.2.4)."""
    with h5py.File(path, "w") as f:
        write_weights(f, layer_names, groups)
        if keras_version:
            f.attrs["keras_version"] = keras_version.encode()
        if backend:
            f.attrs["backend"] = backend.encode()
    return path


def keras1_arrays(prefix, expected, path, gates, suffix):
    """Keras 1 per-gate arrays ``<prefix>_W_<g>``, ``_U_<g>``, ``_b_<g>`` in the writer's
    gate order, each the real Keras gate block of that gate and role."""
    out = []
    for g in gates:
        for letter, role in KERAS1_ROLE.items():
            out.append((f"{prefix}_{letter}_{g}{suffix}", expected[f"gates/{path}/{role}/{g}"]))
    return out


def keras1_lstm_config(name, units, input_shape, **extra):
    """An LSTM entry of a Keras 1.2.2 config (keys as K@1.2.2 LSTM.get_config writes them)."""
    config = {
        "name": name, "trainable": True, "output_dim": units, "init": "glorot_uniform",
        "inner_init": "orthogonal", "forget_bias_init": "one", "activation": "tanh",
        "inner_activation": "hard_sigmoid", "W_regularizer": None, "U_regularizer": None,
        "b_regularizer": None, "dropout_W": 0.0, "dropout_U": 0.0, "return_sequences": False,
        "go_backwards": False, "stateful": False, "unroll": False, "consume_less": "cpu",
        "input_dim": None, "input_length": None,
    }
    if input_shape is not None:
        config["batch_input_shape"] = [None, *input_shape]
        config["input_dtype"] = "float32"
    config.update(extra)
    return {"class_name": "LSTM", "config": config}


def keras1_rule(weights, order):
    """Keras's preprocess_weights_for_loading for Keras 1 recurrent arrays, as written
    in K@2.2.4: LSTM [0,6,3,9]/[1,7,4,10]/[2,8,5,11], GRU [0,3,6]/[1,4,7]/[2,5,8]."""
    w = [np.asarray(v) for _, v in weights]
    if order == KERAS1_LSTM_ORDER:
        idx = ([0, 6, 3, 9], [1, 7, 4, 10], [2, 8, 5, 11])
    else:
        idx = ([0, 3, 6], [1, 4, 7], [2, 5, 8])
    return {role: np.concatenate([w[k] for k in ks], axis=-1) for role, ks in zip(("kernel", "recurrent_kernel", "bias"), idx)}


def read_h5(path, h5_path):
    with h5py.File(path, "r") as f:
        return f[h5_path][()]


def assert_named_gates(path, layer_report, units):
    """Each Keras 1 array is labelled, whole, with the gate and role its name says."""
    for w in layer_report.weights:
        m = re.search(r"_([WUb])_([a-z])(:0)?$", w.name)
        assert m, w.name
        assert w.role == KERAS1_ROLE[m.group(1)], w.name
        (s,) = w.slices
        assert (s.gate, s.slice.start, s.slice.stop, s.slice.row, s.slice.part) == (m.group(2), 0, units, None, None)
        assert w.shape[-1] == units


def assert_canonical(view, expected, path):
    canonical = view.canonical()
    for role in ("kernel", "recurrent_kernel", "bias"):
        np.testing.assert_array_equal(canonical[role], expected[f"weights/{path}/{role}"], err_msg=f"{path} {role}")


# ------------------------------------------------------------------------------------
# a. Keras 1 LSTM


@pytest.mark.parametrize("suffix", ["", ":0"], ids=["theano-names", "tensorflow-names"])
def test_keras1_lstm_full_model(tmp_path, suffix):
    exp = k2("stacked_lstm")
    weights = keras1_arrays("lstm_1", exp, "lstm_a", KERAS1_LSTM_ORDER, suffix)
    assert [n for n, _ in weights][:4] == [f"lstm_1_W_i{suffix}", f"lstm_1_U_i{suffix}", f"lstm_1_b_i{suffix}", f"lstm_1_W_c{suffix}"]
    # The fixture itself obeys Keras's rule: converting it gives the real fused arrays.
    for role, fused in keras1_rule(weights, KERAS1_LSTM_ORDER).items():
        np.testing.assert_array_equal(fused, exp[f"weights/lstm_a/{role}"])

    config = {"class_name": "Sequential", "config": [keras1_lstm_config("lstm_1", 4, [5, 3])]}
    path = write_full_model(tmp_path / "k1_lstm.h5", "1.2.2", config, ["lstm_1"], {"lstm_1": weights})
    with h5py.File(path, "r") as f:  # the layout of docs/formats.md section 2.3: no keras_version on model_weights
        assert "keras_version" not in f["model_weights"].attrs and "backend" not in f.attrs

    model = lstm_inspect.load(path)
    assert (model.format, model.keras_version, model.config_source) == ("keras-h5", "1.2.2", "file")
    report = lstm_inspect.label_gates(model)
    assert report.hard_sigmoid == "keras2"
    (layer,) = report.layers
    v = layer.layer
    assert (v.path, v.class_name, v.kind, v.layout) == ("lstm_1", "LSTM", "lstm", "keras1")
    assert (v.units, v.input_dim, v.direction, v.use_bias) == (4, 3, "forward", True)
    # output_dim / inner_activation are Keras 1 names for units / recurrent_activation
    assert (v.activation, v.recurrent_activation, v.assumed) == ("tanh", "hard_sigmoid", [])
    assert [w.name for w in layer.weights] == [n for n, _ in weights]
    assert_named_gates("lstm_a", layer, 4)
    for w in layer.weights:
        stored = read_h5(path, w.h5_path)
        (s,) = w.slices
        np.testing.assert_array_equal(s.slice.block(stored), exp[f"gates/lstm_a/{w.role}/{s.gate}"])
    (view,) = lstm_inspect.recurrent_layers(model)
    assert_canonical(view, exp, "lstm_a")


def test_keras1_lstm_weights_only_inferred(tmp_path):
    exp = k2("stacked_lstm")
    weights = keras1_arrays("lstm_1", exp, "lstm_a", KERAS1_LSTM_ORDER, ":0")
    path = write_weights_only(tmp_path / "k1_weights.h5", ["lstm_1"], {"lstm_1": weights})
    model = lstm_inspect.load(path)
    assert (model.format, model.keras_version, model.config_source) == ("keras-h5-weights", None, "weights")
    report = lstm_inspect.label_gates(model)
    (layer,) = report.layers
    v = layer.layer
    assert (v.path, v.class_name, v.layout, v.units, v.input_dim) == ("lstm_1", "LSTM", "keras1", 4, 3)
    # No config: Keras 1's defaults (K@1.2.2 LSTM.__init__: activation='tanh',
    # inner_activation='hard_sigmoid'), and the layer says they were assumed.
    assert (v.activation, v.recurrent_activation) == ("tanh", "hard_sigmoid")
    assert {"activation", "recurrent_activation"} <= set(v.assumed)
    assert any("assumed" in n for n in layer.notes)
    assert any("inferred" in n for n in layer.notes)
    assert_named_gates("lstm_a", layer, 4)
    (view,) = lstm_inspect.recurrent_layers(model)
    assert_canonical(view, exp, "lstm_a")


# ------------------------------------------------------------------------------------
# b. Keras 1 GRU


@pytest.mark.parametrize("with_config", [True, False], ids=["full-model", "weights-only"])
def test_keras1_gru(tmp_path, with_config):
    # Keras 1's GRU is the reset_after=False GRU (it predates reset_after).
    exp = k2("gru_reset_before")
    weights = keras1_arrays("gru_1", exp, "gru", KERAS1_GRU_ORDER, ":0")
    assert [n for n, _ in weights] == [
        f"gru_1_{k}_{g}:0" for g in KERAS1_GRU_ORDER for k in ("W", "U", "b")
    ]
    for role, fused in keras1_rule(weights, KERAS1_GRU_ORDER).items():
        np.testing.assert_array_equal(fused, exp[f"weights/gru/{role}"])
    if with_config:
        gru = keras1_lstm_config("gru_1", 4, [5, 3], return_sequences=True)
        gru["class_name"] = "GRU"
        del gru["config"]["forget_bias_init"]
        path = write_full_model(
            tmp_path / "k1_gru.h5", "1.2.2", {"class_name": "Sequential", "config": [gru]}, ["gru_1"], {"gru_1": weights}
        )
    else:
        path = write_weights_only(tmp_path / "k1_gru_weights.h5", ["gru_1"], {"gru_1": weights})
    model = lstm_inspect.load(path)
    (layer,) = lstm_inspect.label_gates(model).layers
    v = layer.layer
    assert (v.path, v.class_name, v.kind, v.layout, v.units, v.input_dim) == ("gru_1", "GRU", "gru", "keras1", 4, 3)
    assert v.reset_after is False
    assert (v.activation, v.recurrent_activation) == ("tanh", "hard_sigmoid")
    assert (v.assumed == []) is with_config
    if with_config:
        assert v.return_sequences is True
    assert_named_gates("gru", layer, 4)
    (view,) = lstm_inspect.recurrent_layers(model)
    assert_canonical(view, exp, "gru")


# ------------------------------------------------------------------------------------
# Keras 1 layers that store three fused arrays <name>_W, <name>_U, <name>_b: SimpleRNN
# always, LSTM and GRU with consume_less='gpu' (K@1.2.2 keras/layers/recurrent.py). Their
# blocks are already in Keras 2's order; the Keras 2 loader converts only 12 / 9 arrays
# (docs/formats.md 2.3 and 6: "as stored").


@pytest.mark.parametrize("with_config", [True, False], ids=["full-model", "weights-only"])
@pytest.mark.parametrize(
    "sample, path, name, class_name, units, input_dim",
    [("simple_rnn", "rnn", "simplernn_1", "SimpleRNN", 3, 3), ("stacked_lstm", "lstm_a", "lstm_1", "LSTM", 4, 3)],
    ids=["simple_rnn", "lstm-consume_less-gpu"],
)
def test_keras1_fused_arrays(tmp_path, with_config, sample, path, name, class_name, units, input_dim):
    exp = k2(sample)
    weights = [(f"{name}_{letter}", exp[f"weights/{path}/{role}"]) for letter, role in KERAS1_ROLE.items()]
    if with_config:
        layer = keras1_lstm_config(name, units, [5, input_dim], consume_less="gpu")
        layer["class_name"] = class_name
        if class_name == "SimpleRNN":
            for key in ("inner_activation", "forget_bias_init", "consume_less"):
                del layer["config"][key]
        config = {"class_name": "Sequential", "config": [layer]}
        file = write_full_model(tmp_path / "k1.h5", "1.2.2", config, [name], {name: weights})
    else:
        file = write_weights_only(tmp_path / "k1_weights.h5", [name], {name: weights})
    model = lstm_inspect.load(file)
    (layer,) = lstm_inspect.label_gates(model).layers
    v = layer.layer
    assert (v.path, v.class_name, v.units, v.input_dim, v.layout) == (name, class_name, units, input_dim, "keras2")
    assert v.activation == "tanh"
    assert v.recurrent_activation == (None if class_name == "SimpleRNN" else "hard_sigmoid")
    assert ("activation" in v.assumed) is not with_config
    gates = () if class_name == "SimpleRNN" else ("i", "f", "c", "o")
    for w in layer.weights:
        stored = read_h5(file, w.h5_path)
        if not gates:
            assert [(s.gate, s.slice.start, s.slice.stop) for s in w.slices] == [(None, 0, units)]
            continue
        assert [s.gate for s in w.slices] == list(gates)
        for s in w.slices:
            np.testing.assert_array_equal(s.slice.block(stored), exp[f"gates/{path}/{w.role}/{s.gate}"])
    (view,) = lstm_inspect.recurrent_layers(model)
    assert_canonical(view, exp, path)


# ------------------------------------------------------------------------------------
# c. Keras 1 Bidirectional


@pytest.mark.parametrize("with_config", [True, False], ids=["full-model", "weights-only"])
def test_keras1_bidirectional(tmp_path, with_config):
    """K@1.2.2 keras/layers/wrappers.py: the halves are renamed forward_<name> and
    backward_<name>; the wrapper's weights are the forward list then the backward list,
    flat under the wrapper's group (as in the real k1_dl4j_bidirectional_lstm_tf.h5)."""
    exp = k2("bidir_concat")
    weights = keras1_arrays("forward_lstm_1", exp, "bi/forward_lstm", KERAS1_LSTM_ORDER, ":0")
    weights += keras1_arrays("backward_lstm_1", exp, "bi/backward_lstm", KERAS1_LSTM_ORDER, ":0")
    assert len(weights) == 24
    groups = {"bidirectional_1": weights}
    if with_config:
        inner = keras1_lstm_config("lstm_1", 3, None, return_sequences=True)
        bidir = {
            "class_name": "Bidirectional",
            "config": {"name": "bidirectional_1", "trainable": True, "batch_input_shape": [None, 4, 2],
                       "input_dtype": "float32", "layer": inner, "merge_mode": "concat"},
        }
        config = {"class_name": "Sequential", "config": [bidir]}
        path = write_full_model(tmp_path / "k1_bidir.h5", "1.2.2", config, ["bidirectional_1"], groups)
    else:
        path = write_weights_only(tmp_path / "k1_bidir_weights.h5", ["bidirectional_1"], groups)
    model = lstm_inspect.load(path)
    report = lstm_inspect.label_gates(model)
    assert [r.layer.path for r in report.layers] == ["bidirectional_1/forward_lstm_1", "bidirectional_1/backward_lstm_1"]
    for layer, half, direction in zip(report.layers, ("bi/forward_lstm", "bi/backward_lstm"), ("forward", "backward")):
        v = layer.layer
        assert (v.class_name, v.layout, v.units, v.input_dim) == ("LSTM", "keras1", 3, 2)
        assert (v.direction, v.go_backwards) == (direction, direction == "backward")
        assert (v.activation, v.recurrent_activation) == ("tanh", "hard_sigmoid")
        if with_config:
            assert v.assumed == [] and v.return_sequences is True
        assert [w.name.split("_W_")[0].split("_U_")[0].split("_b_")[0] for w in layer.weights] == [
            f"{direction}_lstm_1"
        ] * 12
        assert_named_gates(half, layer, 3)
        for w in layer.weights:
            (s,) = w.slices
            np.testing.assert_array_equal(s.slice.block(read_h5(path, w.h5_path)), exp[f"gates/{half}/{w.role}/{s.gate}"])
    for view, half in zip(lstm_inspect.recurrent_layers(model), ("bi/forward_lstm", "bi/backward_lstm")):
        assert_canonical(view, exp, half)


# ------------------------------------------------------------------------------------
# d, e. CuDNNLSTM / CuDNNGRU (docs/formats.md 4.5)


def to_cudnn_kernel(kernel, n_gates):
    """Keras's plain -> CuDNN kernel transform (_convert_rnn_weights with from_cudnn=False):
    per gate block ``k.T.reshape(k.shape, order='C')``."""
    return np.hstack([k.T.reshape(k.shape, order="C") for k in np.hsplit(kernel, n_gates)])


def from_cudnn_kernel(kernel, n_gates):
    """Keras's CuDNN -> plain kernel transform: per gate block ``k.T.reshape(k.shape, order='F')``."""
    return np.hstack([k.T.reshape(k.shape, order="F") for k in np.hsplit(kernel, n_gates)])


def cudnn_arrays(exp, path, n_gates):
    kernel = exp[f"weights/{path}/kernel"]
    recurrent = exp[f"weights/{path}/recurrent_kernel"]
    bias = exp[f"weights/{path}/bias"]
    cudnn_kernel = to_cudnn_kernel(kernel, n_gates)
    assert not np.array_equal(cudnn_kernel, kernel)  # the layout quirk is visible in this data
    np.testing.assert_array_equal(from_cudnn_kernel(cudnn_kernel, n_gates), kernel)
    cudnn_recurrent = np.hstack([r.T for r in np.hsplit(recurrent, n_gates)])
    np.testing.assert_array_equal(np.hstack([r.T for r in np.hsplit(cudnn_recurrent, n_gates)]), recurrent)
    if bias.ndim == 2:  # GRU(reset_after=True): rows are the input and recurrent biases
        cudnn_bias = bias.reshape(-1)
        np.testing.assert_array_equal(cudnn_bias.reshape((2, -1)), bias)
    else:  # LSTM: any split whose sum is the Keras bias
        b_recurrent = np.full_like(bias, 0.25)
        cudnn_bias = np.concatenate([bias - b_recurrent, b_recurrent]).astype(np.float32)
        np.testing.assert_allclose(np.sum(np.split(cudnn_bias, 2), axis=0), bias, rtol=0, atol=1e-6)
    return cudnn_kernel, cudnn_recurrent, cudnn_bias


def cudnn_file(tmp_path, exp, path, n_gates, class_name, full, units, input_shape):
    kernel, recurrent, bias = cudnn_arrays(exp, path, n_gates)
    arrays = [("rnn_1/kernel:0", kernel), ("rnn_1/recurrent_kernel:0", recurrent), ("rnn_1/bias:0", bias)]
    if not full:  # like the real k2_textgenrnn_cudnnlstm_weights.hdf5
        return write_weights_only(tmp_path / "cudnn_weights.h5", ["rnn_1"], {"rnn_1": arrays}, "2.1.5", "tensorflow"), arrays
    layer = {
        "class_name": class_name,
        "config": {
            "name": "rnn_1", "trainable": True, "batch_input_shape": [None, *input_shape], "dtype": "float32",
            "return_sequences": False, "return_state": False, "go_backwards": False, "stateful": False,
            "units": units, "kernel_initializer": {"class_name": "VarianceScaling", "config": {}},
            "recurrent_initializer": {"class_name": "Orthogonal", "config": {}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None, "recurrent_regularizer": None, "bias_regularizer": None,
            "activity_regularizer": None, "kernel_constraint": None, "recurrent_constraint": None,
            "bias_constraint": None,
        },
    }
    if class_name == "CuDNNLSTM":
        layer["config"]["unit_forget_bias"] = True
    config = {"class_name": "Sequential", "config": [layer]}  # Keras 2.1: Sequential config is a list
    return write_full_model(tmp_path / "cudnn.h5", "2.1.5", config, ["rnn_1"], {"rnn_1": arrays}, "tensorflow"), arrays


@pytest.mark.parametrize("full", [False, True], ids=["weights-only", "full-model"])
def test_cudnn_lstm(tmp_path, full):
    exp = k2("stacked_lstm")
    path, arrays = cudnn_file(tmp_path, exp, "lstm_a", 4, "CuDNNLSTM", full, 4, [5, 3])
    model = lstm_inspect.load(path)
    assert model.keras_version == "2.1.5"
    (layer,) = lstm_inspect.label_gates(model).layers
    v = layer.layer
    assert (v.path, v.class_name, v.kind, v.layout, v.units, v.input_dim) == ("rnn_1", "CuDNNLSTM", "lstm", "cudnn", 4, 3)
    # CuDNN layers have no activation options: tanh and sigmoid (K@2.2.4 cudnn_recurrent.py)
    assert (v.activation, v.recurrent_activation) == ("tanh", "sigmoid")
    assert "activation" not in v.assumed and "recurrent_activation" not in v.assumed
    kernel_w, recurrent_w, bias_w = layer.weights
    assert [w.role for w in layer.weights] == ["kernel", "recurrent_kernel", "bias"]
    gates = ("i", "f", "c", "o")
    for w in (kernel_w, recurrent_w):
        assert [(s.gate, s.slice.start, s.slice.stop, s.slice.part) for s in w.slices] == [
            (g, 4 * k, 4 * k + 4, None) for k, g in enumerate(gates)
        ]
    assert [(s.gate, s.slice.start, s.slice.stop, s.slice.part) for s in bias_w.slices] == [
        (g, 4 * k, 4 * k + 4, "input") for k, g in enumerate(gates)
    ] + [(g, 16 + 4 * k, 16 + 4 * k + 4, "recurrent") for k, g in enumerate(gates)]
    # Each labelled block, converted the way Keras converts it, is that gate's real block.
    stored = {w.role: read_h5(path, w.h5_path) for w in layer.weights}
    for s in kernel_w.slices:
        block = s.slice.block(stored["kernel"])
        np.testing.assert_array_equal(block.T.reshape(block.shape, order="F"), exp[f"gates/lstm_a/kernel/{s.gate}"])
    for s in recurrent_w.slices:
        np.testing.assert_array_equal(s.slice.block(stored["recurrent_kernel"]).T, exp[f"gates/lstm_a/recurrent_kernel/{s.gate}"])
    parts = {(s.gate, s.slice.part): s.slice.block(stored["bias"]) for s in bias_w.slices}
    for g in gates:
        np.testing.assert_allclose(parts[g, "input"] + parts[g, "recurrent"], exp[f"gates/lstm_a/bias/{g}"], rtol=0, atol=1e-6)

    (view,) = lstm_inspect.recurrent_layers(model)
    canonical = view.canonical()
    np.testing.assert_array_equal(canonical["kernel"], exp["weights/lstm_a/kernel"])
    np.testing.assert_array_equal(canonical["recurrent_kernel"], exp["weights/lstm_a/recurrent_kernel"])
    # Keras's rule on the stored bias, exactly; and that is the real bias up to float32 rounding
    np.testing.assert_array_equal(canonical["bias"], np.sum(np.split(arrays[2][1], 2), axis=0))
    np.testing.assert_allclose(canonical["bias"], exp["weights/lstm_a/bias"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("full", [False, True], ids=["weights-only", "full-model"])
def test_cudnn_gru(tmp_path, full):
    exp = k2("gru_reset_after")  # CuDNNGRU is GRU(reset_after=True) (docs/formats.md 4.5)
    path, _ = cudnn_file(tmp_path, exp, "gru", 3, "CuDNNGRU", full, 4, [5, 3])
    model = lstm_inspect.load(path)
    (layer,) = lstm_inspect.label_gates(model).layers
    v = layer.layer
    assert (v.path, v.class_name, v.kind, v.layout, v.units, v.input_dim) == ("rnn_1", "CuDNNGRU", "gru", "cudnn", 4, 3)
    assert (v.activation, v.recurrent_activation, v.reset_after) == ("tanh", "sigmoid", True)
    kernel_w, recurrent_w, bias_w = layer.weights
    gates = ("z", "r", "h")
    assert [(s.gate, s.slice.start, s.slice.stop, s.slice.row, s.slice.part) for s in bias_w.slices] == [
        (g, 4 * k, 4 * k + 4, None, "input") for k, g in enumerate(gates)
    ] + [(g, 12 + 4 * k, 12 + 4 * k + 4, None, "recurrent") for k, g in enumerate(gates)]
    stored = {w.role: read_h5(path, w.h5_path) for w in layer.weights}
    for s in kernel_w.slices:
        block = s.slice.block(stored["kernel"])
        np.testing.assert_array_equal(block.T.reshape(block.shape, order="F"), exp[f"gates/gru/kernel/{s.gate}"])
    for s in recurrent_w.slices:
        np.testing.assert_array_equal(s.slice.block(stored["recurrent_kernel"]).T, exp[f"gates/gru/recurrent_kernel/{s.gate}"])
    for s in bias_w.slices:
        row = 0 if s.slice.part == "input" else 1
        np.testing.assert_array_equal(s.slice.block(stored["bias"]), exp[f"gates/gru/bias/{s.gate}"][row])
    (view,) = lstm_inspect.recurrent_layers(model)
    canonical = view.canonical()
    assert canonical["bias"].shape == (2, 12)
    assert_canonical(view, exp, "gru")


# ------------------------------------------------------------------------------------
# f. tf.keras (TF 1.x) GRU with reset_after=True: bias (2, 3u), rows input / recurrent


def _tf_keras_gru_model(tmp_path, exp, **gru_config):
    config = {
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "layers": [{
                "class_name": "GRU",
                "config": {
                    "name": "gru", "trainable": True, "batch_input_shape": [None, 5, 3], "dtype": "float32",
                    "return_sequences": True, "return_state": False, "go_backwards": False, "stateful": False,
                    "unroll": False, "units": 4, "activation": "tanh", "use_bias": True, "implementation": 1,
                    **gru_config,
                },
            }],
        },
    }
    arrays = [(f"gru/{role}:0", exp[f"weights/gru/{role}"]) for role in ("kernel", "recurrent_kernel", "bias")]
    return write_full_model(tmp_path / "tfk_gru.h5", "2.2.4-tf", config, ["gru"], {"gru": arrays}, "tensorflow")


def test_tf_keras_gru_reset_after_rows(tmp_path):
    exp = k2("gru_reset_after")
    path = _tf_keras_gru_model(tmp_path, exp, reset_after=True, recurrent_activation="hard_sigmoid")
    model = lstm_inspect.load(path)
    (layer,) = lstm_inspect.label_gates(model).layers
    v = layer.layer
    assert (v.class_name, v.layout, v.reset_after, v.units, v.input_dim) == ("GRU", "keras2", True, 4, 3)
    assert (v.activation, v.recurrent_activation, v.assumed) == ("tanh", "hard_sigmoid", [])
    bias_w = layer.weights[2]
    assert bias_w.shape == (2, 12)
    # Row 0 is the input bias, row 1 the recurrent bias; gates z, r, h along the last axis.
    assert [(s.slice.row, s.gate, s.slice.start, s.slice.stop) for s in bias_w.slices] == [
        (r, g, 4 * k, 4 * k + 4) for r in (0, 1) for k, g in enumerate(("z", "r", "h"))
    ]
    stored = read_h5(path, bias_w.h5_path)
    for s in bias_w.slices:
        np.testing.assert_array_equal(s.slice.block(stored), exp[f"gates/gru/bias/{s.gate}"][s.slice.row])
    for w in layer.weights[:2]:
        assert all(s.slice.row is None for s in w.slices)
    (view,) = lstm_inspect.recurrent_layers(model)
    assert_canonical(view, exp, "gru")


def test_tf_keras_gru_defaults_follow_the_writer(tmp_path):
    """A config without recurrent_activation means the writer's default: hard_sigmoid for
    tf.keras of TF 1.x, which reports 2.2.4-tf (docs/formats.md 7, pitfall 3)."""
    exp = k2("gru_reset_after")
    path = _tf_keras_gru_model(tmp_path, exp, reset_after=True)
    (view,) = lstm_inspect.recurrent_layers(lstm_inspect.load(path))
    assert (view.recurrent_activation, view.assumed) == ("hard_sigmoid", ["recurrent_activation"])


def test_gru_reset_after_config_against_a_flat_bias(tmp_path):
    """A config that says reset_after=False for a (2, 3u) bias does not fit the weights."""
    exp = k2("gru_reset_after")
    path = _tf_keras_gru_model(tmp_path, exp, reset_after=False, recurrent_activation="sigmoid")
    with pytest.raises(lstm_inspect.ConfigError, match="reset_after"):
        lstm_inspect.label_gates(lstm_inspect.load(path))
