"""The one graph walk: a container's layers visited in dependency order.

Sequential lists and Functional graphs of every generation (Keras 1/2 list nodes,
Keras 3 ``{"args", "kwargs"}`` nodes, extra inbound tensors and ``initial_state``
keywords, Keras 1/2 nested-model node numbering) are followed here and nowhere else.
What flows along the edges is the caller's business: arrays and masks (the executor),
shapes (the shape pass) or STEPS/LAST kinds (the streaming planner).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Generic, List, Optional, TypeVar

from ..errors import ConfigError
from ..kinds.registry import is_model_class
from ..model import Layer
from .graph import Call, Ref, io_refs, parse_calls

V = TypeVar("V")

#: The call every layer of a Sequential model gets: one input, no keywords.
SEQUENTIAL_CALL = Call(inputs=[])


@dataclass
class Step(Generic[V]):
    """One call of one layer, ready to run: its inputs' values are known."""

    layer: Layer
    index: int  #: the node index its outputs are known by
    call: Call
    inputs: List[Any]  #: the values of ``call.inputs`` (Sequential: the previous layer's first output)
    lookup: Callable[[Ref], Any]  #: the value of any tensor of the graph computed so far
    wanted: int = 1  #: how many output tensors the graph reads from this call


Visit = Callable[[Step], List[Any]]


def is_sequential(class_name: Optional[str], layers: List[Layer]) -> bool:
    return class_name == "Sequential" or not any(layer.inbound_nodes for layer in layers)


def walk(layers: List[Layer], class_name: Optional[str], input_layers: Any, output_layers: Any,
         inputs: Optional[List[Any]], visit: Visit, seed: Optional[Callable[[Layer], Any]] = None) -> List[Any]:
    """Visit each layer call in dependency order; return the container's outputs.

    ``inputs`` are the values of the container's inputs (in ``input_layers`` order);
    ``seed(input_layer)`` gives an InputLayer's value where they are not given (the shape
    pass). A Functional output that is never computed is None with a seed, an error without.
    """
    if is_sequential(class_name, layers):
        values = list(inputs) if inputs else [None]
        for layer in layers:
            if layer.class_name == "InputLayer":
                continue
            values = visit(Step(layer, 0, SEQUENTIAL_CALL, values[:1], _no_lookup))
        return values
    produced = run_graph(layers, input_layers, output_layers, inputs, visit, seed)
    out_refs = io_refs(output_layers)
    missing = [r for r in out_refs if r not in produced]
    if missing and seed is None:
        raise ConfigError(f"the model output {missing[0][0]} is never computed")
    return [produced.get(r) for r in out_refs]


def run_graph(layers: List[Layer], input_layers: Any, output_layers: Any, inputs: Optional[List[Any]],
              visit: Visit, seed: Optional[Callable[[Layer], Any]] = None) -> Dict[Ref, Any]:
    """A Functional graph's tensors, each computed once its call's tensors exist."""
    produced: Dict[Ref, Any] = {}
    in_refs = io_refs(input_layers)
    if seed is not None:
        for layer in layers:
            if layer.class_name == "InputLayer":
                produced[(layer.name, 0, 0)] = seed(layer)
    if inputs is not None and (seed is None or len(in_refs) == len(inputs)):
        if len(in_refs) != len(inputs):
            raise ConfigError(f"the model has {len(in_refs)} inputs but {len(inputs)} arrays were given")
        produced.update(zip(in_refs, inputs))
    calls = {layer.name: parse_calls(layer.inbound_nodes) for layer in layers}
    offsets = _node_offsets(layers, calls, output_layers)
    wanted: Dict[tuple, int] = {}
    for call in (c for cs in calls.values() for c in cs):
        for name, k, t in call.refs:
            wanted[(name, k)] = max(wanted.get((name, k), 1), t + 1)
    for name, k, t in io_refs(output_layers):
        wanted[(name, k)] = max(wanted.get((name, k), 1), t + 1)
    pending = [
        (layer, k + offsets.get(layer.name, 0), call)
        for layer in layers
        if layer.class_name != "InputLayer"
        for k, call in enumerate(calls[layer.name])
    ]
    while pending:
        progressed = False
        for item in list(pending):
            layer, k, call = item
            if not all(r in produced for r in call.refs):
                continue
            step = Step(layer, k, call, [produced[r] for r in call.inputs], produced.__getitem__,
                        wanted.get((layer.name, k), 1))
            for t, value in enumerate(visit(step)):
                produced[(layer.name, k, t)] = value
            pending.remove(item)
            progressed = True
        if not progressed:
            names = sorted({layer.name for layer, _, _ in pending})
            raise ConfigError(f"the model graph cannot be followed: layers {', '.join(names[:5])} never get their inputs")
    return produced


def _no_lookup(ref: Ref) -> Any:
    raise ConfigError(f"a Sequential model refers to the tensor {ref[0]}")


def _node_offsets(layers: List[Layer], calls: Dict[str, List[Call]], output_layers: Any) -> Dict[str, int]:
    """Keras 1/2 number the calls of a nested model from 1 (its node 0 is its own input;
    ``kept_nodes = 1`` for Networks in ``Network.get_config``). Keras 3 numbers from 0.
    Tell them apart by the indices the config refers to."""
    referenced: Dict[str, set] = {}
    for call in (c for cs in calls.values() for c in cs):
        for name, k, _ in call.refs:
            referenced.setdefault(name, set()).add(k)
    for name, k, _ in io_refs(output_layers):
        referenced.setdefault(name, set()).add(k)
    offsets = {}
    for layer in layers:
        ks = referenced.get(layer.name)
        if is_model_class(layer.class_name) and ks and min(ks) >= 1 and max(ks) <= len(layer.inbound_nodes):
            offsets[layer.name] = 1
    return offsets
