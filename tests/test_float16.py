"""float16 and mixed_float16 layers, computed operation by operation as TensorFlow does on CPU
(docs/formats.md section 5.6), against the numbers real Keras recorded
(tests/data/float16/make_float16.py, sample_models' ``float16_lstm``)."""

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import ROOT, SAMPLES, assert_one_error, expected_npz, invoke

import lstm_inspect
from lstm_inspect import UnsupportedError
from lstm_inspect.forward.executor import run_model
from lstm_inspect.kinds.half import to_half

DATA = ROOT / "tests" / "data" / "float16"
CASES = sorted(p.stem for p in DATA.glob("*.npz"))


def _file(case: str) -> Path:
    return DATA / (case + (".h5" if case.startswith("k2_") else ".keras"))


@pytest.mark.parametrize("case", CASES)
def test_every_layer_equals_keras_bit_for_bit(case):
    d = np.load(DATA / f"{case}.npz")
    inputs = [d[k] for k in sorted(k for k in d.files if k.startswith("input/"))]
    result = run_model(lstm_inspect.load(_file(case)), inputs)
    for key in d.files:
        if key.startswith(("layer/", "output/")):
            want = d[key]
            got = (result.outputs[int(key[len("output/"):])] if key.startswith("output/")
                   else result.layer_outputs[key[len("layer/"):]][0])
            if want.dtype == np.float16 or key in ("layer/bi_lstm", "layer/bi_gru", "layer/bi_rnn"):
                # float16 values (Keras 3 hands a float32 Bidirectional's merge float32 copies of them)
                np.testing.assert_array_equal(got, want.astype(np.float32), err_msg=f"{case} {key}")
            else:  # a float32 layer (or tf.keras's float32 directions in a float16 Bidirectional): float32 arithmetic
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, err_msg=f"{case} {key}")


def test_the_cases_cover_both_generations_and_every_float16_kind():
    assert [f"{g}_{m}" for g in ("k2", "k3") for m in ("gru_before", "long", "masked", "moves", "options",
                                                                 "stack")] == CASES
    classes = set()
    for case in CASES:
        for layer in lstm_inspect.load(_file(case)).walk():
            if layer.config.get("dtype") not in (None, "float32") and "float16" in json.dumps(layer.config["dtype"]):
                classes.add(layer.class_name)
    assert classes >= {"LSTM", "GRU", "SimpleRNN", "Dense", "Embedding", "Activation", "Dropout", "Bidirectional",
                       "Flatten", "Reshape", "Permute", "RepeatVector", "ZeroPadding1D", "Cropping1D", "Concatenate"}


@pytest.mark.parametrize("form", ["k2/float16_lstm.h5", "k3/float16_lstm.h5", "k3/float16_lstm.keras"])
def test_the_mixed_float16_sample_gives_keras_outputs(form):
    d = expected_npz("float16_lstm", form[:2])
    result = run_model(lstm_inspect.load(SAMPLES / form), [d["input/0"]])
    np.testing.assert_array_equal(result.layer_outputs["lstm"][0], d["layer/lstm/0"].astype(np.float32))
    np.testing.assert_allclose(result.outputs[0], d["output/0"], rtol=1e-6, atol=1e-7)


def test_float32_arithmetic_would_not_have_matched():
    """The float16 fixtures are sensitive: computing them in float32 misses Keras's numbers."""
    d = np.load(DATA / "k3_long.npz")
    model = lstm_inspect.load(_file("k3_long"))
    for layer in model.walk():
        layer.config["dtype"] = "float32"
    got = run_model(model, [d["input/0"]]).outputs[0]
    assert np.abs(got - d["output/0"].astype(np.float32)).max() > 1e-4


def test_rounding_goes_to_infinity_past_the_float16_range():
    assert to_half(np.array([65504.0, 65520.0, -1e6], np.float32)).tolist() == [65504.0, np.inf, -np.inf]


def test_run_says_which_layers_compute_in_float16(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(SAMPLES)
    np.save(tmp_path / "x.npy", expected_npz("float16_lstm", "k3")["input/0"][:1])
    result = invoke(runner, ["run", "k3/float16_lstm.keras", "--input", str(tmp_path / "x.npy")])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "Note: computed in float16, every operation rounded as TensorFlow does on CPU: lstm\n"
    assert "activation tanh · recurrent_activation sigmoid · computed in float16" in result.stdout.splitlines()
    doc = json.loads(invoke(runner, ["run", "k3/float16_lstm.keras", "--input", str(tmp_path / "x.npy"),
                                     "--json"]).stdout)
    assert doc["layers"][0]["compute_dtype"] == "float16"
    gates = json.loads(invoke(runner, ["gates", "k3/float16_lstm.keras", "--json"]).stdout)
    assert [lay["compute_dtype"] for lay in gates["layers"]] == ["float16"]
    layers = json.loads(invoke(runner, ["layers", "k3/float16_lstm.keras", "--json"]).stdout)
    assert {r["path"]: r["config"].get("dtype") for r in layers["layers"]} == {
        "input": None, "lstm": "mixed_float16", "dense": None}


@pytest.mark.parametrize("gen, form", [("k2", "k2/float16_lstm.h5"), ("k3", "k3/float16_lstm.keras")])
def test_compare_names_a_port_that_computes_float16_in_float32(gen, form, tmp_path):
    from ports import Rec, port

    from lstm_inspect import compare_port

    x, arrays = port("float16_lstm", [Rec("lstm", "lstm", act="tanh", rec_act="sigmoid", sequences=False)], gen=gen)
    report = compare_port(lstm_inspect.load(SAMPLES / form), x, arrays)
    assert [[m.id for m in combo] for combo in report.diagnosis.explanations] == [["float32-for-float16"]]
    keras = expected_npz("float16_lstm", gen)  # Keras's own numbers are a port that rounds as Keras does
    exact = {"lstm/output": keras["layer/lstm/0"], "output/0": keras["output/0"]}
    assert compare_port(lstm_inspect.load(SAMPLES / form), keras["input/0"], exact).diagnosis is None


def test_export_refuses_a_float16_layer_by_name(runner, tmp_path):
    result = invoke(runner, ["export", str(SAMPLES / "k3" / "float16_lstm.keras"), "--to", "onnx",
                             "-o", str(tmp_path / "m.onnx")])
    assert_one_error(result, "layer 'lstm' (LSTM) computes in float16 (dtype 'mixed_float16'), which export does "
                             "not map: the exported model would compute in float32")
    assert not (tmp_path / "m.onnx").exists()


def test_float16_on_another_backend_is_refused_by_name(tmp_path):
    path = tmp_path / "jax.h5"
    shutil.copy(SAMPLES / "k3" / "float16_lstm.h5", path)
    with h5py.File(path, "r+") as f:
        f.attrs["backend"] = "jax"
    with pytest.raises(UnsupportedError, match=r"layer 'lstm' \(LSTM\) computes in float16 on the jax backend"):
        run_model(lstm_inspect.load(path), [np.zeros((1, 4, 2), np.float32)])


def test_a_large_batch_split_over_threads_and_kept_rows_give_keras_numbers():
    d = np.load(DATA / "k3_stack.npz")
    x = np.tile(d["input/0"], (16, 1, 1))  # 64 rows: the step loop runs blocks of rows side by side
    model = lstm_inspect.load(_file("k3_stack"))
    result = run_model(model, [x])
    for name in ("lstm", "gru", "rnn", "d16"):
        want = d[f"layer/{name}"].astype(np.float32)
        np.testing.assert_array_equal(result.layer_outputs[name][0], np.tile(want, (16,) + (1,) * (want.ndim - 1)))
    kept = run_model(model, [x], keep=lstm_inspect.Keep(samples=[1, 5]))
    np.testing.assert_array_equal(kept.outputs[0], result.outputs[0])
    np.testing.assert_array_equal(kept.traces[0].trace.gates["i"], result.traces[0].trace.gates["i"][[1, 5]])
