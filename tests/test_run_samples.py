"""The whole model run in numpy equals what real Keras computed: model.predict outputs
and per-layer outputs recorded by sample_models/generate.py, and the predictions the
real-world projects recorded (../shared/realworld/companions)."""

import h5py
import numpy as np
import pytest
from conftest import MODELS, SAMPLES, dl4j_keras2_weights, realworld, sample_params

import lstm_inspect
from lstm_inspect.forward.executor import run_model
from lstm_inspect.kinds.half import to_half


@pytest.mark.parametrize("sample", sample_params(runnable=True))
def test_outputs_equal_keras_predict(sample):
    info, expected = sample.info, sample.expected
    model = sample.load()
    inputs = sample.inputs()
    result = run_model(model, inputs)
    assert len(result.outputs) == info["n_outputs"]
    for k, output in enumerate(result.outputs):
        np.testing.assert_allclose(output, expected[f"output/{k}"], atol=1e-5, rtol=0)
    for key in expected.files:
        if key.startswith("layer/"):
            path, k = key[len("layer/"):].rsplit("/", 1)
            if path in result.layer_outputs:
                np.testing.assert_allclose(result.layer_outputs[path][int(k)], expected[key], atol=1e-5, rtol=0,
                                           err_msg=key)
    masks_by_path = {t.path: t.mask for t in result.traces}
    for key in expected.files:  # the mask Keras handed each recurrent layer
        if key.startswith("mask/") and key.endswith("/0"):
            path = key[len("mask/"):-len("/0")]
            got = [m for p, m in masks_by_path.items() if p == path or p.startswith(path + "/")]
            for mask in got:  # inside TimeDistributed: (batch * time, ...)
                want = expected[key]
                mask = mask.reshape(want.shape) if mask.shape != want.shape and mask.size == want.size else mask
                np.testing.assert_array_equal(mask, want, err_msg=key)
    for key in expected.files:  # shared layers: each call's outputs
        if key.startswith("node/"):
            path, node, k = key[len("node/"):].rsplit("/", 2)
            np.testing.assert_allclose(result.node_outputs[(path, int(node))][int(k)], expected[key], atol=1e-5,
                                       rtol=0, err_msg=key)
    for t in result.traces:  # LSTM traces satisfy the equations at every unmasked step
        if t.view.kind in ("lstm", "conv_lstm"):
            i, f, c, o = (t.trace.gates[g] for g in "ifco")
            cell = t.trace.cell
            c0 = np.broadcast_to(t.trace.initial_states.get("c", 0), cell[:, 0].shape)[:, None]
            c_prev = np.concatenate([c0, cell[:, :-1]], axis=1)
            live = np.ones(cell.shape[:2], bool) if t.mask is None else t.mask[:, t.trace.steps]
            if t.view.compute_dtype == "float16":  # each operation rounded (docs/formats.md section 5.6)
                np.testing.assert_array_equal(to_half(to_half(f * c_prev) + to_half(i * c))[live], cell[live])
                continue
            np.testing.assert_allclose((f * c_prev + i * c)[live], cell[live], atol=1e-5)
            if t.view.activation == "tanh":  # hidden = o * act(cell)
                np.testing.assert_allclose((o * np.tanh(cell))[live], t.trace.hidden[live], atol=1e-5)


def test_keras_1_theano_model_reproduces_its_recorded_predictions():
    # DL4J's fixture: predictions recorded by real Keras 1.2.2 (MANIFEST: model outputs, not targets).
    model = lstm_inspect.load(realworld("k1_dl4j_simple_lstm_th_model.h5"))
    with h5py.File(realworld("companions/k1_dl4j_simple_lstm_th_model.inputs_and_outputs.h5"), "r") as f:
        x, y, lstm = f["inputs/lstm_input_1"][()], f["predictions/dense_1"][()], f["activations/lstm_1"][()]
    result = run_model(model, [x])
    np.testing.assert_allclose(result.outputs[0], y, atol=1e-5, rtol=0)
    np.testing.assert_allclose(result.layer_outputs["lstm_1"][0], lstm, atol=1e-5, rtol=0)


def test_keras_2_theano_weights_reproduce_their_recorded_predictions():
    # 283 sequences and predictions recorded with real Keras 2.0.8 (predict.py in the source repo).
    model, x, expected = dl4j_keras2_weights()
    result = run_model(model, [x])
    np.testing.assert_allclose(result.outputs[0].ravel(), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name, layer", [("conv_lstm2d", "convlstm"), ("conv1d_lstm", "conv")])
def test_theano_conv_kernels_are_flipped_as_keras_loads_them(tmp_path, name, layer):
    """A Theano-written file stores convolution kernels flipped on their spatial axes;
    Keras 2 flips them back on loading (saving.py: _need_convert_kernel + conv_utils.convert_kernel).
    Build that file from the TensorFlow-written sample and expect Keras's recorded output."""
    info = MODELS[name]
    path = tmp_path / "theano.h5"
    with h5py.File(SAMPLES / info["forms"]["k2_h5"], "r") as src, h5py.File(path, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        dst.attrs["backend"] = b"theano"
        src.copy("model_weights", dst)
        group = dst["model_weights"][layer]
        for weight in group.attrs["weight_names"]:
            weight = weight.decode() if isinstance(weight, bytes) else weight
            data = group[weight][()]
            if data.ndim >= 3:  # kernels: flip every spatial axis
                group[weight][...] = data[tuple([slice(None, None, -1)] * (data.ndim - 2))]
    expected = np.load(SAMPLES / info["expected"]["k2"])
    result = run_model(lstm_inspect.load(path), [expected["input/0"]])
    np.testing.assert_allclose(result.outputs[0], expected["output/0"], atol=1e-5, rtol=0)
