"""Chunked runs (``stream``): for every sample model that can be streamed, running it a
few steps at a time gives the traces, states and outputs of one whole run; the others
are refused with the layer that stops them."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import lstm_inspect
from conftest import MODELS, SAMPLES, dl4j_keras2_weights
from lstm_inspect.cli import cli
from lstm_inspect.executor import run_model
from lstm_inspect.stream import run_chunks, streaming_blocker

FORMS = [("k2_h5", "k2"), ("k3_keras", "k3")]

#: Sample models that need the whole sequence, and the layer that says so.
BLOCKED = {
    "backwards_relu_nobias": "go_backwards",
    "bidir_ave": "Bidirectional",
    "bidir_concat": "Bidirectional",
    "bidir_masked_states": "Bidirectional",
    "bidir_mul": "Bidirectional",
    "bidir_none": "Bidirectional",
    "bidir_sum": "Bidirectional",
    "conv1d_lstm": "Conv1D",
    "conv_lstm2d": "ConvLSTM",
    "functional_masking": "Bidirectional",
    "gru_backwards_masked": "go_backwards",
    "merges": "go_backwards",
    "norms_and_shapes": "Conv1D",
    "timedistributed_conv": "ConvLSTM",
}


def _load(name, form):
    info = MODELS[name]
    if form[0] not in info["forms"]:
        pytest.skip(f"{name} is not written in the {form[0]} form")
    expected = np.load(SAMPLES / info["expected"][form[1]])
    model = lstm_inspect.load(SAMPLES / info["forms"][form[0]])
    return model, [expected[f"input/{i}"] for i in range(len(info["inputs"]))]


@pytest.mark.parametrize("form", FORMS, ids=[f[0] for f in FORMS])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_chunked_run_equals_the_whole_run(name, form):
    model, inputs = _load(name, form)
    blocker = streaming_blocker(model, inputs)
    if blocker is not None:
        assert name in BLOCKED or len(inputs) > 1, f"{name} unexpectedly blocked: {blocker}"
        if name in BLOCKED:
            assert BLOCKED[name] in blocker
        return
    assert name not in BLOCKED
    whole = run_model(model, inputs)
    for n in (1, 2, 3):
        chunks = list(run_chunks(model, inputs, steps_per_chunk=n))
        assert [start for start, _ in chunks] == list(range(0, inputs[0].shape[1], n))
        for k, t in enumerate(whole.traces):
            parts = [r.traces[k] for _, r in chunks]
            assert all(p.path == t.path for p in parts)
            np.testing.assert_array_equal(np.concatenate([p.trace.steps + s for (s, _), p in zip(chunks, parts)]),
                                          t.trace.steps)
            for g, value in t.trace.gates.items():
                joined = np.concatenate([p.trace.gates[g] for p in parts], axis=1)
                np.testing.assert_allclose(joined, value, atol=1e-6, rtol=0, err_msg=f"{t.path} {g} n={n}")
            for q in ("cell", "hidden"):
                if getattr(t.trace, q) is not None:
                    joined = np.concatenate([getattr(p.trace, q) for p in parts], axis=1)
                    np.testing.assert_allclose(joined, getattr(t.trace, q), atol=1e-6, rtol=0, err_msg=f"{t.path} {q}")
            for key, state in t.trace.states.items():
                np.testing.assert_allclose(parts[-1].trace.states[key], state, atol=1e-6, rtol=0)
        for k, y in enumerate(whole.outputs):
            y_last = chunks[-1][1].outputs[k]
            if y_last.shape != y.shape:  # a sequence: the chunks' outputs, joined
                y_last = np.concatenate([r.outputs[k] for _, r in chunks], axis=1)
            np.testing.assert_allclose(y_last, y, atol=1e-6, rtol=0, err_msg=f"output {k}")


def test_every_blocked_sample_is_blocked():
    for name, word in BLOCKED.items():
        model, inputs = _load(name, ("k2_h5", "k2"))
        assert word in (streaming_blocker(model, inputs) or ""), name


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


def test_streamed_jsonl_equals_the_jsonl_of_the_whole_run(tmp_path, monkeypatch):
    # --npz keeps the whole run; without it a streamable model is run in chunks (here of 2 steps).
    model, x, _ = _sample_input(tmp_path, "masking")
    whole = _jsonl(["run", model, "--input", x, "--jsonl", "--npz", str(tmp_path / "all.npz")])
    monkeypatch.setattr("lstm_inspect.stream.chunk_steps", lambda model, batch: 2)
    streamed = _jsonl(["run", model, "--input", x, "--jsonl"])
    assert len(streamed) == len(whole)
    for a, b in zip(streamed, whole):
        ra, rb = json.loads(a), json.loads(b)
        assert {k: ra[k] for k in ("layer", "sample", "step", "t", "masked")} == \
               {k: rb[k] for k in ("layer", "sample", "step", "t", "masked")}
        for k in ra:
            if isinstance(ra[k], list):
                np.testing.assert_allclose(ra[k], rb[k], atol=1e-6)
    # step order, then layer (in the order they ran), then sample
    records = [json.loads(line) for line in streamed]
    layers = list(dict.fromkeys(r["layer"] for r in records))
    keys = [(r["step"], layers.index(r["layer"]), r["sample"]) for r in records]
    assert keys == sorted(keys) and len(layers) >= 1


def test_streamed_jsonl_narrows_steps_and_samples_across_chunks(tmp_path, monkeypatch):
    model, x, expected = _sample_input(tmp_path, "stacked_lstm")
    monkeypatch.setattr("lstm_inspect.stream.chunk_steps", lambda model, batch: 2)
    lines = _jsonl(["run", model, "--input", x, "--jsonl",
                    "--steps", "1:4", "--sample", "1", "--layer", "lstm_a"])
    records = [json.loads(line) for line in lines]
    assert [(r["layer"], r["sample"], r["step"]) for r in records] == [("lstm_a", 1, s) for s in (1, 2, 3)]
    for r in records:
        np.testing.assert_allclose(r["hidden"], expected["layer/lstm_a/0"][1, r["t"]], atol=1e-5)


def test_a_long_sequence_that_cannot_stream_says_so(tmp_path, monkeypatch):
    model, x, _ = _sample_input(tmp_path, "bidir_concat")
    monkeypatch.setattr("lstm_inspect.stream.chunk_steps", lambda model, batch: 2)
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


def test_streamed_state_out_and_initial_state_equal_the_whole_run(tmp_path, monkeypatch):
    model, x, _ = _sample_input(tmp_path, "stacked_lstm")
    for name, stream in (("whole", False), ("streamed", True)):
        if stream:
            monkeypatch.setattr("lstm_inspect.stream.chunk_steps", lambda model, batch: 2)
        extra = [] if stream else ["--npz", str(tmp_path / f"{name}.npz")]
        _jsonl(["run", model, "--input", x, "--jsonl", "--state-out", str(tmp_path / f"{name}_1.npz")] + extra)
        _jsonl(["run", model, "--input", x, "--jsonl", "--initial-state", str(tmp_path / f"{name}_1.npz"),
                "--state-out", str(tmp_path / f"{name}_2.npz")] + extra)
    for k in (1, 2):
        with np.load(tmp_path / f"whole_{k}.npz") as a, np.load(tmp_path / f"streamed_{k}.npz") as b:
            assert sorted(a.files) == sorted(b.files) == ["lstm_a/c", "lstm_a/h", "lstm_b/c", "lstm_b/h"]
            for key in a.files:
                np.testing.assert_allclose(b[key], a[key], atol=1e-6, rtol=0)
