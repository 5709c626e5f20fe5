"""``compare`` on PyTorch ports (``nn.GRU``, ``nn.LSTM``, ``nn.RNN``) of the sample
models, and on an ONNX port run through onnxruntime, each with a catalogued mistake made
the way people make it; skipped where torch (or onnx/onnxruntime) is not installed."""

import h5py
import numpy as np
import pytest
from conftest import SAMPLES, expected_npz

import lstm_inspect
from lstm_inspect.reports.compare import compare_port

torch = pytest.importorskip("torch", reason="PyTorch ports need torch (pip install torch)")


def _keras(name, path):
    npz = expected_npz(name, "k2")
    return [npz[f"weights/{path}/{k}"] for k in ("kernel", "recurrent_kernel", "bias") if f"weights/{path}/{k}" in npz]


def _dense(name, path="dense"):
    with h5py.File(SAMPLES / "k2" / f"{name}.h5", "r") as f:
        return [f[f"model_weights/{path}/{path}/{k}:0"][()] for k in ("kernel", "bias")]


def _blocks(a, order, keras="zrh"):
    parts = dict(zip(keras, np.split(a, len(keras), axis=-1)))
    return np.concatenate([parts[g] for g in order], axis=-1)


def _set(module, **params):
    with torch.no_grad():
        for name, value in params.items():
            getattr(module, name).copy_(torch.from_numpy(np.array(value, dtype=np.float32)))


def _compare(name, x, arrays):
    return compare_port(lstm_inspect.load(SAMPLES / "k2" / f"{name}.h5"), x, arrays)


def _ids(report):
    return [[m.id for m in e] for e in report.diagnosis.explanations]


@pytest.mark.parametrize("swap, summed, expected", [
    (True, False, None), (False, False, "gate-order:rzh"), (True, True, "gru-bias-summed")])
def test_torch_gru(swap, summed, expected):
    K, U, b = _keras("gru_reset_after", "gru")
    order = "rzh" if swap else "zrh"
    gru = torch.nn.GRU(3, 4, batch_first=True)
    b_ih, b_hh = (b[0] + b[1], 0 * b[1]) if summed else (b[0], b[1])
    _set(gru, weight_ih_l0=_blocks(K, order).T, weight_hh_l0=_blocks(U, order).T,
         bias_ih_l0=_blocks(b_ih, order), bias_hh_l0=_blocks(b_hh, order))
    dense = torch.nn.Linear(4, 2)
    W, c = _dense("gru_reset_after")
    _set(dense, weight=W.T, bias=c)
    x = expected_npz("gru_reset_after", "k2")["input/0"]
    with torch.no_grad():
        seq, _ = gru(torch.from_numpy(x.copy()))
        y = dense(seq)
    report = _compare("gru_reset_after", x, {"gru/hidden": seq.numpy(), "output/0": y.numpy()})
    if expected is None:
        assert report.matches, report.first
        return
    assert (report.first.layer, report.first.step) == ("gru", 0)
    assert _ids(report) == [[expected]]


@pytest.mark.parametrize("bias_twice", [False, True])
def test_torch_stacked_lstm(bias_twice):
    x = expected_npz("stacked_lstm", "k2")["input/0"]
    h = torch.from_numpy(x.copy())
    arrays = {}
    for path, units, inputs in (("lstm_a", 4, 3), ("lstm_b", 3, 4)):
        K, U, b = _keras("stacked_lstm", path)
        lstm = torch.nn.LSTM(inputs, units, batch_first=True)
        _set(lstm, weight_ih_l0=K.T, weight_hh_l0=U.T, bias_ih_l0=b,
             bias_hh_l0=b if bias_twice and path == "lstm_a" else 0 * b)
        with torch.no_grad():
            h, _ = lstm(h)
        arrays[f"{path}/hidden"] = h.numpy()
    report = _compare("stacked_lstm", x, arrays)
    if not bias_twice:
        assert report.matches, report.first
        return
    assert (report.first.layer, report.first.step) == ("lstm_a", 0)
    assert [[(m.id, m.layer) for m in e] for e in report.diagnosis.explanations] == [[("bias-twice", "lstm_a")]]


@pytest.mark.parametrize("kernel_as_is", [False, True])
def test_torch_simple_rnn(kernel_as_is):
    """nn.RNN takes a (3, 3) kernel without a transpose silently: the shapes agree."""
    K, U, b = _keras("simple_rnn", "rnn")
    rnn = torch.nn.RNN(3, 3, batch_first=True)
    _set(rnn, weight_ih_l0=K if kernel_as_is else K.T, weight_hh_l0=U.T, bias_ih_l0=b, bias_hh_l0=0 * b)
    x = expected_npz("simple_rnn", "k2")["input/0"]
    with torch.no_grad():
        seq, _ = rnn(torch.from_numpy(x.copy()))
    report = _compare("simple_rnn", x, {"rnn/hidden": seq.numpy()})
    if not kernel_as_is:
        assert report.matches, report.first
        return
    assert (report.first.layer, report.first.step) == ("rnn", 0)
    assert _ids(report) == [["kernel-transposed"]]


@pytest.mark.parametrize("swapped", [False, True])
def test_torch_bidirectional(swapped):
    fwd, bwd = _keras("bidir_concat", "bi/forward_lstm"), _keras("bidir_concat", "bi/backward_lstm")
    if swapped:
        fwd, bwd = bwd, fwd
    lstm = torch.nn.LSTM(2, 3, batch_first=True, bidirectional=True)
    for suffix, (K, U, b) in (("", fwd), ("_reverse", bwd)):
        _set(lstm, **{f"weight_ih_l0{suffix}": K.T, f"weight_hh_l0{suffix}": U.T, f"bias_ih_l0{suffix}": b,
                      f"bias_hh_l0{suffix}": 0 * b})
    x = expected_npz("bidir_concat", "k2")["input/0"]
    with torch.no_grad():
        seq, _ = lstm(torch.from_numpy(x.copy()))
    report = _compare("bidir_concat", x, {"bi/output": seq.numpy()})
    if not swapped:
        assert report.matches, report.first
        return
    assert report.first.layer == "bi"
    assert [[(m.id, m.layer) for m in e] for e in report.diagnosis.explanations] == [[("directions-swapped", "bi")]]


@pytest.mark.parametrize("linear_before_reset", [1, 0])
def test_onnx_gru_port(linear_before_reset, tmp_path):
    onnx = pytest.importorskip("onnx", reason="building an ONNX port needs onnx")
    pytest.importorskip("onnxruntime", reason="running an ONNX port needs onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    K, U, b = _keras("gru_reset_after", "gru")
    W, c = _dense("gru_reset_after")
    inits = [numpy_helper.from_array(np.asarray(v, np.float32), name) for name, v in (
        ("W", K.T[None]), ("R", U.T[None]), ("B", np.concatenate([b[0], b[1]])[None]), ("Wd", W), ("bd", c))]
    inits.append(numpy_helper.from_array(np.array([1, 0, 2], np.int64), "perm"))
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
        helper.make_node("GRU", ["xt", "W", "R", "B"], ["Y"], hidden_size=4, linear_before_reset=linear_before_reset),
        helper.make_node("Squeeze", ["Y", "one"], ["Ys"]),
        helper.make_node("Transpose", ["Ys"], ["seq"], perm=[1, 0, 2]),
        helper.make_node("MatMul", ["seq", "Wd"], ["yd"]),
        helper.make_node("Add", ["yd", "bd"], ["y"]),
    ]
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "one"))
    graph = helper.make_graph(nodes, "port", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, None, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], ir_version=8)
    path = tmp_path / "port.onnx"
    onnx.save(model, path)
    x = expected_npz("gru_reset_after", "k2")["input/0"]
    from lstm_inspect.reports.ports import read_port

    report = _compare("gru_reset_after", x, read_port(str(path), [x]))
    if linear_before_reset:
        assert report.matches, report.first
        return
    assert report.first.key == "output/0"
    assert _ids(report) == [["gru-reset-after:false"]]


@pytest.mark.parametrize("reordered", [True, False])
def test_onnx_stacked_lstm_port(reordered, tmp_path):
    """ONNX LSTM blocks are i, o, f, c: a port that leaves Keras's i, f, c, o in place
    reads them in ONNX's order (``gate-order:iofc``); only the model output is compared."""
    onnx = pytest.importorskip("onnx", reason="building an ONNX port needs onnx")
    pytest.importorskip("onnxruntime", reason="running an ONNX port needs onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    from lstm_inspect.reports.ports import read_port

    inits, nodes, h = [], [helper.make_node("Transpose", ["x"], ["x0"], perm=[1, 0, 2])], "x0"
    for k, (path, units) in enumerate((("lstm_a", 4), ("lstm_b", 3))):
        K, U, b = _keras("stacked_lstm", path)
        order = "iofc" if reordered else "ifco"
        for name, v in ((f"W{k}", _blocks(K, order, "ifco").T[None]), (f"R{k}", _blocks(U, order, "ifco").T[None]),
                        (f"B{k}", np.concatenate([_blocks(b, order, "ifco"), 0 * b])[None])):
            inits.append(numpy_helper.from_array(np.asarray(v, np.float32), name))
        nodes.append(helper.make_node("LSTM", [h, f"W{k}", f"R{k}", f"B{k}"], [f"Y{k}", f"Yh{k}"], hidden_size=units))
        nodes.append(helper.make_node("Squeeze", [f"Y{k}", "one"] if k == 0 else [f"Yh{k}", "zero"], [f"h{k}"]))
        h = f"h{k}"
    W, c = _dense("stacked_lstm")
    inits += [numpy_helper.from_array(np.asarray(W, np.float32), "Wd"), numpy_helper.from_array(np.asarray(c, np.float32), "bd"),
              numpy_helper.from_array(np.array([1], np.int64), "one"),
              numpy_helper.from_array(np.array([0], np.int64), "zero")]
    nodes += [helper.make_node("MatMul", [h, "Wd"], ["yd"]), helper.make_node("Add", ["yd", "bd"], ["y"])]
    graph = helper.make_graph(nodes, "port", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, None, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    path = tmp_path / "port.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], ir_version=8), path)
    x = expected_npz("stacked_lstm", "k2")["input/0"]
    report = _compare("stacked_lstm", x, read_port(str(path), [x]))
    if reordered:
        assert report.matches, report.first
        return
    assert report.first.key == "output/0"
    assert [[(m.id, m.layer) for m in e] for e in report.diagnosis.explanations] == [
        [("gate-order:iofc", "lstm_a"), ("gate-order:iofc", "lstm_b")]]
    assert report.diagnosis.combination
