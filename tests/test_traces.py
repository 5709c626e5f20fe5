"""What ``run`` exists to show, step by step: every recurrent layer's gates, cell state and
hidden state equal the ones recorded from the generator's Keras-checked reference
(``trace/<path>/<quantity>`` in sample_models/expected/*.npz), for every sample model in
every form the manifest lists, through the public API and through ``run --npz``.

A gate stored under another gate's name (in the labelling or in the trace) fails here:
every gate is compared by its name with the gate Keras computed under that name.
"""

import numpy as np
import pytest
from conftest import MODELS, UNRECORDED, expected_npz, invoke, recorded_traces, sample_params

import lstm_inspect

ATOL = 1e-5


def run_traces(result):
    """``{(path, call): LayerTrace}``: a layer's n-th run in the result is its call n."""
    out, calls = {}, {}
    for t in result.traces:
        n = calls[t.path] = calls.get(t.path, -1) + 1
        out[(t.path, n)] = t
    return out


def assert_trace_equals(got, want, where):
    """One layer's trace (lstm_inspect's ``Trace``) against the recorded quantities."""
    names = tuple(q for q in want if q not in ("cell", "hidden", "steps"))
    assert tuple(got.gates) == names, (where, tuple(got.gates), names)
    np.testing.assert_array_equal(got.steps, want["steps"], err_msg=f"{where} steps")
    for gate in names:
        np.testing.assert_allclose(got.gates[gate], want[gate], atol=ATOL, rtol=0, err_msg=f"{where} gate {gate}")
    if "cell" in want:
        np.testing.assert_allclose(got.cell, want["cell"], atol=ATOL, rtol=0, err_msg=f"{where} cell")
    else:
        assert got.cell is None, where
    np.testing.assert_allclose(got.hidden, want["hidden"], atol=ATOL, rtol=0, err_msg=f"{where} hidden")


def test_every_sample_recorded_a_trace_for_every_recurrent_layer_kind():
    kinds = set()
    for name, info in MODELS.items():
        if "refused" in info or "float16" in info:  # the generator's float32 reference cannot compute them
            continue
        for gen in info["expected"]:
            recorded = {path for path, _ in recorded_traces(expected_npz(name, gen))}
            assert recorded == {lay["path"] for lay in info["recurrent_layers"][gen]}, (name, gen)
        for layer in info["recurrent_layers"]["k2"]:
            kinds.add((layer["class_name"], layer.get("reset_after")))
    assert {("LSTM", None), ("GRU", True), ("GRU", False), ("SimpleRNN", None), ("RNN", None), ("RNN", True),
            ("ConvLSTM2D", None)} <= kinds


@pytest.mark.parametrize("sample", sample_params(runnable=True))
def test_traces_equal_keras_step_by_step(sample):
    if "float16" in sample.info:
        pytest.skip(f"{sample.name} computes in float16: no recorded traces (the generator's reference is float32); "
                    "tests/test_float16.py checks its layer outputs bit for bit")
    result = lstm_inspect.run_model(sample.load(), sample.inputs())
    got, want = run_traces(result), recorded_traces(sample.expected)
    got = {key: t for key, t in got.items() if key[0] not in UNRECORDED.get(sample.name, ())}
    assert sorted(got) == sorted(want)
    gate_order = {lay["path"]: tuple(lay["gate_order"] or ()) for lay in sample.info["recurrent_layers"][sample.gen]}
    for key, trace in got.items():
        where = f"{sample.id} {key[0]}" + (f" call {key[1]}" if key[1] else "")
        # the recorded gates are the layer's, in Keras's order (the generator's split)
        assert tuple(q for q in want[key] if q not in ("cell", "hidden", "steps")) == gate_order[key[0]], where
        assert_trace_equals(trace.trace, want[key], where)


# One sample per cell kind (both GRU variants, a Bidirectional, go_backwards, RNN(cell)s),
# through the command line: ``run --npz`` writes ``<path>/<gate|cell|hidden|steps>``.
CLI_CASES = [
    ("stacked_lstm", "k2_h5"),
    ("bidir_concat", "k3_keras"),
    ("gru_reset_after", "k3_h5"),
    ("gru_reset_before", "k2_keras"),
    ("simple_rnn", "k3_keras"),
    ("conv_lstm2d", "k2_h5"),
    ("rnn_cells", "k3_keras"),
    ("gru_backwards_masked", "k2_h5"),
]


@pytest.mark.parametrize("sample", [p for name, form in CLI_CASES for p in sample_params([form], names=[name])])
def test_run_npz_holds_the_traces_keras_computed(runner, tmp_path, sample):
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, **{spec["name"]: x for spec, x in zip(sample.info["inputs"], sample.inputs())})
    out = tmp_path / "trace.npz"
    result = invoke(runner, ["run", sample.path, "--input", inputs, "--npz", out, "--json"])
    assert result.exit_code == 0, result.stderr
    with np.load(out) as npz:
        written = {k: npz[k] for k in npz.files}
    want = recorded_traces(sample.expected)
    assert {k for k in written if not k.startswith("output/")} == {
        f"{path}/{q}" for (path, _), quantities in want.items() for q in quantities
    }
    for (path, _), quantities in want.items():
        for q, value in quantities.items():
            if q == "steps":
                np.testing.assert_array_equal(written[f"{path}/steps"], value, err_msg=path)
            else:
                np.testing.assert_allclose(written[f"{path}/{q}"], value, atol=ATOL, rtol=0, err_msg=f"{path} {q}")
