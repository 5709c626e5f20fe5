"""No false diagnosis: for every sample model with a recurrent layer (manifest.json), a
correct numpy port (tests/ports.py, outside lstm-inspect's forward pass) of each of its
recurrent layers ``compare``s as matching.

Each recurrent layer of the port runs on what real Keras fed that layer: the recorded
output of the layer before it (``layer/<name>/<k>``, the graph read from the file's own
``model_config`` with json), the recorded input mask (``mask/<path>/0``) and, for
``initial_state``, the recorded states. The port is first checked against the traces
real Keras recorded (``trace/<path>/<quantity>``), so the reference is Keras, not
lstm-inspect; then ``compare`` must say it matches, with no diagnosis."""

import json

import h5py
import numpy as np
import pytest
from conftest import MODELS, SAMPLES, UNRECORDED, expected_npz
from ports import ACTS, Rec, run_layer

import lstm_inspect
from lstm_inspect.reports.compare import compare_port

KINDS = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "rnn", "LSTMCell": "lstm", "GRUCell": "gru",
         "SimpleRNNCell": "rnn"}


def _why_not(name):
    """Why a sample's port cannot be written here, or None."""
    info = MODELS[name]
    gen = "k2" if "k2" in info["expected"] else "k3"
    layers = info["recurrent_layers"][gen]
    if "refused" in info:
        return "refused by name (no run to compare with)"
    if "float16" in info:
        return "computes in float16: the numpy port engine computes in float32"
    if name in UNRECORDED:  # (the manifest lists none of their recurrent layers today)
        return "layers inside TimeDistributed: Keras recorded no trace"
    if any(KINDS.get(v["cell_class"] or v["class_name"]) is None for v in layers):
        return "ConvLSTM: the numpy port engine has no convolutions"
    if any(v["activation"] not in ACTS or (v["recurrent_activation"] or "sigmoid") not in ACTS | {"hard_sigmoid": 0}
           for v in layers):
        return "an activation the numpy port engine lacks"
    if any(k.startswith("node/") for k in expected_npz(name, gen).files):  # outputs recorded per call
        return "a shared layer: one trace key per layer, not per call"
    return None


RECURRENT = sorted(m["name"] for m in MODELS.values() if any(m.get("recurrent_layers", {}).values()))
PORTABLE = [n for n in RECURRENT if _why_not(n) is None]


def test_the_samples_left_out_say_why():
    assert {n: _why_not(n) for n in RECURRENT if n not in PORTABLE} == {
        "bidir_convlstm": "ConvLSTM: the numpy port engine has no convolutions",
        "conv_lstm1d": "ConvLSTM: the numpy port engine has no convolutions",
        "conv_lstm2d": "ConvLSTM: the numpy port engine has no convolutions",
        "conv_lstm3d": "ConvLSTM: the numpy port engine has no convolutions",
        "float16_lstm": "computes in float16: the numpy port engine computes in float32",
        "shared_lstm": "a shared layer: one trace key per layer, not per call",
        "softmax_recurrent": "refused by name (no run to compare with)",
        "timedistributed_conv": "ConvLSTM: the numpy port engine has no convolutions",
    }


class Graph:
    """Where each layer's inputs come from, read from the file's ``model_config``."""

    def __init__(self, path):
        with h5py.File(path, "r") as f:
            self.config = json.loads(f.attrs["model_config"])

    def _find(self, top):
        """(the model config holding layer path ``top``, its layer entry, enclosing prefix and model entries)."""
        parts = top.split("/")
        model, prefix, outer = self.config, "", []
        for part in parts[:-1]:
            (entry,) = [e for e in model["config"]["layers"] if e["config"]["name"] == part]
            outer.append((model, entry, prefix))
            model, prefix = entry, prefix + part + "/"
        (entry,) = [e for e in model["config"]["layers"] if e["config"]["name"] == parts[-1]]
        return model, entry, prefix, outer

    def inputs(self, top):
        """Keys of the recorded tensors a layer is called on: [input, *states]."""
        model, entry, prefix, outer = self._find(top)
        if model["class_name"] == "Sequential":
            layers = [e for e in model["config"]["layers"] if e["class_name"] != "InputLayer"]
            k = layers.index(entry)
            if k:
                return [f"layer/{prefix}{layers[k - 1]['config']['name']}/0"]
            if not outer:
                return ["input/0"]
            return self.inputs(prefix.rstrip("/"))
        names = [n for n, *_ in model["config"]["input_layers"]]
        (node,) = entry["inbound_nodes"]
        keys = [f"input/{names.index(n)}" if n in names else f"layer/{prefix}{n}/{t}" for n, _, t, _ in node]
        return keys


MERGES = {"concat": lambda f, b: np.concatenate([f, b], axis=-1), "sum": lambda f, b: f + b,
          "mul": lambda f, b: f * b, "ave": lambda f, b: (f + b) / 2}


def _rec(v, gen, zero_output):
    rec_act = v["recurrent_activation"] or "sigmoid"
    if rec_act == "hard_sigmoid":
        rec_act = "hard_sigmoid_keras2" if gen == "k2" else "hard_sigmoid_keras3"
    return Rec(v["path"], KINDS[v["cell_class"] or v["class_name"]], act=v["activation"], rec_act=rec_act,
               sequences=v["return_sequences"], backwards=v["go_backwards"], reset_after=v.get("reset_after", True),
               zero_output=zero_output)


def _zero_output(graph, top, bidirectional):
    _, entry, _, _ = graph._find(top)
    if bidirectional:  # Bidirectional forces zero_output_for_mask = return_sequences on both directions
        return entry["config"]["layer"]["config"]["return_sequences"]
    return bool(entry["config"].get("zero_output_for_mask", False))


def correct_port(name):
    """(model, inputs, port arrays, Keras's recorded traces) for a sample."""
    info = MODELS[name]
    gen = "k2" if "k2" in info["expected"] else "k3"
    npz = expected_npz(name, gen)
    path = SAMPLES / info["forms"][f"{gen}_h5"]
    graph = Graph(path)
    inputs = [npz[f"input/{k}"] for k in range(len(info["inputs"]))]
    arrays, keras = {}, {}

    def weights(p):
        return {k.rsplit("/", 1)[-1]: npz[k] for k in npz.files if k.startswith(f"weights/{p}/")
                and k.count("/") == p.count("/") + 2}

    by_top = {}
    for v in info["recurrent_layers"][gen]:
        parent = v["path"].rpartition("/")[0]
        bidirectional = v["direction"] == "backward" or any(
            w["direction"] == "backward" and w["path"].rpartition("/")[0] == parent
            for w in info["recurrent_layers"][gen])
        by_top.setdefault(parent if bidirectional else v["path"], []).append(v)
    for top, views in by_top.items():
        keys = graph.inputs(top)
        x = npz[keys[0]].astype(np.float64)
        states = [npz[k] for k in keys[1:]]
        mask = npz.get(f"mask/{top}/0")
        bidirectional = len(views) == 2
        per_direction = [states[:len(states) // 2], states[len(states) // 2:]] if bidirectional else [states]
        outs = []
        for v, initial in zip(views, per_direction):
            layer = _rec(v, gen, _zero_output(graph, top, bidirectional))
            y = run_layer(weights(v["path"]), layer, x, mask, bidirectional, initial or None)
            arrays.update({f"{v['path']}/{q}": a for q, a in y.items() if q != "output" or not bidirectional})
            keras.update({f"{v['path']}/{q}": npz[f"trace/{v['path']}/{q}"] for q in y if q != "output"})
            outs.append(y["output"])
        if bidirectional:
            _, entry, _, _ = graph._find(top)
            forward, backward = outs[0], outs[1][:, ::-1] if views[1]["return_sequences"] else outs[1]
            merge = MERGES.get(entry["config"]["merge_mode"])  # None: a list of two outputs, left out
            if merge is not None:
                arrays[f"{top}/output"] = merge(forward, backward)
    return lstm_inspect.load(path), inputs, arrays, keras


@pytest.mark.parametrize("name", PORTABLE)
def test_a_correct_numpy_port_of_every_recurrent_sample_matches(name):
    model, inputs, arrays, keras = correct_port(name)
    for key, value in keras.items():  # the port is right: it computes what real Keras recorded
        np.testing.assert_allclose(arrays[key], value, atol=1e-5, rtol=1e-4, err_msg=key)
    report = compare_port(model, inputs, arrays)
    assert report.matches, report.first
    assert report.diagnosis is None
    assert not report.unknown
