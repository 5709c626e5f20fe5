"""Issue 10, "never a wrong number": the findings, each checked against what real Keras did.

The numbers of the sample models added for the issue (sample_models/generate.py, block
"Issue 10") are checked with every other sample's by test_run_samples, test_traces and
test_stream. Here: the refusals by name, the false refusals that are gone, and where Keras
itself does something surprising, a pin on what it recorded (docs/formats.md section 9).
"""

import json

import numpy as np
import pytest
from conftest import MODELS, ROOT, expected_npz, invoke, samples

import lstm_inspect
from lstm_inspect.errors import InputError, LstmInspectError, UnsupportedError
from lstm_inspect.forward.executor import run_model
from lstm_inspect.kinds.base import feature_axis

FIXTURES = ROOT / "tests" / "data" / "issue10"
REFUSED = {name: info["refused"] for name, info in MODELS.items() if "refused" in info}


def _both(name):
    return expected_npz(name, "k2"), expected_npz(name, "k3")


# ------------------------------------------------------------------------------ refused by name


@pytest.mark.parametrize("sample", [pytest.param(s, id=s.id) for s in samples(names=REFUSED) if s.runnable])
def test_refused_samples_are_refused_by_name_before_anything_runs(sample):
    with pytest.raises(UnsupportedError) as e:
        run_model(sample.load(), sample.inputs())
    assert REFUSED[sample.name] in str(e.value)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_layers_says_what_run_will_do(runner, name):
    sample = samples(["k3_keras"], names=[name])[0]
    rows = json.loads(invoke(runner, ["layers", sample.path, "--json"]).stdout)["layers"]
    reasons = [r["reason"] for r in rows if not r["runnable"]]
    assert any(REFUSED[name] in reason for reason in reasons), reasons


def test_refused_samples_are_the_ones_the_generator_lists():
    assert set(REFUSED) == {"softmax_recurrent", "gap_channels_first"}


# ------------------------------------------------------------------------------ what Keras does


def test_keras3_drops_the_mask_of_a_call_with_initial_state():
    """Finding 1: same weights, same inputs; tf_keras masks the decoder, Keras 3 does not."""
    for name in ("decoder_initial_state_masked", "bidir_initial_state_masked"):
        k2, k3 = _both(name)
        assert np.abs(k2["output/0"] - k3["output/0"]).max() > 1e-3, name


def test_keras3_masks_after_a_nested_model_whose_config_says_mask_null():
    """Finding 2: both generations mask the layer after the nested model."""
    k2, k3 = _both("nested_masking")
    np.testing.assert_allclose(k2["output/0"], k3["output/0"], atol=1e-6)


def test_time_distributed_embedding_mask_reaches_the_next_wrapped_lstm_in_tf_keras_only():
    """Finding 3: tf_keras takes the wrapped Embedding's mask as TimeDistributed's; Keras 3
    passes its input mask (none) through."""
    k2, k3 = _both("td_embedding_lstm")
    assert np.abs(k2["output/0"] - k3["output/0"]).max() > 1e-3


def test_masked_global_average_pooling():
    """Finding 7: tf_keras's Add keeps the Embedding's mask (AND of the masks present), so GAP is
    masked: a fully masked sample is NaN (0/0) and a NaN at a masked step leaks (x * mask). Keras 3's
    Add ORs the masks and has none once an input has none: GAP averages every step."""
    k2, k3 = _both("masked_gap_nan")
    assert np.isnan(k2["layer/gap/0"][0]).any() and np.isnan(k2["layer/gap/0"][1]).all()
    assert np.isfinite(k2["layer/gap/0"][2]).all()
    assert "mask/gap/0" in k2.files and "mask/gap/0" not in k3.files
    assert np.isnan(k3["layer/gap/0"][0]).any() and np.isfinite(k3["layer/gap/0"][1]).all()


def test_time_axis_concatenate_joins_masks():
    """Finding 17: the LSTM after Concatenate(axis=1) sees the two masks one after the other."""
    k2, _ = _both("concat_time_masked")
    x = k2["input/0"], k2["input/1"]
    want = np.concatenate([np.any(x[0] != 0, -1), np.any(x[1] != 0, -1)], axis=1)
    np.testing.assert_array_equal(k2["mask/lstm/0"], want)


# ------------------------------------------------------------------------------ run and stream


def test_negative_axes_are_resolved_against_the_rank():
    """Finding 9: axis -2 of a (batch, time, features) tensor is time."""
    assert feature_axis(-1, 3) and feature_axis(-1, 4) and feature_axis(-2, 4)
    assert not feature_axis(-2, 3) and not feature_axis([-1, -2], 3) and not feature_axis(-2)
    from lstm_inspect.forward.stream import streaming_blocker

    sample = samples(["k3_keras"], names=["negative_axis"])[0]
    assert "'ln' (LayerNormalization) works across time steps" in streaming_blocker(sample.load(), sample.inputs())


def test_plain_run_of_a_wide_and_a_narrow_layer(runner, tmp_path):
    """Finding 11: the default cap of 8 units applies to the wide layer only."""
    sample = samples(["k2_h5"], names=["wide_and_narrow"])[0]
    x = tmp_path / "x.npy"
    np.save(x, sample.inputs()[0])
    result = invoke(runner, ["run", sample.path, "--input", x])
    assert result.exit_code == 0, result.stderr
    assert "showing units 0:8 of up to 10" in result.stderr


def _states(model, result):
    from lstm_inspect.reports.run import state_arrays

    return state_arrays(result)


def test_bidirectional_states_are_resumed_by_their_keys():
    """Finding 10: the keys --state-out writes for a Bidirectional are the keys --initial-state reads."""
    sample = samples(["k2_h5"], names=["bidir_concat"])[0]
    model, (x,) = sample.load(), sample.inputs()
    first = run_model(model, [x])
    states = _states(model, first)
    assert sorted(states) == ["bi/backward_lstm/c", "bi/backward_lstm/h", "bi/forward_lstm/c", "bi/forward_lstm/h"]
    nested = {}
    for key, value in states.items():
        path, _, which = key.rpartition("/")
        nested.setdefault(path, {})[which] = value
    resumed = run_model(model, [x], initial_states=nested)
    assert np.abs(resumed.outputs[0] - first.outputs[0]).max() > 1e-3  # the states were used
    zeros = {p: {k: np.zeros_like(v) for k, v in s.items()} for p, s in nested.items()}
    np.testing.assert_allclose(run_model(model, [x], initial_states=zeros).outputs[0], first.outputs[0], atol=1e-7)


@pytest.mark.parametrize("states, phrase", [
    ({"bi": {"h": np.zeros((1, 3))}}, "'bi', which is not a recurrent layer of the model"),
    ({"nowhere": {"h": np.zeros((1, 3))}}, "'nowhere', which is not a recurrent layer"),
    ({"bi/forward_lstm": {"x": np.zeros((1, 3))}}, "'bi/forward_lstm/x' is not a state of LSTM"),
    ({"bi/forward_lstm": {"h": np.zeros((1, 3))}}, "one direction of 'bi' only"),
])
def test_an_initial_state_that_would_go_unused_is_refused(states, phrase):
    sample = samples(["k2_h5"], names=["bidir_concat"])[0]
    with pytest.raises(LstmInspectError) as e:
        run_model(sample.load(), sample.inputs(), initial_states=states)
    assert phrase in str(e.value)


def test_a_state_for_a_layer_the_model_starts_itself_is_refused():
    sample = samples(["k2_h5"], names=["seq2seq_initial_state"])[0]
    with pytest.raises(LstmInspectError, match="which the model starts from states it computes itself"):
        run_model(sample.load(), sample.inputs(), initial_states={"dec": {"h": np.zeros((1, 3))}})


def test_unknown_state_keys_are_an_input_error():
    assert issubclass(InputError, LstmInspectError)


# ------------------------------------------------------------------------------ false refusals


@pytest.mark.parametrize("name, refused", [
    ("rescale.h5", "Rescaling"), ("rescale.keras", "Rescaling"),  # finding 14
    ("tfop.h5", "OpLambda"),  # finding 15
    ("sep.h5", "SeparableConv1D"), ("sep.keras", "SeparableConv1D"),  # finding 19
])
def test_files_with_layers_run_may_refuse_are_read(runner, name, refused):
    """``gates`` and ``layers`` read them; ``run`` computes each layer or refuses it by name,
    never blaming the file. (Computing these layers is issue 10's other half.)"""
    path = FIXTURES / name
    for command in ("gates", "layers"):
        result = invoke(runner, [command, path])
        assert result.exit_code == 0, (command, result.stderr)
    rows = json.loads(invoke(runner, ["layers", path, "--json"]).stdout)["layers"]
    assert any(refused in r["class_name"] + (r["reason"] or "") for r in rows)
    model = lstm_inspect.load(path)
    shapes = model.layers[0].config.get("batch_shape") or model.layers[0].config.get("batch_input_shape")
    x = np.zeros([1] + list(shapes[1:]), np.float32) if shapes else None
    if x is None:
        return
    try:
        run_model(model, [x])
    except UnsupportedError as e:
        assert refused in str(e) and "config does not fit" not in str(e)


@pytest.mark.parametrize("name", ["stacked.h5", "stacked.keras", "cells.keras"])
def test_stacked_cells_are_computed(name):
    """Finding 19: RNN(StackedRNNCells) and RNN([cells]) run, each cell traced on its own
    (numbers against Keras in test_stacked.py)."""
    model = lstm_inspect.load(FIXTURES / name)
    result = run_model(model, [np.ones((2, 4, 2), np.float32)])
    assert result.outputs[0].shape == (2, 1)
    assert [t.path for t in result.traces] == [f"{name.split('.')[0]}/cell_0", f"{name.split('.')[0]}/cell_1"]


def test_tf_op_layers_are_listed_with_their_edges():
    model = lstm_inspect.load(FIXTURES / "tfop.h5")
    classes = {layer.class_name for layer in model.layers}
    assert {"SlicingOpLambda", "TFOpLambda"} <= classes


def test_rescaling_scale_is_a_factor_not_a_switch():
    model = lstm_inspect.load(FIXTURES / "rescale.keras")
    assert model.layers[1].config["scale"] == 0.5
