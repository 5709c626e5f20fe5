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

from ..errors import ConfigError
from ..kinds.registry import recognised, var_names
from ..model import Layer, StoredArray

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
    scopes: Dict[str, List[StoredArray]] = {}
    for array in arrays:
        scopes.setdefault(_scope(array, name), []).append(array)
    if len(scopes) == 1:
        return _single(name, name, arrays, file, go_backwards=None)
    names = list(scopes)
    leaf = [n.split("/")[-1] for n in names]
    if len(names) == 2 and leaf[0].startswith("forward") and leaf[1].startswith("backward"):
        wrapper = Layer(name=name, class_name="Bidirectional", path=name, inferred=True)
        wrapper.children = [
            _single(leaf[0], f"{name}/{leaf[0]}", scopes[names[0]], file, go_backwards=False),
            _single(leaf[1], f"{name}/{leaf[1]}", scopes[names[1]], file, go_backwards=True),
        ]
        return wrapper
    if len(set(leaf)) == len(leaf):  # a model nested in the model: one scope per inner layer
        nested = Layer(name=name, class_name="Model", path=name, inferred=True)
        nested.children = [_single(n, f"{name}/{n}", scopes[s], file, None) for n, s in zip(leaf, names)]
        return nested
    raise ConfigError(
        f"cannot tell the layers of weight group '{name}' apart from their names and shapes alone "
        f"({len(arrays)} arrays); pass the model's architecture with --config",
        file=file,
    )


def _single(name: str, path: str, arrays: List[StoredArray], file: str, go_backwards: Optional[bool]) -> Layer:
    names = [short_name(a) for a in arrays]
    keras1_fused = len(names) == 3 and [n.rsplit("_", 1)[-1] for n in names] == ["W", "U", "b"]
    if (
        "recurrent_kernel" in names
        or any(n.endswith(("_U_i", "_U_z")) or n in ("U_i", "U_z") for n in names)
        or keras1_fused  # Keras 1 SimpleRNN, and LSTM/GRU with consume_less='gpu': <name>_W, _U, _b
    ):
        return _recurrent_layer(name, path, arrays, file, go_backwards)
    return Layer(name=name, class_name=_guess_plain(arrays), path=path, weights=arrays, inferred=True)


_CELL_SCOPE = re.compile(r"^(lstm|gru|simple_rnn)_cell(_\d+)?$")


def _scope(array: StoredArray, group: str) -> str:
    """The layer a weight belongs to, from its name: ``bi/forward_lstm/lstm_cell/kernel:0``
    -> ``bi/forward_lstm``; Keras 1 ``forward_lstm_1_W_i:0`` -> ``forward_lstm_1``."""
    parts = array.name.split(":")[0].split("/")
    if len(parts) == 1:
        m = _KERAS1_NAME.match(parts[0])
        return m.group("prefix") if m and m.group("prefix") else group
    scope = parts[:-1]
    if len(scope) > 1 and _CELL_SCOPE.match(scope[-1]):
        scope = scope[:-1]
    if len(scope) > 1 and scope[0] == group:
        scope = scope[1:]
    return "/".join(scope)


def _recurrent_layer(name: str, path: str, arrays: List[StoredArray], file: str, go_backwards: Optional[bool]) -> Layer:
    """A recurrent layer from its arrays; ``go_backwards`` None means unknown (no Bidirectional around it)."""
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
        kind = recognised([short_name(a) for a in arrays], [a.shape for a in arrays], "recurrent")
        if kind is None:
            raise ConfigError(
                f"cannot tell what kind of layer '{path}' is: its recurrent kernel {shape} has {blocks} gate blocks; "
                "pass the model's architecture with --config",
                file=file,
            )
        class_name = kind.name
        bias = arrays[2].shape if len(arrays) > 2 else None
        config = {"filters" if kind.gate_kind == "conv_lstm" else "units": units, "use_bias": bias is not None}
        if class_name == "GRU" and bias is not None:
            config["reset_after"] = len(bias) == 2
    if go_backwards is not None:  # known only inside a Bidirectional
        config["go_backwards"] = go_backwards
    return Layer(name=name, class_name=class_name, path=path, config=config, weights=arrays, inferred=True)


def _guess_plain(arrays: List[StoredArray]) -> str:
    """The kind whose ``recognise`` rule claims these weights, or "?"."""
    kind = recognised([short_name(a) for a in arrays], [a.shape for a in arrays], "layer")
    return kind.name if kind is not None else "?"


@dataclass
class V3Object:
    """One object of a Keras 3 weights file: its own ``vars`` and its attribute children."""

    key: str
    name: Optional[str]
    arrays: List[StoredArray] = field(default_factory=list)
    children: Dict[str, V3Object] = field(default_factory=dict)


def infer_v3(root: V3Object, file: str) -> List[Layer]:
    """Layers of a Keras 3 ``.weights.h5`` given alone."""
    top = root.children.get("layers")
    if top is None:
        return []
    return [_infer_v3(obj, obj.name or key, file, go_backwards=None) for key, obj in top.children.items()]


def _infer_v3(obj: V3Object, path: str, file: str, go_backwards: Optional[bool]) -> Layer:
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
            _infer_v3(child, f"{path}/{child.name or key}", file, None) for key, child in obj.children["layers"].children.items()
        ]
        return layer
    named = [StoredArray(n, a.h5_path, a.value) for n, a in zip(_v3_plain_names(obj.key, len(obj.arrays)), obj.arrays)]
    class_name = _guess_plain(named) if named else "?"
    return Layer(name=name, class_name=class_name, path=path, weights=obj.arrays, inferred=True)


def _v3_plain_names(key: str, n: int) -> List[str]:
    """Keras 3 stores variables unnamed (``vars/0``): their names as the kind whose
    snake_case class name the object's key is declares them."""
    names = list(var_names(re.sub(r"_\d+$", "", key)))
    if len(names) > 2 and names[-1] == "moving_variance":  # BatchNormalization without scale/center
        return names[-n:] if n else []
    return names[:n]
