"""``export``: every sample model in every form, exported and run by its own runtime
(onnxruntime, PyTorch), gives what Keras recorded; the per-gate arrays are Keras's own
``get_weights()`` blocks. Tests of a runtime skip with a reason where it is absent."""

from __future__ import annotations

import importlib.util
import json
import struct
import sys

import numpy as np
import pytest
from conftest import assert_one_error, dl4j_keras2_weights, invoke, realworld, recorded_traces, sample_params

import lstm_inspect
from lstm_inspect.errors import UnsupportedError
from lstm_inspect.export import export_npz, export_onnx, export_torch

#: Sample models export refuses, by target, and the phrase the refusal names.
#: Sample models both targets refuse, and the phrase the refusal names.
_REFUSED_BOTH = {
    "timedistributed_conv": "wraps Conv2D, which export maps only for Dense",
    "bidir_convlstm": "ONNX and PyTorch have no ConvLSTM",
    "concat_time_masked": "joins masked sequences along time",
    "flatten_channels_first": "is channels_first, which export does not map",
    "global_pool_keepdims": "keeps dims",
    "ln_rms_scaling": "uses rms_scaling, which export does not map",
    "negative_axis": "export maps the last axis",
    "td_embedding_lstm": "wraps Embedding, which export maps only for Dense",
    "td_masked_lstm": "wraps LSTM, which export maps only for Dense",
    "float16_lstm": "computes in float16 (dtype 'mixed_float16'), which export does not map",
}
#: Sample models export refuses, by target, and the phrase the refusal names.
REFUSED = {
    "onnx": {
        **_REFUSED_BOTH,
        "activations": "'selu' is not among the activations of ONNX's RNN operator",
        **{f"conv_lstm{n}d": "ONNX has no ConvLSTM operator" for n in (1, 2, 3)},
    },
    "torch": {**_REFUSED_BOTH, **{f"conv_lstm{n}d": "PyTorch no ConvLSTM module" for n in (1, 2, 3)}},
}
#: The largest difference from Keras each runtime gave, over every sample (the report's numbers).
WORST = {"onnx": 0.0, "torch": 0.0}


def _refused(sample, target, export):
    want = REFUSED[target].get(sample.name)
    if want is None:
        return False
    with pytest.raises(UnsupportedError, match=want.replace("(", r"\(").replace(")", r"\)")):
        export()
    return True


def _mask_holes(expected) -> np.ndarray:
    """Rows (samples) whose recorded mask is not live-steps-first somewhere in the model."""
    rows = set()
    for key in expected.files:
        if key.startswith("mask/"):
            m = expected[key].astype(int)
            if m.ndim == 2:
                rows |= set(np.nonzero((np.diff(m, axis=1) > 0).any(axis=1))[0].tolist())
    return np.array(sorted(rows), dtype=int)


def _compare(target, outputs, expected, holes=()):
    for k, got in enumerate(outputs):
        want = expected[f"output/{k}"]
        assert got.shape == want.shape, (k, got.shape, want.shape)
        # Keras's own NaN (a fully masked average is 0/0) must come out as NaN, in the same places
        keras_nan = np.nonzero(np.isnan(want).reshape(len(want), -1).any(axis=1))[0]
        for row in keras_nan:
            np.testing.assert_array_equal(np.isnan(got[row]), np.isnan(want[row]), err_msg=f"output {k}: NaN")
        nan_rows = np.setdiff1d(np.nonzero(np.isnan(got).reshape(len(got), -1).any(axis=1))[0], keras_nan)
        np.testing.assert_array_equal(nan_rows, holes, err_msg=f"output {k}: NaN rows")
        keep = np.setdiff1d(np.arange(len(got)), np.union1d(holes, keras_nan))
        diff = float(np.max(np.abs(got[keep] - want[keep]), initial=0.0))
        WORST[target] = max(WORST[target], diff)
        assert diff <= 1e-5, (k, diff)


# ---------------------------------------------------------------------- ONNX


@pytest.mark.parametrize("sample", sample_params(runnable=True))
def test_onnx_export_runs_to_keras_outputs(sample, tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install onnxruntime)")
    onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install onnx)")
    path = tmp_path / "model.onnx"
    model = sample.load()
    if _refused(sample, "onnx", lambda: export_onnx(model, path, layer_outputs=True)):
        return
    export_onnx(model, path, layer_outputs=True)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    assert [i.name for i in inputs] == [n for n, _, _ in _signature(model)]
    feeds = {i.name: np.asarray(x, np.int32 if i.type == "tensor(int32)" else np.float32)
             for i, x in zip(inputs, sample.inputs())}
    names = [o.name for o in session.get_outputs()]
    results = dict(zip(names, session.run(None, feeds)))
    n = sample.info["n_outputs"]
    holes = _mask_holes(sample.expected)
    _compare("onnx", [results[name] for name in names[:n]], sample.expected, holes)
    # each recurrent layer's own output, where Keras recorded it
    checked = 0
    for name in names[n:]:
        key = name.replace("layer:", "layer/") + "/0"
        if key in sample.expected.files:
            got, want = results[name], sample.expected[key]
            keep = np.setdiff1d(np.arange(len(got)), holes)
            np.testing.assert_allclose(got[keep], want[keep], atol=1e-5, rtol=0, err_msg=key)
            checked += 1
    assert checked or not any(k.startswith("trace/") for k in sample.expected.files) or _wrapped_only(sample)


def _signature(model):
    from lstm_inspect.forward.signature import input_signature

    return input_signature(model)


def _wrapped_only(sample) -> bool:
    """Every recurrent layer sits inside a wrapper or nested model (no top-level record)."""
    paths = {path for path, _ in recorded_traces(sample.expected)}
    return all(f"layer/{p}/0" not in sample.expected.files for p in paths)


def test_onnx_pins_opset_and_ir_version(tmp_path):
    onnx = pytest.importorskip("onnx", reason="onnx is not installed")
    path = tmp_path / "seed.onnx"
    export_onnx(lstm_inspect.load("sample_models/seed.h5"), path)
    proto = onnx.load(str(path))
    assert (proto.ir_version, [(o.domain, o.version) for o in proto.opset_import]) == (8, [("", 17)])
    (lstm,) = [n for n in proto.graph.node if n.op_type == "LSTM"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in lstm.attribute}
    assert attrs["activations"] == [b"HardSigmoid", b"Tanh", b"Tanh"]
    assert attrs["activation_alpha"] == [pytest.approx(0.2)] * 3 and attrs["activation_beta"] == [0.5] * 3
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "time", 1]


def test_onnx_hard_sigmoid_alpha_follows_the_writer(tmp_path):
    onnx = pytest.importorskip("onnx", reason="onnx is not installed")
    for form, alpha in (("k2/seed.h5", 0.2), ("k3/seed.keras", 1 / 6)):
        export_onnx(lstm_inspect.load(f"sample_models/{form}"), tmp_path / "m.onnx")
        (lstm,) = [n for n in onnx.load(str(tmp_path / "m.onnx")).graph.node if n.op_type == "LSTM"]
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in lstm.attribute}
        assert attrs["activation_alpha"] == [pytest.approx(alpha)] * 3, form
    # --hard-sigmoid overrides the writer's formula
    export_onnx(lstm_inspect.load("sample_models/k2/seed.h5"), tmp_path / "m.onnx", hard_sigmoid="keras3")
    (lstm,) = [n for n in onnx.load(str(tmp_path / "m.onnx")).graph.node if n.op_type == "LSTM"]
    alphas = {a.name: onnx.helper.get_attribute_value(a) for a in lstm.attribute}["activation_alpha"]
    assert alphas == [pytest.approx(1 / 6)] * 3


def test_onnx_absent_is_one_error_line_with_the_install_command(runner, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)
    result = invoke(runner, ["export", "sample_models/seed.h5", "--to", "onnx", "-o", tmp_path / "x.onnx"])
    assert_one_error(result, "needs the onnx package", "pip install")
    assert not (tmp_path / "x.onnx").exists()


# ---------------------------------------------------------------------- PyTorch


def _load_module(folder):
    spec = importlib.util.spec_from_file_location(f"exported_{abs(hash(str(folder)))}", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("sample", sample_params(runnable=True))
def test_torch_export_runs_to_keras_outputs(sample, tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch)")
    model = sample.load()
    if _refused(sample, "torch", lambda: export_torch(model, tmp_path)):
        return
    export_torch(model, tmp_path)
    net = _load_module(tmp_path).load()
    with torch.no_grad():
        outs = net(*[torch.from_numpy(np.array(x)) for x in sample.inputs()])
    outs = outs if isinstance(outs, tuple) else (outs,)
    assert len(outs) == sample.info["n_outputs"]
    _compare("torch", [o.numpy() for o in outs], sample.expected)


def test_torch_parameters_follow_pytorch_names_and_layouts(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    export_torch(lstm_inspect.load("sample_models/k2/bidir_concat.h5"), tmp_path)
    net = _load_module(tmp_path).load()
    assert isinstance(net.bi, torch.nn.LSTM) and net.bi.bidirectional
    names = [n for n, _ in net.named_parameters()]
    assert "bi.weight_ih_l0" in names and "bi.bias_hh_l0_reverse" in names
    # Keras's one LSTM bias in bias_ih, zeros in bias_hh
    expected = np.load("sample_models/expected/k2/bidir_concat.npz")
    np.testing.assert_array_equal(net.bi.bias_ih_l0.detach().numpy(), expected["weights/bi/forward_lstm/bias"])
    assert not net.bi.bias_hh_l0.detach().numpy().any()
    # GRU z, r, h -> r, z, n
    export_torch(lstm_inspect.load("sample_models/k2/gru_reset_after.h5"), tmp_path / "gru")
    gru = _load_module(tmp_path / "gru").load().gru
    assert isinstance(gru, torch.nn.GRU)
    e = np.load("sample_models/expected/k2/gru_reset_after.npz")
    u = 4
    np.testing.assert_array_equal(gru.weight_ih_l0.detach().numpy()[:u], e["gates/gru/kernel/r"].T)
    np.testing.assert_array_equal(gru.weight_ih_l0.detach().numpy()[u:2 * u], e["gates/gru/kernel/z"].T)
    np.testing.assert_array_equal(gru.bias_hh_l0.detach().numpy()[2 * u:], e["gates/gru/bias/h"][1])


def test_safetensors_written_without_the_library_load_with_it(tmp_path):
    st = pytest.importorskip("safetensors.numpy", reason="safetensors is not installed")
    export_torch(lstm_inspect.load("sample_models/k2/two_input.h5"), tmp_path)
    data = (tmp_path / "model.safetensors").read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    assert size % 8 == 0 and json.loads(data[8:8 + size])
    arrays = st.load(data)
    assert arrays["lstm_a.weight_ih_l0"].shape == (16, 3) and arrays["gru_b.bias_hh_l0"].shape == (9,)


# ---------------------------------------------------------------------- npz


@pytest.mark.parametrize("sample", sample_params())
def test_npz_arrays_are_keras_get_weights_blocks(sample, tmp_path):
    path = tmp_path / "gates.npz"
    export_npz(sample.load(), path)
    with np.load(path) as npz:
        got = {k: npz[k] for k in npz.files}
    manifest = json.loads(str(got.pop("manifest.json")))
    expected = sample.expected
    checked = 0
    for key in expected.files:
        if key.startswith("gates/"):
            path_role_gate = key[len("gates/"):]
            want = expected[key]
            if want.ndim >= 1 and path_role_gate.split("/")[-2] == "bias" and want.ndim == 2 and want.shape[0] == 2:
                np.testing.assert_array_equal(got[f"{path_role_gate}/input"], want[0])
                np.testing.assert_array_equal(got[f"{path_role_gate}/recurrent"], want[1])
            else:
                np.testing.assert_array_equal(got[path_role_gate], want, err_msg=key)
            checked += 1
        elif key.startswith("weights/") and not any(k.startswith(f"gates/{key[8:]}") for k in expected.files):
            np.testing.assert_array_equal(got[key[len("weights/"):]], expected[key], err_msg=key)  # SimpleRNN
            checked += 1
    # every recorded block was compared (samples whose recurrent layers the generator does not trace,
    # or that have none, record no blocks)
    assert checked or not any(k.startswith(("gates/", "weights/")) for k in expected.files)
    described = {k for layer in manifest["recurrent_layers"] for k in layer["arrays"]} | set(manifest["other_arrays"])
    assert described == set(got)
    assert manifest["gate_orders"]["torch_gru"] == ["r", "z", "h"]


# ---------------------------------------------------------------------- CLI


def test_cli_export_says_what_it_wrote_and_how(runner, tmp_path):
    out = tmp_path / "seed.onnx"
    pytest.importorskip("onnx", reason="onnx is not installed")
    result = invoke(runner, ["export", "sample_models/seed.h5", "--to", "onnx", "-o", out])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{out}\n"
    assert result.stderr == (
        "Note: hard_sigmoid is clip(0.2x + 0.5, 0, 1) (Keras 1/2): HardSigmoid alpha 0.2, beta 0.5 "
        "(--hard-sigmoid keras2|keras3 to choose)\n"
        "Note: ONNX opset 17, IR version 8; batch and time dimensions are symbolic\n"
    )
    result = invoke(runner, ["export", "sample_models/seed.h5", "--to", "torch", "-o", tmp_path / "t"])
    assert result.stdout == f"{tmp_path / 't' / 'model.py'}\n{tmp_path / 't' / 'model.safetensors'}\n"
    assert "layer 'lstm' is a step-by-step KerasRecurrent cell in model.py" in result.stderr


def test_cli_json_lists_files_and_notes(runner, tmp_path):
    result = invoke(runner, ["export", "sample_models/k2/gru_reset_before.h5", "--to", "npz", "-o", tmp_path / "g.npz",
                             "--json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["files"] == [str(tmp_path / "g.npz")] and "split per gate" in doc["notes"][0]


def test_cli_refuses_by_name_and_writes_nothing(runner, tmp_path):
    out = tmp_path / "x"
    result = invoke(runner, ["export", "sample_models/k2/conv_lstm2d.h5", "--to", "torch", "-o", out])
    assert_one_error(result, "layer 'convlstm' (ConvLSTM2D) cannot be exported to PyTorch", file="sample_models/k2/conv_lstm2d.h5")
    assert not out.exists()


def test_cli_never_overwrites_the_model(runner, tmp_path):
    import shutil

    model = tmp_path / "seed.h5"
    shutil.copy("sample_models/seed.h5", model)
    before = model.read_bytes()
    result = invoke(runner, ["export", model, "--to", "npz", "-o", model])
    assert_one_error(result, "refusing to overwrite")
    assert model.read_bytes() == before


def test_cli_weights_only_file_needs_its_config(runner, tmp_path):
    result = invoke(runner, ["export", "sample_models/k2/seed_weights.h5", "--to", "torch", "-o", tmp_path / "t"])
    assert_one_error(result, "--config")


# ---------------------------------------------------------------------- real files


def _realworld_cases():
    import h5py

    cases = []
    # (k2_dl4j_simple_lstm_tf_model's companion holds targets, not predictions: it is checked below)
    for name in ("k1_dl4j_simple_lstm_th_model",):
        path = realworld(f"{name}.h5")
        with h5py.File(realworld(f"companions/{name}.inputs_and_outputs.h5"), "r") as f:
            x = f["inputs"][list(f["inputs"])[0]][()]
            recorded = f["predictions"] if "predictions" in f else f["outputs"]
            y = recorded[list(recorded)[0]][()]
        cases.append((lstm_inspect.load(path), x.astype(np.float32), y))
    model, x, y = dl4j_keras2_weights()
    cases.append((model, x, y.reshape(len(x), -1)))
    return cases


def test_real_files_export_and_run_to_their_recorded_predictions(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    for k, (model, x, y) in enumerate(_realworld_cases()):
        export_onnx(model, tmp_path / f"{k}.onnx")
        session = ort.InferenceSession(str(tmp_path / f"{k}.onnx"), providers=["CPUExecutionProvider"])
        (got,) = session.run(None, {session.get_inputs()[0].name: x})
        np.testing.assert_allclose(got.reshape(y.shape), y, atol=1e-5, rtol=0)
        export_torch(model, tmp_path / f"t{k}")
        with torch.no_grad():
            got = _load_module(tmp_path / f"t{k}").load()(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(got.reshape(y.shape), y, atol=1e-5, rtol=0)


REAL_RUNNABLE = ["k1_dl4j_bidirectional_lstm_tf.h5", "k2_dl4j_simple_lstm_tf_model.h5", "k2_poreplex_demux_r3_bilstm.hdf5",
                 "tfk1_dl4j_rnn_141_bilstm_relu_recact.h5", "tfk1_poreplex_demux_r4_rnn_lstmcell.hdf5",
                 "k2_medaka_test_model_bigru.hdf5"]


@pytest.mark.parametrize("name", REAL_RUNNABLE)
def test_real_files_without_predictions_export_to_what_run_computes(name, tmp_path):
    """No recorded predictions: the exports equal run's numbers (which test_run_samples and
    test_traces tie to Keras)."""
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    from lstm_inspect.forward.signature import input_signature

    model = lstm_inspect.load(realworld(name))
    try:
        sig = input_signature(model)
    except lstm_inspect.LstmInspectError as e:
        pytest.skip(f"run cannot compute it either: {e}")
    rng = np.random.default_rng(0)
    # 20 steps at most: these models are recurrent throughout (medaka's declares 1000)
    xs = [rng.normal(size=(2, min(shape[1] or 7, 20)) + tuple(shape[2:])).astype(np.float32) for _, shape, _ in sig]
    want = lstm_inspect.run_model(model, xs).outputs
    export_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: x for i, x in zip(session.get_inputs(), xs)})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=0)
    export_torch(model, tmp_path / "t")
    with torch.no_grad():
        got = _load_module(tmp_path / "t").load()(*[torch.from_numpy(x) for x in xs])
    got = got if isinstance(got, tuple) else (got,)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w, atol=1e-5, rtol=0)


def test_report_worst_differences():
    """Printed with -s: the largest difference from Keras each runtime gave."""
    print(f"\nexport: worst |exported - Keras| onnx {WORST['onnx']:.3g}, torch {WORST['torch']:.3g}")


def test_new_kinds_refuse_what_they_do_not_map_by_name(tmp_path):
    """A negative slice step and returned attention scores are refused, never written."""
    model = lstm_inspect.load("sample_models/k2/tf_ops.h5")
    (layer,) = [x for x in model.layers if x.name == "tf.__operators__.getitem_3"]
    layer.inbound_nodes[0][3]["slice_spec"][1]["step"] = -2
    for export in (lambda: export_onnx(model, tmp_path / "m.onnx"), lambda: export_torch(model, tmp_path / "t")):
        with pytest.raises(UnsupportedError, match="slices with a negative step, which export does not map"):
            export()
    model = lstm_inspect.load("sample_models/k2/attention_layers.h5")
    (layer,) = [x for x in model.layers if x.name == "dot"]
    for entry in layer.inbound_nodes[0]:
        entry[3]["return_attention_scores"] = True
    with pytest.raises(UnsupportedError, match="returns its attention scores, which export does not map"):
        export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "t").exists()
