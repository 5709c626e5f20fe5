"""The command line through Click's CliRunner: exact output and exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SAMPLES, invoke

SEED = "sample_models/seed.h5"  # relative, as a user types it (tests run from the repository root)


@pytest.fixture(autouse=True)
def _in_repository_root(monkeypatch):
    monkeypatch.chdir(ROOT)

# The weights of the question from the field (README), as the issue gives them.
KERNEL = np.array([[-0.40927699, -0.53539848, 0.40065038, -0.07722378, 0.30405849, 0.54959822,
                    -0.23097005, 0.4720422, 0.05197877, -0.52746099, -0.5856396, -0.43691438]])
RECURRENT = np.array([
    [-0.25504839, -0.0823682, 0.11609183, 0.41123426, 0.03409858, -0.0647027, -0.59183347, -0.15359771,
     0.21647622, 0.24863823, 0.46169096, -0.21100986],
    [0.29160395, 0.46513283, 0.33996364, -0.31195125, -0.24458826, -0.09762905, 0.16202784, -0.01602131,
     0.34460208, 0.39724654, 0.31806156, 0.1102117],
    [-0.15919448, -0.33053166, -0.22857222, -0.04912394, -0.21862955, 0.55346996, 0.38505834, 0.18110731,
     0.270677, -0.02759281, 0.42814475, -0.13496138],
])
BIAS = np.array([0., 0., 0., 1., 1., 1., 0., 0., 0., 0., 0., 0.])

SEED_TABLE = Path(__file__).with_name("seed_gates.txt").read_text()


def test_gates_table_for_the_seed_model(runner):
    result = invoke(runner, ["gates", SEED])
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout == SEED_TABLE


def test_gates_json_for_the_seed_model(runner):
    result = invoke(runner, ["gates", SEED, "--json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["schema"] == "lstm-inspect/gates@1"
    assert (doc["format"], doc["keras_version"], doc["backend"]) == ("keras-h5", "2.21.0", "tensorflow")
    (layer,) = doc["layers"]
    assert {k: layer[k] for k in ("path", "class_name", "direction", "units", "input_dim", "gate_order",
                                  "activation", "recurrent_activation")} == {
        "path": "lstm", "class_name": "LSTM", "direction": "forward", "units": 3, "input_dim": 1,
        "gate_order": ["i", "f", "c", "o"], "activation": "tanh", "recurrent_activation": "hard_sigmoid",
    }
    arrays = {"kernel": KERNEL, "recurrent_kernel": RECURRENT, "bias": BIAS}
    assert [w["role"] for w in layer["weights"]] == ["kernel", "recurrent_kernel", "bias"]
    for w in layer["weights"]:
        assert w["shape"] == list(arrays[w["role"]].shape)
        assert [(s["gate"], s["start"], s["stop"]) for s in w["slices"]] == [
            ("i", 0, 3), ("f", 3, 6), ("c", 6, 9), ("o", 9, 12)
        ]
        for s in w["slices"]:
            block = arrays[w["role"]][..., s["start"]:s["stop"]]
            for stat, value in (("mean", block.mean()), ("std", block.std()), ("min", block.min()),
                                ("max", block.max()), ("l2", np.linalg.norm(block))):
                assert abs(s[stat] - value) < 1e-6, (w["role"], s["gate"], stat)
    assert any("look untrained" in n for n in layer["notes"])


def test_json_is_the_only_thing_on_stdout(runner):
    result = invoke(runner, ["layers", SEED, "--json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["schema"] == "lstm-inspect/layers@1"
    assert [(lay["path"], lay["class_name"], lay["output_shape"], lay["params"], lay["runnable"]) for lay in doc["layers"]] == [
        ("input", "InputLayer", [None, 3, 1], 0, True),  # tf.keras 2.x Sequential configs keep the InputLayer
        ("lstm", "LSTM", [None, 3], 4 * 3 * (1 + 3 + 1), True),
        ("dense", "Dense", [None, 1], 4, True),
    ]


def test_layers_table(runner):
    result = invoke(runner, ["layers", SEED])
    assert result.exit_code == 0
    assert result.stdout == (
        "sample_models/seed.h5  keras-h5 · Keras 2.21.0 · backend tensorflow\n"
        + "inputs  input (None,3,1) float32\n"
        + "path   class       output shape  params  config                     run\n"
        + "─" * 71 + "\n"
        + "input  InputLayer  (None,3,1)         0                             yes\n"
        + "lstm   LSTM        (None,3)          60  units=3 activation=tanh    yes\n"
        + "dense  Dense       (None,1)           4  units=1 activation=linear  yes\n"
    )


def test_hard_sigmoid_override(runner):
    result = invoke(runner, ["gates", SEED, "--json", "--hard-sigmoid", "keras3"])
    assert json.loads(result.stdout)["hard_sigmoid"] == "clip(x/6 + 0.5, 0, 1)"
    result = invoke(runner, ["gates", SEED, "--json"])
    assert json.loads(result.stdout)["hard_sigmoid"] == "clip(0.2*x + 0.5, 0, 1)"


def test_weights_only_needs_no_config_but_takes_one(runner):
    weights = SAMPLES / "k2" / "stacked_lstm_weights.h5"
    alone = json.loads(invoke(runner, ["gates", weights, "--json"]).stdout)
    with_config = json.loads(
        invoke(runner, ["gates", weights, "--json", "--config", SAMPLES / "k2" / "stacked_lstm.json"]).stdout
    )
    assert alone["config_source"] == "weights" and with_config["config_source"] == "--config"
    assert [lay["assumed"] for lay in alone["layers"]] == [["activation", "recurrent_activation", "go_backwards"]] * 2
    assert [lay["assumed"] for lay in with_config["layers"]] == [[], []]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_a_full_disk_is_one_error_line_not_a_bug_report():
    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, "-m", "lstm_inspect", "gates", str(SAMPLES / "seed.h5")],
                           stdout=full, stderr=subprocess.PIPE, text=True)
    assert (p.returncode, p.stderr) == (1, "Error: cannot write the output: No space left on device\n")
