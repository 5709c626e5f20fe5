"""``compare`` on ports written in the tests (plain numpy in tests/ports.py, PyTorch
below), outside lstm-inspect's forward pass, from Keras's recorded weights: every
catalogued mistake injected on every cell kind where it can occur is named, with the
first divergent layer and step, and a correct port matches."""

import copy
import json

import numpy as np
import pytest
from conftest import ROOT, SAMPLES, invoke
from ports import Mistakes, Rec, port

import lstm_inspect
from lstm_inspect.reports.compare import compare_port


def _model(name, gen="k2"):
    return lstm_inspect.load(SAMPLES / gen / f"{name}.h5")


#: sample -> (port layers, options of ports.port)
MODELS = {
    "stacked_lstm": ([Rec("lstm_a", "lstm"), Rec("lstm_b", "lstm", sequences=False)], {}),
    "gru_reset_after": ([Rec("gru", "gru")], {}),
    "gru_reset_before": ([Rec("gru", "gru", reset_after=False)], {}),
    "simple_rnn": ([Rec("rnn", "rnn", sequences=False)], {}),
    "masking": ([Rec("lstm", "lstm"), Rec("gru", "gru", sequences=False)], {"masking": True}),
    "seed": ([Rec("lstm", "lstm", rec_act="hard_sigmoid_keras2", sequences=False)], {}),
    "backwards_relu_nobias": ([Rec("lstm", "lstm", act="relu", backwards=True)], {}),
    "bidir_concat": ([Rec("bi/forward_lstm", "lstm"), Rec("bi/backward_lstm", "lstm", backwards=True)],
                     {"bidirectional": "bi"}),
    "activations": ([Rec("lstm", "lstm", act="softsign", rec_act="hard_sigmoid_keras2"),
                     Rec("gru", "gru", act="elu", reset_after=False), Rec("rnn", "rnn", act="selu")], {}),
    "gru_backwards_masked": ([Rec("gru", "gru", backwards=True), Rec("rnn", "rnn", backwards=True, sequences=False)],
                             {"masking": True}),
    "bidir_masked_states": ([Rec("bi/forward_gru", "gru", zero_output=True),
                             Rec("bi/backward_gru", "gru", backwards=True, zero_output=True)],
                            {"masking": True, "bidirectional": "bi", "merge": "sum"}),
}

#: (sample, layer injected, mistake, expected id, expected first divergent layer, step)
CASES = [
    # LSTM
    ("stacked_lstm", "lstm_a", Mistakes(order="icfo"), "gate-order:icfo", "lstm_a", 0),
    ("stacked_lstm", "lstm_b", Mistakes(order="iofc"), "gate-order:iofc", "lstm_b", 0),
    ("stacked_lstm", "lstm_a", Mistakes(bias_twice=True), "bias-twice", "lstm_a", 0),
    ("stacked_lstm", "lstm_b", Mistakes(recurrent_transposed=True), "recurrent-transposed", "lstm_b", 1),
    ("stacked_lstm", "*", Mistakes(chunk=2), "state-not-carried", "lstm_a", 2),
    ("masking", "lstm", Mistakes(kernel_transposed=True), "kernel-transposed", "lstm", 0),
    ("masking", "*", Mistakes(ignore_mask=True), "mask-ignored", "lstm", None),
    ("masking", "lstm", Mistakes(zero_output=True), "zero-output-for-mask", "lstm", None),
    ("seed", "lstm", Mistakes(rec_act="hard_sigmoid_keras3"), "hard-sigmoid:keras3", "lstm", 0),
    ("seed", "lstm", Mistakes(rec_act="sigmoid"), "hard-sigmoid:sigmoid", "lstm", 0),
    ("backwards_relu_nobias", "lstm", Mistakes(unreversed=True), "backwards-unreversed", "lstm", 0),
    ("backwards_relu_nobias", "lstm", Mistakes(order="ifoc"), "gate-order:ifoc", "lstm", 0),
    ("bidir_concat", "bi/backward_lstm", Mistakes(order="fico"), "gate-order:fico", "bi/backward_lstm", 0),
    ("bidir_concat", "bi/forward_lstm", Mistakes(order="swap"), "directions-swapped", "bi/forward_lstm", 0),
    ("bidir_concat", "bi/backward_lstm", Mistakes(unreversed=True), "backwards-unreversed", "bi", 0),
    ("activations", "lstm", Mistakes(rec_act="sigmoid"), "hard-sigmoid:sigmoid", "lstm", 0),
    ("seed-k3", "lstm", Mistakes(rec_act="hard_sigmoid_keras2"), "hard-sigmoid:keras2", "lstm", 0),
    ("masking", "gru", Mistakes(zero_output=True), "zero-output-for-mask", "gru", None),
    # GRU, reset_after=True
    ("gru_backwards_masked", "gru", Mistakes(unreversed=True), "backwards-unreversed", "gru", 0),
    ("gru_backwards_masked", "*", Mistakes(ignore_mask=True), "mask-ignored", "gru", None),
    ("bidir_masked_states", "bi/forward_gru", Mistakes(order="swap"), "directions-swapped", "bi/forward_gru", 0),
    ("bidir_masked_states", "*", Mistakes(zero_output=False), "zero-output-for-mask", "bi/forward_gru", None),
    ("bidir_masked_states", "*", Mistakes(ignore_mask=True), "mask-ignored", "bi/forward_gru", None),
    ("bidir_masked_states", "bi/backward_gru", Mistakes(unreversed=True), "backwards-unreversed", "bi", 0),
    ("gru_reset_after", "gru", Mistakes(order="rzh"), "gate-order:rzh", "gru", 0),
    ("gru_reset_after", "gru", Mistakes(order="hzr"), "gate-order:hzr", "gru", 0),
    ("gru_reset_after", "gru", Mistakes(gru_bias_summed=True), "gru-bias-summed", "gru", 0),
    ("gru_reset_after", "gru", Mistakes(reset_after=False), "gru-reset-after:false", "gru", 0),
    ("gru_reset_after", "gru", Mistakes(recurrent_transposed=True), "recurrent-transposed", "gru", 1),
    ("gru_reset_after", "*", Mistakes(chunk=3), "state-not-carried", "gru", 3),
    ("masking", "gru", Mistakes(gru_bias_summed=True), "gru-bias-summed", "gru", 0),
    # GRU, reset_after=False
    ("gru_reset_before", "gru", Mistakes(order="rzh"), "gate-order:rzh", "gru", 0),
    ("gru_reset_before", "gru", Mistakes(reset_after=True), "gru-reset-after:true", "gru", 1),
    ("gru_reset_before", "gru", Mistakes(bias_twice=True), "bias-twice", "gru", 0),
    ("gru_reset_before", "gru", Mistakes(recurrent_transposed=True), "recurrent-transposed", "gru", 1),
    ("activations", "gru", Mistakes(kernel_transposed=True), "kernel-transposed", "gru", 0),
    ("gru_reset_before", "*", Mistakes(chunk=2), "state-not-carried", "gru", 2),
    # SimpleRNN
    ("simple_rnn", "rnn", Mistakes(bias_twice=True), "bias-twice", "rnn", 0),
    ("simple_rnn", "rnn", Mistakes(recurrent_transposed=True), "recurrent-transposed", "rnn", 1),
    ("simple_rnn", "rnn", Mistakes(kernel_transposed=True), "kernel-transposed", "rnn", 0),
    ("simple_rnn", "*", Mistakes(chunk=2), "state-not-carried", "rnn", 2),
    ("activations", "rnn", Mistakes(recurrent_transposed=True), "recurrent-transposed", "rnn", 1),
    ("gru_backwards_masked", "rnn", Mistakes(zero_output=True), "zero-output-for-mask", "rnn", None),
    ("gru_backwards_masked", "rnn", Mistakes(bias_twice=True), "bias-twice", "rnn", 0),
]


def _port(sample, inject=None):
    sample, _, gen = sample.partition("-")
    layers, options = copy.deepcopy(MODELS[sample])
    if gen:
        options = dict(options, gen=gen)
        for layer in layers:
            layer.rec_act = layer.rec_act.replace("keras2", "keras3")
    for layer in layers:
        if inject is not None and inject[0] in (layer.path, "*"):
            layer.wrong = copy.deepcopy(inject[1])
    return port(sample, layers, **options)


@pytest.mark.parametrize("sample", sorted(MODELS))
def test_a_correct_port_matches(sample):
    x, arrays = _port(sample)
    report = compare_port(_model(sample), x, arrays)
    assert report.matches, report.first
    assert report.diagnosis is None
    assert "output/0" in report.lacking


@pytest.mark.parametrize("sample, layer, wrong, expected, first_layer, first_step", CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[3]}" for c in CASES])
def test_an_injected_mistake_is_named(sample, layer, wrong, expected, first_layer, first_step):
    x, arrays = _port(sample, (layer, wrong))
    name, _, gen = sample.partition("-")
    report = compare_port(_model(name, gen or "k2"), x, arrays)
    assert not report.matches
    assert report.first.layer == first_layer
    if first_step is not None:
        assert report.first.step == first_step
    found = [[m.id for m in e] for e in report.diagnosis.explanations]
    assert found == [[expected]], found
    where = report.diagnosis.explanations[0][0].layer
    assert layer == "*" or where in (None, layer, layer.rpartition("/")[0])  # a direction's Bidirectional


def test_only_a_combination_explains_two_mistakes():
    layers, _ = copy.deepcopy(MODELS["stacked_lstm"])
    layers[0].wrong = Mistakes(order="iofc")
    layers[1].wrong = Mistakes(bias_twice=True)
    x, arrays = port("stacked_lstm", layers)
    report = compare_port(_model("stacked_lstm"), x, arrays)
    assert report.first.layer == "lstm_a"
    assert report.diagnosis.combination
    assert [sorted((m.id, m.layer) for m in e) for e in report.diagnosis.explanations] == [
        [("bias-twice", "lstm_b"), ("gate-order:iofc", "lstm_a")]]


def test_a_divergence_nothing_explains_is_said_plainly(runner, tmp_path):
    x, arrays = _port("gru_reset_after")
    arrays["gru/hidden"] = arrays["gru/hidden"].copy()
    arrays["gru/hidden"][1, 3, 2] += 0.05
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "port.npz", **arrays)
    report = compare_port(_model("gru_reset_after"), x, arrays)
    assert (report.first.layer, report.first.quantity, report.first.sample, report.first.step,
            report.first.unit) == ("gru", "hidden", 1, 3, 2)
    assert report.diagnosis.explanations == []
    result = invoke(runner, ["compare", str(SAMPLES / "k2/gru_reset_after.h5"), "--input", str(tmp_path / "x.npy"),
                             "--against", str(tmp_path / "port.npz")])
    assert result.exit_code == 3
    assert "Nothing in the catalogue explains it" in result.stdout
    assert "First divergence: gru/hidden, sample 1, step 3 (input time 3), unit 2" in result.stdout


# ------------------------------------------------------------------------------------ CLI


def _files(tmp_path, sample, inject=None):
    x, arrays = _port(sample, inject)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "port.npz", **arrays)
    return str(SAMPLES / "k2" / f"{sample}.h5"), str(tmp_path / "x.npy"), str(tmp_path / "port.npz")


def test_cli_exit_status_and_json(runner, tmp_path):
    model, x, p = _files(tmp_path, "gru_reset_after")
    ok = invoke(runner, ["compare", model, "--input", x, "--against", p, "--json"])
    assert ok.exit_code == 0, ok.output
    doc = json.loads(ok.stdout)
    assert doc["schema"] == "lstm-inspect/compare@1" and doc["status"] == "matches"
    assert doc["first_divergence"] is None and doc["diagnosis"] is None
    assert doc["lacking"] == ["dense/output", "output/0"]
    model, x, p = _files(tmp_path, "gru_reset_after", ("gru", Mistakes(order="rzh")))
    bad = invoke(runner, ["compare", model, "--input", x, "--against", p, "--json"])
    assert bad.exit_code == 3
    doc = json.loads(bad.stdout)
    assert doc["status"] == "diverges"
    first = doc["first_divergence"]
    assert (first["layer"], first["quantity"], first["sample"], first["step"], first["time"], first["unit"]) == (
        "gru", "z", 0, 0, 0, 0)
    assert doc["diagnosis"]["explanations"][0][0]["id"] == "gate-order:rzh"
    assert doc["diagnosis"]["explained"] and not doc["diagnosis"]["combination"]


def test_cli_errors_and_usage(runner, tmp_path):
    model, x, p = _files(tmp_path, "gru_reset_after")
    usage = invoke(runner, ["compare", model, "--against", p])
    assert usage.exit_code == 2
    (tmp_path / "empty.json").write_text('{"nothing/here": [1, 2]}')
    none = invoke(runner, ["compare", model, "--input", x, "--against", str(tmp_path / "empty.json")])
    assert none.exit_code == 1 and none.stderr.startswith("Error: ") and none.stderr.count("\n") == 1


def test_cli_json_port_file(runner, tmp_path):
    model, x, _ = _files(tmp_path, "simple_rnn")
    _, arrays = _port("simple_rnn")
    (tmp_path / "port.json").write_text(json.dumps({"rnn/hidden": arrays["rnn/hidden"].tolist()}))
    result = invoke(runner, ["compare", model, "--input", x, "--against", str(tmp_path / "port.json")])
    assert result.exit_code == 0, result.output
    assert "Result: matches within tolerance." in result.stdout


def test_onnx_port_without_onnxruntime_is_one_error_line(runner, tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_onnxruntime(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    model, x, _ = _files(tmp_path, "gru_reset_after")
    (tmp_path / "port.onnx").write_bytes(b"")
    result = invoke(runner, ["compare", model, "--input", x, "--against", str(tmp_path / "port.onnx")])
    assert result.exit_code == 1
    assert result.stderr == "Error: running an ONNX port needs onnxruntime: pip install onnxruntime\n"


def test_two_checkpoints(runner, tmp_path):
    a = SAMPLES / "k2" / "gru_reset_after.h5"
    same = invoke(runner, ["compare", str(a), "--against", str(SAMPLES / "k3" / "gru_reset_after.h5"), "--json"])
    assert same.exit_code == 0, same.output
    doc = json.loads(same.stdout)
    assert doc["status"] == "weights"
    assert {(w["layer"], w["role"], w["gate"]) for w in doc["weights"]} >= {("gru", "kernel", "z"), ("gru", "bias", "h")}
    assert all(w["relative_change"] == 0 for w in doc["weights"])
    x = tmp_path / "x.npy"
    np.save(x, _port("gru_reset_after")[0])
    run = invoke(runner, ["compare", str(a), "--input", str(x), "--against", str(SAMPLES / "k3" / "gru_reset_after.h5")])
    assert run.exit_code == 0, run.output
    other = invoke(runner, ["compare", str(a), "--against", str(SAMPLES / "k2" / "stacked_lstm.h5")])
    assert other.exit_code == 1 and "does not have the architecture" in other.stderr


def test_checkpoint_weight_change_per_gate():
    from lstm_inspect.reports.compare import weight_changes
    from lstm_inspect.reports.mistakes import Plan, _alter

    a = _model("gru_reset_after")
    nudge = _alter("gru", lambda v, w: dict(w, kernel=w["kernel"] + np.r_[[0] * 4, [0.1] * 4, [0] * 4]))
    b = nudge(Plan(a)).model  # the r block of the kernel moved
    changes = {(c.role, c.gate): c.relative for c in weight_changes(a, b) if c.layer == "gru"}
    assert changes[("kernel", "r")] > 0 and changes[("kernel", "z")] == 0 and changes[("bias", "h")] == 0


def test_the_readme_port_is_what_the_script_writes():
    """sample_models/ports/gru_rz_swapped.npz is a PyTorch port of gru_reset_after with r
    and z swapped; its numbers are those of the numpy port with the same mistake."""
    x, arrays = _port("gru_reset_after", ("gru", Mistakes(order="rzh")))
    with np.load(ROOT / "sample_models" / "ports" / "gru_rz_swapped.npz") as npz:
        assert np.allclose(npz["gru/hidden"], arrays["gru/hidden"], atol=1e-5)


def test_a_large_batch_is_screened_on_few_samples_and_confirmed_on_all():
    x = np.random.RandomState(3).randn(9, 7, 3).astype(np.float32)
    layers, _ = copy.deepcopy(MODELS["stacked_lstm"])
    layers[1].wrong = Mistakes(order="ofci")
    x, arrays = port("stacked_lstm", layers, x=x)
    arrays["lstm_a/hidden"] = arrays["lstm_a/hidden"].copy()
    report = compare_port(_model("stacked_lstm"), x, arrays)
    assert (report.first.layer, report.first.step) == ("lstm_b", 0)
    assert [[m.id for m in e] for e in report.diagnosis.explanations] == [["gate-order:ofci"]]
    arrays["lstm_b/hidden"][7, 6, 0] += 0.01  # one more difference, in a sample the screen does not see
    report = compare_port(_model("stacked_lstm"), x, arrays)
    assert report.diagnosis.explanations == []


def test_shapes_that_differ_and_keys_that_name_nothing(runner, tmp_path):
    x, arrays = _port("gru_reset_after")
    arrays["gru/hidden"] = arrays["gru/hidden"][:, :, :3]
    arrays["gru/nonsense"] = np.zeros(3)
    report = compare_port(_model("gru_reset_after"), x, arrays)
    assert report.first.key == "gru/hidden" and report.first.shapes == ((2, 5, 4), (2, 5, 3))
    assert report.unknown == ["gru/nonsense"]
    assert report.diagnosis.explanations == []


def test_run_npz_is_a_port_format(runner, tmp_path):
    """What ``run --npz`` writes is read as a port: a model compared with its own run matches."""
    model = str(SAMPLES / "k2" / "bidir_masked_states.h5")
    x = tmp_path / "x.npy"
    np.save(x, _port("bidir_masked_states")[0])
    out = tmp_path / "run.npz"
    assert invoke(runner, ["run", model, "--input", str(x), "--npz", str(out), "--json"]).exit_code == 0
    result = invoke(runner, ["compare", model, "--input", str(x), "--against", str(out), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["status"] == "matches" and doc["unknown"] == []
    assert {"bi/forward_gru/z", "bi/backward_gru/hidden", "output/0", "output/2"} <= {q["key"] for q in doc["quantities"]}


def test_two_checkpoints_fine_tuned(runner, tmp_path):
    """A copy of the sample GRU whose kernel's r block moved: only that gate changes, and
    with --input the runs first diverge at r, step 0 (no mistakes are looked for)."""
    import shutil

    import h5py

    a = SAMPLES / "k2" / "gru_reset_after.h5"
    b = tmp_path / "tuned.h5"
    shutil.copy(a, b)
    with h5py.File(b, "r+") as f:
        kernel = f["model_weights/gru/gru/gru_cell/kernel:0"]
        kernel[:, 4:8] = kernel[:, 4:8] * 1.1
    x = tmp_path / "x.npy"
    np.save(x, _port("gru_reset_after")[0])
    result = invoke(runner, ["compare", str(a), "--against", str(b), "--input", str(x), "--json"])
    assert result.exit_code == 3, result.output
    doc = json.loads(result.stdout)
    changes = {(w["layer"], w["role"], w["gate"]): w["relative_change"] for w in doc["weights"]}
    assert changes[("gru", "kernel", "r")] == pytest.approx(0.1, rel=1e-5)
    assert changes[("gru", "kernel", "z")] == 0 and changes[("gru", "recurrent_kernel", "r")] == 0
    first = doc["first_divergence"]
    assert (first["layer"], first["quantity"], first["step"]) == ("gru", "r", 0)
    assert doc["diagnosis"] is None
