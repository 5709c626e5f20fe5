"""Option combinations of the activation, attention and convolution kinds that the sample
models do not reach. Every expected number was computed by real Keras (tf_keras 2.21 and
Keras 3.15.1, the generator's versions) on the inputs below and is copied here."""

import numpy as np
import pytest

from lstm_inspect.errors import ConfigError
from lstm_inspect.kinds.base import Call, Context
from lstm_inspect.kinds.registry import kind_of
from lstm_inspect.model import Layer, StoredArray

X = np.array([[-3.0, -1.0, -0.1, 0.0, 0.05, 0.1, 0.5, 2.0, 7.0]], np.float32)
S = np.array([[[1.0, 2.0, 3.0], [0.5, -1.0, 4.0]]], np.float32)
M = np.array([[[True, False, True], [False, False, False]]])


def _ctx(keras3: bool) -> Context:
    ctx = Context()
    ctx.keras3 = keras3
    return ctx


def _run(class_name, config, xs, masks=None, keras3=False, weights=(), kwargs=None):
    layer = Layer(name="l", class_name=class_name, path="l", config=dict(config),
                  weights=[StoredArray(f"w{k}", f"/w{k}", np.asarray(w, np.float32)) for k, w in enumerate(weights)])
    kind = kind_of(class_name)
    reason = kind.refuse(layer) if kind.refuse else None
    assert reason is None, reason
    outs, out_masks = kind.compute(layer, list(xs), list(masks or [None] * len(xs)), Call(list(xs), kwargs or {}),
                                   _ctx(keras3))
    return outs, out_masks


@pytest.mark.parametrize("keras3", [False, True])
def test_relu_max_value_with_threshold(keras3):
    (y,), _ = _run("ReLU", {"max_value": 1.5, "threshold": 0.1, "negative_slope": 0.0}, [X], keras3=keras3)
    np.testing.assert_allclose(y, [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 1.5, 1.5]], atol=1e-7)


@pytest.mark.parametrize("keras3", [False, True])
def test_relu_max_value_with_negative_slope(keras3):
    (y,), _ = _run("ReLU", {"max_value": 6.0, "negative_slope": 0.5}, [X], keras3=keras3)
    np.testing.assert_allclose(y, [[-1.5, -0.5, -0.05, 0.0, 0.05, 0.1, 0.5, 2.0, 6.0]], atol=1e-7)


def test_relu_all_three_options():
    # ReLU(max_value=2.5, threshold=0.1, negative_slope=0.2), identical in both generations
    x = np.array([[-3.0, -1.0, -0.1, 0.0, 0.05, 0.5, 2.0, 7.0]], np.float32)
    (y,), _ = _run("ReLU", {"max_value": 2.5, "threshold": 0.1, "negative_slope": 0.2}, [x])
    np.testing.assert_allclose(y, [[-0.62, -0.22, -0.04, -0.02, -0.01, 0.5, 2.0, 2.5]], atol=1e-7)


@pytest.mark.parametrize("config, keras3", [({}, False), ({}, True), ({"alpha": 0.3}, False),
                                            ({"negative_slope": 0.3}, True)])
def test_leaky_relu_default_slope_is_0_3_in_both_generations(config, keras3):
    (y,), _ = _run("LeakyReLU", config, [X], keras3=keras3)
    np.testing.assert_allclose(y, [[-0.9, -0.3, -0.03, 0.0, 0.05, 0.1, 0.5, 2.0, 7.0]], atol=1e-7)


@pytest.mark.parametrize("config", [{"alpha": 0.1}, {"alpha": 0.1, "negative_slope": 0.3}])
def test_leaky_relu_reads_keras3s_deprecated_alpha(config):
    # Keras 3 LeakyReLU.from_config({"alpha": 0.1}) uses 0.1 (alpha, when given, replaces negative_slope)
    (y,), _ = _run("LeakyReLU", config, [X], keras3=True)
    np.testing.assert_allclose(y, [[-0.3, -0.1, -0.01, 0.0, 0.05, 0.1, 0.5, 2.0, 7.0]], atol=1e-7)


def test_softmax_mask_keras3_zeroes_a_fully_masked_row():
    (y,), (mask,) = _run("Softmax", {"axis": -1}, [S], [M], keras3=True)
    np.testing.assert_allclose(y, [[[0.11920291, 0.0, 0.88079703], [0.0, 0.0, 0.0]]], atol=1e-7)
    assert mask is M


@pytest.mark.parametrize("robust", [False, True])
def test_softmax_mask_tf_keras_spreads_a_fully_masked_row(robust):
    # tf-keras adds -1e9 (robust_masking: sets -1e9): in float32 a fully masked row is uniform
    (y,), _ = _run("Softmax", {"axis": -1, "robust_masking": robust}, [S], [M], keras3=False)
    np.testing.assert_allclose(y, [[[0.11920291, 0.0, 0.88079703], [1 / 3, 1 / 3, 1 / 3]]], atol=1e-7)


def test_softmax_over_two_axes():
    (y,), _ = _run("Softmax", {"axis": [1, 2]}, [S])
    np.testing.assert_allclose(y, [[[0.031313855, 0.085119888, 0.23137984],
                                    [0.018992813, 0.0042378698, 0.62895560]]], atol=1e-7)


def test_softmax_refuses_a_mask_that_does_not_broadcast():
    with pytest.raises(ConfigError, match="does not broadcast"):
        _run("Softmax", {}, [S], [np.ones((1, 2), bool)])


def test_prelu_refuses_alpha_of_the_wrong_shape():
    with pytest.raises(ConfigError, match="alpha of shape"):
        _run("PReLU", {"shared_axes": [1]}, [S], weights=[np.ones((2, 3))])


@pytest.mark.parametrize("keras3", [False, True])
def test_attention_causal_mask_with_value_mask(keras3):
    """Attention()([q, v], use_causal_mask=True) with masks [q_mask, v_mask]: causal and value
    masks are combined; a masked query step is zero; the output mask is the query mask."""
    q = np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]], np.float32)
    v = np.array([[[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]]], np.float32)
    q_mask = np.array([[True, True, False]])
    v_mask = np.array([[True, False, True]])
    (y,), (mask,) = _run("Attention", {"use_scale": False, "score_mode": "dot"}, [q, v], [q_mask, v_mask],
                         keras3=keras3, kwargs={"use_causal_mask": True})
    # row 0 sees v0 only; row 1 sees v0 (v1 masked); row 2 is a masked query step
    np.testing.assert_allclose(y, [[[1.0, 2.0], [1.0, 2.0], [0.0, 0.0]]], atol=1e-6)
    assert mask is q_mask


def test_attention_refuses_an_unknown_score_mode():
    layer = Layer(name="l", class_name="Attention", path="l", config={"score_mode": "cosine"})
    assert kind_of("Attention").refuse(layer) == "score_mode='cosine' is not supported"


def test_rescaling_drops_the_mask_in_tf_keras_and_passes_it_in_keras3():
    """Masking -> Rescaling -> LSTM: tf_keras 2.21 leaves no mask on Rescaling's output (it does
    not support masking), Keras 3.15.1 passes it on (checked with real Keras)."""
    x = np.ones((1, 4, 2), np.float32)
    mask = np.array([[True, True, False, False]])
    (y,), (k2_mask,) = _run("Rescaling", {"scale": 2.0, "offset": -0.5}, [x], [mask], keras3=False)
    _, (k3_mask,) = _run("Rescaling", {"scale": 2.0, "offset": -0.5}, [x], [mask], keras3=True)
    np.testing.assert_array_equal(y, np.full((1, 4, 2), 1.5, np.float32))
    assert k2_mask is None and k3_mask is mask


H = np.arange(2 * 5 * 4, dtype=np.float32).reshape(2, 5, 4)


@pytest.mark.parametrize("spec, expected", [
    ([{"start": None, "stop": None, "step": None}, -1], H[:, -1]),
    ([{"start": None, "stop": None, "step": None}, {"class_name": "__ellipsis__"}, {"start": 1, "stop": 3, "step": None}],
     H[:, ..., 1:3]),
    ([{"start": None, "stop": None, "step": None}, {"start": None, "stop": None, "step": 2}, 0], H[:, ::2, 0]),
])
def test_slicing_op_lambda(spec, expected):
    (y,), _ = _run("SlicingOpLambda", {"function": "__operators__.getitem"}, [H], kwargs={"slice_spec": spec})
    np.testing.assert_array_equal(y, expected)


def test_keras3_get_item_takes_slices_as_recorded():
    layer = Layer(name="get_item", class_name="GetItem", path="get_item", config={"name": "get_item"})
    from lstm_inspect.kinds.registry import kind_for

    key = [{"class_name": "__slice__", "config": {"start": None, "stop": None, "step": None}},
           {"class_name": "__slice__", "config": {"start": 1, "stop": 3, "step": None}}]
    (y,), _ = kind_for(layer).compute(layer, [H], [None], Call([H, key], {}), _ctx(True))
    np.testing.assert_array_equal(y, H[:, 1:3])


@pytest.mark.parametrize("function, kwargs, phrase", [
    ("math.reduce_mean", {"axis": 0}, "batch axis"),
    ("math.reduce_sum", {}, "every axis"),
    ("__operators__.getitem", {"slice_spec": [0]}, "batch axis"),
    ("__operators__.getitem", {"slice_spec": [{"start": None, "stop": None, "step": None}, {"class_name": "__newaxis__"}]},
     "not supported"),
])
def test_tf_op_forms_refused_by_name(function, kwargs, phrase):
    from lstm_inspect.errors import UnsupportedError

    with pytest.raises(UnsupportedError, match=phrase):
        _run("TFOpLambda", {"function": function}, [H], kwargs=kwargs)


def test_an_unknown_tf_function_is_refused_before_it_runs():
    layer = Layer(name="tf.math.cumsum", class_name="TFOpLambda", path="tf.math.cumsum", config={"function": "math.cumsum"})
    reason = kind_of("TFOpLambda").refuse(layer)
    assert reason.startswith("tf.math.cumsum is not computed by lstm-inspect")


def _mha_layer(use_bias=True):
    r = np.random.RandomState(0)
    shapes = [(4, 2, 3), (2, 3), (4, 2, 3), (2, 3), (4, 2, 3), (2, 3), (2, 3, 4), (4,)]
    weights = [r.normal(size=s).astype(np.float32) for s in shapes]
    return weights if use_bias else weights[0::2]


def test_keras3_multi_head_attention_refuses_a_masked_input_another_layer_reads():
    """Keras 3.15.1's MultiHeadAttention.call clears its inputs' masks (set_keras_mask(x, None)):
    a later reader of the same tensor sees none (measured on a real model: three of four
    attentions sharing one masked Embedding output computed unmasked). Refused, never guessed."""
    from lstm_inspect.errors import UnsupportedError

    q, v = np.ones((1, 5, 4), np.float32), np.ones((1, 6, 4), np.float32)
    q_mask = np.array([[True, True, True, False, False]])
    layer = Layer(name="mha", class_name="MultiHeadAttention", path="mha", config={"num_heads": 2, "key_dim": 3},
                  weights=[StoredArray(f"w{k}", f"/w{k}", w) for k, w in enumerate(_mha_layer())])
    kind = kind_of("MultiHeadAttention")
    call = Call([q, v], {}, {id(q): q_mask, id(v): None}, {id(q)})
    with pytest.raises(UnsupportedError, match="Keras 3 clears the masks of its inputs"):
        kind.compute(layer, [q], [q_mask], call, _ctx(True))
    # tf-keras reads the masks without clearing them: computed
    (y,), (mask,) = kind.compute(layer, [q], [q_mask], call, _ctx(False))
    assert y.shape == (1, 5, 4) and mask.tolist() == q_mask.tolist()
    # an unmasked shared input is computed in Keras 3 too
    (y3,), _ = kind.compute(layer, [q], [None], Call([q, v], {}, {}, {id(q)}), _ctx(True))
    np.testing.assert_allclose(y3, y, atol=1e-6)


@pytest.mark.parametrize("key, value", [("use_gate", True), ("sliding_window", 4), ("attention_axes", [1, 2]),
                                        ("output_shape", [2, 3])])
def test_multi_head_attention_options_not_computed_are_refused_by_name(key, value):
    from lstm_inspect.kinds.base import key_refusal

    reason = key_refusal(kind_of("MultiHeadAttention"), {"num_heads": 2, "key_dim": 3, key: value})
    assert reason.startswith(f"{key}=") and reason.endswith("is not supported")
