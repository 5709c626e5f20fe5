"""The registry of layer kinds: every kind declares what it must, every declared static
output shape equals the shape its compute produced on the sample models (inputs as Keras
recorded them), every kind is covered by a sample or listed here as uncovered, and a
bug in a kind's compute reaches the user as a bug, not as their mistake."""

import dataclasses
import json

import numpy as np
import pytest
from conftest import MODELS, SAMPLES, invoke

import lstm_inspect
from lstm_inspect.forward.executor import run_model
from lstm_inspect.forward.shapes import infer_shapes
from lstm_inspect.kinds import base
from lstm_inspect.kinds.registry import all_kinds, kind_for, kind_of

#: Kinds no sample model uses, and why.
UNCOVERED = {
    "Lambda": "refused by design: a file's Python code is never run",
    "Conv3D": "weights are read, run refuses it; no sample needed",
    "CuDNNLSTM": "written only by TF 1.x with a GPU; layout covered by test_layouts_synthetic and test_realworld",
    "CuDNNGRU": "written only by TF 1.x with a GPU; layout covered by test_layouts_synthetic",
    "Merge": "Keras 1 only (tf_keras cannot write it); no sample or test runs it",
    "AveragePooling2D": "no sample model; avg_pool arithmetic covered by test_ops",
    "Dropout": "no sample model uses the dropout/noise family (identity at inference)",
    "LogicalAnd": "Keras 3 op not traced by any sample's masks",
    "Equal": "Keras 3 op not traced by any sample's masks",
    "LogicalNot": "Keras 3 op not traced by any sample's masks",
    "OnesLike": "Keras 3 op not traced by any sample's masks",
    "Cast": "Keras 3 op not traced by any sample's masks",
    "All": "Keras 3 op not traced by any sample's masks",
    "Squeeze": "Keras 3 op not traced by any sample's masks",
    "Min": "Keras 3 op: same code as Max/Mean/Sum, which the tf_ops sample runs",
}

SAMPLE_FORMS = [("k2", "k2_h5"), ("k3", "k3_keras")]
CASES = [(name, gen, form) for name in sorted(MODELS) for gen, form in SAMPLE_FORMS
         if form in MODELS[name]["forms"] and "refused" not in MODELS[name]]


def _label(kind) -> str:
    return kind.name + (" op" if kind.role == "op" and kind_of(kind.name) is not None else "")


def _run(name, gen, form):
    info = MODELS[name]
    expected = np.load(SAMPLES / info["expected"][gen])
    model = lstm_inspect.load(SAMPLES / info["forms"][form])
    inputs = [expected[f"input/{i}"] for i in range(len(info["inputs"]))]
    return model, run_model(model, inputs)


def _agrees(declared, shape) -> bool:
    return declared[0] is None and len(declared) == len(shape) and all(
        d is None or d == s for d, s in zip(declared[1:], shape[1:]))


@pytest.mark.parametrize("name, gen, form", CASES, ids=[f"{g}-{n}" for n, g, _ in CASES])
def test_declared_shapes_equal_computed_shapes(name, gen, form):
    model, result = _run(name, gen, form)
    shapes = infer_shapes(model)
    checked = 0
    for layer in model.walk():
        kind = kind_for(layer)
        if kind is None or layer.path not in result.layer_outputs:
            continue
        declared = shapes.get(layer.path)
        if kind.output_shape is not None:
            assert declared is not None, f"{layer.path} ({layer.class_name}) declares a shape rule but gave no shape"
        if declared is None:
            continue
        outs = result.layer_outputs[layer.path]
        multi = isinstance(declared[0], list)
        wanted = declared if multi else [declared]
        assert len(wanted) == len(outs), (layer.path, declared, [o.shape for o in outs])
        for d, out in zip(wanted, outs):
            assert _agrees(d, out.shape), f"{layer.path} ({layer.class_name}): declared {d}, computed {out.shape}"
        checked += 1
    assert checked


def test_every_kind_is_covered_by_a_sample_or_listed():
    covered = set()
    for name, _, form in CASES:
        model = lstm_inspect.load(SAMPLES / MODELS[name]["forms"][form])
        covered |= {_label(kind_for(lay)) for lay in model.walk() if kind_for(lay) is not None}
    registered = {_label(k) for k in all_kinds()}
    missing = sorted(k for k in registered - covered if k not in UNCOVERED)
    assert missing == [], f"kinds with no sample model and no reason listed in UNCOVERED: {missing}"
    stale = sorted(k for k in UNCOVERED if k in covered)
    assert stale == [], f"listed as uncovered but a sample uses them: {stale}"
    assert set(UNCOVERED) <= registered


def test_each_kind_declares_what_it_must():
    fields = {f.name: f for f in dataclasses.fields(base.Kind)}
    for name in ("compute", "output_shape"):  # no default: every declaration says it, None included
        assert fields[name].default is dataclasses.MISSING and fields[name].default_factory is dataclasses.MISSING
    for kind in all_kinds():
        where = f"{kind.name} ({kind.family})"
        assert kind.names and all(isinstance(n, str) for n in kind.names), where
        assert kind.role in base.ROLES, where
        assert callable(kind.compute) or (kind.compute is None and kind.refusal), f"{where}: compute or a refusal"
        assert kind.output_shape is None or callable(kind.output_shape), where
        assert kind.streams is None or callable(kind.streams), where
        t, n = kind.weights({}, [(0, 0)])
        assert isinstance(t, int) and isinstance(n, int), where
        assert kind.v3_vars in ("vars", "cell/vars"), where
        if kind.role == "recurrent":
            assert kind.over_time and (kind.gate_kind or kind.refuse), where
        if kind.role == "op":
            assert kind.streams is not None, f"{where}: an op says whether it acts per step"
        assert isinstance(kind.exports, dict), where


def test_kinds_import_only_the_core():
    """kinds/ may import errors, model, gates, versions, limits and itself; never reading,
    forward, reports or the CLI."""
    import ast

    from conftest import ROOT

    for path in (ROOT / "lstm_inspect" / "kinds").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 2:
                top = (node.module or "").split(".")[0]
                assert top in ("errors", "model", "gates", "versions", "limits"), f"{path.name} imports ..{node.module}"


# ------------------------------------------------------------------------------ honest errors

SEED = SAMPLES / "k2" / "seed.h5"
SEED_INPUT = SAMPLES / "seed_input.json"


@pytest.fixture
def planted_bug(monkeypatch):
    """An IndexError raised inside Dense's compute, as a bug in lstm-inspect would."""
    from lstm_inspect.kinds import core

    def broken(*args, **kwargs):
        raise IndexError("planted bug")

    monkeypatch.setattr(core, "need_features", broken)


def test_a_bug_in_a_kind_is_reported_as_a_bug(runner, planted_bug, monkeypatch):
    monkeypatch.delenv("LSTM_INSPECT_DEBUG", raising=False)
    result = invoke(runner, ["run", SEED, "--input", SEED_INPUT, "--json"])
    assert result.exit_code == 1 and result.stdout == ""
    assert "IndexError" in result.stderr and "this is a bug in lstm-inspect" in result.stderr
    assert "cannot take input" not in result.stderr


def test_a_bug_in_a_kind_propagates_under_debug(runner, planted_bug, monkeypatch):
    monkeypatch.setenv("LSTM_INSPECT_DEBUG", "1")
    with pytest.raises(IndexError, match="planted bug"):
        invoke(runner, ["run", SEED, "--input", SEED_INPUT, "--json"])


def test_a_bug_in_a_kind_propagates_from_the_library(planted_bug):
    model = lstm_inspect.load(SEED)
    with pytest.raises(IndexError, match="planted bug"):
        run_model(model, [np.zeros((1, 3, 1), np.float32)])


@pytest.mark.parametrize("shape, phrase", [
    ((1, 3, 2), "needs 1 features per step"),
    ((1, 3), "needs input of rank 3"),
])
def test_a_wrong_input_is_the_users_mistake(runner, tmp_path, shape, phrase):
    path = tmp_path / "x.json"
    path.write_text(json.dumps(np.zeros(shape).tolist()))
    result = invoke(runner, ["run", SEED, "--input", path])
    assert result.exit_code == 1 and "this is a bug" not in result.stderr, result.stderr
    assert phrase in result.stderr or "shape" in result.stderr, result.stderr


def test_label_gates_twice_says_each_warning_once(tmp_path):
    import zipfile

    path = tmp_path / "odd_cell.keras"
    with zipfile.ZipFile(SAMPLES / "k3" / "rnn_cells.keras") as original, zipfile.ZipFile(path, "w") as odd:
        for member in original.namelist():
            data = original.read(member)
            if member == "config.json":
                data = data.replace(b'"GRUCell"', b'"PeepholeCell"')
            odd.writestr(member, data)
    model = lstm_inspect.load(path)
    lstm_inspect.label_gates(model)
    lstm_inspect.label_gates(model)
    assert [w for w in model.warnings if "PeepholeCell" in w] == [
        "rnn_gru: RNN of PeepholeCell is not labelled (only LSTMCell, GRUCell, SimpleRNNCell are)"]


def test_the_model_is_not_changed_by_labelling_or_running():
    model = lstm_inspect.load(SEED)
    before = dataclasses.asdict(model)
    lstm_inspect.label_gates(model)
    run_model(model, [np.zeros((1, 3, 1), np.float32)])
    after = dataclasses.asdict(model)
    assert before.keys() == after.keys() and before["warnings"] == after["warnings"]
    assert lstm_inspect.recurrent_layers(model) is lstm_inspect.recurrent_layers(model)


def _find(config, name):
    if isinstance(config, dict):
        if isinstance(config.get("config"), dict) and config["config"].get("name") == name and "class_name" in config:
            return config["config"]
        for v in config.values():
            found = _find(v, name)
            if found is not None:
                return found
    elif isinstance(config, list):
        for v in config:
            found = _find(v, name)
            if found is not None:
                return found
    return None


@pytest.mark.parametrize("name, layer, key, value, phrase", [
    ("norms_and_shapes", "reshape", "target_shape", [7], "cannot reshape"),
    ("norms_and_shapes", "permute", "dims", [1, 1], "dims"),
    ("norms_and_shapes", "bn", "axis", 5, "axis 5"),
    ("norms_and_shapes", "ln", "axis", [-4], "axis -4"),
    ("norms_and_shapes", "crop", "cropping", [9, 9], "cropping"),
    ("merges", "concat", "axis", 3, "axis 3"),
    ("functional_embedding_concat", "expand_dims", "axis", 9, "axis 9"),
    ("functional_embedding_concat", "any", "axis", 7, "axis 7"),
    ("functional_embedding_concat", "concat", "axis", 1, "shapes"),
    ("conv1d_lstm", "conv", "padding", "bogus", "padding"),
    ("conv1d_lstm", "conv", "groups", 2, "channels"),
    ("conv1d_lstm", "conv", "strides", [1, 2, 3], "strides"),
])
def test_a_damaged_config_gives_the_projects_error(tmp_path, name, layer, key, value, phrase):
    import zipfile

    info = MODELS[name]
    path = tmp_path / f"{name}.keras"
    with zipfile.ZipFile(SAMPLES / info["forms"]["k3_keras"]) as original, zipfile.ZipFile(path, "w") as damaged:
        for member in original.namelist():
            data = original.read(member)
            if member == "config.json":
                config = json.loads(data)
                _find(config, layer)[key] = value
                data = json.dumps(config).encode()
            damaged.writestr(member, data)
    expected = np.load(SAMPLES / info["expected"]["k3"])
    inputs = [expected[f"input/{i}"] for i in range(len(info["inputs"]))]
    with pytest.raises(lstm_inspect.LstmInspectError) as e:
        run_model(lstm_inspect.load(path), inputs)
    assert phrase in str(e.value), str(e.value)
