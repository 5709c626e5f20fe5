"""Static output shapes from a config (batch dimension None), where a kind declares a
rule (``Kind.output_shape``). Unknown layers give ``None`` (shown as ``?``)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..errors import LstmInspectError
from ..kinds.base import ShapeContext
from ..kinds.registry import kind_for
from ..model import Layer, Model
from .graph import resolve
from .walk import SEQUENTIAL_CALL, Step, is_sequential, walk

Shape = Optional[List[Optional[int]]]


def infer_shapes(model: Model) -> Dict[str, Any]:
    """``{layer path: output shape or list of shapes}`` for the layers whose shape is known."""
    shapes = _Shapes()
    try:
        shapes.walk(model.layers, model.class_name or "Sequential", model.input_layers, model.output_layers, None)
    except LstmInspectError:
        pass  # shapes are a courtesy: a graph that cannot be followed shows "?" (run says why)
    return shapes.out


def declared_input(layer: Layer) -> Shape:
    c = layer.config
    for key in ("batch_input_shape", "batch_shape"):
        if isinstance(c.get(key), list) and c[key]:
            return [None] + list(c[key][1:])
    return None


def is_multi(shape: Any) -> bool:
    return isinstance(shape, list) and bool(shape) and isinstance(shape[0], list)


class _Shapes(ShapeContext):
    def __init__(self):
        self.out: Dict[str, Any] = {}
        self.args: List[Any] = []

    def walk(self, layers, class_name, input_layers, output_layers, inputs: Optional[List[Shape]]):
        for layer in layers:
            if layer.class_name == "InputLayer":
                self.out[layer.path] = declared_input(layer)
                if inputs is None and is_sequential(class_name, layers):
                    inputs = [self.out[layer.path]]
        outs = walk(layers, class_name, input_layers, output_layers, inputs, self._visit, seed=declared_input)
        return outs[0] if len(outs) == 1 else None

    def _visit(self, step: Step) -> List[Any]:
        x = step.inputs[0] if step.inputs else None
        if step.call is SEQUENTIAL_CALL and x is None:
            x = declared_input(step.layer)  # the first layer of a Sequential declares its input
        inputs = [x] + list(step.inputs[1:])
        self.args = resolve(step.call.args, step.lookup) if step.call.keras3 else inputs
        shape = self.layer(step.layer, inputs)
        return list(shape) if is_multi(shape) else [shape] * step.wanted

    def layer(self, layer: Layer, inputs: List[Shape]) -> Any:
        kind = kind_for(layer)
        shape = None
        if kind is not None and kind.output_shape is not None:
            shape = kind.output_shape(layer, inputs, self)
        self.out[layer.path] = shape
        return shape

    def container(self, layer: Layer, inputs: List[Shape]) -> Any:
        c = layer.config
        given = inputs if inputs and all(s is not None for s in inputs) else None
        return self.walk(layer.children, layer.class_name, c.get("input_layers"), c.get("output_layers"), given)
