"""``run --plot`` and ``gates --plot``: files in each format (size, magic bytes), the
figures' own image data against the trace and the weights, atomic writes, and the one
error line without matplotlib."""

import builtins
import re
import sys

import numpy as np
import pytest
from conftest import ROOT, assert_one_error, expected_npz, invoke, realworld, sample_params

import lstm_inspect
from lstm_inspect.reports.run import run_report
from lstm_inspect.reports.selection import Selection

pytest.importorskip("matplotlib", reason="the plot extra is not installed: pip install 'lstm-inspect[plot]'")

from lstm_inspect.reports.plot import _keys, gates_figures, run_figures, save_run_plot

MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-", ".svg": b"<?xml"}
SEED = ["run", "sample_models/seed.h5", "--input", "sample_models/seed_input.json"]


@pytest.fixture(autouse=True)
def _in_repository_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def _check_file(path, minimum=2000):
    data = path.read_bytes()
    assert len(data) >= minimum, (path, len(data))
    assert data.startswith(MAGIC[path.suffix]), data[:16]
    if path.suffix == ".svg":
        assert b"<svg" in data[:2000]
    leftovers = [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def _images(fig):
    """Every heatmap's image array by its axes' gid (``<layer path>/<quantity>``)."""
    return {ax.get_gid(): np.asarray(ax.images[0].get_array()) for ax in fig.axes if ax.images}


def _axes(fig, gid):
    (ax,) = [ax for ax in fig.axes if ax.get_gid() == gid]
    return ax


def _title(fig, path):
    (text,) = [t for t in fig.texts if t.get_gid() == f"{path}/title"]
    return text.get_text()


#: Sample models whose plots are also written to a file (drawing takes matplotlib about a
#: second a figure): every cell kind, masks, both directions, ConvLSTM; every format.
WRITTEN = {"seed": ".png", "gru_reset_after": ".svg", "simple_rnn": ".pdf", "conv_lstm2d": ".png",
           "masking": ".pdf", "bidir_concat": ".svg"}


@pytest.mark.parametrize("sample", sample_params(forms=["k3_keras"], runnable=True))
def test_each_sample_model_plots_its_trace(sample, tmp_path):
    """The figure's image arrays are the trace (units down, input time across); for the
    models of WRITTEN the file is written in the format its suffix names."""
    model = sample.load()
    report = run_report(model, sample.inputs(), Selection(samples=[0]))
    (fig,) = run_figures(report)
    images = _images(fig)
    keys = _keys([st.layer.path for st in report.selected])
    quantities = {k for k in images if "/input/" not in k}
    assert quantities == {f"{key}/{name}" for key, st in zip(keys, report.selected) for name in st.values}
    for key, st in zip(keys, report.selected):
        order = np.argsort(st.steps, kind="stable")
        for name, values in st.values.items():
            np.testing.assert_array_equal(images[f"{key}/{name}"], values[0][order].T, err_msg=(sample.id, name))
        v = st.layer.view
        assert _title(fig, key).startswith(f"{v.path} · {v.class_name}")
        assert f"{v.units} units" in _title(fig, key)
    if sample.name in WRITTEN:
        out = tmp_path / f"plot{WRITTEN[sample.name]}"
        save_run_plot(out, report)
        _check_file(out)


def test_run_plot_from_the_command_line(runner, tmp_path):
    for suffix in (".png", ".svg", ".pdf"):
        out = tmp_path / f"seed{suffix}"
        result = invoke(runner, [*SEED, "--plot", out])
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith("sample_models/seed.h5")  # the terminal view is still shown
        _check_file(out)


def test_plot_shows_every_unit_and_shades_masked_steps(tmp_path):
    model = lstm_inspect.load("sample_models/k2/masking.h5")
    x = expected_npz("masking", "k2")["input/0"]
    report = run_report(model, x, Selection(samples=[2], units=(0, 1)))
    (fig,) = run_figures(report, Selection(samples=[2]))  # the plot's own narrowing: every unit
    assert _title(fig, "lstm") == "lstm · LSTM · 3 units · forward · sample 2"
    gate = _axes(fig, "lstm/i")
    assert gate.images[0].get_array().shape == (3, 6)
    (hatched,) = [p for p in gate.patches if p.get_hatch()]  # steps 1 to 5, one span
    x0 = hatched.get_x()
    assert (x0, x0 + hatched.get_width()) == (pytest.approx(0.5), pytest.approx(5.5))
    assert "masked" in _axes(fig, "lstm/hidden").get_xlabel()
    np.testing.assert_array_equal(_images(fig)["lstm/input/input"], x[2].T)


def test_plot_pdf_has_a_page_per_layer():
    model = lstm_inspect.load("sample_models/k2/stacked_lstm.h5")
    report = run_report(model, expected_npz("stacked_lstm", "k2")["input/0"], Selection(samples=[0]))
    figures = run_figures(report, pages=True)
    assert [{t.get_gid() for t in f.texts} for f in figures] == [{"lstm_a/title"}, {"lstm_b/title"}]


def test_gates_plot_draws_each_matrix_with_gate_columns(runner, tmp_path):
    model = lstm_inspect.load("sample_models/k2/gru_reset_after.h5")
    report = lstm_inspect.label_gates(model)
    (fig,) = gates_figures(report)
    (layer,) = report.layers
    canonical = layer.layer.canonical()
    assert _title(fig, "gru") == "gru · GRU · 4 units · forward"
    for role in ("kernel", "recurrent_kernel", "bias"):
        ax = _axes(fig, f"gru/{role}")
        assert ax.get_title(loc="left").startswith(role)
        np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), canonical[role].reshape(-1, 12))
        assert [line.get_xdata()[0] for line in ax.lines] == [3.5, 7.5]  # boundaries after z and r
        (top,) = ax.child_axes  # gate letters over their columns
        assert [t.get_text() for t in top.get_xticklabels()] == ["z update", "r reset", "h cand"]
        assert list(top.get_xticks()) == [1.5, 5.5, 9.5]
    out = tmp_path / "gates.png"
    result = invoke(runner, ["gates", "sample_models/k2/gru_reset_after.h5", "--plot", out])
    assert result.exit_code == 0, result.stderr
    _check_file(out)


@pytest.mark.parametrize("command", [SEED, ["gates", "sample_models/seed.h5"]])
def test_plot_refuses_other_suffixes_and_the_files_it_reads(runner, command, tmp_path):
    assert_one_error(invoke(runner, [*command, "--plot", tmp_path / "x.jpg"]), "--plot writes .png, .svg or .pdf")
    model = tmp_path / "model.png"  # a model file whose name a plot could have
    model.write_bytes((ROOT / "sample_models/seed.h5").read_bytes())
    result = invoke(runner, [command[0], model, *command[2:], "--plot", model])
    assert_one_error(result, "refusing to overwrite", file=str(model))
    assert model.read_bytes() == (ROOT / "sample_models/seed.h5").read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["model.png"]


def test_without_matplotlib_one_error_line_with_the_install_command(runner, monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    for key in [k for k in sys.modules if k == "matplotlib" or k.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, key)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    for command in (SEED, ["gates", "sample_models/seed.h5"]):
        result = invoke(runner, [*command, "--plot", tmp_path / "x.png"])
        assert_one_error(result, "--plot needs matplotlib", "pip install 'lstm-inspect[plot]'")
        assert not (tmp_path / "x.png").exists()


def test_plots_of_real_files(runner, tmp_path):
    """A Bidirectional GRU(128) x 2 over 1,000 steps (every unit, backward directions in
    input time), and the weights of four LSTMs with relu recurrent activations as PDF pages."""
    from lstm_inspect.forward.signature import input_signature

    path = realworld("k2_medaka_test_model_bigru.hdf5")
    model = lstm_inspect.load(path)
    ((_, shape, _),) = input_signature(model)
    x = np.random.default_rng(0).standard_normal((1, *[d or 100 for d in shape[1:]])).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "run.png"
    result = invoke(runner, ["run", path, "--input", tmp_path / "x.npy", "--plot", out])
    assert result.exit_code == 0, result.stderr
    _check_file(out, minimum=100_000)
    path = realworld("tfk1_dl4j_rnn_141_bilstm_relu_recact.h5")
    result = invoke(runner, ["gates", path, "--plot", tmp_path / "gates.pdf"])
    assert result.exit_code == 0, result.stderr
    _check_file(tmp_path / "gates.pdf")
    assert len(re.findall(rb"/Type /Page(?!s)", (tmp_path / "gates.pdf").read_bytes())) == 4  # a page per layer
