"""Functional-model edges in every generation's ``inbound_nodes`` format
(docs/formats.md section 3.2), parsed once into :class:`Call` objects of plain
``(layer, node_index, tensor_index)`` refs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Tuple

from ..errors import ConfigError

Ref = Tuple[str, int, int]


@dataclass
class Call:
    """One call of a layer, as its inbound node records it."""

    #: the layer's input tensors: Keras 1/2 every entry; Keras 3 those of the first argument
    inputs: List[Ref]
    #: keyword arguments (Keras 3 ``mask``, ``initial_state`` hold tensors)
    kwargs: Dict[str, Any] = field(default_factory=dict)
    #: every tensor the call reads (arguments and keywords): it runs once all exist
    refs: List[Ref] = field(default_factory=list)
    #: the positional arguments with tensors as recorded (Keras 3), or the input refs (Keras 1/2)
    args: List[Any] = field(default_factory=list)
    keras3: bool = False


def parse_calls(inbound_nodes: Any) -> List[Call]:
    if not inbound_nodes:
        return []
    if not isinstance(inbound_nodes, list):
        raise ConfigError("inbound_nodes is not a list")
    return [parse_call(node) for node in inbound_nodes]


def parse_call(node: Any) -> Call:
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        args = node.get("args") or []
        kwargs = node.get("kwargs") or {}
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise ConfigError(f"inbound node {str(node)[:60]} has arguments that are not a list")
        inputs = tensor_refs(args[0]) if args else []
        return Call(inputs=inputs, kwargs=kwargs, refs=tensor_refs(args) + tensor_refs(kwargs), args=args, keras3=True)
    if isinstance(node, list) and node and isinstance(node[0], str):
        node = [node]  # tf-keras TF-op layers: one flat [name, node, tensor, kwargs] (docs/formats.md 3.2)
    if isinstance(node, list):  # Keras 1/2: [[name, node, tensor, (kwargs)], ...]
        if node and isinstance(node[0], str):  # tf.keras TF-op layers: [name, node, tensor, kwargs]
            node = [node]
        refs = []
        kwargs: Dict[str, Any] = {}
        for entry in node:
            if not isinstance(entry, list) or len(entry) < 3 or not isinstance(entry[0], str):
                raise ConfigError(f"inbound node entry {str(entry)[:60]} is not [layer, node, tensor]")
            refs.append((entry[0], int(entry[1]), int(entry[2])))
            if len(entry) > 3 and isinstance(entry[3], dict):
                kwargs.update(entry[3])
        # tf.keras records tensors given as keywords (``lstm(x, mask=m)``) as [layer, node, tensor]
        kw_refs = [r for key in TENSOR_KWARGS if key in kwargs for r in legacy_refs(kwargs[key])]
        return Call(inputs=refs, kwargs=kwargs, refs=refs + kw_refs, args=list(refs))
    raise ConfigError(f"inbound node {str(node)[:60]} has an unknown format")


#: Keyword arguments of a Keras 1/2 node that hold tensors (MultiHeadAttention's value=, key=,
#: attention_mask= among them).
TENSOR_KWARGS = ("mask", "initial_state", "constants", "value", "key", "attention_mask")


def _is_legacy_ref(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value[1:]))


def legacy_refs(value: Any) -> List[Ref]:
    """The ``[layer, node, tensor]`` refs in a Keras 1/2 keyword value (one, or a list of them)."""
    if _is_legacy_ref(value):
        return [(value[0], value[1], value[2])]
    if isinstance(value, list):
        return [r for v in value for r in legacy_refs(v)]
    return []


def resolve_legacy(kwargs: Dict[str, Any], lookup: Callable[[Ref], Any]) -> Dict[str, Any]:
    """A Keras 1/2 node's keywords with each tensor ref of ``TENSOR_KWARGS`` replaced by its value."""

    def value(v: Any) -> Any:
        if _is_legacy_ref(v):
            return lookup((v[0], v[1], v[2]))
        return [value(x) for x in v] if isinstance(v, list) else v

    return {k: value(v) if k in TENSOR_KWARGS else v for k, v in kwargs.items()}


def tensor_refs(value: Any) -> List[Ref]:
    """Every Keras 3 ``__keras_tensor__`` ref inside a (nested) argument."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = (value.get("config") or {}).get("keras_history")
            if not isinstance(history, list) or len(history) < 3:
                raise ConfigError("a keras tensor in the config has no keras_history")
            return [(str(history[0]), int(history[1]), int(history[2]))]
        return [r for v in value.values() for r in tensor_refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in tensor_refs(v)]
    return []


def resolve(value: Any, lookup: Callable[[Ref], Any]) -> Any:
    """``value`` with every Keras 3 tensor replaced by ``lookup(its ref)``."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            return lookup(tensor_refs(value)[0])
        return {k: resolve(v, lookup) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, lookup) for v in value]
    return value


def io_refs(value: Any) -> List[Ref]:
    """``input_layers`` / ``output_layers``: a triple, a list of triples, or a dict of them."""
    if isinstance(value, dict):
        return [r for v in value.values() for r in io_refs(v)]
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) and not isinstance(value[1], list):
        return [(value[0], int(value[1]), int(value[2]))]
    if isinstance(value, list):
        return [r for v in value for r in io_refs(v)]
    return []
