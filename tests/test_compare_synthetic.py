"""``compare`` on cell kinds no sample model has for a catalogued mistake: a GRU with
``hard_sigmoid`` (both ``reset_after`` ways), a GRU ``reset_after=True`` whose input size
equals its units, a masked ``go_backwards`` GRU ``reset_after=False``, and Bidirectional
GRU ``reset_after=False`` and SimpleRNN.

Each model is a real sample file (written by tf_keras / Keras 3) edited with h5py: the
config's activation, ``reset_after``, input size or wrapped layer changed, and the
recurrent weights replaced by seeded random arrays in the writer's own layout. The port
is the numpy port of tests/ports.py, outside lstm-inspect's forward pass; no Keras runs in
the tests, so the reference ("Keras") is lstm-inspect's own run of the edited files. That a
correct port matches it checks the two independent implementations against each other;
the mistakes are then injected in the port only. (Checked once by hand, not a test
dependency: tf_keras 2.21 and Keras 3.15.1 load every edited file, and the layer outputs
they compute differ from the correct port's by at most 1.2e-7.)"""

import copy
import json
import shutil

import h5py
import numpy as np
import pytest
from conftest import ROOT, SAMPLES
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


def bidirectional(tmp_path, inner, masking=False):
    """sample bidir_concat (Bidirectional(LSTM(3, return_sequences), concat) -> Dense(2)),
    Keras 2, wrapping a GRU(3, reset_after=False) or a SimpleRNN(3) instead, with the
    wrapped layer's config as tf_keras writes it (taken from sample gru_backwards_masked)
    and seeded random weights; with ``masking``, behind gru_backwards_masked's
    Masking(0.0) layer, on 3 samples of lengths 4, 3, 1; returns (path, source)."""
    rng = np.random.RandomState(RNG_SEED + len(inner))
    path = tmp_path / f"bidir_{inner}_{int(masking)}.h5"
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
    x = np.random.RandomState(RNG_SEED).uniform(-1, 1, (3 if masking else 2, 4, 2)).astype(np.float32)
    if masking:
        x[1, 3:] = 0
        x[2, 1:] = 0
    source = {"input/0": x}
    with h5py.File(path, "r+") as f:
        config = _config(f)
        layers = config["config"]["layers"]
        next(e for e in layers if e["class_name"] == "Bidirectional")["config"]["layer"] = entry
        if masking:
            with h5py.File(SAMPLES / "k2" / "gru_backwards_masked.h5", "r") as g:
                layers.insert(1, next(e for e in _config(g)["config"]["layers"] if e["class_name"] == "Masking"))
                g.copy(g["model_weights/mask"], f["model_weights"], "mask")
            f["model_weights"].attrs["layer_names"] = np.array(["mask", "bi", "dense"], dtype=object)
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


def _bidir_case(tmp_path, inner, inject=None, masking=False):
    path, source = bidirectional(tmp_path, inner, masking)
    # Bidirectional sets zero_output_for_mask = return_sequences on both directions
    layers = [Rec(f"bi/forward_{inner}", inner, reset_after=False, zero_output=True),
              Rec(f"bi/backward_{inner}", inner, reset_after=False, backwards=True, zero_output=True)]
    for layer in layers:
        if inject is not None and inject[0] in (layer.path, "*"):
            layer.wrong = copy.deepcopy(inject[1])
    x, arrays = port("", layers, bidirectional="bi", source=source, masking=masking)
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


@pytest.mark.parametrize("masking", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize("inner", ["gru", "rnn"])
def test_a_correct_port_of_an_edited_bidirectional_matches(tmp_path, inner, masking):
    model, x, arrays = _bidir_case(tmp_path, inner, masking=masking)
    views = lstm_inspect.recurrent_layers(model)
    kind = {"gru": "gru", "rnn": "simple_rnn"}[inner]
    assert [(v.path, v.kind) for v in views] == [(f"bi/forward_{inner}", kind), (f"bi/backward_{inner}", kind)]
    if inner == "gru":
        assert not views[0].reset_after
    report = compare_port(model, x, arrays)
    assert report.matches, report.first
    assert report.diagnosis is None


#: (wrapped layer, masked, direction injected, mistake, expected id, first divergent layer, step)
BIDIR_CASES = [
    case
    for inner in ("gru", "rnn")
    for case in [
        (inner, False, f"bi/forward_{inner}", Mistakes(order="swap"), "directions-swapped", f"bi/forward_{inner}", 0),
        (inner, False, f"bi/backward_{inner}", Mistakes(unreversed=True), "backwards-unreversed", "bi", 0),
        (inner, True, "*", Mistakes(ignore_mask=True), "mask-ignored", f"bi/forward_{inner}", None),
        (inner, True, "*", Mistakes(zero_output=False), "zero-output-for-mask", f"bi/forward_{inner}", None),
    ]
]


@pytest.mark.parametrize("inner, masking, layer, wrong, expected, first_layer, first_step", BIDIR_CASES,
                         ids=[f"{c[0]}-{c[4]}" for c in BIDIR_CASES])
def test_a_mistake_in_an_edited_bidirectional_is_named(tmp_path, inner, masking, layer, wrong, expected, first_layer,
                                                       first_step):
    model, x, arrays = _bidir_case(tmp_path, inner, (layer, wrong), masking)
    _named(compare_port(model, x, arrays), expected, first_layer, first_step, layer)


# ------------------------------------------------------------------------------------ README


def _kind(sample, path):
    """README matrix column of a sample's recurrent layer."""
    from conftest import MODELS

    name, _, gen = sample.partition("-")
    (v,) = [v for v in MODELS[name]["recurrent_layers"][gen or "k2"] if v["path"] == path]
    kind = v["cell_class"] or v["class_name"]
    if kind in ("GRU", "GRUCell"):
        return f"GRU `reset_after={v['reset_after']}`"
    return {"LSTMCell": "LSTM", "SimpleRNNCell": "SimpleRNN"}.get(kind, kind)


def test_the_readme_detection_matrix_is_what_the_tests_inject():
    """Each ✓ of README "Checking a port" is a case here or in test_compare.py, and each
    case is a ✓."""
    from test_compare import CASES

    tested = set()
    for sample, layer, _, expected, first_layer, _ in CASES:
        tested.add((expected.split(":")[0], _kind(sample, first_layer if layer == "*" else layer)))
    for _, reset_after, _, _, expected, _, _ in GRU_CASES:
        tested.add((expected.split(":")[0], f"GRU `reset_after={reset_after}`"))
    for inner, _, _, _, expected, _, _ in BIDIR_CASES:
        tested.add((expected, "GRU `reset_after=False`" if inner == "gru" else "SimpleRNN"))
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| id | LSTM |"):].split("\n\n")[0].splitlines()
    columns = [c.strip() for c in table[0].strip("|").split("|")][1:]
    ticked = set()
    for row in table[2:]:
        cells = [c.strip() for c in row.replace("\\|", "/").strip("|").split("|")]
        mistake = cells[0].strip("`").split(":")[0]
        ticked |= {(mistake, column) for column, cell in zip(columns, cells[1:]) if cell.startswith("✓")}
    assert ticked == tested
