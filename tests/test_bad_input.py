"""Bad input never ends in a traceback: the CLI prints one line ``Error: <file>: ...``
on stderr, nothing on stdout (tables or --json alike) and exits 1. Usage mistakes
exit 2 (Click's own handling). Reading never changes the file read."""

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest
from conftest import MODELS, ROOT, SAMPLES, assert_one_error, invoke

import lstm_inspect

SEED_H5 = SAMPLES / "seed.h5"
SEED_KERAS = SAMPLES / MODELS["seed"]["forms"]["k2_keras"]
SEED_WEIGHTS = SAMPLES / MODELS["seed"]["forms"]["k2_weights_h5"]
STACKED_CONFIG = SAMPLES / MODELS["stacked_lstm"]["forms"]["k2_config"]
GRU_CONFIG = SAMPLES / MODELS["gru_reset_before"]["forms"]["k2_config"]

COMMANDS = [["gates"], ["gates", "--json"], ["layers"], ["layers", "--json"]]
COMMAND_IDS = ["gates", "gates-json", "layers", "layers-json"]


def run_all(runner, model, *extra):
    """The same input through every command, with and without --json."""
    for command in COMMANDS:
        yield invoke(runner, [command[0], model, *extra, *command[1:]])


def fingerprint(path):
    st = os.stat(path)
    return path.read_bytes(), st.st_mtime_ns, st.st_size


# ------------------------------------------------------------------------------------
# The model file itself


def test_missing_path(runner, tmp_path):
    path = tmp_path / "nope.h5"
    for result in run_all(runner, path):
        assert_one_error(result, "no such file", file=path)


def test_a_directory(runner, tmp_path):
    for result in run_all(runner, tmp_path):
        assert_one_error(result, "is a directory", file=tmp_path)


def test_empty_file(runner, tmp_path):
    path = tmp_path / "empty.h5"
    path.write_bytes(b"")
    for result in run_all(runner, path):
        assert_one_error(result, "the file is empty", file=path)


def _cuts(size):
    return sorted({8, 100, 1000, 4096, size // 2, size - 100, size - 1})


@pytest.mark.parametrize("cut", _cuts(SEED_H5.stat().st_size))
def test_truncated_hdf5(runner, tmp_path, cut):
    path = tmp_path / "seed_cut.h5"
    path.write_bytes(SEED_H5.read_bytes()[:cut])
    before = fingerprint(path)
    for result in run_all(runner, path):
        assert_one_error(result, "truncated or damaged", file=path)
    assert fingerprint(path) == before


@pytest.mark.parametrize("cut", _cuts(SEED_KERAS.stat().st_size))
def test_truncated_keras_archive(runner, tmp_path, cut):
    path = tmp_path / "seed_cut.keras"
    path.write_bytes(SEED_KERAS.read_bytes()[:cut])
    for result in run_all(runner, path):
        assert_one_error(result, "truncated", file=path)


def test_keras_archive_with_a_damaged_member(runner, tmp_path):
    """A flipped byte inside model.weights.h5: zipfile's CRC check catches it."""
    data = bytearray(SEED_KERAS.read_bytes())
    with zipfile.ZipFile(SEED_KERAS) as zf:
        info = zf.getinfo("model.weights.h5")
        assert info.compress_type == zipfile.ZIP_STORED
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF
    path = tmp_path / "crc.keras"
    path.write_bytes(bytes(data))
    for result in run_all(runner, path):
        assert_one_error(result, "model.weights.h5", file=path)


def test_keras_archive_whose_weights_are_not_hdf5(runner, tmp_path):
    path = tmp_path / "junk_weights.keras"
    with zipfile.ZipFile(SEED_KERAS) as src, zipfile.ZipFile(path, "w") as dst:
        dst.writestr("metadata.json", src.read("metadata.json"))
        dst.writestr("config.json", src.read("config.json"))
        dst.writestr("model.weights.h5", b"not hdf5 at all" * 10)
    for result in run_all(runner, path):
        assert_one_error(result, "cannot read this HDF5 file", file=path)


def test_hdf5_that_is_not_keras(runner, tmp_path):
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.random.default_rng(0).normal(size=(4, 5))
    for result in run_all(runner, path):
        assert_one_error(result, "HDF5 file but not a Keras model", file=path)


def test_zip_that_is_not_keras(runner, tmp_path):
    path = tmp_path / "notes.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    for result in run_all(runner, path):
        assert_one_error(result, "not a Keras .keras file", file=path)


@pytest.mark.parametrize(
    "content",
    [np.random.default_rng(7).bytes(512), b"hello, I am a text file\n" * 20, b"\x89HDF"],
    ids=["random-bytes", "text", "half-a-signature"],
)
def test_not_a_keras_file(runner, tmp_path, content):
    path = tmp_path / "model.h5"
    path.write_bytes(content)
    for result in run_all(runner, path):
        assert_one_error(result, "not a Keras file", file=path)


# ------------------------------------------------------------------------------------
# --config


def test_config_for_another_model(runner):
    """seed's weights (one LSTM, one Dense) with stacked_lstm's config (two LSTMs, one Dense)."""
    for result in run_all(runner, SEED_WEIGHTS, "--config", STACKED_CONFIG):
        assert_one_error(result, "does not fit the weights", file=SEED_WEIGHTS)


def test_gru_config_for_lstm_weights(runner):
    """gru_reset_before's config (GRU(4)) for seed's LSTM(3) weights: the same number of
    layers with weights, so only the recurrent shapes can tell."""
    for result in run_all(runner, SEED_WEIGHTS, "--config", GRU_CONFIG):
        assert_one_error(result, "does not fit the weights", file=SEED_WEIGHTS)


def test_gru_config_with_the_lstm_units(runner, tmp_path):
    """A GRU(3) config for LSTM(3) weights: units agree, the recurrent kernel (3, 12)
    is 4 gate blocks where a GRU has 3."""
    config = json.loads(GRU_CONFIG.read_text())
    layers = config["config"]["layers"]
    (gru,) = [lay for lay in layers if lay["class_name"] == "GRU"]
    gru["config"]["units"] = 3
    path = tmp_path / "gru3.json"
    path.write_text(json.dumps(config))
    for result in run_all(runner, SEED_WEIGHTS, "--config", path):
        assert_one_error(result, "(3, 12)", file=SEED_WEIGHTS)


@pytest.mark.parametrize(
    "text, phrase",
    [("{not json", "not valid JSON"), ("", "not valid JSON"), ("[1, 2]", "class_name"), ('{"a": 1}', "class_name")],
    ids=["broken", "empty", "a-list", "no-class-name"],
)
def test_config_that_is_not_a_model_config(runner, tmp_path, text, phrase):
    path = tmp_path / "model.json"
    path.write_text(text)
    for result in run_all(runner, SEED_WEIGHTS, "--config", path):
        assert_one_error(result, phrase, file=path)


def test_config_that_is_not_utf8(runner, tmp_path):
    path = tmp_path / "model.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    for result in run_all(runner, SEED_WEIGHTS, "--config", path):
        assert_one_error(result, "not UTF-8", file=path)


def test_missing_config_path(runner, tmp_path):
    path = tmp_path / "missing.json"
    for result in run_all(runner, SEED_WEIGHTS, "--config", path):
        assert_one_error(result, "cannot read the config file", file=path)


# ------------------------------------------------------------------------------------
# Weights-only files whose layers cannot be told apart


def _weights_only(path, groups):
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["layer_names"] = np.array([n.encode() for n in groups])
        for name, arrays in groups.items():
            g = f.create_group(name)
            g.attrs["weight_names"] = np.array([n.encode() for n, _ in arrays])
            for weight_name, value in arrays:
                g.create_dataset(weight_name, data=np.asarray(value, dtype=np.float32))
    return path


def test_recurrent_kernel_of_no_known_kind(runner, tmp_path):
    path = _weights_only(tmp_path / "odd.h5", {"rnn": [
        ("rnn/kernel:0", np.zeros((2, 7))),
        ("rnn/recurrent_kernel:0", np.zeros((3, 7))),
        ("rnn/bias:0", np.zeros(7)),
    ]})
    for result in run_all(runner, path):
        assert_one_error(result, "cannot tell what kind of layer 'rnn' is", file=path)
        assert "--config" in result.stderr


def test_weight_scopes_that_cannot_be_told_apart(runner, tmp_path):
    """Two inner scopes with the same leaf name and no forward/backward pair."""
    path = _weights_only(tmp_path / "twins.h5", {"block": [
        ("a/dense/kernel:0", np.zeros((2, 3))),
        ("b/dense/kernel:0", np.zeros((3, 3))),
    ]})
    for result in run_all(runner, path):
        assert_one_error(result, "cannot tell the layers of weight group 'block' apart", file=path)


@pytest.mark.parametrize(
    "role, shape, phrase",
    [("kernel", (1, 10), "kernel of shape (1, 10)"), ("bias", (7,), "bias of shape (7,)"), ("bias", (), "bias of shape ()")],
    ids=["kernel", "bias", "scalar-bias"],
)
def test_lstm_arrays_that_fit_no_layout(runner, tmp_path, role, shape, phrase):
    """seed's weights with one array replaced by a wrong shape."""
    path = tmp_path / "seed_weights.h5"
    shutil.copy(SEED_WEIGHTS, path)
    with h5py.File(path, "a") as f:
        g = f["lstm"]
        names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs["weight_names"]]
        (name,) = [n for n in names if n.split("/")[-1].split(":")[0] == role]
        del g[name]
        g.create_dataset(name, data=np.zeros(shape, dtype=np.float32))
    for result in run_all(runner, path):
        assert_one_error(result, phrase, file=path)
    with pytest.raises(lstm_inspect.LstmInspectError, match="^" + re.escape(f"{path}: ")):
        lstm_inspect.load(path)


# ------------------------------------------------------------------------------------
# A model with no recurrent layer is not an error


def test_model_without_recurrent_layers(runner, tmp_path):
    """A Keras 1.2.2 model.save() of Sequential[Dense] (docs/formats.md 2.3; Keras 1
    names Dense weights dense_1_W, dense_1_b)."""
    config = {"class_name": "Sequential", "config": [{"class_name": "Dense", "config": {
        "name": "dense_1", "trainable": True, "output_dim": 2, "init": "glorot_uniform", "activation": "linear",
        "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None, "W_constraint": None,
        "b_constraint": None, "bias": True, "input_dim": 3, "batch_input_shape": [None, 3], "input_dtype": "float32",
    }}]}
    path = tmp_path / "dense.h5"
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"1.2.2"
        f.attrs["model_config"] = json.dumps(config).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = np.array([b"dense_1"])
        d = g.create_group("dense_1")
        d.attrs["weight_names"] = np.array([b"dense_1_W", b"dense_1_b"])
        d["dense_1_W"] = np.ones((3, 2), dtype=np.float32)
        d["dense_1_b"] = np.zeros(2, dtype=np.float32)
    before = fingerprint(path)

    result = invoke(runner, ["gates", path, "--json"])
    assert (result.exit_code, result.stderr) == (0, "")
    doc = json.loads(result.stdout)
    assert doc["layers"] == []
    result = invoke(runner, ["gates", path])
    assert (result.exit_code, result.stderr) == (0, "")
    assert "no recurrent layers" in result.stdout.lower()
    result = invoke(runner, ["layers", path, "--json"])
    assert (result.exit_code, result.stderr) == (0, "")
    assert [(lay["path"], lay["class_name"], lay["params"]) for lay in json.loads(result.stdout)["layers"]] == [("dense_1", "Dense", 8)]
    assert fingerprint(path) == before


# ------------------------------------------------------------------------------------
# Reading changes nothing


@pytest.mark.parametrize("form", ["k2_h5", "k2_weights_h5", "k2_keras", "k3_h5", "k3_keras", "k3_weights_h5"])
def test_reading_leaves_the_file_unchanged(runner, tmp_path, form):
    source = SAMPLES / MODELS["bidir_concat"]["forms"][form]
    path = tmp_path / source.name
    shutil.copy2(source, path)
    before = fingerprint(path)
    for result in run_all(runner, path):
        assert result.exit_code == 0, result.stderr
    assert fingerprint(path) == before


# ------------------------------------------------------------------------------------
# Usage errors: Click's, exit 2


@pytest.mark.parametrize(
    "args, phrase",
    [
        (["gates", SEED_H5, "--bogus"], "No such option"),
        (["layers", SEED_H5, "--bogus"], "No such option"),
        (["gates"], "Missing argument"),
        (["layers"], "Missing argument"),
        (["gates", SEED_H5, "--config"], "requires an argument"),
        (["gates", SEED_H5, "--hard-sigmoid", "keras4"], "Invalid value"),
        (["gates", SEED_H5, "--config", SAMPLES], "is a directory"),
        (["frobnicate"], "No such command"),
    ],
    ids=["gates-option", "layers-option", "gates-no-model", "layers-no-model", "config-no-value",
         "bad-choice", "config-directory", "no-command"],
)
def test_usage_errors_exit_2(runner, args, phrase):
    result = invoke(runner, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert phrase in result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------------------------
# Help and version


@pytest.mark.parametrize(
    "args, words",
    [
        (["--help"], ["Usage:", "gates", "layers"]),
        (["-h"], ["Usage:", "gates", "layers"]),
        (["gates", "--help"], ["Usage:", "MODEL", "--config", "--json", "--hard-sigmoid"]),
        (["layers", "--help"], ["Usage:", "MODEL", "--config", "--json"]),
    ],
    ids=["help", "h", "gates-help", "layers-help"],
)
def test_help(runner, args, words):
    result = invoke(runner, args)
    assert (result.exit_code, result.stderr) == (0, "")
    for word in words:
        assert word in result.stdout


def test_version(runner):
    result = invoke(runner, ["--version"])
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == f"lstm-inspect, version {lstm_inspect.__version__}\n"


def test_python_dash_m_version():
    out = subprocess.run(
        [sys.executable, "-m", "lstm_inspect", "--version"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert (out.returncode, out.stderr) == (0, "")
    assert out.stdout == f"lstm-inspect, version {lstm_inspect.__version__}\n"


def test_python_dash_m_error_is_one_line(tmp_path):
    """The real process, not CliRunner: one Error line, exit 1, no traceback."""
    path = tmp_path / "junk.h5"
    path.write_bytes(b"junk" * 10)
    out = subprocess.run(
        [sys.executable, "-m", "lstm_inspect", "gates", str(path), "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.startswith(f"Error: {path}: ") and out.stderr.count("\n") == 1


def test_console_script():
    script = os.path.join(os.path.dirname(sys.executable), "lstm-inspect")
    if not os.path.exists(script):
        pytest.skip("the lstm-inspect console script is not installed next to this Python")
    out = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stderr) == (0, "")
    assert out.stdout == f"lstm-inspect, version {lstm_inspect.__version__}\n"
    out = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "gates" in out.stdout and "layers" in out.stdout
