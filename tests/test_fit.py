"""Tables that fit: at 80 columns no word, number, shape or class name is broken across
lines; at 200 columns the width is used (units side by side). Exact output for sample
models with long names and shapes is kept in tests/fit/ (regenerate with
LSTM_INSPECT_REGEN=1 after checking the new output by eye)."""

import os
import re

import numpy as np
import pytest
from conftest import SAMPLES, expected_npz, invoke, samples

FIT = os.path.join(os.path.dirname(__file__), "fit")

CASES = [
    ("layers-timedistributed_conv", ["layers", "sample_models/k2/timedistributed_conv.h5"]),
    ("layers-norms_and_shapes", ["layers", "sample_models/k2/norms_and_shapes.h5"]),
    ("gates-timedistributed_conv", ["gates", "sample_models/k2/timedistributed_conv.h5"]),
    ("gates-bidir_concat", ["gates", "sample_models/k2/bidir_concat.h5"]),
    ("gates-brief-rnn_cells", ["gates", "sample_models/k2/rnn_cells.h5", "--brief"]),
    ("run-norms_and_shapes", ["run", "sample_models/k2/norms_and_shapes.h5", "--input", "{input}"]),
    ("run-timedistributed_conv", ["run", "sample_models/k2/timedistributed_conv.h5", "--input", "{input}",
                                  "--steps", "0:2"]),
]


def _args(args, tmp_path, name):
    if "{input}" not in args:
        return args
    model = name.split("-", 1)[1]
    path = tmp_path / "x.npy"
    np.save(path, expected_npz(model, "k2")["input/0"])
    return [str(path) if a == "{input}" else a for a in args]


@pytest.mark.parametrize("columns", [80, 200])
@pytest.mark.parametrize("name, args", CASES, ids=[c[0] for c in CASES])
def test_exact_output(runner, monkeypatch, tmp_path, name, args, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.chdir(SAMPLES.parent)
    result = invoke(runner, _args(args, tmp_path, name))
    assert result.exit_code == 0, result.stderr
    path = os.path.join(FIT, f"{name}-{columns}.txt")
    if os.environ.get("LSTM_INSPECT_REGEN"):
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(result.stdout)
    with open(path, encoding="utf-8") as fh:
        assert result.stdout == fh.read()


def _lines(runner, monkeypatch, args, columns=80):
    monkeypatch.setenv("COLUMNS", str(columns))
    result = invoke(runner, args)
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize("sample", samples(forms=["k2_h5", "k3_keras"]), ids=lambda s: s.id)
def test_layers_never_split_a_shape_or_a_class(runner, monkeypatch, sample):
    import json

    lines = _lines(runner, monkeypatch, ["layers", str(sample.path)])
    doc = json.loads(invoke(runner, ["layers", str(sample.path), "--json"]).stdout)
    for line in lines:
        assert line.count("(") == line.count(")"), line  # every shape on one line
    text = "\n".join(lines)
    for row in doc["layers"]:
        assert re.search(rf"(^|\s){re.escape(row['path'])}\s", text, re.M), row["path"]
        assert re.search(rf"\s{re.escape(row['class_name'])}(\(|\s|$)", text, re.M), row["class_name"]
        for key, value in row["config"].items():
            item = key if value is True else f"{key}={value}"
            if value not in (False, None):
                assert re.search(rf"(^|\s){re.escape(item)}(\s|$)", text, re.M), item


@pytest.mark.parametrize("sample", samples(forms=["k2_h5", "k3_keras"]), ids=lambda s: s.id)
def test_gates_never_split_a_number_or_a_shape(runner, monkeypatch, sample):
    import json

    lines = _lines(runner, monkeypatch, ["gates", str(sample.path)])
    doc = json.loads(invoke(runner, ["gates", str(sample.path), "--json"]).stdout)
    number = re.compile(r"-?\d+\.\d{4}|-?\d(\.\d+)?e[+-]\d\d|nan|-?inf")
    for line in lines:
        if line.startswith("note:"):
            continue
        assert line.count("(") == line.count(")"), line
        if re.match(r"^[a-z] [a-z]", line):  # a gate's row: every statistic whole
            assert all(number.fullmatch(tok) for tok in line.split()[-5:]), line
    for layer in doc["layers"]:
        for w in layer["weights"]:
            assert any(w["h5_path"] in line for line in lines) or len(layer["weights"]) > 3, w["h5_path"]


def test_units_go_side_by_side_on_a_wide_terminal(runner, monkeypatch, tmp_path):
    np.save(tmp_path / "x.npy", expected_npz("norms_and_shapes", "k2")["input/0"])
    args = ["run", "sample_models/k2/norms_and_shapes.h5", "--input", str(tmp_path / "x.npy"), "--steps", "0:1",
            "--layer", "lstm"]
    monkeypatch.chdir(SAMPLES.parent)
    narrow = _lines(runner, monkeypatch, args, 80)
    wide = _lines(runner, monkeypatch, args, 200)
    assert max(map(len, narrow)) <= 80
    assert max(map(len, wide)) <= 200
    def table(lines):  # the trace table's rows of numbers
        return [line for line in lines if re.search(r"\d\.\d{4}\s*$", line) and "output" not in line]

    assert [line.count("hidden") for line in narrow if "hidden" in line] == [1]
    assert len(table(narrow)) == 4  # a unit a line
    assert [line.count("hidden") for line in wide if "hidden" in line] == [2]
    assert len(table(wide)) == 2  # two units a line


def test_precision_and_small_values(runner):
    result = invoke(runner, ["run", "sample_models/seed.h5", "--input", "sample_models/seed_input.json",
                             "--precision", "6", "--units", "0"])
    assert result.exit_code == 0
    assert "   0  0  0.440628  0.688798  -0.165978  0.423484  -0.073135  -0.030916\n" in result.stdout
