"""Recurrent layers run in numpy equal Keras's own layer outputs (recorded by real Keras
in sample_models/expected), in both generations."""

import numpy as np
import pytest
from conftest import MODELS, SAMPLES, sample_params

import lstm_inspect
from lstm_inspect.kinds.cells import run_recurrent

# (model, layer path, npz key of the layer's input)
CASES = [
    ("seed", "lstm", "input/0"),
    ("stacked_lstm", "lstm_a", "input/0"),
    ("stacked_lstm", "lstm_b", "layer/lstm_a/0"),
    ("gru_reset_after", "gru", "input/0"),
    ("gru_reset_before", "gru", "input/0"),
    ("simple_rnn", "rnn", "input/0"),
    ("backwards_relu_nobias", "lstm", "input/0"),
    ("rnn_cells", "rnn_lstm", "input/0"),
    ("rnn_cells", "rnn_gru", "layer/rnn_lstm/0"),
    ("return_state", "lstm", "input/0"),
]


@pytest.mark.parametrize("gen, form", [("k2", "k2_h5"), ("k3", "k3_keras")])
@pytest.mark.parametrize("name, path, source", CASES)
def test_layer_output_equals_keras(name, path, source, gen, form):
    model = lstm_inspect.load(SAMPLES / MODELS[name]["forms"][form])
    expected = np.load(SAMPLES / MODELS[name]["expected"][gen])
    (view,) = [v for v in lstm_inspect.recurrent_layers(model) if v.path == path]
    flavour = "keras3" if gen == "k3" else "keras2"
    trace = run_recurrent(view, expected[source], hard_sigmoid=flavour)
    np.testing.assert_allclose(trace.output, expected[f"layer/{path}/0"], atol=1e-5)
    if view.kind == "lstm":  # the trace satisfies the LSTM equations at every step
        i, f, c, o = (trace.gates[g] for g in "ifco")
        c_prev = np.concatenate([np.zeros_like(trace.cell[:, :1]), trace.cell[:, :-1]], axis=1)
        np.testing.assert_allclose(trace.cell, f * c_prev + i * c, atol=1e-6)
    if view.return_state:
        np.testing.assert_allclose(trace.states["h"], expected[f"layer/{path}/1"], atol=1e-5)
        np.testing.assert_allclose(trace.states["c"], expected[f"layer/{path}/2"], atol=1e-5)


@pytest.mark.parametrize("gen, form", [("k2", "k2_h5"), ("k3", "k3_keras")])
def test_masked_steps_carry_state_and_output(gen, form):
    name = "masking"
    model = lstm_inspect.load(SAMPLES / MODELS[name]["forms"][form])
    expected = np.load(SAMPLES / MODELS[name]["expected"][gen])
    x = expected["input/0"]
    mask = np.any(x != 0.0, axis=-1)  # Masking(0.0)
    lstm, gru = lstm_inspect.recurrent_layers(model)
    seq = run_recurrent(lstm, x, mask=mask).output
    np.testing.assert_allclose(seq, expected["layer/lstm/0"], atol=1e-5)
    np.testing.assert_allclose(run_recurrent(gru, seq, mask=mask).output, expected["layer/gru/0"], atol=1e-5)


@pytest.mark.parametrize("sample", sample_params(["k2_h5"], runnable=True, names=[n for n in MODELS if "conv" not in n]))
def test_batch_rows_split_over_threads_give_what_keras_computed(sample, monkeypatch):
    # Rows never interact: run in blocks of one row, a thread each, every sample model still
    # gives Keras's outputs and recurrent layer outputs.
    from conftest import assert_chunks_match_keras

    from lstm_inspect.forward.executor import run_model
    from lstm_inspect.kinds import cells

    info, expected, model, inputs = sample.info, sample.expected, sample.load(), sample.inputs()
    monkeypatch.setattr(cells, "MIN_ROWS_PER_THREAD", 1)
    monkeypatch.setattr(cells, "_usable_cores", lambda: 3)
    batch = inputs[0].shape[0]
    assert len(cells.row_blocks(batch)) == min(batch, 3) or cells._blas_limiter() is None
    assert_chunks_match_keras([(0, run_model(model, inputs))], expected, info["n_outputs"])


def test_row_blocks_cover_the_batch():
    from lstm_inspect.kinds.cells import row_blocks

    assert row_blocks(31, cores=2) == [slice(0, 31)]
    assert row_blocks(32, cores=2) == [slice(0, 16), slice(16, 32)]
    assert row_blocks(100, cores=4) == [slice(0, 25), slice(25, 50), slice(50, 75), slice(75, 100)]
    assert row_blocks(1, cores=8) == [slice(0, 1)]
