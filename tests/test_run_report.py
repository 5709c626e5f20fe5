"""The pipeline behind `run` as library functions (lstm_inspect.reports.run): the same
numbers `run --npz`, `--state-out` and `--jsonl` write, and Keras's numbers
(sample_models/expected), from a notebook without the CLI."""

import json

import numpy as np
import pytest
from conftest import MODELS, ROOT, SAMPLES, invoke

import lstm_inspect
from lstm_inspect.reading.files import save_npz
from lstm_inspect.reports.selection import DEFAULT_UNITS


@pytest.fixture(autouse=True)
def _in_repository_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def _sample(name, form="k2_h5", gen="k2"):
    info = MODELS[name]
    expected = np.load(SAMPLES / info["expected"][gen])
    return lstm_inspect.load(SAMPLES / info["forms"][form]), expected


def _npy(tmp_path, array, name="x.npy"):
    path = tmp_path / name
    np.save(path, array)
    return path


@pytest.mark.parametrize("name", ["masking", "bidir_concat", "gru_reset_after", "conv_lstm2d"])
def test_trace_arrays_are_what_run_npz_writes(runner, tmp_path, name):
    model, expected = _sample(name)
    x = _npy(tmp_path, expected["input/0"])
    out = tmp_path / "trace.npz"
    result = invoke(runner, ["run", model.file, "--input", x, "--npz", out, "--json"])
    assert result.exit_code == 0, result.stderr
    arrays = lstm_inspect.trace_arrays(lstm_inspect.run_report(model, x).result)
    with np.load(out) as written:
        assert sorted(written.files) == sorted(arrays)
        for key in written.files:
            np.testing.assert_array_equal(written[key], arrays[key], err_msg=key)
    np.testing.assert_allclose(arrays["output/0"], expected["output/0"], atol=1e-5, rtol=0)


def test_arrays_in_and_a_path_in_give_the_same_report(tmp_path):
    model, expected = _sample("stacked_lstm")
    x = expected["input/0"]
    from_path = lstm_inspect.run_report(model, _npy(tmp_path, x))
    from_array = lstm_inspect.run_report(model, x)
    assert from_path.inputs == from_array.inputs == [("input", x.shape)]
    for a, b in zip(from_path.selected, from_array.selected):
        assert a.values.keys() == b.values.keys()
        for k in a.values:
            np.testing.assert_array_equal(a.values[k], b.values[k])
    np.testing.assert_allclose(from_array.result.outputs[0], expected["output/0"], atol=1e-5, rtol=0)


def test_state_layout_round_trip_continues_the_run(tmp_path):
    # Steps 0-1, then step 2 from the saved states: Keras's output for all 3 steps.
    model, expected = _sample("seed")
    x = expected["input/0"]
    first = lstm_inspect.run_report(model, x[:, :2])
    states = lstm_inspect.state_arrays(first.result)
    assert sorted(states) == ["lstm/c", "lstm/h"]
    path = tmp_path / "states.npz"
    save_npz(path, states)
    loaded = lstm_inspect.load_states(path)
    assert sorted(loaded) == ["lstm"] and sorted(loaded["lstm"]) == ["c", "h"]
    for given in (loaded, states, path):  # nested, flat, or the file
        second = lstm_inspect.run_report(model, x[:, 2:], initial_states=given)
        np.testing.assert_allclose(second.result.outputs[0], expected["output/0"], atol=1e-5, rtol=0)


def test_state_arrays_are_what_run_state_out_writes(runner, tmp_path):
    model, expected = _sample("return_state")
    x = _npy(tmp_path, expected["input/0"])
    out = tmp_path / "s.npz"
    assert invoke(runner, ["run", model.file, "--input", x, "--state-out", out, "--json"]).exit_code == 0
    states = lstm_inspect.state_arrays(lstm_inspect.run_report(model, x).result)
    with np.load(out) as written:
        assert sorted(written.files) == sorted(states) == ["lstm/c", "lstm/h"]
        for key in written.files:
            np.testing.assert_array_equal(written[key], states[key])
    np.testing.assert_allclose(states["lstm/h"], expected["layer/lstm/1"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(states["lstm/c"], expected["layer/lstm/2"], atol=1e-5, rtol=0)


def test_misnamed_flat_states_are_refused():
    model, expected = _sample("seed")
    with pytest.raises(lstm_inspect.LstmInspectError, match="'lstm/x' is not named"):
        lstm_inspect.run_report(model, expected["input/0"], initial_states={"lstm/x": np.zeros((1, 3))})


@pytest.mark.parametrize("steps_per_chunk", [1, 2, 100])
def test_run_records_are_the_jsonl_records(runner, tmp_path, steps_per_chunk):
    model, expected = _sample("masking")
    x = _npy(tmp_path, expected["input/0"])
    lines = invoke(runner, ["run", model.file, "--input", x, "--jsonl"]).stdout.splitlines()
    records = list(lstm_inspect.run_records(model, x, steps_per_chunk=steps_per_chunk))
    assert records == [json.loads(line) for line in lines]


def test_chunks_count_steps_in_the_whole_run():
    model, expected = _sample("stacked_lstm")
    x = expected["input/0"]
    sel = lstm_inspect.Selection(samples=[1], steps=(1, 4), layers=["lstm_a"])
    reports = list(lstm_inspect.run_report_chunks(model, x, sel, steps_per_chunk=2))
    assert [(r.start, r.final, r.total_steps) for r in reports] == [(0, False, 5), (2, False, 5), (4, True, 5)]
    assert [list(r.selected[0].steps) for r in reports] == [[1], [2, 3], []]
    assert sel.steps == (1, 4) and sel.units is None  # the caller's selection is left as it was


def test_a_model_that_cannot_stream_is_one_whole_report_with_a_note():
    model, expected = _sample("bidir_concat")
    (report,) = lstm_inspect.run_report_chunks(model, expected["input/0"], steps_per_chunk=2)
    assert report.final and report.start == 0
    assert report.notes == ["--jsonl holds the whole run in memory: layer 'bi' (Bidirectional) runs backwards "
                            "over the whole sequence"]


def test_default_units_rule():
    model, expected = _sample("stacked_lstm")
    x = expected["input/0"]
    widest = max(t.view.units for t in lstm_inspect.run_report(model, x).result.traces)
    assert widest <= DEFAULT_UNITS  # every unit: no note
    assert lstm_inspect.run_report(model, x, max_units=DEFAULT_UNITS).notes == []
    capped = lstm_inspect.run_report(model, x, max_units=2)
    assert capped.notes == [f"showing units 0:2 of up to {widest}; use --units A:B to see others"]
    assert {st.units for st in capped.selected} == {(0, 2)}
    chosen = lstm_inspect.run_report(model, x, lstm_inspect.Selection(units=(1, 3)), max_units=2)
    assert chosen.notes == [] and {st.units for st in chosen.selected} == {(1, 3)}


def test_inputs_are_checked_against_the_signature(tmp_path):
    model, expected = _sample("seed")
    given = lstm_inspect.read_inputs(model, _npy(tmp_path, np.zeros((5, 1), np.float32)))
    assert given.names == ["input"] and given.arrays[0].shape == (1, 5, 1)
    assert given.notes == ["input 'input': one sequence of shape (5, 1); added a batch axis",
                           "input 'input' has 5 time steps; the model was saved for 3"]
    with pytest.raises(lstm_inspect.LstmInspectError, match="the model has 1 input .'input'.; got 2 arrays"):
        lstm_inspect.run_report(model, [expected["input/0"], expected["input/0"]])


def test_arrays_get_the_checks_a_file_gets():
    model, expected = _sample("seed")
    x = expected["input/0"].astype(np.float64)
    report = lstm_inspect.run_report(model, x[0])  # one sequence, float64
    assert report.notes == ["input 'input': one sequence of shape (3, 1); added a batch axis"]
    assert report.inputs == [("input", (1, 3, 1))]
    np.testing.assert_array_equal(report.result.outputs[0], lstm_inspect.run_report(model, x.astype(np.float32))
                                  .result.outputs[0])
    with pytest.raises(lstm_inspect.LstmInspectError, match="2 features per step; the model expects 1"):
        lstm_inspect.run_report(model, np.zeros((1, 3, 2)))


def test_an_unrunnable_bidirectional_is_refused_before_running(monkeypatch):
    model, expected = _sample("seed")
    monkeypatch.setattr("lstm_inspect.reports.overview.unrunnable_wrapper", lambda m, until: "no way through")
    with pytest.raises(lstm_inspect.UnsupportedError, match="no way through"):
        lstm_inspect.run_report(model, expected["input/0"])


def test_the_run_api_is_exported_lazily():
    from lstm_inspect.reports import run

    for name in ("run_report", "run_report_chunks", "run_records", "read_inputs", "trace_arrays", "state_arrays",
                 "RunReport", "ModelInputs"):
        assert getattr(lstm_inspect, name) is getattr(run, name)
        assert name in lstm_inspect.__all__
    assert lstm_inspect.load_states.__name__ == "load_states" and "Selection" in lstm_inspect.__all__
