"""Convolution, pooling and ConvLSTM in numpy equal Keras: against real Keras outputs where a
sample model exists, otherwise against direct loops written here (one output element at a time,
out-of-range taps skipped instead of padded) and hand-computed numbers for TF's "same" split."""

import dataclasses
import itertools

import numpy as np
import pytest
from conftest import MODELS, SAMPLES

import lstm_inspect
from lstm_inspect.errors import UnsupportedError
from lstm_inspect.kinds.conv_lstm import run_conv_lstm
from lstm_inspect.kinds.ops import avg_pool, conv, conv1d, conv2d, crop1d, flip_kernel, max_pool, zero_pad1d
from lstm_inspect.model import StoredArray

RNG = np.random.RandomState(7)
GENERATIONS = [("k2", "k2_h5", "keras2"), ("k3", "k3_keras", "keras3")]


def _rand(*shape):
    return RNG.normal(size=shape).astype(np.float32)


# --------------------------------------------------------------------------- direct loops


def _out_positions(size, reach, stride, padding):
    """Output positions and the input index of each one's first tap."""
    if padding == "valid":
        n = (size - reach) // stride + 1
        return [(o, o * stride) for o in range(n)]
    n = -(-size // stride)
    left = max((n - 1) * stride + reach - size, 0) // 2  # TF puts the odd pad on the right
    return [(o, o * stride - left) for o in range(n)]


def naive_conv(x, kernel, bias=None, strides=None, padding="valid", dilation=None, groups=1):
    """x (B, *spatial, C), kernel (*k, C/groups, F), one output element at a time."""
    n = kernel.ndim - 2
    strides = strides or (1,) * n
    dilation = dilation or (1,) * n
    k = kernel.shape[:n]
    c_g, filters = kernel.shape[-2], kernel.shape[-1]
    f_g = filters // groups
    axes = [
        _out_positions(x.shape[1 + a], dilation[a] * (k[a] - 1) + 1, strides[a], padding) for a in range(n)
    ]
    y = np.zeros((x.shape[0], *[len(p) for p in axes], filters), np.float64)
    for b in range(x.shape[0]):
        for pos in itertools.product(*axes):
            out_index = tuple(o for o, _ in pos)
            for f in range(filters):
                g = f // f_g
                total = 0.0 if bias is None else float(bias[f])
                for tap in itertools.product(*[range(kk) for kk in k]):
                    src = tuple(start + t * d for (_, start), t, d in zip(pos, tap, dilation))
                    if all(0 <= s < x.shape[1 + a] for a, s in enumerate(src)):
                        for c in range(c_g):
                            total += float(x[(b, *src, g * c_g + c)]) * float(kernel[(*tap, c, f)])
                y[(b, *out_index, f)] = total
    return y.astype(np.float32)


def naive_pool(x, window, strides, padding, kind):
    n = x.ndim - 2
    axes = [_out_positions(x.shape[1 + a], window[a], strides[a], padding) for a in range(n)]
    y = np.zeros((x.shape[0], *[len(p) for p in axes], x.shape[-1]), np.float32)
    for b in range(x.shape[0]):
        for pos in itertools.product(*axes):
            for ch in range(x.shape[-1]):
                values = []
                for tap in itertools.product(*[range(w) for w in window]):
                    src = tuple(start + t for (_, start), t in zip(pos, tap))
                    if all(0 <= s < x.shape[1 + a] for a, s in enumerate(src)):
                        values.append(x[(b, *src, ch)])
                y[(b, *[o for o, _ in pos], ch)] = max(values) if kind == "max" else np.mean(values)
    return y


# --------------------------------------------------------------------------- Keras's own numbers


@pytest.mark.parametrize("gen, form, flavour", GENERATIONS)
def test_conv_lstm2d_equals_keras(gen, form, flavour):
    model = lstm_inspect.load(SAMPLES / MODELS["conv_lstm2d"]["forms"][form])
    expected = np.load(SAMPLES / MODELS["conv_lstm2d"]["expected"][gen])
    (view,) = [v for v in lstm_inspect.recurrent_layers(model) if v.path == "convlstm"]
    trace = run_conv_lstm(view, expected["input/0"], hard_sigmoid=flavour)
    assert trace.output.dtype == np.float32
    np.testing.assert_allclose(trace.output, expected["layer/convlstm/0"], atol=1e-5)
    i, f, c_hat, o = (trace.gates[g] for g in "ifco")
    assert i.shape == trace.cell.shape == trace.hidden.shape == (2, 3, 6, 6, 3)
    c_prev = np.concatenate([np.zeros_like(trace.cell[:, :1]), trace.cell[:, :-1]], axis=1)
    np.testing.assert_allclose(trace.cell, f * c_prev + i * c_hat, atol=1e-6)
    np.testing.assert_allclose(trace.hidden, o * np.tanh(trace.cell), atol=1e-6)
    np.testing.assert_allclose(trace.states["h"], trace.hidden[:, -1])


@pytest.mark.parametrize("gen, form, flavour", GENERATIONS)
def test_conv1d_equals_keras(gen, form, flavour):
    model = lstm_inspect.load(SAMPLES / MODELS["conv1d_lstm"]["forms"][form])
    expected = np.load(SAMPLES / MODELS["conv1d_lstm"]["expected"][gen])
    (layer,) = [layer for layer in model.walk() if layer.path == "conv"]
    c = layer.config
    y = conv1d(
        expected["input/0"], layer.weights[0].value, layer.weights[1].value,
        strides=c["strides"], padding=c["padding"], dilation_rate=c["dilation_rate"],
    )
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected["layer/conv/0"], atol=1e-5)


# --------------------------------------------------------------------------- ConvLSTM variants


def _sample_conv_lstm(**changes):
    """The conv_lstm2d sample's layer with other settings, and Keras's own per-gate blocks."""
    model = lstm_inspect.load(SAMPLES / MODELS["conv_lstm2d"]["forms"]["k2_h5"])
    expected = np.load(SAMPLES / MODELS["conv_lstm2d"]["expected"]["k2"])
    (view,) = lstm_inspect.recurrent_layers(model)
    config = {**view.config, **changes.pop("config", {})}
    blocks = {
        role: {g: expected[f"gates/convlstm/{role}/{g}"] for g in "ifco"}
        for role in ("kernel", "recurrent_kernel", "bias")
    }
    return dataclasses.replace(view, config=config, **changes), blocks


def naive_conv_lstm(blocks, x, strides, padding, dilation, go_backwards=False, mask=None):
    """Keras's ConvLSTM2D step on Keras's per-gate blocks, with hard_sigmoid = clip(0.2x+0.5)."""
    def sig(v):
        return np.clip(0.2 * v + 0.5, 0, 1)

    W, U, b = blocks["kernel"], blocks["recurrent_kernel"], blocks["bias"]
    steps = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    h = c = None
    hs = []
    for t in steps:
        xg = {g: naive_conv(x[:, t], W[g], b[g], strides, padding, dilation) for g in "ifco"}
        if h is None:
            h = np.zeros_like(xg["i"])
            c = np.zeros_like(xg["i"])
        hg = {g: naive_conv(h, U[g], None, (1, 1), "same") for g in "ifco"}
        i, f, o = sig(xg["i"] + hg["i"]), sig(xg["f"] + hg["f"]), sig(xg["o"] + hg["o"])
        c_new = f * c + i * np.tanh(xg["c"] + hg["c"])
        h_new = o * np.tanh(c_new)
        if mask is not None:
            m = mask[:, t, None, None, None]
            c_new, h_new = np.where(m, c_new, c), np.where(m, h_new, h)
        h, c = h_new, c_new
        hs.append(h)
    return np.stack(hs, axis=1)


@pytest.mark.parametrize(
    "padding, strides, dilation",
    [("valid", (1, 1), (1, 1)), ("valid", (2, 2), (1, 1)), ("same", (2, 1), (1, 1)), ("valid", (1, 1), (2, 2)),
     ("same", (1, 1), (2, 1))],
)
def test_conv_lstm_strides_padding_dilation(padding, strides, dilation):
    view, blocks = _sample_conv_lstm(
        config={"padding": padding, "strides": list(strides), "dilation_rate": list(dilation)},
        return_sequences=True,
    )
    x = _rand(2, 3, 7, 6, 2)
    trace = run_conv_lstm(view, x)
    np.testing.assert_allclose(trace.output, naive_conv_lstm(blocks, x, strides, padding, dilation), atol=1e-5)


def test_conv_lstm_go_backwards_and_mask():
    view, blocks = _sample_conv_lstm(go_backwards=True, return_sequences=True)
    x = _rand(3, 4, 5, 5, 2)
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [0, 1, 1, 0]], bool)
    trace = run_conv_lstm(view, x, mask=mask)
    assert list(trace.steps) == [3, 2, 1, 0]
    expected = naive_conv_lstm(blocks, x, (1, 1), "same", (1, 1), go_backwards=True, mask=mask)
    np.testing.assert_allclose(trace.output, expected, atol=1e-5)
    np.testing.assert_allclose(trace.states["h"], expected[:, -1], atol=1e-5)


def test_conv_lstm_1d_is_2d_with_one_row():
    view2d, _ = _sample_conv_lstm(config={"padding": "same"}, return_sequences=True)
    w = view2d.canonical()
    row = {role: (a[1] if a.ndim == 4 else a) for role, a in w.items()}  # middle kernel row, (3, C, 4f)
    one_row = {role: (a[None] if a.ndim == 3 else a) for role, a in row.items()}  # (1, 3, C, 4f)

    def with_arrays(arrays, class_name):
        stored = [
            dataclasses.replace(s, array=StoredArray(s.array.name, s.array.h5_path, arrays[s.role]))
            for s in view2d.stored
        ]
        config = dict(view2d.config)
        if class_name == "ConvLSTM1D":
            config.update(kernel_size=[3], strides=[1], dilation_rate=[1])
        return dataclasses.replace(view2d, stored=stored, class_name=class_name, config=config)

    x = _rand(2, 3, 1, 6, 2)
    y2 = run_conv_lstm(with_arrays(one_row, "ConvLSTM2D"), x).output
    y1 = run_conv_lstm(with_arrays(row, "ConvLSTM1D"), x[:, :, 0]).output
    np.testing.assert_allclose(y1, y2[:, :, 0], atol=1e-6)


@pytest.mark.parametrize("key, value", [("data_format", "channels_first"), ("dim_ordering", "th")])
def test_conv_lstm_channels_first_is_refused(key, value):
    view, _ = _sample_conv_lstm(config={key: value})
    if key == "dim_ordering":
        view.config.pop("data_format")
    with pytest.raises(UnsupportedError, match="'convlstm'.*channels_first"):
        run_conv_lstm(view, _rand(1, 2, 6, 6, 2))


# --------------------------------------------------------------------------- convolutions vs loops


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize(
    "length, k, stride, dilation, groups",
    [(7, 3, 1, 1, 1), (8, 3, 2, 1, 1), (5, 2, 2, 1, 1), (9, 2, 1, 3, 1), (6, 4, 3, 1, 1), (7, 3, 1, 1, 2),
     (8, 2, 2, 1, 3)],
)
def test_conv1d_matches_loops(padding, length, k, stride, dilation, groups):
    c_in, filters = 2 * groups, 2 * groups
    x, kernel, bias = _rand(2, length, c_in), _rand(k, c_in // groups, filters), _rand(filters)
    y = conv1d(x, kernel, bias, strides=stride, padding=padding, dilation_rate=dilation, groups=groups)
    np.testing.assert_allclose(y, naive_conv(x, kernel, bias, (stride,), padding, (dilation,), groups), atol=1e-5)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize(
    "shape, k, strides, dilation",
    [((5, 6), (3, 3), (1, 1), (1, 1)), ((7, 5), (2, 3), (2, 2), (1, 1)), ((6, 7), (3, 2), (1, 3), (1, 1)),
     ((7, 7), (3, 3), (1, 1), (2, 2)), ((6, 5), (2, 2), (1, 1), (1, 2))],
)
def test_conv2d_matches_loops(padding, shape, k, strides, dilation):
    x, kernel, bias = _rand(2, *shape, 3), _rand(*k, 3, 4), _rand(4)
    y = conv2d(x, kernel, bias, strides=strides, padding=padding, dilation_rate=dilation)
    np.testing.assert_allclose(y, naive_conv(x, kernel, bias, strides, padding, dilation), atol=1e-5)


def test_conv3d_through_the_generic_conv_matches_loops():
    x, kernel = _rand(1, 4, 5, 3, 2), _rand(2, 3, 2, 2, 3)
    for padding, strides in (("same", (2, 1, 2)), ("valid", (1, 2, 1))):
        y = conv(x, kernel, None, strides=strides, padding=padding)
        np.testing.assert_allclose(y, naive_conv(x, kernel, None, strides, padding), atol=1e-5)


def test_same_padding_puts_the_odd_pad_on_the_right():
    # length 5, kernel 2, stride 2: out 3, one pad in total, on the right -> windows [0,1] [2,3] [4,pad]
    x = np.arange(5, dtype=np.float32).reshape(1, 5, 1)
    y = conv1d(x, np.ones((2, 1, 1), np.float32), None, strides=2, padding="same")
    np.testing.assert_array_equal(y[0, :, 0], [1, 5, 4])
    # length 4, kernel 4, stride 1: three pads, one left and two right
    x = np.array([1, 2, 3, 4], np.float32).reshape(1, 4, 1)
    kernel = np.array([1, 10, 100, 1000], np.float32).reshape(4, 1, 1)
    np.testing.assert_array_equal(conv1d(x, kernel, padding="same")[0, :, 0], [3210, 4321, 432, 43])
    # 2-D: each axis split on its own
    x = np.arange(10, dtype=np.float32).reshape(1, 2, 5, 1)
    y = conv2d(x, np.ones((1, 2, 1, 1), np.float32), None, strides=(1, 2), padding="same")
    np.testing.assert_array_equal(y[0, :, :, 0], [[1, 5, 4], [11, 15, 9]])


def test_causal_padding_is_on_the_left():
    x = np.array([1, 2, 3, 4], np.float32).reshape(1, 4, 1)
    kernel = np.array([1, 10], np.float32).reshape(2, 1, 1)  # y_t = x_{t-d} + 10 x_t
    np.testing.assert_array_equal(conv1d(x, kernel, padding="causal")[0, :, 0], [10, 21, 32, 43])
    np.testing.assert_array_equal(conv1d(x, kernel, padding="causal", dilation_rate=2)[0, :, 0], [10, 20, 31, 42])
    np.testing.assert_array_equal(conv1d(x, kernel, padding="causal", strides=2)[0, :, 0], [10, 32])


def test_flip_kernel_turns_a_true_convolution_into_cross_correlation():
    x, theano_kernel = _rand(1, 5, 6, 2), _rand(3, 2, 2, 4)
    # Theano's conv2d (true convolution): y[p] = sum_t x[p + t] * K[k - 1 - t]
    reference = naive_conv(x, theano_kernel[::-1, ::-1].copy())
    np.testing.assert_allclose(conv2d(x, flip_kernel(theano_kernel)), reference, atol=1e-5)
    np.testing.assert_array_equal(flip_kernel(flip_kernel(theano_kernel)), theano_kernel)
    k1 = _rand(3, 2, 5)
    np.testing.assert_array_equal(flip_kernel(k1), k1[::-1])
    k_lstm = _rand(3, 3, 2, 12)  # ConvLSTM2D: channels and gate columns stay where they are
    np.testing.assert_array_equal(flip_kernel(k_lstm)[0, 2], k_lstm[2, 0])


# --------------------------------------------------------------------------- pooling vs loops


@pytest.mark.parametrize("kind, pool", [("max", max_pool), ("avg", avg_pool)])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize(
    "shape, window, strides",
    [((7,), (2,), (2,)), ((5,), (3,), (1,)), ((8,), (3,), (2,)), ((5, 6), (2, 2), (2, 2)), ((5, 7), (3, 2), (1, 3)),
     ((3, 4, 5), (2, 2, 2), (2, 1, 2))],
)
def test_pooling_matches_loops(kind, pool, padding, shape, window, strides):
    x = _rand(2, *shape, 3) - 5.0  # all negative: a zero pad would win a max
    y = pool(x, window, strides, padding)
    np.testing.assert_allclose(y, naive_pool(x, window, strides, padding, kind), atol=1e-6)


def test_pooling_same_edges_and_default_strides():
    x = np.array([-1, -2, -3, -4, -5], np.float32).reshape(1, 5, 1)
    np.testing.assert_array_equal(max_pool(x, (2,), (2,), "same")[0, :, 0], [-1, -3, -5])
    np.testing.assert_array_equal(avg_pool(x, (2,), (2,), "same")[0, :, 0], [-1.5, -3.5, -5])
    np.testing.assert_array_equal(max_pool(x, 2)[0, :, 0], [-1, -3])  # strides default to pool_size


# --------------------------------------------------------------------------- padding and cropping


def test_zero_pad1d_and_crop1d():
    x = _rand(2, 5, 3)
    assert zero_pad1d(x).shape == (2, 7, 3)
    padded = zero_pad1d(x, (2, 1))
    assert padded.shape == (2, 8, 3)
    np.testing.assert_array_equal(padded[:, 2:7], x)
    assert not padded[:, :2].any() and not padded[:, 7:].any()
    np.testing.assert_array_equal(crop1d(x), x[:, 1:4])
    np.testing.assert_array_equal(crop1d(x, (2, 0)), x[:, 2:])
    np.testing.assert_array_equal(crop1d(x, 2), x[:, 2:3])
    np.testing.assert_array_equal(crop1d(zero_pad1d(x, (3, 2)), (3, 2)), x)
    with pytest.raises(lstm_inspect.LstmInspectError):
        crop1d(x, (3, 2))


def test_conv_lstm_config_that_does_not_fit_names_the_layer():
    view, _ = _sample_conv_lstm(config={"strides": [1, 1, 1]})
    with pytest.raises(lstm_inspect.ConfigError, match="layer 'convlstm'.*strides"):
        run_conv_lstm(view, _rand(1, 2, 6, 6, 2))
    with pytest.raises(lstm_inspect.ConfigError, match="'convlstm'.*2 channels"):
        run_conv_lstm(view, _rand(1, 2, 6, 6, 3))
