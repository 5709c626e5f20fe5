"""Each labelled slice holds exactly the columns Keras's own get_weights() puts under
that gate, for every sample model in every file form.

The expected blocks (``gates/<path>/<role>/<gate>`` in sample_models/expected/*.npz)
were split by the generator with Keras's own order and checked there against real
Keras's layer outputs (manifest.json ``gate_label_checks``).
"""

import numpy as np
import pytest
from conftest import MODELS, SAMPLES, UNRECORDED, sample_params

import lstm_inspect


@pytest.mark.parametrize("sample", sample_params())
def test_slices_hold_keras_gate_columns(sample):
    model, gen, form, expected = sample.info, sample.gen, sample.form, sample.expected
    known = sample.runnable  # architecture known from a config (the file's or a companion)
    report = lstm_inspect.label_gates(sample.load())
    by_path = {r.layer.path: r for r in report.layers if r.layer.path not in UNRECORDED.get(sample.name, ())}
    want = model["recurrent_layers"][gen]
    # Without a config, paths come from weight names (legacy) or the names Keras 3
    # writes on its vars groups; they match the config's names here too.
    assert list(by_path) == [w["path"] for w in want]
    for info, layer in zip(want, report.layers):
        path = info["path"]
        v = layer.layer
        assert (v.units, v.input_dim, list(v.gate_order)) == (info["units"], info["input_dim"], info["gate_order"] or [])
        if known:
            assert v.class_name == info["class_name"]
            # A plain go_backwards layer reads the sequence backward: its direction says so.
            assert v.direction == ("backward" if info["go_backwards"] else "forward")
            assert (v.activation, v.recurrent_activation or None) == (
                info["activation"],
                info["recurrent_activation"] if info["gate_order"] else None,
            )
            assert (v.go_backwards, v.return_sequences, v.use_bias) == (
                info["go_backwards"], info["return_sequences"], info["use_bias"]
            )
            assert v.assumed == []
        roles = [w.role for w in layer.weights]
        assert roles == ["kernel", "recurrent_kernel", "bias"][: len(roles)]
        assert ("bias" in roles) == info["use_bias"]
        for w in layer.weights:
            stored = _stored(report.model, w.h5_path, form)
            np.testing.assert_array_equal(stored, expected[f"weights/{path}/{w.role}"])
            if not info["gate_order"]:
                (s,) = w.slices
                assert s.gate is None and (s.slice.start, s.slice.stop) == (0, stored.shape[-1])
                continue
            covered = {}
            for s in w.slices:
                block = expected[f"gates/{path}/{w.role}/{s.gate}"]
                if s.slice.row is not None:
                    block = block[s.slice.row]
                np.testing.assert_array_equal(s.slice.block(stored), block, err_msg=f"{path} {w.role} {s.gate}")
                covered[(s.slice.row, s.gate)] = True
            rows = 2 if stored.ndim == 2 and w.role == "bias" else 1
            assert len(covered) == rows * len(info["gate_order"])


def _stored(model, h5_path, form):
    """The array at h5_path, straight from the file with h5py (not through lstm_inspect)."""
    import io
    import zipfile

    import h5py

    path = model.file
    if form.endswith("_keras"):
        with zipfile.ZipFile(path) as zf:
            data = io.BytesIO(zf.read("model.weights.h5"))
        with h5py.File(data, "r") as f:
            return f[h5_path][()]
    with h5py.File(path, "r") as f:
        return f[h5_path][()]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_versions_and_formats(name):
    model = MODELS[name]
    formats = {
        "k2_h5": "keras-h5",
        "k2_weights_h5": "keras-h5-weights",
        "k2_keras": "keras-v3",
        "k3_h5": "keras-h5",
        "k3_keras": "keras-v3",
        "k3_weights_h5": "keras-v3-weights",
    }
    for form, fmt in formats.items():
        if form not in model["forms"]:
            continue
        m = lstm_inspect.load(SAMPLES / model["forms"][form])
        assert m.format == fmt
        assert m.keras_version == model["file_keras_versions"][form]


def test_hard_sigmoid_meaning_follows_the_writer():
    seed = MODELS["seed"]
    k2 = lstm_inspect.label_gates(lstm_inspect.load(SAMPLES / seed["forms"]["k2_h5"]))
    k3 = lstm_inspect.label_gates(lstm_inspect.load(SAMPLES / seed["forms"]["k3_keras"]))
    assert (k2.hard_sigmoid, k3.hard_sigmoid) == ("keras2", "keras3")
    forced = lstm_inspect.label_gates(lstm_inspect.load(SAMPLES / seed["forms"]["k2_h5"]), hard_sigmoid="keras3")
    assert forced.hard_sigmoid == "keras3"
