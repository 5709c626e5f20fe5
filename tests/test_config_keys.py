"""Every config key honoured exactly or refused by name (issue 10's principle).

Each kind declares the keys it reads and the values it honours (``Kind.keys``, see
``kinds/base.py``). These tests walk the registry: every computed kind declares its keys,
every key of every sample model's config is declared by its kind, and every key real Keras
writes for a default instance of each class (``tests/data/keras_config_keys.json``, dumped
from tf_keras 2.21 and Keras 3.15 ``get_config()``) is declared too. Then the refusal
itself: ``layers`` and ``run`` say the same thing, by name, before anything runs.
"""

import json
import re
import zipfile

import pytest
from conftest import ROOT, SAMPLES, invoke, samples

import lstm_inspect
from lstm_inspect.errors import UnsupportedError
from lstm_inspect.forward.executor import run_model
from lstm_inspect.kinds import base
from lstm_inspect.kinds.registry import all_kinds, kind_for, kind_of
from lstm_inspect.kinds.rnn import CELLS

KERAS_KEYS = json.loads((ROOT / "tests" / "data" / "keras_config_keys.json").read_text())


def _declared(kind, key: str) -> bool:
    return key in (kind.keys or {}) or key in base.COMMON or key in base.HARMLESS or key.endswith(base.HARMLESS_SUFFIXES)


def test_every_computed_kind_declares_its_keys():
    undeclared = sorted(k.name for k in all_kinds() if k.compute is not None and k.keys is None)
    assert undeclared == [], f"kinds that compute but declare no config keys: {undeclared}"


@pytest.mark.parametrize("sample", [pytest.param(s, id=s.id) for s in samples() if s.config or "weights" not in s.form])
def test_every_key_of_every_sample_is_declared(sample):
    model = sample.load()
    missing = []
    for layer in model.walk():
        kind = kind_for(layer)
        if kind is None or kind.compute is None:
            continue
        missing += [f"{layer.path} ({layer.class_name}): {key}" for key in layer.config if not _declared(kind, key)]
    assert missing == []


@pytest.mark.parametrize("writer", sorted(k for k in KERAS_KEYS if k != "about"))
def test_every_key_real_keras_writes_is_declared(writer):
    missing = []
    for class_name, keys in KERAS_KEYS[writer].items():
        kind = kind_of("RNN") if class_name in CELLS else kind_of(class_name)
        if kind is None or kind.compute is None:
            continue
        missing += [f"{class_name}: {key}" for key in keys if key != "cell" and not _declared(kind, key)]
    assert missing == [], f"keys {writer} writes that no declaration covers"


def test_a_kind_without_declarations_is_not_checked_at_run_time():
    kind = base.Kind(names=("X",), family="core", compute=None, output_shape=None, refusal="is not supported")
    assert base.key_refusal(kind, {"anything": 1}) is None


@pytest.mark.parametrize("rule, value, honoured", [
    (base.ANY, "whatever", True),
    (("channels_last", None), "channels_last", True),
    (("channels_last", None), None, True),
    (("channels_last", None), "channels_first", False),
    ((False, None), 0, False),  # a bool rule is not met by an int
    ((0, None), 0.0, True),
    (base.float32_dtype, {"class_name": "DTypePolicy", "config": {"name": "mixed_float16"}}, False),
    (base.float32_dtype, {"class_name": "Policy", "config": {"name": "float32"}}, True),
    (base.float32_dtype, "float16", False),
])
def test_rules(rule, value, honoured):
    kind = base.Kind(names=("X",), family="core", compute=None, output_shape=None, keys={"k": rule})
    assert (base.key_refusal(kind, {"k": value}) is None) == honoured


# ------------------------------------------------------------------------------ refusal by name


def _edited(tmp_path, name, edit):
    """The sample ``name``'s Keras 3 file with ``edit(config)`` applied to its config."""
    from conftest import MODELS

    path = tmp_path / f"{name}.keras"
    with zipfile.ZipFile(SAMPLES / MODELS[name]["forms"]["k3_keras"]) as original, zipfile.ZipFile(path, "w") as out:
        for member in original.namelist():
            data = original.read(member)
            if member == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            out.writestr(member, data)
    return path


def _layer_config(config, name):
    for entry in config["config"]["layers"]:
        if entry["config"].get("name") == name:
            return entry["config"]
    raise KeyError(name)


def test_an_unhonoured_value_is_refused_by_name_in_run_and_layers(runner, tmp_path):
    path = _edited(tmp_path, "stacked_lstm", lambda c: _layer_config(c, "lstm_b").update(recurrent_activation="softmax"))
    model = lstm_inspect.load(path)
    with pytest.raises(UnsupportedError) as e:
        run_model(model, [__import__("numpy").zeros((1, 5, 3), "float32")])
    assert "layer 'lstm_b' (LSTM): recurrent_activation='softmax' is not supported" in str(e.value)
    result = invoke(runner, ["layers", path, "--json"])
    rows = {r["path"]: r for r in json.loads(result.stdout)["layers"]}
    assert rows["lstm_b"]["runnable"] is False
    assert rows["lstm_b"]["reason"] == "recurrent_activation='softmax' is not supported"


def test_an_unknown_key_is_refused_by_name(tmp_path):
    path = _edited(tmp_path, "stacked_lstm", lambda c: _layer_config(c, "dense").update(lora_rank=4, peephole=True))
    with pytest.raises(UnsupportedError, match=r"layer 'dense' \(Dense\): lora_rank=4 is not supported"):
        run_model(lstm_inspect.load(path), [__import__("numpy").zeros((1, 5, 3), "float32")])


@pytest.mark.parametrize("layer, change, reason", [
    ("lstm_a", {"recurrent_activation": "hard_sigmoid"},
     "recurrent_activation='hard_sigmoid' with dtype='mixed_float16' is not supported (in float16: linear, relu, sigmoid, tanh)"),
    ("lstm_a", {"implementation": 1}, "implementation=1 with dtype='mixed_float16' is not supported"),
    ("dense", {"activation": "softmax"},
     "activation='softmax' with dtype='mixed_float16' is not supported (in float16: linear, relu, sigmoid, tanh)"),
])
def test_a_float16_layer_computed_otherwise_than_checked_is_refused_by_name(tmp_path, layer, change, reason):
    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "mixed_float16"}}
    path = _edited(tmp_path, "stacked_lstm", lambda c: _layer_config(c, layer).update(dtype=policy, **change))
    kind = "LSTM" if layer.startswith("lstm") else "Dense"
    with pytest.raises(UnsupportedError, match=re.escape(f"layer '{layer}' ({kind}): {reason}")):
        run_model(lstm_inspect.load(path), [__import__("numpy").zeros((1, 5, 3), "float32")])


def test_a_float16_layer_of_a_kind_not_computed_in_float16_is_refused_by_name(tmp_path):
    path = _edited(tmp_path, "conv1d_lstm", lambda c: _layer_config(c, "conv").update(dtype="float16"))
    with pytest.raises(UnsupportedError, match=r"layer 'conv' \(Conv1D\): dtype='float16' is not supported"):
        run_model(lstm_inspect.load(path), [__import__("numpy").zeros((1, 8, 2), "float32")])


def test_a_refused_layer_after_until_does_not_stop_the_run(tmp_path):
    path = _edited(tmp_path, "stacked_lstm", lambda c: _layer_config(c, "dense").update(quantization_config={"x": 1}))
    result = run_model(lstm_inspect.load(path), [__import__("numpy").zeros((1, 5, 3), "float32")], until="lstm_b")
    assert result.stopped_at == "lstm_b"
