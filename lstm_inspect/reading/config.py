"""Model configs of every Keras generation, normalised to one shape.

Keras 1, Keras 2, tf.keras and Keras 3 serialise models differently (see
docs/formats.md section 3). :func:`parse_model_config` turns any of them into a
tree of :class:`LayerSpec`, with Keras 1 key names renamed to Keras 2 ones and
Keras 3 ``{"module", "class_name", "config"}`` wrappers removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..errors import ConfigError
from ..kinds.base import Kind, float32_dtype
from ..kinds.registry import canonical_name, is_model_class, kind_of


@dataclass
class LayerSpec:
    """One layer as the config describes it."""

    name: str
    class_name: str
    config: Dict[str, Any]
    children: List[LayerSpec] = field(default_factory=list)
    inbound_nodes: List[Any] = field(default_factory=list)

    @property
    def kind(self) -> Optional[Kind]:
        return kind_of(self.class_name)

    @property
    def is_model(self) -> bool:
        return is_model_class(self.class_name)


@dataclass
class ModelSpec:
    """A whole model as its config describes it."""

    class_name: str
    name: Optional[str]
    layers: List[LayerSpec]
    input_layers: List[Any] = field(default_factory=list)
    output_layers: List[Any] = field(default_factory=list)

    @property
    def written_by_keras3(self) -> bool:
        """Keras 3 configs give InputLayers a ``batch_shape`` and nodes as ``{"args", "kwargs"}``."""

        def walk(specs):
            for spec in specs:
                yield spec
                yield from walk(spec.children)

        return any(
            (s.class_name == "InputLayer" and "batch_shape" in s.config)
            or any(isinstance(n, dict) for n in s.inbound_nodes)
            for s in walk(self.layers)
        )


def loads_config(text: str, where: str = "model config") -> Any:
    """Parse JSON config text, with a one-line error when it is not JSON, too large or
    nested absurdly deep (see :mod:`lstm_inspect.limits`)."""
    from ..limits import checked_json

    return checked_json(text, where, error=ConfigError)


def parse_model_config(raw: Any) -> ModelSpec:
    """Any generation's ``model_config`` / ``config.json`` / ``to_json()`` -> ModelSpec."""
    if isinstance(raw, dict) and "model_config" in raw and "class_name" not in raw:
        raw = raw["model_config"]  # some tools wrap it
    if not isinstance(raw, dict) or "class_name" not in raw:
        raise ConfigError("model config has no top-level 'class_name'; expected the JSON of model.to_json()")
    spec = _layer_spec(raw, depth=0)
    if spec.is_model:
        return ModelSpec(
            class_name=spec.class_name,
            name=spec.name,
            layers=spec.children,
            input_layers=spec.config.get("input_layers") or [],
            output_layers=spec.config.get("output_layers") or [],
        )
    # A bare layer config: treat as a one-layer model.
    return ModelSpec(class_name="Sequential", name=None, layers=[spec])


def _layer_spec(entry: Any, depth: int) -> LayerSpec:
    if depth > 64:
        raise ConfigError("model config nests layers more than 64 deep")
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise ConfigError(f"layer entry {str(entry)[:60]!r} has no 'class_name'")
    class_name = canonical_name(entry["class_name"])
    config = entry.get("config")
    if is_model_class(class_name):
        return _model_spec(class_name, entry, config, depth)
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ConfigError(f"layer {class_name} has a config that is not an object")
    config = _normalise_keys(class_name, dict(config))
    name = config.get("name") or entry.get("name") or class_name.lower()
    if not isinstance(name, str):
        raise ConfigError(f"layer {class_name} has a name that is not a string")
    check_types(name, config, class_name)
    check_nodes(name, entry.get("inbound_nodes"))
    spec = LayerSpec(
        name=name,
        class_name=class_name,
        config=config,
        inbound_nodes=entry.get("inbound_nodes") or [],
    )
    if spec.kind is not None and spec.kind.role == "wrapper":
        spec.children = _wrapper_children(spec, depth)
    elif class_name == "RNN" and isinstance(config.get("cell"), dict):
        cell = _layer_spec(config["cell"], depth + 1)
        rnn = {k: v for k, v in config.items() if k != "cell"}
        if cell.class_name == "StackedRNNCells" and isinstance(cell.config.get("cells"), list):
            spec.config = {**rnn, "cell_class": cell.class_name}
            spec.children = _stacked_cells(rnn, cell.config["cells"], depth + 2)
        else:
            spec.config = {**_normalise_keys(cell.class_name, dict(cell.config)), **rnn}
            spec.config["cell_class"] = cell.class_name
            if cell.config.get("dtype") is not None and not float32_dtype(cell.config["dtype"]):
                spec.config["dtype"] = cell.config["dtype"]  # the cell computes in its own dtype
    return spec


def _stacked_cells(rnn: Dict[str, Any], cells: List[Any], depth: int) -> List[LayerSpec]:
    """The cells of an ``RNN(StackedRNNCells([...]))``, each as an ``RNN(cell)`` named
    ``cell_<n>`` that returns its whole output sequence to the next; the last returns what the
    RNN returns (docs/formats.md section 4.9)."""
    children = []
    for n, entry in enumerate(cells):
        cell = _layer_spec(entry, depth)
        last = n == len(cells) - 1
        config = {**_normalise_keys(cell.class_name, dict(cell.config)), "cell_class": cell.class_name,
                  "return_sequences": bool(rnn.get("return_sequences")) if last else True, "return_state": False,
                  "go_backwards": False, "zero_output_for_mask": bool(rnn.get("zero_output_for_mask")) and last}
        children.append(LayerSpec(name=f"cell_{n}", class_name="RNN", config=config))
    return children


def _model_spec(class_name: str, entry: Dict[str, Any], config: Any, depth: int) -> LayerSpec:
    if isinstance(config, list):  # Keras 1 / 2.0-2.2.2 Sequential: a bare list of layers
        config = {"layers": config}
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ConfigError(f"{class_name} config has no list of 'layers'")
    layers = [_layer_spec(e, depth + 1) for e in config["layers"]]
    name = config.get("name") or entry.get("name") or class_name.lower()
    if not isinstance(name, str):
        raise ConfigError(f"{class_name} model has a name that is not a string")
    check_nodes(name, entry.get("inbound_nodes"))
    for key in ("input_layers", "output_layers"):
        check_io(name, key, config.get(key))
    spec = LayerSpec(
        name=name,
        class_name=class_name,
        config={k: v for k, v in config.items() if k != "layers"},
        children=layers,
        inbound_nodes=entry.get("inbound_nodes") or [],
    )
    return spec


def _wrapper_children(spec: LayerSpec, depth: int) -> List[LayerSpec]:
    inner_raw = spec.config.get("layer")
    if not isinstance(inner_raw, dict):
        raise ConfigError(f"{spec.class_name} '{spec.name}' has no wrapped 'layer' in its config")
    inner = _layer_spec(inner_raw, depth + 1)
    if len(spec.kind.v3_children) == 1:  # TimeDistributed: the layer itself
        return [inner]
    # Bidirectional: the backward layer is the forward config with go_backwards flipped,
    # unless the config stores its own (tf.keras with a custom one; Keras 3 always).
    forward = _renamed(inner, "forward_")
    backward_raw = spec.config.get("backward_layer")
    if isinstance(backward_raw, dict):
        backward = _layer_spec(backward_raw, depth + 1)
        # Keras 3 stores the layers as named (its forward one already "forward_..."), and keeps a
        # given backward layer's own name; tf.keras stores the names it prefixes when it builds.
        if not str((inner_raw.get("config") or {}).get("name", "")).startswith("forward_"):
            backward = _renamed(backward, "backward_")
    else:
        backward = _renamed(_layer_spec(inner_raw, depth + 1), "backward_")
        backward.config["go_backwards"] = not bool(inner.config.get("go_backwards", False))
    return [forward, backward]


def _renamed(spec: LayerSpec, prefix: str) -> LayerSpec:
    if not spec.name.startswith(prefix):
        spec.name = prefix + spec.name
    return spec


# ------------------------------------------------------------------------------------
# Types of the config values the rest of the package reads. A config from a stranger's
# file is checked here, once, so that no later code meets a list where it wants a number.

_MAX_INT = 2**31 - 1


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and -_MAX_INT <= v <= _MAX_INT


def _is_count(v: Any) -> bool:
    return _is_int(v) and v >= 0


def _is_number(v: Any) -> bool:
    return (isinstance(v, float) or _is_int(v)) and not isinstance(v, bool)


def _ints(v: Any) -> bool:
    return _is_int(v) or (isinstance(v, list) and len(v) <= 8 and all(_is_int(x) or _ints_flat(x) for x in v))


def _ints_flat(v: Any) -> bool:
    return isinstance(v, list) and len(v) <= 8 and all(_is_int(x) for x in v)


def _shape(v: Any) -> bool:
    return isinstance(v, list) and 0 < len(v) <= 8 and all(x is None or _is_count(x) for x in v)


def _opt(check):
    return lambda v: v is None or check(v)


_BOOL = (lambda v: v is None or isinstance(v, bool) or v in (0, 1), "true or false")
_COUNT = (_opt(_is_count), "a whole number")
_TYPES = {
    **dict.fromkeys(("use_bias", "go_backwards", "return_sequences", "return_state", "reset_after", "zero_output_for_mask", "time_major", "mask_zero", "center", "rms_scaling", "keepdims", "stateful", "unroll"), _BOOL),
    **dict.fromkeys(("units", "filters", "input_dim", "output_dim", "n", "groups", "implementation"), _COUNT),
    "input_length": (lambda v: v is None or _is_count(v) or _shape(v), "a whole number"),
    # BatchNormalization/LayerNormalization: a flag; Rescaling: a number or a list of them
    "scale": (lambda v: _BOOL[0](v) or _is_number(v) or (isinstance(v, list) and all(_is_number(x) for x in v)),
              "true or false, or a number"),
    **{k: (_opt(_ints), "a whole number or a list of them") for k in (
        "strides", "kernel_size", "dilation_rate", "pool_size", "cropping", "axis", "concat_axis")},
    "dims": (_opt(_ints_flat), "a list of whole numbers"),
    "target_shape": (_opt(_ints_flat), "a list of whole numbers"),
    "padding": (lambda v: v is None or isinstance(v, str) or _ints(v), "a name or whole numbers"),
    **{k: (_opt(_shape), "a shape: a list of whole numbers and nulls") for k in ("batch_input_shape", "batch_shape")},
    **{k: (_opt(_is_number), "a number") for k in ("epsilon", "mask_value", "rate", "momentum")},
    **{k: (_opt(lambda v: isinstance(v, str)), "a name") for k in ("data_format", "merge_mode")},
    "dtype": (lambda v: v is None or isinstance(v, (str, dict)), "a dtype name"),
}


#: Keys whose type depends on the class: checked only for these classes (``scale`` is a
#: switch in the normalisations, a factor in ``Rescaling``).
_ONLY_FOR = dict.fromkeys(("scale", "center"), ("BatchNormalization", "LayerNormalization"))


def check_types(name: str, config: Dict[str, Any], class_name: Optional[str] = None) -> None:
    """Refuse a layer config whose known keys hold values of the wrong type."""
    for key, value in config.items():
        rule = _TYPES.get(key)
        if key in _ONLY_FOR and class_name not in _ONLY_FOR[key]:
            continue
        if rule is not None and not rule[0](value):
            shown = json_preview(value)
            raise ConfigError(f"layer '{name}': '{key}' is {shown}, which is not {rule[1]}")


def check_nodes(name: str, nodes: Any) -> None:
    """``inbound_nodes`` in the Keras 1/2 form (lists of ``[layer, node, tensor, kwargs]``; a
    tf.keras TF-op layer's node is one such entry, not a list of them)
    or the Keras 3 form (``{"args": [...], "kwargs": {...}}`` holding keras tensors)."""
    if nodes is None:
        return
    where = f"layer '{name}': inbound_nodes"
    if not isinstance(nodes, list):
        raise ConfigError(f"{where} is {json_preview(nodes)}, not a list")
    for node in nodes:
        if isinstance(node, dict):
            args, kwargs = node.get("args", []), node.get("kwargs")
            if not isinstance(args, list) or not (kwargs is None or isinstance(kwargs, dict)):
                raise ConfigError(f"{where} holds a call {json_preview(node)} whose args are not a list")
            _check_tensors(where, node)
            for key in ("mask", "initial_state"):  # what run hands on as arrays
                value = (kwargs or {}).get(key)
                items = value if isinstance(value, list) else [value]
                if not all(v is None or _is_tensor(v) for v in items):
                    raise ConfigError(f"{where}: its {key} {json_preview(value)} is not a tensor")
        elif isinstance(node, list):
            if node and isinstance(node[0], str):  # tf-keras TF-op layers: one flat [layer, node, tensor, kwargs]
                node = [node]
            for item in node:
                if not (isinstance(item, list) and len(item) >= 3 and _is_ref(item[:3])):
                    raise ConfigError(f"{where} holds {json_preview(item)}, which is not [layer, node, tensor]")
        else:
            raise ConfigError(f"{where} holds {json_preview(node)}, which is not a call")


def _is_ref(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and _is_count(value[1]) and _is_count(value[2]))


def _is_tensor(value: Any) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _check_tensors(where: str, value: Any) -> None:
    """Every Keras 3 ``__keras_tensor__`` inside ``value`` names [layer, node, tensor]."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            config = value.get("config")
            history = config.get("keras_history") if isinstance(config, dict) else None
            if not _is_ref(history):
                raise ConfigError(f"{where} holds a tensor whose keras_history {json_preview(history)} "
                                  "is not [layer, node, tensor]")
            return
        for v in value.values():
            _check_tensors(where, v)
    elif isinstance(value, list):
        for v in value:
            _check_tensors(where, v)


def check_io(name: str, key: str, value: Any) -> None:
    """``input_layers`` / ``output_layers``: a [layer, node, tensor] triple, or lists or
    objects of them."""
    if value is None or _is_ref(value):
        return
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) and not isinstance(value[1], list):
        raise ConfigError(f"model '{name}': {key} holds {json_preview(value)}, which is not [layer, node, tensor]")
    if isinstance(value, (list, dict)):
        for v in value.values() if isinstance(value, dict) else value:
            check_io(name, key, v)
        return
    raise ConfigError(f"model '{name}': {key} holds {json_preview(value)}, which is not [layer, node, tensor]")


def json_preview(value: Any, limit: int = 40) -> str:
    import json

    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _normalise_keys(class_name: str, config: Dict[str, Any]) -> Dict[str, Any]:
    """Keras 1 config keys renamed to Keras 2 ones, as the layer's kind declares."""
    kind = kind_of(class_name)
    if kind is not None and kind.keras1_config is not None:
        return kind.keras1_config(config)
    return config
