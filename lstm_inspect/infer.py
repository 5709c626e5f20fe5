"""Layers recognised from weights alone, for weights-only files given without a config.

Kinds and units come from shapes (a recurrent kernel of (u, 4u) is an LSTM, (u, 3u)
a GRU, (u, u) a SimpleRNN; a bias of 8u or 6u is CuDNN's), directions from the
``forward_``/``backward_`` names Bidirectional gives its halves. Activations are
then the writer's defaults, and every layer says it was inferred.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .errors import ConfigError
from .model import Layer, StoredArray

_KERAS1_NAME = re.compile(r"^(?P<prefix>.*?)_?(?P<kind>[WUb])_(?P<gate>[a-z])$")


def short_name(array: StoredArray) -> str:
    """``bidirectional_1/forward_lstm_1/kernel:0`` -> ``kernel``."""
    return array.name.split("/")[-1].split(":")[0]


def infer_legacy(stored: Dict[str, List[StoredArray]], file: str) -> List[Layer]:
    """One Layer per weight group of a legacy weights-only file."""
    layers = []
    for name, arrays in stored.items():
        layers.append(_infer_group(name, arrays, file))
    return layers


def _infer_group(name: str, arrays: List[StoredArray], file: str) -> Layer:
    if not arrays:
        return Layer(name=name, class_name="?", path=name, inferred=True)
    runs = _recurrent_runs(arrays)
    if runs is None:
        return Layer(name=name, class_name=_guess_plain(arrays), path=name, weights=arrays, inferred=True)
    if len(runs) == 1:
        return _recurrent_layer(name, name, runs[0], file, go_backwards=False)
    if len(runs) == 2:
        names = [_scope(run, name) for run in runs]
        if names[0].startswith("forward") and names[1].startswith("backward"):
            wrapper = Layer(name=name, class_name="Bidirectional", path=name, inferred=True)
            wrapper.children = [
                _recurrent_layer(names[0], f"{name}/{names[0]}", runs[0], file, go_backwards=False),
                _recurrent_layer(names[1], f"{name}/{names[1]}", runs[1], file, go_backwards=True),
            ]
            return wrapper
    raise ConfigError(
        f"cannot tell the layers of weight group '{name}' apart from their names and shapes alone "
        f"({len(arrays)} arrays); pass the model's architecture with --config",
        file=file,
    )


def _recurrent_runs(arrays: List[StoredArray]) -> Optional[List[List[StoredArray]]]:
    """Split a group's arrays into recurrent weight sets, or None if it holds no recurrent layer."""
    names = [short_name(a) for a in arrays]
    if any(_KERAS1_NAME.match(n) and _KERAS1_NAME.match(n).group("kind") == "U" for n in names):
        size = 12 if any(n.endswith("_f") for n in names) else 9
        if len(arrays) % size:
            return [arrays]  # let the recurrent view complain with shapes
        return [arrays[k : k + size] for k in range(0, len(arrays), size)]
    if "recurrent_kernel" not in names:
        return None
    runs: List[List[StoredArray]] = []
    for array, n in zip(arrays, names):
        if n == "kernel":
            runs.append([array])
        elif runs:
            runs[-1].append(array)
        else:
            return [arrays]
    return runs


def _scope(run: List[StoredArray], group: str) -> str:
    """The sub-layer name of a weight set: ``forward_lstm_1`` in either naming scheme."""
    name = run[0].name.split(":")[0]
    parts = name.split("/")
    for part in parts[:-1]:
        if part.startswith(("forward", "backward")):
            return part
    m = _KERAS1_NAME.match(parts[-1])
    if m and m.group("prefix"):
        return m.group("prefix")
    return parts[-2] if len(parts) > 1 else group


def _recurrent_layer(name: str, path: str, arrays: List[StoredArray], file: str, go_backwards: bool) -> Layer:
    names = [short_name(a) for a in arrays]
    if len(arrays) in (9, 12) and _KERAS1_NAME.match(names[0]):
        class_name = "LSTM" if len(arrays) == 12 else "GRU"
        units = int(arrays[1].shape[-1])
        config = {"units": units}
    else:
        recurrent = arrays[1]
        shape = recurrent.shape
        if len(shape) < 2 or shape[-2] == 0 or shape[-1] % shape[-2]:
            raise ConfigError(
                f"cannot tell what kind of layer '{path}' is: its recurrent kernel has shape {shape}; "
                "pass the model's architecture with --config",
                file=file,
            )
        units = int(shape[-2])
        blocks = shape[-1] // units
        bias = arrays[2].shape if len(arrays) > 2 else None
        if len(shape) > 2:
            class_name = {3: "ConvLSTM1D", 4: "ConvLSTM2D", 5: "ConvLSTM3D"}.get(len(shape), "?")
            if blocks != 4 or class_name == "?":
                raise ConfigError(f"cannot tell what kind of layer '{path}' is from its shapes; pass --config", file=file)
        elif blocks == 4:
            class_name = "CuDNNLSTM" if bias == (8 * units,) else "LSTM"
        elif blocks == 3:
            class_name = "CuDNNGRU" if bias == (6 * units,) else "GRU"
        elif blocks == 1:
            class_name = "SimpleRNN"
        else:
            raise ConfigError(
                f"cannot tell what kind of layer '{path}' is: its recurrent kernel {shape} has {blocks} gate blocks; "
                "pass the model's architecture with --config",
                file=file,
            )
        config = {"filters" if class_name.startswith("ConvLSTM") else "units": units, "use_bias": bias is not None}
        if class_name == "GRU" and bias is not None:
            config["reset_after"] = len(bias) == 2
    config["go_backwards"] = go_backwards
    return Layer(name=name, class_name=class_name, path=path, config=config, weights=arrays, inferred=True)


def _guess_plain(arrays: List[StoredArray]) -> str:
    names = [short_name(a) for a in arrays]
    if names == ["embeddings"]:
        return "Embedding"
    if "moving_mean" in names or "moving_variance" in names:
        return "BatchNormalization"
    if names and names[0] == "kernel":
        return {2: "Dense", 3: "Conv1D", 4: "Conv2D"}.get(len(arrays[0].shape), "?")
    return "?"


@dataclass
class V3Object:
    """One object of a Keras 3 weights file: its own ``vars`` and its attribute children."""

    key: str
    name: Optional[str]
    arrays: List[StoredArray] = field(default_factory=list)
    children: Dict[str, "V3Object"] = field(default_factory=dict)


def infer_v3(root: V3Object, file: str) -> List[Layer]:
    """Layers of a Keras 3 ``.weights.h5`` given alone."""
    top = root.children.get("layers")
    if top is None:
        return []
    return [_infer_v3(obj, obj.name or key, file, go_backwards=False) for key, obj in top.children.items()]


def _infer_v3(obj: V3Object, path: str, file: str, go_backwards: bool) -> Layer:
    name = path.split("/")[-1]
    cell = obj.children.get("cell")
    if cell is not None and len(cell.arrays) in (2, 3):
        return _recurrent_layer(name, path, cell.arrays, file, go_backwards)
    if "forward_layer" in obj.children and "backward_layer" in obj.children:
        fwd, bwd = obj.children["forward_layer"], obj.children["backward_layer"]
        layer = Layer(name=name, class_name="Bidirectional", path=path, inferred=True)
        layer.children = [
            _infer_v3(fwd, f"{path}/{fwd.name or 'forward_layer'}", file, go_backwards=False),
            _infer_v3(bwd, f"{path}/{bwd.name or 'backward_layer'}", file, go_backwards=True),
        ]
        return layer
    if "layer" in obj.children:
        inner = obj.children["layer"]
        layer = Layer(name=name, class_name="TimeDistributed", path=path, inferred=True)
        layer.children = [_infer_v3(inner, f"{path}/{inner.name or 'layer'}", file, go_backwards)]
        return layer
    if "layers" in obj.children:
        layer = Layer(name=name, class_name="Model", path=path, inferred=True)
        layer.children = [
            _infer_v3(child, f"{path}/{child.name or key}", file, False) for key, child in obj.children["layers"].children.items()
        ]
        return layer
    named = [StoredArray(n, a.h5_path, a.value) for n, a in zip(_v3_plain_names(obj.key, len(obj.arrays)), obj.arrays)]
    class_name = _guess_plain(named) if named else "?"
    return Layer(name=name, class_name=class_name, path=path, weights=obj.arrays, inferred=True)


def _v3_plain_names(key: str, n: int) -> List[str]:
    base = re.sub(r"_\d+$", "", key)
    if base == "embedding":
        return ["embeddings"]
    if base == "batch_normalization":
        return ["gamma", "beta", "moving_mean", "moving_variance"][-n:] if n else []
    return ["kernel", "bias"][:n]
