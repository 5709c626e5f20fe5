"""Every real Keras file in ../shared/realworld is read and its recurrent layers reported.

Expected paths, classes, units and activations come from MANIFEST.md (what the
source projects built) and from the files' own configs, never from lstm_inspect.
"""

import json

import numpy as np
import pytest
from conftest import invoke, realworld

import lstm_inspect

# file -> [(path, class_name, units, input_dim, recurrent_activation, layout)]
EXPECTED = {
    "k1_dl4j_simple_lstm_th_model.h5": [("lstm_1", "LSTM", 50, 1, "hard_sigmoid", "keras1")],
    "k1_dl4j_bidirectional_lstm_tf.h5": [
        ("bidirectional_1/forward_lstm_1", "LSTM", 10, 10, "hard_sigmoid", "keras1"),
        ("bidirectional_1/backward_lstm_1", "LSTM", 10, 10, "hard_sigmoid", "keras1"),
    ],
    "k2_dl4j_simple_lstm_tf_model.h5": [("lstm_1", "LSTM", 50, 1, "hard_sigmoid", "keras2")],
    "k2_dl4j_lstm_th_weights.h5": [
        ("lstm_1", "LSTM", 96, 12, "hard_sigmoid", "keras2"),
        ("lstm_2", "LSTM", 96, 96, "hard_sigmoid", "keras2"),
    ],
    "k2_medaka_test_model_bigru.hdf5": [
        ("bidirectional_1/forward_gru1", "GRU", 128, 10, "hard_sigmoid", "keras2"),
        ("bidirectional_1/backward_gru1", "GRU", 128, 10, "hard_sigmoid", "keras2"),
        ("bidirectional_2/forward_gru2", "GRU", 128, 256, "hard_sigmoid", "keras2"),
        ("bidirectional_2/backward_gru2", "GRU", 128, 256, "hard_sigmoid", "keras2"),
    ],
    "k2_poreplex_demux_r3_bilstm.hdf5": [
        ("bidirectional_2/forward_lstm_1", "LSTM", 48, 1, "sigmoid", "keras2"),
        ("bidirectional_2/backward_lstm_1", "LSTM", 48, 1, "sigmoid", "keras2"),
        ("lstm_2", "LSTM", 64, 96, "sigmoid", "keras2"),
    ],
    "k2_textgenrnn_cudnnlstm_weights.hdf5": [
        ("rnn_1", "CuDNNLSTM", 128, 100, "sigmoid", "cudnn"),
        ("rnn_2", "CuDNNLSTM", 128, 128, "sigmoid", "cudnn"),
    ],
    # weights only: activation is Keras 2.2.0's default, and reported as assumed
    "k2_botcocktails_textgenrnn_lstm_weights.hdf5": [
        ("rnn_1", "LSTM", 128, 100, "hard_sigmoid", "keras2"),
        ("rnn_2", "LSTM", 128, 128, "hard_sigmoid", "keras2"),
    ],
    "tfk1_dl4j_rnn_141_bilstm_relu_recact.h5": [
        ("bidirectional_86/forward_lstm_102", "LSTM", 6, 1, "relu", "keras2"),
        ("bidirectional_86/backward_lstm_102", "LSTM", 6, 1, "relu", "keras2"),
        ("bidirectional_87/forward_lstm_103", "LSTM", 4, 12, "relu", "keras2"),
        ("bidirectional_87/backward_lstm_103", "LSTM", 4, 12, "relu", "keras2"),
    ],
    "tfk1_poreplex_demux_r4_rnn_lstmcell.hdf5": [
        ("bidirectional_2/forward_rnn", "RNN", 48, 1, "sigmoid", "keras2"),
        ("bidirectional_2/backward_rnn", "RNN", 48, 1, "sigmoid", "keras2"),
        ("rnn_1", "RNN", 64, 96, "sigmoid", "keras2"),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_real_file_is_read(runner, name):
    path = realworld(name)
    result = invoke(runner, ["gates", path, "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    got = [
        (lay["path"], lay["class_name"], lay["units"], lay["input_dim"], lay["recurrent_activation"], lay["layout"])
        for lay in doc["layers"]
    ]
    assert got == EXPECTED[name]
    for layer in doc["layers"]:
        assert layer["direction"] == ("backward" if "/backward_" in layer["path"] else "forward")
    result = invoke(runner, ["layers", path, "--json"])
    assert result.exit_code == 0, result.stderr


def test_keras1_per_gate_arrays_are_named_by_their_gate():
    # Keras 1 stores W_i, U_i, b_i, W_c, U_c, b_c, W_f, ... (i, c, f, o): the gate is in the name.
    model = lstm_inspect.load(realworld("k1_dl4j_simple_lstm_th_model.h5"))
    (layer,) = lstm_inspect.label_gates(model).layers
    for w in layer.weights:
        (s,) = w.slices
        assert w.name.endswith("_" + s.gate), (w.name, s.gate)
        assert (s.slice.start, s.slice.stop) == (0, 50)
    assert [w.slices[0].gate for w in layer.weights if w.role == "bias"] == ["i", "c", "f", "o"]


def test_untrained_keras1_bidirectional_is_called_untrained():
    # MANIFEST: "Untrained (compiled+saved)": forget bias 1, others 0 (Keras 1 forget_bias_init='one').
    model = lstm_inspect.load(realworld("k1_dl4j_bidirectional_lstm_tf.h5"))
    for layer in lstm_inspect.label_gates(model).layers:
        assert any("look untrained" in n for n in layer.notes)


def test_cudnn_bias_is_split_into_input_and_recurrent_parts():
    model = lstm_inspect.load(realworld("k2_textgenrnn_cudnnlstm_weights.hdf5"))
    layer = lstm_inspect.label_gates(model).layers[0]
    bias = [w for w in layer.weights if w.role == "bias"][0]
    assert bias.shape == (1024,)
    assert [(s.gate, s.slice.part, s.slice.start, s.slice.stop) for s in bias.slices] == [
        ("i", "input", 0, 128), ("f", "input", 128, 256), ("c", "input", 256, 384), ("o", "input", 384, 512),
        ("i", "recurrent", 512, 640), ("f", "recurrent", 640, 768), ("c", "recurrent", 768, 896),
        ("o", "recurrent", 896, 1024),
    ]


def test_weights_only_file_says_activations_were_assumed():
    model = lstm_inspect.load(realworld("k2_botcocktails_textgenrnn_lstm_weights.hdf5"))
    for layer in lstm_inspect.label_gates(model).layers:
        assert layer.layer.assumed == ["activation", "recurrent_activation", "go_backwards"]
        assert any("assumed" in n and "--config" in n for n in layer.notes)


def test_weights_only_file_with_companion_config():
    path = realworld("k2_dl4j_lstm_th_weights.h5")
    config = path.parent / "companions" / "k2_dl4j_lstm_th_weights.model_config.json"
    model = lstm_inspect.load(path, config=config)
    assert model.config_source == "--config"
    layers = lstm_inspect.label_gates(model).layers
    assert [(lay.layer.path, lay.layer.return_sequences, lay.layer.assumed) for lay in layers] == [
        ("lstm_1", True, []),
        ("lstm_2", False, []),
    ]


def test_extra_root_groups_are_ignored():
    # medaka and poreplex store their own metadata groups next to model_weights.
    for name in ("k2_medaka_test_model_bigru.hdf5", "tfk1_poreplex_demux_r4_rnn_lstmcell.hdf5"):
        model = lstm_inspect.load(realworld(name))
        assert [lay.name for lay in model.layers][-1] in ("classify", "dense_2")


def test_gru_without_reset_after_key_is_reset_before():
    # Keras 2.1.2 configs predate reset_after; the bias is (3u,), so reset_after=False.
    model = lstm_inspect.load(realworld("k2_medaka_test_model_bigru.hdf5"))
    for layer in lstm_inspect.recurrent_layers(model):
        assert layer.reset_after is False
        assert "reset_after" not in layer.config
        assert np.shape(layer.canonical()["bias"]) == (384,)
