"""``compare`` on cell kinds no sample model has for a catalogued mistake: a GRU with
``hard_sigmoid`` (both ``reset_after`` ways), a GRU ``reset_after=True`` whose input size
equals its units, a masked ``go_backwards`` GRU ``reset_after=False``, and Bidirectional
GRU ``reset_after=False`` and SimpleRNN.

Each model is a real sample file (written by tf_keras / Keras 3) edited with h5py: the
config's activation, ``reset_after``, input size or wrapped layer changed, and the
recurrent weights replaced by seeded random arrays in the writer's own layout. The port
is the numpy port of tests/ports.py, outside lstm-inspect's forward pass; no Keras ran on
these edited files, so the reference ("Keras") is lstm-inspect's own run of them. That a
correct port matches it checks the two independent implementations against each other;
the mistakes are then injected in the port only."""

import copy
import json
import shutil

import h5py
import numpy as np
import pytest
from conftest import SAMPLES
from ports import Mistakes, Rec, port

import lstm_inspect
from lstm_inspect.reports.compare import compare_port

RNG_SEED = 20261201


def _config(f):
    return json.loads(f.attrs["model_config"])


def _set_config(f, config):
    f.attrs["model_config"] = json.dumps(config).encode("utf8")


def _replace(group, name, value):
    if name in group:
        del group[name]
    group.create_dataset(name, data=np.asarray(value, dtype=np.float32))


def _cell_group(f, gen, layer, path):
    """The group holding a layer's cell weights: Keras 2 ``<layer>/<layer>/<cell>``,
    Keras 3 ``<layer>/<model name>/<layer>/<cell>``."""
    g = f["model_weights"][layer]
    if gen == "k3":
        g = g[next(iter(g))]
    return g[path]


def gru_masked(tmp_path, gen, reset_after, x):
    """sample gru_backwards_masked (Masking -> GRU(3, go_backwards, return_sequences) ->
    SimpleRNN(2, go_backwards) -> Dense(1)) with input size 3 = units, the GRU's
    recurrent_activation hard_sigmoid and the given reset_after; returns (path, source)."""
    rng = np.random.RandomState(RNG_SEED + reset_after)
    path = tmp_path / f"gru_masked_{gen}_{int(reset_after)}.h5"
    shutil.copy(SAMPLES / gen / "gru_backwards_masked.h5", path)
    kernel, recurrent = rng.uniform(-0.8, 0.8, (3, 9)), rng.uniform(-0.8, 0.8, (3, 9))
    bias = rng.uniform(-0.5, 0.5, (2, 9) if reset_after else (9,))
    with h5py.File(path, "r+") as f:
        config = _config(f)
        layers = config["config"]["layers"]
        shape_key = "batch_input_shape" if gen == "k2" else "batch_shape"
        layers[0]["config"][shape_key] = [None, x.shape[1], 3]
        (gru,) = [entry for entry in layers if entry["class_name"] == "GRU"]
        gru["config"].update(recurrent_activation="hard_sigmoid", reset_after=reset_after)
        _set_config(f, config)
        cell = _cell_group(f, gen, "gru", "gru/gru_cell")
        suffix = ":0" if gen == "k2" else ""
        for name, value in (("kernel", kernel), ("recurrent_kernel", recurrent), ("bias", bias)):
            _replace(cell, name + suffix, value)
        rnn = _cell_group(f, gen, "rnn", "rnn/simple_rnn_cell")
        rnn_weights = {k.split(":")[0]: rnn[k][()] for k in rnn}
    source = {"input/0": x, "weights/gru/kernel": kernel, "weights/gru/recurrent_kernel": recurrent,
              "weights/gru/bias": bias, **{f"weights/rnn/{k}": v for k, v in rnn_weights.items()}}
    return path, source


def bidirectional(tmp_path, inner):
    """sample bidir_concat (Bidirectional(LSTM(3, return_sequences), concat) -> Dense(2)),
    Keras 2, wrapping a GRU(3, reset_after=False) or a SimpleRNN(3) instead, with the
    wrapped layer's config as tf_keras writes it (taken from sample gru_backwards_masked)
    and seeded random weights; returns (path, source)."""
    rng = np.random.RandomState(RNG_SEED + len(inner))
    path = tmp_path / f"bidir_{inner}.h5"
    shutil.copy(SAMPLES / "k2" / "bidir_concat.h5", path)
    with h5py.File(SAMPLES / "k2" / "gru_backwards_masked.h5", "r") as f:
        (entry,) = [e for e in _config(f)["config"]["layers"] if e["class_name"] == {"gru": "GRU", "rnn": "SimpleRNN"}[inner]]
    entry = copy.deepcopy(entry)
    entry["config"].update(name=inner, units=3, go_backwards=False, return_sequences=True)
    if inner == "gru":
        entry["config"]["reset_after"] = False
    entry.update(module="keras.layers", registered_name=None)
    n = 3 if inner == "gru" else 1
    cell = "gru_cell" if inner == "gru" else "simple_rnn_cell"
    x = np.random.RandomState(RNG_SEED).uniform(-1, 1, (2, 4, 2)).astype(np.float32)
    source = {"input/0": x}
    with h5py.File(path, "r+") as f:
        config = _config(f)
        config["config"]["layers"][1]["config"]["layer"] = entry
        _set_config(f, config)
        group = f["model_weights/bi"]
        del group["bi"]
        names = []
        for direction in ("forward", "backward"):
            arrays = {"kernel": rng.uniform(-0.8, 0.8, (2, 3 * n)), "recurrent_kernel": rng.uniform(-0.8, 0.8, (3, 3 * n)),
                      "bias": rng.uniform(-0.5, 0.5, (3 * n,))}
            for role, value in arrays.items():
                name = f"bi/{direction}_{inner}/{cell}/{role}:0"
                group.create_dataset(name, data=value.astype(np.float32))
                names.append(name.encode())
                source[f"weights/bi/{direction}_{inner}/{role}"] = value.astype(np.float32)
        group.attrs["weight_names"] = np.array(names, dtype=object)
    return path, source


def _masked_input():
    """3 samples of 6 steps and 3 features; lengths 6, 4, 2 (zero padding masked), one
    inner all-zero step (a hole) in the first."""
    x = np.random.RandomState(RNG_SEED).uniform(-1, 1, (3, 6, 3)).astype(np.float32)
    x[1, 4:] = 0
    x[2, 2:] = 0
    x[0, 2] = 0
    return x


def _gru_layers(reset_after, rec_act):
    return [Rec("gru", "gru", rec_act=rec_act, backwards=True, reset_after=reset_after),
            Rec("rnn", "rnn", backwards=True, sequences=False)]


def _gru_case(tmp_path, gen, reset_after, inject=None):
    x = _masked_input()
    path, source = gru_masked(tmp_path, gen, reset_after, x)
    layers = _gru_layers(reset_after, "hard_sigmoid_keras2" if gen == "k2" else "hard_sigmoid_keras3")
    for layer in layers:
        if inject is not None and inject[0] in (layer.path, "*"):
            layer.wrong = copy.deepcopy(inject[1])
    x, arrays = port("", layers, masking=True, source=source)
    return lstm_inspect.load(path), x, arrays


def _bidir_case(tmp_path, inner, inject=None):
    path, source = bidirectional(tmp_path, inner)
    kind = inner
    layers = [Rec(f"bi/forward_{inner}", kind, reset_after=False), Rec(f"bi/backward_{inner}", kind, reset_after=False,
                                                                      backwards=True)]
    for layer in layers:
        if inject is not None and inject[0] in (layer.path, "*"):
            layer.wrong = copy.deepcopy(inject[1])
    x, arrays = port("", layers, bidirectional="bi", source=source)
    return lstm_inspect.load(path), x, arrays


def _named(report, expected, first_layer, first_step, layer):
    assert not report.matches
    assert report.first.layer == first_layer, report.first
    if first_step is not None:
        assert report.first.step == first_step
    found = [[m.id for m in e] for e in report.diagnosis.explanations]
    assert found == [[expected]], found
    where = report.diagnosis.explanations[0][0].layer
    assert layer == "*" or where in (None, layer, layer.rpartition("/")[0])


GRU_MODELS = [("k2", True), ("k2", False), ("k3", True), ("k3", False)]


@pytest.mark.parametrize("gen, reset_after", GRU_MODELS, ids=[f"{g}-reset_after={r}" for g, r in GRU_MODELS])
def test_a_correct_port_of_an_edited_gru_matches(tmp_path, gen, reset_after):
    model, x, arrays = _gru_case(tmp_path, gen, reset_after)
    (view, _) = lstm_inspect.recurrent_layers(model)
    assert (view.path, view.reset_after, view.recurrent_activation, view.input_dim, view.units) == (
        "gru", reset_after, "hard_sigmoid", 3, 3)
    report = compare_port(model, x, arrays)
    assert report.matches, report.first
    assert report.diagnosis is None


#: (generation, reset_after, layer injected, mistake, expected id, first divergent layer, step)
GRU_CASES = [
    (gen, reset_after, layer, wrong, expected, first, step)
    for reset_after in (True, False)
    for gen, layer, wrong, expected, first, step in [
        ("k2", "gru", Mistakes(kernel_transposed=True), "kernel-transposed", "gru", 0),
        ("k2", "gru", Mistakes(rec_act="hard_sigmoid_keras3"), "hard-sigmoid:keras3", "gru", 0),
        ("k2", "gru", Mistakes(rec_act="sigmoid"), "hard-sigmoid:sigmoid", "gru", 0),
        ("k3", "gru", Mistakes(rec_act="hard_sigmoid_keras2"), "hard-sigmoid:keras2", "gru", 0),
        ("k3", "gru", Mistakes(rec_act="sigmoid"), "hard-sigmoid:sigmoid", "gru", 0),
        ("k2", "gru", Mistakes(unreversed=True), "backwards-unreversed", "gru", 0),
        ("k2", "*", Mistakes(ignore_mask=True), "mask-ignored", "gru", None),
        ("k2", "gru", Mistakes(zero_output=True), "zero-output-for-mask", "gru", None),
    ]
]


@pytest.mark.parametrize("gen, reset_after, layer, wrong, expected, first_layer, first_step", GRU_CASES,
                         ids=[f"{c[0]}-reset_after={c[1]}-{c[4]}" for c in GRU_CASES])
def test_a_mistake_in_an_edited_gru_is_named(tmp_path, gen, reset_after, layer, wrong, expected, first_layer,
                                             first_step):
    model, x, arrays = _gru_case(tmp_path, gen, reset_after, (layer, wrong))
    _named(compare_port(model, x, arrays), expected, first_layer, first_step, layer)


@pytest.mark.parametrize("inner", ["gru", "rnn"])
def test_a_correct_port_of_an_edited_bidirectional_matches(tmp_path, inner):
    model, x, arrays = _bidir_case(tmp_path, inner)
    views = lstm_inspect.recurrent_layers(model)
    kind = {"gru": "gru", "rnn": "simple_rnn"}[inner]
    assert [(v.path, v.kind) for v in views] == [(f"bi/forward_{inner}", kind), (f"bi/backward_{inner}", kind)]
    if inner == "gru":
        assert not views[0].reset_after
    report = compare_port(model, x, arrays)
    assert report.matches, report.first
    assert report.diagnosis is None


BIDIR_CASES = [
    ("gru", "bi/forward_gru", Mistakes(order="swap"), "directions-swapped", "bi/forward_gru", 0),
    ("gru", "bi/backward_gru", Mistakes(unreversed=True), "backwards-unreversed", "bi", 0),
    ("rnn", "bi/forward_rnn", Mistakes(order="swap"), "directions-swapped", "bi/forward_rnn", 0),
    ("rnn", "bi/backward_rnn", Mistakes(unreversed=True), "backwards-unreversed", "bi", 0),
]


@pytest.mark.parametrize("inner, layer, wrong, expected, first_layer, first_step", BIDIR_CASES,
                         ids=[f"{c[0]}-{c[3]}" for c in BIDIR_CASES])
def test_a_mistake_in_an_edited_bidirectional_is_named(tmp_path, inner, layer, wrong, expected, first_layer,
                                                       first_step):
    model, x, arrays = _bidir_case(tmp_path, inner, (layer, wrong))
    _named(compare_port(model, x, arrays), expected, first_layer, first_step, layer)
