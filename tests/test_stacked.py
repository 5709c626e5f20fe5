"""RNN(StackedRNNCells([...])) and RNN([cell, ...]): the cells run one after another at each
step, which ``run`` computes as each cell run over the whole sequence in turn and traces as
``<rnn>/cell_<n>`` (docs/formats.md section 4.9).

Expected numbers are real Keras's (tests/data/issue10/make_stacked.py, both generations, every
form they write): the model's outputs, and each cell's output sequence from the same weights run
as one layer per cell.
"""

import json

import numpy as np
import pytest
from conftest import ROOT, invoke

import lstm_inspect
from lstm_inspect.errors import UnsupportedError
from lstm_inspect.forward.executor import run_model
from lstm_inspect.kinds.registry import kind_of
from lstm_inspect.model import Layer

FIXTURES = ROOT / "tests" / "data" / "issue10"
FORMS = [(gen, name, ext) for gen in ("k2", "k3") for name in ("seq", "state") for ext in ("h5", "keras")]
#: the seq model's sample 1 is zero-padded after step 3 (Masking before the RNN)
STEPS = {"seq": [slice(None), slice(0, 3)], "state": [slice(None), slice(None)]}


def _load(gen, name, ext):
    return lstm_inspect.load(FIXTURES / f"{gen}_{name}.{ext}"), np.load(FIXTURES / f"{gen}_{name}.npz")


@pytest.mark.parametrize("gen, name, ext", FORMS, ids=["-".join(f) for f in FORMS])
def test_outputs_and_every_cell_match_keras(gen, name, ext):
    model, rec = _load(gen, name, ext)
    result = run_model(model, [rec["input"]])
    n_outputs = len([k for k in rec.files if k.startswith("output/")])
    assert len(result.outputs) == n_outputs == (1 if name == "seq" else 5)  # y, then h0, c0, h1, c1
    for k, y in enumerate(result.outputs):
        np.testing.assert_allclose(y, rec[f"output/{k}"], atol=1e-5)
    traces = {t.path: t.trace for t in result.traces}
    assert sorted(traces) == ["rnn/cell_0", "rnn/cell_1"]
    for n in (0, 1):
        for b, steps in enumerate(STEPS[name]):
            np.testing.assert_allclose(traces[f"rnn/cell_{n}"].hidden[b, steps], rec[f"cell_{n}"][b, steps], atol=1e-5)
    assert sorted(traces["rnn/cell_0"].gates) == ["c", "f", "i", "o"]
    assert sorted(traces["rnn/cell_1"].gates) == (["h", "r", "z"] if name == "seq" else ["c", "f", "i", "o"])


@pytest.mark.parametrize("gen", ["k2", "k3"])
def test_each_cell_starts_from_its_own_initial_states(gen):
    """Keras's initial_state=[[h0, c0], h1] is each cell's own; run takes them by the cell's path.
    Keras 3 drops the mask of a call with initial_state (test_issue10, finding 1): its padded steps differ."""
    model, rec = _load(gen, "seq", "keras")
    states = {"rnn/cell_0": {"h": rec["init/cell_0/h"], "c": rec["init/cell_0/c"]}, "rnn/cell_1": {"h": rec["init/cell_1/h"]}}
    y = run_model(model, [rec["input"]], initial_states=states).outputs[0]
    want = rec["init/output/0"]
    np.testing.assert_allclose(y[0], want[0], atol=1e-5)
    np.testing.assert_allclose(y[1, :3], want[1, :3], atol=1e-5)
    if gen == "k2":
        np.testing.assert_allclose(y, want, atol=1e-5)


def test_final_states_are_written_per_cell():
    from lstm_inspect.reports.run import state_arrays

    model, rec = _load("k3", "seq", "keras")
    states = state_arrays(run_model(model, [rec["input"]]))
    assert sorted(states) == ["rnn/cell_0/c", "rnn/cell_0/h", "rnn/cell_1/h"]


@pytest.mark.parametrize("gen, ext", [("k2", "h5"), ("k2", "keras"), ("k3", "h5"), ("k3", "keras")])
def test_gates_labels_every_cell(runner, gen, ext):
    result = invoke(runner, ["gates", FIXTURES / f"{gen}_seq.{ext}", "--json"])
    assert result.exit_code == 0 and result.stderr == "", result.stderr
    layers = json.loads(result.stdout)["layers"]
    assert [(r["path"], r["cell_class"], r["units"], r["input_dim"]) for r in layers] == [
        ("rnn/cell_0", "LSTMCell", 4, 2), ("rnn/cell_1", "GRUCell", 3, 4)]
    model, _ = _load(gen, "seq", ext)
    rnn = next(layer for layer in model.layers if layer.name == "rnn")
    # each cell's own arrays, in order (the GRU cell's bias is (2, 9): reset_after)
    assert [w.shape for c in rnn.children for w in c.weights] == [(2, 16), (4, 16), (16,), (4, 9), (3, 9), (2, 9)]


def test_layers_lists_each_cell(runner):
    result = invoke(runner, ["layers", FIXTURES / "k2_state.h5", "--json"])
    rows = {r["path"]: r for r in json.loads(result.stdout)["layers"]}
    assert [rows[p]["class_name"] for p in ("rnn", "rnn/cell_0", "rnn/cell_1")] == ["RNN"] * 3
    assert all(rows[p]["runnable"] for p in ("rnn", "rnn/cell_0", "rnn/cell_1"))
    assert rows["rnn/cell_0"]["params"] == 72 and rows["rnn/cell_1"]["params"] == 48


@pytest.mark.parametrize("gen, ext", [("k2", "h5"), ("k2", "keras"), ("k3", "h5"), ("k3", "keras")])
def test_go_backwards_is_refused_by_name(runner, gen, ext):
    """Keras reverses the input once and runs every cell over it: not each cell as its own
    go_backwards layer (checked with real Keras), so run refuses it rather than guess."""
    model, rec = _load(gen, "back", ext)
    with pytest.raises(UnsupportedError, match="RNN of StackedRNNCells with go_backwards=True is not supported"):
        run_model(model, [rec["input"]])
    rows = json.loads(invoke(runner, ["layers", FIXTURES / f"{gen}_back.{ext}", "--json"]).stdout)["layers"]
    assert any("go_backwards=True is not supported" in (r["reason"] or "") for r in rows)


def test_an_unknown_cell_in_the_stack_is_refused_by_name():
    cells = [Layer(name=f"cell_{n}", class_name="RNN", path=f"rnn/cell_{n}", config={"cell_class": c})
             for n, c in enumerate(["LSTMCell", "PeepholeLSTMCell"])]
    rnn = Layer(name="rnn", class_name="RNN", path="rnn", config={"cell_class": "StackedRNNCells"}, children=cells)
    assert kind_of("RNN").refuse(rnn) == "RNN of StackedRNNCells holding PeepholeLSTMCell is not supported"


def test_streaming_and_export_refuse_stacked_cells_by_name(runner, tmp_path):
    from lstm_inspect.forward.stream import streaming_blocker

    model, rec = _load("k3", "seq", "keras")
    assert "'rnn' (RNN) runs stacked cells" in streaming_blocker(model, [rec["input"]])
    result = invoke(runner, ["export", FIXTURES / "k3_seq.keras", "--to", "onnx", "-o", tmp_path / "m.onnx"])
    assert result.exit_code == 1
    assert "layer 'rnn' (RNN of StackedRNNCells) cannot be exported" in result.stderr


@pytest.mark.parametrize("name", ["seq", "state"])
def test_declared_shapes_equal_computed_shapes(name):
    from lstm_inspect.forward.shapes import infer_shapes

    model, rec = _load("k3", name, "keras")
    result = run_model(model, [rec["input"]])
    declared = infer_shapes(model)["rnn"]
    wanted = declared if isinstance(declared[0], list) else [declared]
    assert [[None, *out.shape[1:]] for out in result.layer_outputs["rnn"]] == wanted
    assert infer_shapes(model)["rnn/cell_0"] == [None, 5, 4 if name == "seq" else 3]
