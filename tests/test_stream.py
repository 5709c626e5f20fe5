"""Chunked runs (``stream``): for every sample model that can be streamed, running it a
few steps at a time gives the traces, states and outputs of one whole run; the others
are refused with the layer that stops them."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import (
    MODELS,
    SAMPLES,
    assert_chunks_match_keras,
    dl4j_keras2_weights,
    recorded_traces,
    sample_params,
    samples,
)

import lstm_inspect
from lstm_inspect.cli import cli
from lstm_inspect.forward.stream import run_chunks, streaming_blocker

#: Sample models that need the whole sequence, and the layer that says so.
BLOCKED = {
    "activation_layers": "alpha per time step",
    "backwards_relu_nobias": "go_backwards",
    "bidir_ave": "Bidirectional",
    "bidir_concat": "Bidirectional",
    "bidir_masked_states": "Bidirectional",
    "bidir_mul": "Bidirectional",
    "bidir_none": "Bidirectional",
    "bidir_sum": "Bidirectional",
    "conv1d_lstm": "Conv1D",
    "conv_lstm1d": "ConvLSTM",
    "conv_lstm2d": "ConvLSTM",
    "conv_lstm3d": "ConvLSTM",
    "functional_masking": "Bidirectional",
    "gru_backwards_masked": "go_backwards",
    "merges": "go_backwards",
    "norms_and_shapes": "Conv1D",
    "separable_conv": "SeparableConv1D",
    "tf_ops": "works across time steps",
    "timedistributed_conv": "ConvLSTM",
    # issue 10's samples
    "bidir_backward_nobias": "Bidirectional",
    "bidir_convlstm": "Bidirectional",
    "flatten_channels_first": "Flatten",
    "global_pool_keepdims": "GlobalAveragePooling1D",
    "negative_axis": "'ln' (LayerNormalization) works across time steps",  # axis=-2 of a rank-3 tensor is time
    "td_embedding_lstm": "Flatten",
    "td_masked_lstm": "Flatten",
}


@pytest.mark.parametrize("sample", sample_params(["k2_h5", "k3_keras"], runnable=True))
def test_chunked_run_equals_keras(sample):
    name, model, inputs, expected = sample.name, sample.load(), sample.inputs(), sample.expected
    blocker = streaming_blocker(model, inputs)
    if blocker is not None:
        assert name in BLOCKED or len(inputs) > 1, f"{name} unexpectedly blocked: {blocker}"
        if name in BLOCKED:
            assert BLOCKED[name] in blocker
        return
    assert name not in BLOCKED
    for n in (1, 2, 3):
        chunks = list(run_chunks(model, inputs, steps_per_chunk=n))
        assert [start for start, _ in chunks] == list(range(0, inputs[0].shape[1], n))
        for j, t in enumerate(chunks[-1][1].traces):  # each chunk's steps, in order
            steps = np.concatenate([r.traces[j].trace.steps + start for start, r in chunks])
            np.testing.assert_array_equal(steps, np.arange(inputs[0].shape[1]), err_msg=t.path)
        assert_chunks_match_keras(chunks, expected, MODELS[name]["n_outputs"])
        recorded = recorded_traces(expected)
        if "float16" in MODELS[name]:  # no recorded traces (the generator's reference is float32): the whole run's
            recorded = {(t.path, 0): {**t.trace.gates, "hidden": t.trace.hidden,
                                      **({} if t.trace.cell is None else {"cell": t.trace.cell})}
                        for t in lstm_inspect.run_model(model, inputs).traces}
        for j, t in enumerate(chunks[-1][1].traces):  # every gate, cell and hidden, step by step
            for q, want in recorded[(t.path, 0)].items():
                if q != "steps":
                    got = np.concatenate([_quantity(r.traces[j].trace, q) for _, r in chunks], axis=1)
                    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0, err_msg=f"{t.path} {q}")


def _quantity(trace, q):
    return {"cell": trace.cell, "hidden": trace.hidden}.get(q, trace.gates.get(q))


def test_every_blocked_sample_is_blocked():
    for sample in samples(["k2_h5"], names=BLOCKED):
        assert BLOCKED[sample.name] in (streaming_blocker(sample.load(), sample.inputs()) or ""), sample.name


def _sample_input(tmp_path, name):
    """(model path, .npy of the sample's input, what Keras computed) for a k2 sample model."""
    info = MODELS[name]
    expected = np.load(SAMPLES / info["expected"]["k2"])
    x = tmp_path / "x.npy"
    np.save(x, expected["input/0"])
    return str(SAMPLES / info["forms"]["k2_h5"]), str(x), expected


def _jsonl(args):
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_streamed_jsonl_gives_what_keras_computed(tmp_path, monkeypatch):
    # Masking -> LSTM(3, return_sequences) -> GRU(2), run 2 steps at a time.
    model, x, expected = _sample_input(tmp_path, "masking")
    monkeypatch.setattr("lstm_inspect.forward.stream.chunk_steps", lambda model, batch: 2)
    records = [json.loads(line) for line in _jsonl(["run", model, "--input", x, "--jsonl"])]
    batch, time = expected["input/0"].shape[:2]
    assert len(records) == 2 * batch * time
    # step order, then layer (in the order they ran), then sample
    assert [(r["step"], r["path"], r["sample"]) for r in records] == \
        [(s, layer, b) for s in range(time) for layer in ("lstm", "gru") for b in range(batch)]
    for r in records:
        assert r["masked"] == (not expected[f"mask/{r['path']}/0"][r["sample"], r["t"]])
        if r["path"] == "lstm":  # its output sequence, step by step
            np.testing.assert_allclose(r["hidden"], expected["layer/lstm/0"][r["sample"], r["t"]], atol=1e-5)
        elif r["step"] == time - 1:  # the GRU returns its last output
            np.testing.assert_allclose(r["hidden"], expected["layer/gru/0"][r["sample"]], atol=1e-5)


def test_streamed_jsonl_narrows_steps_and_samples_across_chunks(tmp_path, monkeypatch):
    model, x, expected = _sample_input(tmp_path, "stacked_lstm")
    monkeypatch.setattr("lstm_inspect.forward.stream.chunk_steps", lambda model, batch: 2)
    lines = _jsonl(["run", model, "--input", x, "--jsonl",
                    "--steps", "1:4", "--sample", "1", "--layer", "lstm_a"])
    records = [json.loads(line) for line in lines]
    assert [(r["path"], r["sample"], r["step"]) for r in records] == [("lstm_a", 1, s) for s in (1, 2, 3)]
    for r in records:
        np.testing.assert_allclose(r["hidden"], expected["layer/lstm_a/0"][1, r["t"]], atol=1e-5)


def test_a_long_sequence_that_cannot_stream_says_so(tmp_path, monkeypatch):
    model, x, _ = _sample_input(tmp_path, "bidir_concat")
    monkeypatch.setattr("lstm_inspect.forward.stream.chunk_steps", lambda model, batch: 2)
    result = CliRunner().invoke(cli, ["run", model, "--input", x, "--jsonl"], catch_exceptions=False)
    assert result.exit_code == 0
    assert ("Note: --jsonl holds the whole run in memory: layer 'bi' (Bidirectional) runs backwards over "
            "the whole sequence\n") in result.stderr


def test_a_real_keras_2_model_streams_to_its_recorded_predictions():
    # 283 sequences of 4 steps and predictions recorded with real Keras 2.0.8, run a step at a time.
    model, x, expected = dl4j_keras2_weights()
    assert streaming_blocker(model, [x]) is None and x.shape[1] > 1
    *_, (start, last) = run_chunks(model, [x], steps_per_chunk=1)
    assert start > 0
    np.testing.assert_allclose(last.outputs[0].ravel(), expected, atol=1e-5, rtol=0)


def test_streamed_state_out_and_initial_state_give_keras_final_states(tmp_path, monkeypatch):
    # LSTM(3, return_sequences, return_state) over 4 steps: streamed a step at a time, in two
    # runs of 2 steps (--state-out, then --initial-state), it ends in the h and c Keras returned.
    model, _, expected = _sample_input(tmp_path, "return_state")
    x = expected["input/0"]
    np.save(tmp_path / "first.npy", x[:, :2])
    np.save(tmp_path / "second.npy", x[:, 2:])
    monkeypatch.setattr("lstm_inspect.forward.stream.chunk_steps", lambda model, batch: 1)
    _jsonl(["run", model, "--input", str(tmp_path / "first.npy"), "--jsonl", "--state-out", str(tmp_path / "s1.npz")])
    lines = _jsonl(["run", model, "--input", str(tmp_path / "second.npy"), "--jsonl",
                    "--initial-state", str(tmp_path / "s1.npz"), "--state-out", str(tmp_path / "s2.npz")])
    with np.load(tmp_path / "s2.npz") as states:
        assert sorted(states.files) == ["lstm/c", "lstm/h"]
        np.testing.assert_allclose(states["lstm/h"], expected["layer/lstm/1"], atol=1e-5, rtol=0)
        np.testing.assert_allclose(states["lstm/c"], expected["layer/lstm/2"], atol=1e-5, rtol=0)
    for r in map(json.loads, lines):  # the second run's steps are Keras's steps 2 and 3
        np.testing.assert_allclose(r["hidden"], expected["layer/lstm/0"][r["sample"], 2 + r["t"]], atol=1e-5)
