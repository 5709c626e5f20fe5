"""Output that keeps up: JSON and JSONL with float32 values in their shortest form and the
same names, --json written as it is encoded, --npz showing only what it wrote, runs that
keep only the traces they show; and the small fixes of issue 11."""

import json

import numpy as np
import pytest
from conftest import REALWORLD, SAMPLES, assert_one_error, expected_npz, invoke

import lstm_inspect
from lstm_inspect.forward.executor import Keep, run_model

SEED = "sample_models/seed.h5"
SEED_INPUT = "sample_models/seed_input.json"


def _input(tmp_path, name, batch=None):
    x = expected_npz(name, "k2")["input/0"]
    if batch:
        x = np.concatenate([x] * (batch // len(x) + 1))[:batch]
    path = tmp_path / f"{name}.npy"
    np.save(path, x)
    return str(path), x


def test_json_writes_float32_values_in_their_shortest_form(runner):
    result = invoke(runner, ["run", SEED, "--input", SEED_INPUT, "--json"])
    doc = json.loads(result.stdout)
    hidden = doc["layers"][0]["trace"]["hidden"][0][0]
    for value in hidden:
        assert repr(value) == repr(float(np.float32(value))) or len(repr(value)) <= 12
        assert f"{value!r}" in result.stdout
    assert str(float(np.float32(0.1))) not in result.stdout  # no float64 digits of a float32
    x = lstm_inspect.run_report(lstm_inspect.load(SEED), SEED_INPUT).result.traces[0].trace.hidden[0, 0]
    assert np.array_equal(np.array(hidden, np.float32), x)  # each round-trips to the float32 computed


def test_json_streamed_equals_the_document(runner, tmp_path, monkeypatch):
    from lstm_inspect.reports import serialize

    monkeypatch.setattr(serialize, "CHUNK_BYTES", 64)  # many pieces
    path, x = _input(tmp_path, "masking")
    result = invoke(runner, ["run", str(SAMPLES / "k2" / "masking.h5"), "--input", path, "--json", "--units", "1:3"])
    streamed = json.loads(result.stdout)
    report = lstm_inspect.run_report(lstm_inspect.load(SAMPLES / "k2" / "masking.h5"), x,
                                     lstm_inspect.Selection(units=(1, 3)))
    whole = serialize.run_document(report)
    assert streamed.keys() == whole.keys()
    for a, b in zip(streamed["layers"], whole["layers"]):
        assert {k: v for k, v in a.items() if k != "trace"} == {k: v for k, v in b.items() if k != "trace"}
        for name in b["trace"]:
            assert np.array_equal(np.array(a["trace"][name], np.float32), np.array(b["trace"][name], np.float32))
    np.testing.assert_array_equal(np.array(streamed["outputs"][0], np.float32), np.asarray(whole["outputs"][0]))


def test_jsonl_records_use_the_document_names_and_absolute_units(runner, tmp_path):
    path, _ = _input(tmp_path, "stacked_lstm")
    model = str(SAMPLES / "k2" / "stacked_lstm.h5")
    lines = invoke(runner, ["run", model, "--input", path, "--jsonl", "--units", "1:3", "--sample", "1"]).stdout
    records = [json.loads(line) for line in lines.splitlines()]
    doc = json.loads(invoke(runner, ["run", model, "--input", path, "--json", "--units", "1:3", "--sample", "1"]).stdout)
    first = records[0]
    assert list(first)[:6] == ["path", "sample", "step", "t", "masked", "unit_range"]
    assert first["unit_range"] == [1, 3] and first["sample"] == 1
    layer = next(lay for lay in doc["layers"] if lay["path"] == first["path"])
    assert layer["unit_range"] == first["unit_range"]
    assert first["f"] == layer["trace"]["f"][0][0]  # same numbers, same text


def test_npz_tables_show_only_the_outputs_and_what_was_written(runner, tmp_path):
    out = tmp_path / "t.npz"
    result = invoke(runner, ["run", SEED, "--input", SEED_INPUT, "--npz", str(out)])
    assert result.exit_code == 0
    assert "step  t" not in result.stdout
    assert result.stdout == (
        "sample_models/seed.h5  keras-h5 · Keras 2.21.0 · backend tensorflow\n\n"
        "output 0  shape (1, 1)  sample 0\n[0.00732]\n\n"
        f"wrote {out}: 8 arrays\n"
        "  output/0     1x1 float32\n  lstm/i       1x3x3 float32\n  lstm/f       1x3x3 float32\n"
        "  lstm/c       1x3x3 float32\n  lstm/o       1x3x3 float32\n  lstm/cell    1x3x3 float32\n"
        "  lstm/hidden  1x3x3 float32\n  lstm/steps   3 int64\n"
    )
    with np.load(out) as npz:
        assert len(npz.files) == 8


@pytest.mark.parametrize("name, batch", [("masking", None), ("stacked_lstm", None), ("gru_backwards_masked", None),
                                         ("stacked_lstm", 40), ("bidir_concat", None)])
def test_keep_holds_the_same_traces_for_the_rows_kept(tmp_path, name, batch):
    _, x = _input(tmp_path, name, batch)
    model = lstm_inspect.load(SAMPLES / "k2" / f"{name}.h5")
    full = run_model(model, [x])
    rows = [len(x) - 1, 0]
    part = run_model(model, [x], keep=Keep(samples=rows))
    for y, z in zip(full.outputs, part.outputs):
        assert np.array_equal(y, z)
    for a, b in zip(full.traces, part.traces):
        assert b.trace.rows == sorted(rows)
        for g in a.trace.gates:
            assert np.array_equal(a.trace.gates[g][sorted(rows)], b.trace.gates[g])
        assert np.array_equal(a.trace.hidden[sorted(rows)], b.trace.hidden)
        if a.trace.cell is not None:
            assert np.array_equal(a.trace.cell[sorted(rows)], b.trace.cell)
        assert all(np.array_equal(a.trace.states[k], b.trace.states[k]) for k in a.trace.states)
    none = run_model(model, [x], keep=Keep(paths=["no such layer"]))
    assert all(t.trace.rows == [] and t.trace.hidden.shape[0] == 0 for t in none.traces)
    assert all(np.array_equal(y, z) for y, z in zip(full.outputs, none.outputs))


def test_the_memory_budget_covers_the_traces():
    from lstm_inspect.limits import memory_budget

    model = lstm_inspect.load(SEED)
    x = np.zeros((1, 100_000, 1), np.float32)
    with memory_budget(4 << 20), pytest.raises(lstm_inspect.UnsupportedError, match="the traces of layer 'lstm'"):
        run_model(model, [x])
    with memory_budget(4 << 20):
        run_model(model, [x], keep=Keep(paths=[]))  # keeping none needs only the states


def test_run_model_keeps_every_trace_by_default():
    model = lstm_inspect.load(SEED)
    result = run_model(model, [np.zeros((2, 3, 1), np.float32)])
    assert result.traces[0].trace.rows is None and result.traces[0].trace.hidden.shape[0] == 2


@pytest.mark.parametrize("suffix, text", [(".txt", "0,725 1,5\n0,8 1,6\n"), (".csv", "0,725;1,5\n0,8;1,6\n"),
                                          (".tsv", "0,725\t1,5\n")])
def test_decimal_commas_are_refused_by_name(runner, tmp_path, suffix, text):
    path = tmp_path / f"x{suffix}"
    path.write_text(text)
    result = invoke(runner, ["run", str(SAMPLES / "k2" / "stacked_lstm.h5"), "--input", str(path)])
    assert_one_error(result, "row 1 holds a number with a decimal comma ('0,725'); write numbers with a decimal point")


def test_a_model_file_given_as_a_command_gets_a_suggestion(runner):
    result = invoke(runner, [SEED])
    assert result.exit_code == 2
    assert f"'{SEED}' is not a command; name one first: lstm-inspect gates {SEED}" in result.stderr
    assert invoke(runner, ["gatez"]).exit_code == 2


def test_layers_shows_each_input(runner, monkeypatch):
    monkeypatch.chdir(SAMPLES.parent)
    doc = json.loads(invoke(runner, ["layers", str(SAMPLES / "k2" / "two_input.h5"), "--json"]).stdout)
    assert doc["inputs"] == [{"name": "in_a", "shape": [None, 5, 3], "dtype": "float32"},
                             {"name": "in_b", "shape": [None, 5, 2], "dtype": "float32"}]
    lines = invoke(runner, ["layers", "sample_models/k2/two_input.h5"]).stdout.splitlines()
    assert lines[1] == "inputs  in_a (None,5,3) float32  in_b (None,5,2) float32"


def test_layers_shows_the_input_of_a_sequential_file_without_an_input_layer(runner, monkeypatch):
    path = REALWORLD / "k1_dl4j_simple_lstm_th_model.h5"
    if not path.exists():
        pytest.skip(f"{path} is absent (real Keras files live outside the repository)")
    monkeypatch.chdir(REALWORLD)  # a short title line: a long path would wrap it at its " · "
    lines = invoke(runner, ["layers", path.name]).stdout.splitlines()
    assert lines[1] == "inputs  lstm_1_input (None,1,1) float32"


def test_gates_layer_narrows_and_names_the_layers_when_absent(runner):
    model = str(SAMPLES / "k2" / "bidir_concat.h5")
    doc = json.loads(invoke(runner, ["gates", model, "--json", "--layer", "bi/backward_lstm"]).stdout)
    assert [lay["path"] for lay in doc["layers"]] == ["bi/backward_lstm"]
    doc = json.loads(invoke(runner, ["gates", model, "--json", "--layer", "bi"]).stdout)
    assert [lay["path"] for lay in doc["layers"]] == ["bi/forward_lstm", "bi/backward_lstm"]
    result = invoke(runner, ["gates", model, "--layer", "nope"])
    assert_one_error(result, "--layer 'nope' is not a recurrent layer of this model "
                             "(they are: bi/forward_lstm, bi/backward_lstm)")


def test_readme_jq_example_finds_the_forget_gate_in_every_generation(runner):
    """The README's jq filter, in Python: the forget gate's kernel columns, named by array."""
    def forget(doc):
        return [[{"name": w["name"], "columns": [s["start"], s["stop"]]}
                 for w in layer["weights"] if w["role"] == "kernel" for s in w["slices"] if s["gate"] == "f"]
                for layer in doc["layers"]]

    doc = json.loads(invoke(runner, ["gates", SEED, "--json"]).stdout)
    assert forget(doc) == [[{"name": "lstm/lstm_cell/kernel:0", "columns": [3, 6]}]]
    path = REALWORLD / "k1_dl4j_simple_lstm_th_model.h5"
    if path.exists():
        doc = json.loads(invoke(runner, ["gates", str(path), "--json"]).stdout)
        assert forget(doc) == [[{"name": "lstm_1_W_f", "columns": [0, 50]}]]
