"""What a model takes as input: names, shapes (batch first, None where free) and dtypes."""

from __future__ import annotations

from typing import List, Optional, Tuple

from ..errors import ConfigError
from ..kinds.recurrent import is_recurrent
from ..model import Layer, Model
from .graph import io_refs, parse_calls

Signature = Tuple[str, Tuple[Optional[int], ...], str]

_INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def input_signature(model: Model) -> List[Signature]:
    """``[(name, shape, "float32" | "int32"), ...]`` in the model's input order."""
    if model.config_source == "weights":
        raise ConfigError(
            "the file holds weights only: pass the model's architecture with --config to run it", file=model.file
        )
    by_name = {layer.name: layer for layer in model.layers}
    refs = io_refs(model.input_layers)
    if refs and model.class_name != "Sequential":
        out = []
        for name, _, _ in refs:
            layer = by_name.get(name)
            if layer is None:
                raise ConfigError(f"the model's input '{name}' is not among its layers", file=model.file)
            out.append(_from_layer(layer, _consumer(model, name)))
        return out
    layers = list(model.layers)
    if not layers:
        raise ConfigError("the model has no layers", file=model.file)
    first = layers[0]
    if first.class_name == "InputLayer":
        return [_from_layer(first, layers[1] if len(layers) > 1 else None)]
    return [_from_layer(first, first, name=f"{first.name}_input")]


def _consumer(model: Model, input_name: str) -> Optional[Layer]:
    """The first layer that reads the input (through parsed node refs)."""
    for layer in model.layers:
        for call in parse_calls(layer.inbound_nodes):
            if any(name == input_name for name, _, _ in call.refs):
                return layer
    return None


def _from_layer(layer: Layer, consumer: Optional[Layer], name: Optional[str] = None) -> Signature:
    c = layer.config
    shape = c.get("batch_input_shape") or c.get("batch_shape")
    if shape is None and consumer is not None:
        shape = _implied_shape(consumer)
    if shape is None:
        raise ConfigError(f"the model does not say what shape its input '{layer.name}' has")
    dtype = c.get("dtype") if isinstance(c.get("dtype"), str) else None
    if dtype in _INT_DTYPES or (consumer is not None and consumer.class_name == "Embedding"):
        dtype = "int32"
    else:
        dtype = "float32"
    return (name or layer.name, tuple(None if d is None else int(d) for d in shape), dtype)


def _implied_shape(layer: Layer):
    """Shape a first layer implies when no input shape was recorded (rare, old configs)."""
    if is_recurrent(layer) or layer.class_name == "Bidirectional":
        inner = layer.children[0] if layer.children else layer
        if inner.weights:
            return [None, None, int(inner.weights[0].value.shape[0])]
    if layer.class_name == "Embedding":
        return [None, layer.config.get("input_length")]
    return None
