"""`lstm-inspect run` through Click's CliRunner. Expected numbers are Keras's
(sample_models/expected/*.npz), never lstm_inspect's own."""

import json

import h5py
import numpy as np
import pytest
from conftest import MODELS, ROOT, SAMPLES, assert_one_error, invoke


@pytest.fixture(autouse=True)
def _in_repository_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def _expected(name, gen="k2"):
    return np.load(SAMPLES / MODELS[name]["expected"][gen])


def _model(name, form="k2_h5"):
    return SAMPLES / MODELS[name]["forms"][form]


def _npy(tmp_path, array, name="x.npy"):
    path = tmp_path / name
    np.save(path, array)
    return path


def _run_json(runner, args):
    result = invoke(runner, ["run", *args, "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_seed_json_matches_keras(runner):
    doc = _run_json(runner, ["sample_models/seed.h5", "--input", "sample_models/seed_input.json"])
    assert doc["schema"] == "lstm-inspect/run@1"
    assert doc["inputs"] == [{"name": "input", "shape": [1, 3, 1]}]
    np.testing.assert_allclose(doc["outputs"][0], _expected("seed")["output/0"], atol=1e-5)
    (layer,) = doc["layers"]
    assert layer["steps"] == [0, 1, 2] and layer["mask"] is None
    assert sorted(layer["trace"]) == ["c", "cell", "f", "hidden", "i", "o"]
    assert np.shape(layer["trace"]["i"]) == (1, 3, 3)


def test_backward_layers_list_steps_in_processing_order(runner, tmp_path):
    x = _npy(tmp_path, _expected("backwards_relu_nobias")["input/0"])
    doc = _run_json(runner, [_model("backwards_relu_nobias"), "--input", x])
    assert doc["layers"][0]["direction"] == "backward"
    assert doc["layers"][0]["steps"] == [4, 3, 2, 1, 0]
    x = _npy(tmp_path, _expected("bidir_concat")["input/0"])
    doc = _run_json(runner, [_model("bidir_concat"), "--input", x, "--layer", "bi"])
    assert [(lay["path"], lay["steps"]) for lay in doc["layers"]] == [
        ("bi/forward_lstm", [0, 1, 2, 3]),
        ("bi/backward_lstm", [3, 2, 1, 0]),
    ]


def test_masked_steps_are_marked(runner, tmp_path):
    expected = _expected("masking")
    x = _npy(tmp_path, expected["input/0"])
    doc = _run_json(runner, [_model("masking"), "--input", x, "--layer", "lstm"])
    padded = ~np.any(expected["input/0"] != 0, axis=-1)  # Masking(0.0): all-zero steps are masked
    assert doc["layers"][0]["mask"] == (~padded).tolist()
    np.testing.assert_allclose(doc["outputs"][0], expected["output/0"], atol=1e-5)
    table = invoke(runner, ["run", _model("masking"), "--input", x, "--sample", "2", "--layer", "lstm"]).stdout
    assert "* masked step: state and output carried over from the step before" in table


def test_two_inputs_by_name_from_npz(runner, tmp_path):
    expected = _expected("two_input", "k3")
    path = tmp_path / "two.npz"
    np.savez(path, in_b=expected["input/1"], in_a=expected["input/0"])  # names, not order
    doc = _run_json(runner, [_model("two_input", "k3_keras"), "--input", path])
    np.testing.assert_allclose(doc["outputs"][0], expected["output/0"], atol=1e-5)


def test_return_state_outputs_are_a_list(runner, tmp_path):
    expected = _expected("return_state")
    doc = _run_json(runner, [_model("return_state"), "--input", _npy(tmp_path, expected["input/0"])])
    assert len(doc["outputs"]) == 3
    for k in range(3):
        np.testing.assert_allclose(doc["outputs"][k], expected[f"output/{k}"], atol=1e-5)


def test_selection_narrows_json(runner, tmp_path):
    expected = _expected("stacked_lstm")
    x = _npy(tmp_path, expected["input/0"])
    doc = _run_json(runner, [_model("stacked_lstm"), "--input", x, "--sample", "1", "--units", "1:3",
                             "--steps", "2:4", "--layer", "lstm_a"])
    (layer,) = doc["layers"]
    assert (layer["samples"], layer["unit_range"], layer["steps"]) == ([1], [1, 3], [2, 3])
    assert np.shape(layer["trace"]["hidden"]) == (1, 2, 2)
    np.testing.assert_allclose(layer["trace"]["hidden"][0], expected["layer/lstm_a/0"][1, 2:4, 1:3], atol=1e-5)


def test_jsonl_streams_one_record_per_layer_sample_and_step(runner, tmp_path):
    expected = _expected("gru_reset_after")
    x = _npy(tmp_path, expected["input/0"])
    result = invoke(runner, ["run", _model("gru_reset_after"), "--input", x, "--jsonl"])
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 2 * 5  # 2 samples x 5 steps, one GRU
    assert set(records[0]) == {"path", "sample", "step", "t", "masked", "unit_range", "z", "r", "h", "hidden"}
    for r in records:
        np.testing.assert_allclose(r["hidden"], expected["layer/gru/0"][r["sample"], r["t"]], atol=1e-5)


def test_npz_holds_every_trace_and_output(runner, tmp_path):
    expected = _expected("simple_rnn")
    out = tmp_path / "trace.npz"
    result = invoke(runner, ["run", _model("simple_rnn"), "--input", _npy(tmp_path, expected["input/0"]),
                             "--npz", out])
    assert result.exit_code == 0
    with np.load(out) as z:
        assert sorted(z.files) == ["output/0", "rnn/hidden", "rnn/steps"]
        np.testing.assert_allclose(z["output/0"], expected["output/0"], atol=1e-5)
        np.testing.assert_allclose(z["rnn/hidden"][:, -1], expected["layer/rnn/0"], atol=1e-5)


def test_state_out_then_initial_state_runs_in_chunks(runner, tmp_path):
    # Running steps 0-1 then step 2 from the saved state equals Keras's output for all 3 steps.
    x = np.array(json.loads((SAMPLES / "seed_input.json").read_text()), dtype=np.float32)
    states = tmp_path / "states.npz"
    first = invoke(runner, ["run", "sample_models/seed.h5", "--input", _npy(tmp_path, x[:2], "a.npy"),
                            "--state-out", states, "--json"])
    assert first.exit_code == 0
    with np.load(states) as z:
        assert sorted(z.files) == ["lstm/c", "lstm/h"]
    doc = _run_json(runner, ["sample_models/seed.h5", "--input", _npy(tmp_path, x[2:], "b.npy"),
                             "--initial-state", states])
    np.testing.assert_allclose(doc["outputs"][0], _expected("seed")["output/0"], atol=1e-5)


def test_until_stops_after_a_layer(runner, tmp_path):
    expected = _expected("conv1d_lstm")
    doc = _run_json(runner, [_model("conv1d_lstm"), "--input", _npy(tmp_path, expected["input/0"]), "--until", "conv"])
    assert doc["stopped_at"] == "conv" and doc["layers"] == []
    np.testing.assert_allclose(doc["outputs"][0], expected["layer/conv/0"], atol=1e-5)


def test_conv_lstm_pixel_and_spatial_mean(runner, tmp_path):
    x = _npy(tmp_path, _expected("conv_lstm2d")["input/0"])
    doc = _run_json(runner, [_model("conv_lstm2d"), "--input", x])
    assert doc["layers"][0]["spatial"] == "spatial mean over 6x6 positions"
    doc = _run_json(runner, [_model("conv_lstm2d"), "--input", x, "--pixel", "2,3"])
    assert doc["layers"][0]["spatial"] == "position row 2, col 3 of 6x6"


@pytest.mark.parametrize("name, pixel, spatial", [
    ("conv_lstm1d", None, "spatial mean over 7 positions"),
    ("conv_lstm1d", "2", "position 2 of 7"),
    ("conv_lstm3d", None, "spatial mean over 4x4x3 positions"),
    ("conv_lstm3d", "1,2,0", "position 1,2,0 of 4x4x3"),
])
def test_conv_lstm_1d_3d_pixel_and_spatial_mean(runner, tmp_path, name, pixel, spatial):
    x = _npy(tmp_path, _expected(name)["input/0"])
    doc = _run_json(runner, [_model(name), "--input", x] + (["--pixel", pixel] if pixel else []))
    assert doc["layers"][0]["spatial"] == spatial


def test_conv_lstm_pixel_of_the_wrong_rank(runner, tmp_path):
    x = _npy(tmp_path, _expected("conv_lstm3d")["input/0"])
    result = invoke(runner, ["run", _model("conv_lstm3d"), "--input", x, "--pixel", "1,2"])
    assert result.exit_code == 1 and "--pixel 1,2 is outside the 4x4x3 maps of 'convlstm_a'" in result.stderr


def _lambda_model(tmp_path):
    """A Keras 2 style full model with a Lambda between an LSTM and a Dense, built with h5py."""
    seed = SAMPLES / "k2" / "seed.h5"
    path = tmp_path / "lambda.h5"
    with h5py.File(seed, "r") as src, h5py.File(path, "w") as dst:
        config = json.loads(src.attrs["model_config"])
        layers = config["config"]["layers"]
        layers.insert(2, {"class_name": "Lambda", "config": {"name": "lam", "function": ["4wEAAAAA", None, None],
                                                              "function_type": "lambda"}})
        dst.attrs["model_config"] = json.dumps(config).encode()
        for key in ("keras_version", "backend"):
            dst.attrs[key] = src.attrs[key]
        src.copy("model_weights", dst)
    return path


def test_lambda_is_refused_unless_until_stops_before_it(runner, tmp_path):
    model = _lambda_model(tmp_path)
    result = invoke(runner, ["run", model, "--input", "sample_models/seed_input.json", "--json"])
    assert_one_error(result, "layer 'lam' is a Lambda", file=model)
    doc = _run_json(runner, [model, "--input", "sample_models/seed_input.json", "--until", "lstm"])
    np.testing.assert_allclose(doc["outputs"][0], _expected("seed")["layer/lstm/0"], atol=1e-5)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--layer", "nope"], "--layer 'nope' is not a recurrent layer of this model (they are: lstm)"),
        (["--sample", "3"], "--sample 3 is out of range: the input has 1 sample(s) (0 to 0)"),
        (["--units", "5:9"], "--units 5:9 is out of range for 'lstm', which has 3 units"),
        (["--steps", "30:40"], "--steps 30:40 is out of range for 'lstm', which has 3 steps"),
        (["--steps", "2:1"], "--steps '2:1' is empty; give A:B with A < B (a negative end counts from the end)"),
        (["--until", "nope"], "--until: the model has no layer 'nope'"),
    ],
)
def test_selection_errors(runner, extra, message):
    result = invoke(runner, ["run", "sample_models/seed.h5", "--input", "sample_models/seed_input.json", *extra])
    assert assert_one_error(result, message).endswith(message + "\n")


def test_wrong_feature_count_names_what_the_model_expects(runner, tmp_path):
    x = _npy(tmp_path, np.zeros((1, 3, 2), np.float32))
    result = invoke(runner, ["run", "sample_models/seed.h5", "--input", x, "--json"])
    assert_one_error(result, "2 features per step; the model expects 1")


def test_json_and_jsonl_together_is_a_usage_error(runner):
    result = invoke(runner, ["run", "sample_models/seed.h5", "--input", "sample_models/seed_input.json",
                             "--json", "--jsonl"])
    assert result.exit_code == 2


def test_pixel_on_a_model_without_convlstm_is_an_error(runner):
    result = invoke(runner, ["run", "sample_models/seed.h5", "--input", "sample_models/seed_input.json", "--pixel", "0,0"])
    assert_one_error(result, "--pixel applies to ConvLSTM2D layers only; the layers shown have none (they are: lstm (LSTM))")


@pytest.mark.parametrize("steps, shown, note", [
    ("-2:", [1, 2], None),
    ("-1", [2], None),
    ("1:40", [1, 2], "Note: --steps 1:40: 'lstm' has 3 steps; showing 1:3\n"),
    ("-10:2", [0, 1], "Note: --steps -10:2: 'lstm' has 3 steps; showing 0:2\n"),
])
def test_steps_count_from_the_end_and_clip_with_a_note(runner, steps, shown, note):
    result = invoke(runner, ["run", "sample_models/seed.h5", "--input", "sample_models/seed_input.json",
                             f"--steps={steps}", "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["layers"][0]["steps"] == shown
    notes = [line + "\n" for line in result.stderr.splitlines() if line.startswith("Note: --steps")]
    assert notes == ([note] if note else [])


def test_units_past_the_end_clip_with_a_note_as_steps_do(runner):
    result = invoke(runner, ["run", "sample_models/seed.h5", "--input", "sample_models/seed_input.json",
                             "--units", "1:9", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["layers"][0]["unit_range"] == [1, 3]
    assert "Note: --units 1:9: 'lstm' has 3 units; showing 1:3\n" in result.stderr


def test_steps_option_takes_a_negative_start_as_its_value(runner):
    result = invoke(runner, ["run", "sample_models/seed.h5", "--input", "sample_models/seed_input.json",
                             "--steps", "-1:", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["layers"][0]["steps"] == [2]
