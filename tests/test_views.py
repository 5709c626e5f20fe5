"""``run --view heatmap|table``: the terminal heatmaps (exact output with and without
colour, the default view, binning checked against numpy on the trace, masked steps,
narrowing), and the views on the real Keras files."""

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, expected_npz, invoke, realworld

import lstm_inspect
from lstm_inspect.reports.run import run_report
from lstm_inspect.reports.selection import Selection
from lstm_inspect.reports.views import HEATMAP_STEPS, bin_mean, default_view, layer_grids, scale_for

SEED = ["run", "sample_models/seed.h5", "--input", "sample_models/seed_input.json"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(autouse=True)
def _in_repository_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def _is_table(out):
    return re.search(r"^ *step +t +unit", out, flags=re.M) is not None


def _masking_input(tmp_path):
    path = tmp_path / "masking.npy"
    np.save(path, expected_npz("masking", "k2")["input/0"])
    return path


def _long_input(tmp_path, steps, features=3, name="long.npy"):
    path = tmp_path / name
    np.save(path, np.random.default_rng(steps).standard_normal((1, steps, features)).astype(np.float32))
    return path


MASKED_GRU = """\
sample_models/k2/masking.h5  keras-h5 · Keras 2.21.0 · backend tensorflow

gru  GRU · forward · sample 2 · units 0:2 of 2 · steps 0:6
activation tanh · recurrent_activation sigmoid
each character: one unit at one step; units down, input time t across
input 'input'   0 [ ░▒▓█] 1.9
   0 ░
   1 █
   2 ▓
z  update gate   0 [ ░▒▓█] 1
   0 ▓▓▓▓▓▓
   1 ░░░░░░
mask  *****
   t 0    5
r  reset gate   0 [ ░▒▓█] 1
   0 ▒▒▒▒▒▒
   1 ▒▒▒▒▒▒
mask  *****
   t 0    5
h  candidate   -1 [ ░▒▓█] 1
   0 ░░░░░░
   1 ▓▓▓▓▓▓
mask  *****
   t 0    5
hidden  hidden state   -1 [ ░▒▓█] 1
   0 ▒▒▒▒▒▒
   1 ▓▓▓▓▓▓
mask  *****
   t 0    5
mask: * all steps of the column masked, - some (state and output carried over)

output 0  shape (3, 1)  sample 2
[-0.215405]
"""


def test_heatmap_without_colour_is_shades_with_masked_steps_marked(runner, tmp_path):
    """Sample 2 of the masking model has steps 1 to 5 masked (its input is zero there)."""
    args = ["run", "sample_models/k2/masking.h5", "--input", _masking_input(tmp_path), "--view", "heatmap",
            "--sample", "2", "--layer", "gru"]
    result = invoke(runner, args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == MASKED_GRU
    assert result.stderr == ""


COLOUR_SEED = [
    '\x1b[1msample_models/seed.h5  keras-h5 · Keras 2.21.0 · backend tensorflow\x1b[0m',
    '',
    '\x1b[1;36mlstm  LSTM · forward · sample 0 · units 1:3 of 3 · steps 1:3\x1b[0m',
    'activation tanh · recurrent_activation hard_sigmoid = clip(0.2*x + 0.5, 0, 1)',
    '\x1b[2meach half character: one unit at one step; units down, input time t across\x1b[0m',
    "\x1b[1minput 'input'\x1b[0m   0 \x1b[38;2;68;6;89m█\x1b[0m\x1b[38;2;70;28;108m█\x1b[0m\x1b[38;2;70;50;125m█\x1b[0m\x1b[38;2;64;68;133m█\x1b[0m\x1b[38;2;57;86;139m█\x1b[0m\x1b[38;2;50;102;141m█\x1b[0m\x1b[38;2;43;118;142m█\x1b[0m\x1b[38;2;37;133;141m█\x1b[0m 0.405 \x1b[38;2;34;149;138m█\x1b[0m\x1b[38;2;37;163;132m█\x1b[0m\x1b[38;2;47;177;124m█\x1b[0m\x1b[38;2;74;191;109m█\x1b[0m\x1b[38;2;104;203;92m█\x1b[0m\x1b[38;2;143;213;67m█\x1b[0m\x1b[38;2;183;221;47m█\x1b[0m\x1b[38;2;223;227;41m█\x1b[0m 0.81",
    '   0 \x1b[38;2;223;227;41m▀\x1b[0m\x1b[38;2;243;230;38m▀\x1b[0m',
    '\x1b[1mi  input gate\x1b[0m   0 \x1b[38;2;68;6;89m█\x1b[0m\x1b[38;2;70;28;108m█\x1b[0m\x1b[38;2;70;50;125m█\x1b[0m\x1b[38;2;64;68;133m█\x1b[0m\x1b[38;2;57;86;139m█\x1b[0m\x1b[38;2;50;102;141m█\x1b[0m\x1b[38;2;43;118;142m█\x1b[0m\x1b[38;2;37;133;141m█\x1b[0m 0.5 \x1b[38;2;34;149;138m█\x1b[0m\x1b[38;2;37;163;132m█\x1b[0m\x1b[38;2;47;177;124m█\x1b[0m\x1b[38;2;74;191;109m█\x1b[0m\x1b[38;2;104;203;92m█\x1b[0m\x1b[38;2;143;213;67m█\x1b[0m\x1b[38;2;183;221;47m█\x1b[0m\x1b[38;2;223;227;41m█\x1b[0m 1',
    '   1 \x1b[38;2;40;126;141;48;2;37;163;132m▀▀\x1b[0m',
    '   t 1',
    '\x1b[1mf  forget gate\x1b[0m   0 \x1b[38;2;68;6;89m█\x1b[0m\x1b[38;2;70;28;108m█\x1b[0m\x1b[38;2;70;50;125m█\x1b[0m\x1b[38;2;64;68;133m█\x1b[0m\x1b[38;2;57;86;139m█\x1b[0m\x1b[38;2;50;102;141m█\x1b[0m\x1b[38;2;43;118;142m█\x1b[0m\x1b[38;2;37;133;141m█\x1b[0m 0.5 \x1b[38;2;34;149;138m█\x1b[0m\x1b[38;2;37;163;132m█\x1b[0m\x1b[38;2;47;177;124m█\x1b[0m\x1b[38;2;74;191;109m█\x1b[0m\x1b[38;2;104;203;92m█\x1b[0m\x1b[38;2;143;213;67m█\x1b[0m\x1b[38;2;183;221;47m█\x1b[0m\x1b[38;2;223;227;41m█\x1b[0m 1',
    '   1 \x1b[38;2;87;198;102;48;2;124;208;79m▀▀\x1b[0m',
    '   t 1',
    '\x1b[1mc  cell candidate\x1b[0m   -1 \x1b[38;2;9;56;109m█\x1b[0m\x1b[38;2;27;90;156m█\x1b[0m\x1b[38;2;47;120;181m█\x1b[0m\x1b[38;2;69;149;196m█\x1b[0m\x1b[38;2;119;180;213m█\x1b[0m\x1b[38;2;164;206;227m█\x1b[0m\x1b[38;2;203;226;238m█\x1b[0m\x1b[38;2;229;239;244m█\x1b[0m 0 \x1b[38;2;248;243;240m█\x1b[0m\x1b[38;2;252;225;210m█\x1b[0m\x1b[38;2;249;197;171m█\x1b[0m\x1b[38;2;243;163;128m█\x1b[0m\x1b[38;2;224;120;95m█\x1b[0m\x1b[38;2;204;76;67m█\x1b[0m\x1b[38;2;181;31;46m█\x1b[0m\x1b[38;2;138;11;37m█\x1b[0m 1',
    '   1 \x1b[38;2;247;180;149;48;2;248;243;240m▀\x1b[0m\x1b[38;2;247;180;149;48;2;250;234;224m▀\x1b[0m',
    '   t 1',
    '\x1b[1mo  output gate\x1b[0m   0 \x1b[38;2;68;6;89m█\x1b[0m\x1b[38;2;70;28;108m█\x1b[0m\x1b[38;2;70;50;125m█\x1b[0m\x1b[38;2;64;68;133m█\x1b[0m\x1b[38;2;57;86;139m█\x1b[0m\x1b[38;2;50;102;141m█\x1b[0m\x1b[38;2;43;118;142m█\x1b[0m\x1b[38;2;37;133;141m█\x1b[0m 0.5 \x1b[38;2;34;149;138m█\x1b[0m\x1b[38;2;37;163;132m█\x1b[0m\x1b[38;2;47;177;124m█\x1b[0m\x1b[38;2;74;191;109m█\x1b[0m\x1b[38;2;104;203;92m█\x1b[0m\x1b[38;2;143;213;67m█\x1b[0m\x1b[38;2;183;221;47m█\x1b[0m\x1b[38;2;223;227;41m█\x1b[0m 1',
    '   1 \x1b[38;2;40;126;141;48;2;40;126;141m▀▀\x1b[0m',
    '   t 1',
    '\x1b[1mcell  cell state\x1b[0m   -0.35 \x1b[38;2;9;56;109m█\x1b[0m\x1b[38;2;27;90;156m█\x1b[0m\x1b[38;2;47;120;181m█\x1b[0m\x1b[38;2;69;149;196m█\x1b[0m\x1b[38;2;119;180;213m█\x1b[0m\x1b[38;2;164;206;227m█\x1b[0m\x1b[38;2;203;226;238m█\x1b[0m\x1b[38;2;229;239;244m█\x1b[0m 0 \x1b[38;2;248;243;240m█\x1b[0m\x1b[38;2;252;225;210m█\x1b[0m\x1b[38;2;249;197;171m█\x1b[0m\x1b[38;2;243;163;128m█\x1b[0m\x1b[38;2;224;120;95m█\x1b[0m\x1b[38;2;204;76;67m█\x1b[0m\x1b[38;2;181;31;46m█\x1b[0m\x1b[38;2;138;11;37m█\x1b[0m 0.35',
    '   1 \x1b[38;2;193;53;57;48;2;252;225;210m▀\x1b[0m\x1b[38;2;115;4;33;48;2;252;214;193m▀\x1b[0m',
    '   t 1',
    '\x1b[1mhidden  hidden state\x1b[0m   -1 \x1b[38;2;9;56;109m█\x1b[0m\x1b[38;2;27;90;156m█\x1b[0m\x1b[38;2;47;120;181m█\x1b[0m\x1b[38;2;69;149;196m█\x1b[0m\x1b[38;2;119;180;213m█\x1b[0m\x1b[38;2;164;206;227m█\x1b[0m\x1b[38;2;203;226;238m█\x1b[0m\x1b[38;2;229;239;244m█\x1b[0m 0 \x1b[38;2;248;243;240m█\x1b[0m\x1b[38;2;252;225;210m█\x1b[0m\x1b[38;2;249;197;171m█\x1b[0m\x1b[38;2;243;163;128m█\x1b[0m\x1b[38;2;224;120;95m█\x1b[0m\x1b[38;2;204;76;67m█\x1b[0m\x1b[38;2;181;31;46m█\x1b[0m\x1b[38;2;138;11;37m█\x1b[0m 1',
    '   1 \x1b[38;2;250;234;224;48;2;248;243;240m▀\x1b[0m\x1b[38;2;252;225;210;48;2;248;243;240m▀\x1b[0m',
    '   t 1',
    '',
    '\x1b[1moutput 0  shape (1, 1)  sample 0\x1b[0m',
    '[0.00732]',
]


def test_heatmap_with_colour_is_half_blocks_in_truecolor(runner, monkeypatch):
    monkeypatch.setenv("COLORTERM", "truecolor")
    result = invoke(runner, ["--color", *SEED, "--view", "heatmap", "--units", "1:3", "--steps", "1:3"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == COLOUR_SEED
    # Units 1 and 2 share a line: foreground the upper (unit 1), background the lower (unit 2).
    assert "\x1b[38;2;" in result.stdout and ";48;2;" in result.stdout and "▀" in result.stdout


def test_colour_levels_follow_the_trace(runner, monkeypatch):
    """Each half block's colours are the scale's colours of the values at that step."""
    from lstm_inspect.reports.heatmap import _LUTS, LEVELS

    monkeypatch.setenv("COLORTERM", "truecolor")
    result = invoke(runner, ["--color", *SEED, "--view", "heatmap", "--units", "0:2"])
    model = lstm_inspect.load("sample_models/seed.h5")
    report = run_report(model, "sample_models/seed_input.json", Selection(samples=[0]))
    f = report.result.traces[0].trace.gates["f"][0]  # (steps, units)
    line = result.stdout.splitlines()[result.stdout.splitlines().index(
        next(x for x in result.stdout.splitlines() if "forget gate" in x)) + 1]
    pairs = re.findall(r"\x1b\[38;2;(\d+);(\d+);(\d+);48;2;(\d+);(\d+);(\d+)m(▀+)", line)
    cells = [tuple(map(int, p[:6])) for p in pairs for _ in p[6]]
    lut = _LUTS["sequential"]
    want = [tuple(lut[min(int(f[t, 0] * LEVELS), LEVELS - 1)]) + tuple(lut[min(int(f[t, 1] * LEVELS), LEVELS - 1)])
            for t in range(3)]
    assert cells == want


def test_the_default_view_is_the_table_up_to_the_line_and_the_heatmap_beyond(runner, tmp_path):
    short = _long_input(tmp_path, HEATMAP_STEPS, features=1, name="short.npy")
    long = _long_input(tmp_path, HEATMAP_STEPS + 1, features=1)
    table = invoke(runner, ["run", "sample_models/seed.h5", "--input", short])
    heatmap = invoke(runner, ["run", "sample_models/seed.h5", "--input", long])
    assert table.exit_code == heatmap.exit_code == 0
    assert _is_table(table.stdout) and "input gate" not in table.stdout
    assert "i  input gate" in heatmap.stdout and not _is_table(heatmap.stdout)
    # --steps narrows what is shown, and the view follows what is shown
    narrowed = invoke(runner, ["run", "sample_models/seed.h5", "--input", long, "--steps", "0:10"])
    assert _is_table(narrowed.stdout)
    forced = invoke(runner, ["run", "sample_models/seed.h5", "--input", short, "--view", "heatmap"])
    assert "i  input gate" in forced.stdout
    forced = invoke(runner, ["run", "sample_models/seed.h5", "--input", long, "--view", "table"])
    assert _is_table(forced.stdout)


def test_the_table_keeps_its_unit_cap_and_the_heatmap_shows_every_unit():
    model = lstm_inspect.load("sample_models/k2/stacked_lstm.h5")
    x = np.random.default_rng(0).standard_normal((1, 10, 3)).astype(np.float32)
    report = run_report(model, x, Selection(samples=[0]))
    assert [st.units for st in report.selected] == [(0, 4), (0, 3)]
    assert default_view(report, max_units=2) == "table"
    assert [st.units for st in report.selected] == [(0, 2), (0, 2)]
    assert report.notes[-1] == "showing units 0:2 of up to 4; use --units A:B to see others"
    x = np.random.default_rng(0).standard_normal((1, HEATMAP_STEPS + 1, 3)).astype(np.float32)
    report = run_report(model, x, Selection(samples=[0]))
    assert default_view(report, max_units=2) == "heatmap"
    assert [st.units for st in report.selected] == [(0, 4), (0, 3)]


def test_binning_is_the_mean_per_bin(runner, tmp_path, monkeypatch):
    """201 steps in 60 columns (a gutter of 5 leaves 55): 4 steps a column, the last
    column holds one; each shade is the mean of its bin, computed here with numpy from
    the run's trace."""
    monkeypatch.setenv("COLUMNS", "60")
    x = _long_input(tmp_path, 201)
    result = invoke(runner, ["run", "sample_models/k2/stacked_lstm.h5", "--input", x, "--layer", "lstm_a"])
    assert result.exit_code == 0, result.stderr
    assert "each character: the mean of 4 steps × 1 unit" in result.stdout.replace("\n", " ")
    model = lstm_inspect.load("sample_models/k2/stacked_lstm.h5")
    trace = lstm_inspect.run_model(model, [np.load(x)]).traces[0].trace
    f = trace.gates["f"][0].astype(np.float64)  # (201, 4)
    padded = np.full((204, 4), np.nan)
    padded[:201] = f
    means = np.nanmean(padded.reshape(51, 4, 4), axis=1)  # the last bin holds 1 step
    lines = result.stdout.splitlines()
    start = lines.index(next(x for x in lines if x.startswith("f  forget gate"))) + 1
    for unit in range(4):
        shades = "".join(" ░▒▓█"[min(int(v * 5), 4)] for v in means[:, unit]).rstrip()
        assert lines[start + unit] == f"{unit:>4} {shades}"


def test_bin_mean_and_grids_match_numpy():
    a = np.random.default_rng(1).standard_normal((7, 23)).astype(np.float32)
    got = bin_mean(bin_mean(a, 5, 1), 3, 0)
    want = np.array([[a[r : r + 3, c : c + 5].mean() for c in range(0, 23, 5)] for r in range(0, 7, 3)])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    model = lstm_inspect.load("sample_models/k2/bidir_concat.h5")
    report = run_report(model, expected_npz("bidir_concat", "k2")["input/0"], Selection(samples=[1]))
    backward = next(st for st in report.selected if st.layer.view.direction == "backward")
    grids = layer_grids(backward)
    assert list(grids.times) == sorted(backward.steps)  # input time, not processing order
    hidden = next(g for g in grids.grids if g.name == "hidden")
    trace = backward.layer.trace
    np.testing.assert_array_equal(hidden.values, trace.hidden[1][np.argsort(trace.steps)].T)


def test_scales():
    assert scale_for(np.array([0.1, 0.9]), (0.0, 1.0)).kind == "sequential"
    assert (scale_for(np.array([-0.5, 0.9]), (-1.0, 1.0)).lo, scale_for(np.array([0.5]), (-1.0, 1.0)).hi) == (-1, 1)
    cell = scale_for(np.array([-2.31, 0.4]), None)
    assert (cell.kind, cell.lo, cell.hi) == ("diverging", -2.4, 2.4)
    relu_gate = scale_for(np.array([0.0, 3.3]), None)  # recurrent_activation relu: not a gate scale
    assert (relu_gate.kind, relu_gate.hi) == ("diverging", 3.3)


def test_narrowing_options_apply_to_the_heatmap(runner, tmp_path):
    x = _long_input(tmp_path, 100)
    result = invoke(runner, ["run", "sample_models/k2/stacked_lstm.h5", "--input", x, "--layer", "lstm_a",
                             "--units", "1:3", "--steps", "20:50", "--view", "heatmap"])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "lstm_a  LSTM · forward · sample 0 · units 1:3 of 4 · steps 20:50" in out
    assert "lstm_b" not in out
    lines = out.splitlines()
    start = lines.index(next(x for x in lines if x.startswith("i  input gate")))
    assert [line[:5] for line in lines[start + 1 : start + 4]] == ["   1 ", "   2 ", "   t "]
    assert "each character: one unit at one step" in out  # 30 steps fit: no binning
    assert len(lines[start + 1]) <= 5 + 30
    assert lines[start + 3].startswith("   t 20")


def test_view_is_refused_with_json(runner):
    result = invoke(runner, [*SEED, "--json", "--view", "heatmap"])
    assert result.exit_code == 2
    assert "--view chooses the terminal view" in result.stderr


def test_every_sample_model_renders_a_heatmap(runner, tmp_path):
    from conftest import samples

    for sample in samples(forms=["k3_keras"], runnable=True):
        arrays = sample.inputs()
        path = tmp_path / f"{sample.name}.npz"
        np.savez(path, **{spec["name"]: a for spec, a in zip(sample.info["inputs"], arrays)})
        result = invoke(runner, ["run", sample.path, "--input", path, "--view", "heatmap"])
        assert result.exit_code == 0, (sample.id, result.stderr)
        assert "output 0" in result.stdout, sample.id


REAL = ["k1_dl4j_bidirectional_lstm_tf.h5", "k2_medaka_test_model_bigru.hdf5", "k2_poreplex_demux_r3_bilstm.hdf5",
        "tfk1_dl4j_rnn_141_bilstm_relu_recact.h5", "tfk1_poreplex_demux_r4_rnn_lstmcell.hdf5"]


def _real_input(model, tmp_path):
    from lstm_inspect.forward.signature import input_signature

    ((_, shape, _),) = input_signature(model)
    x = np.random.default_rng(0).standard_normal((1, *[d or 100 for d in shape[1:]])).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    return tmp_path / "x.npy", x


@pytest.mark.parametrize("name", REAL)
def test_views_on_real_files(runner, tmp_path, name, monkeypatch):
    path = realworld(name)
    model = lstm_inspect.load(path)
    x_path, x = _real_input(model, tmp_path)
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.chdir(Path(path).parent)  # the title line names the file: short, whatever the clone's path
    path = Path(path).name
    result = invoke(runner, ["run", path, "--input", x_path])
    assert result.exit_code == 0, result.stderr
    view = "heatmap" if x.shape[1] > HEATMAP_STEPS else "table"
    assert ("each character:" in result.stdout) == (view == "heatmap"), name
    if view == "heatmap":  # every unit, binned to the terminal
        units = {v.path: v.units for v in lstm_inspect.recurrent_layers(model)}
        for path_, n in units.items():
            assert f"{path_}  " in result.stdout and f"units 0:{n} of {n}" in result.stdout
        assert max(len(line) for line in result.stdout.splitlines()) <= 120
    heat = invoke(runner, ["run", path, "--input", x_path, "--view", "heatmap"])
    assert heat.exit_code == 0, heat.stderr
    assert "input gate" in heat.stdout or "update gate" in heat.stdout


def test_nan_cells_are_marked(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    x = np.random.default_rng(0).standard_normal((1, 80, 3)).astype(np.float32)
    x[0, 10:20, 1] = np.nan
    np.save(tmp_path / "nan.npy", x)
    result = invoke(runner, ["run", "sample_models/k2/stacked_lstm.h5", "--input", tmp_path / "nan.npy",
                             "--layer", "lstm_a"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    k = lines.index(next(x for x in lines if x.startswith("input 'input'")))
    assert lines[k].endswith(" · ? NaN")
    assert lines[k + 2][5:].index("?" * 10) == 10  # steps 10 to 19, one column a step
