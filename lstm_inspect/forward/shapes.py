"""Static output shapes from a config, where the rules are simple enough to know
without running anything. Unknown layers give ``None`` (shown as ``?``)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .graph import io_refs, parse_calls
from ..model import Layer, Model

Shape = Optional[List[Optional[int]]]

_IDENTITY = {
    "Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
    "Activation", "Masking", "BatchNormalization", "LayerNormalization", "InputLayer",
}
_RNN = {"LSTM", "GRU", "SimpleRNN", "CuDNNLSTM", "CuDNNGRU", "RNN"}


def infer_shapes(model: Model) -> Dict[str, Any]:
    """``{layer path: output shape or list of shapes}`` for the layers whose shape is known."""
    out: Dict[str, Any] = {}
    try:
        _container(model.layers, model.class_name or "Sequential", model.input_layers, model.output_layers, None, out)
    except (KeyError, ValueError, TypeError, IndexError, ZeroDivisionError):
        pass  # shapes are a courtesy; a config we cannot follow just shows "?"
    return out


def _container(layers: List[Layer], class_name: str, input_layers, output_layers, input_shape: Shape, out: Dict[str, Any]) -> Any:
    if class_name == "Sequential" or not any(l.inbound_nodes for l in layers):
        shape = input_shape
        for layer in layers:
            if shape is None:
                shape = _declared_input(layer)
            shape = _layer(layer, [shape], out)
        return shape
    produced: Dict[tuple, Shape] = {}
    pending = list(layers)
    for layer in layers:
        if layer.class_name == "InputLayer":
            produced[(layer.name, 0, 0)] = _declared_input(layer)
            out[layer.path] = produced[(layer.name, 0, 0)]
    if input_shape is not None:
        refs = io_refs(input_layers)
        if len(refs) == 1:
            produced[refs[0]] = input_shape
    for _ in range(len(layers) + 1):
        progress = False
        for layer in list(pending):
            if layer.class_name == "InputLayer":
                pending.remove(layer)
                continue
            calls = parse_calls(layer.inbound_nodes)
            if not all(all(r in produced for r in c.inputs) for c in calls):
                continue
            for k, call in enumerate(calls):
                result = _layer(layer, [produced[r] for r in call.inputs], out)
                results = result if _is_multi(result) else [result]
                for t, s in enumerate(results):
                    produced[(layer.name, k, t)] = s
            pending.remove(layer)
            progress = True
        if not progress:
            break
    outputs = [produced.get(r) for r in io_refs(output_layers)]
    return outputs[0] if len(outputs) == 1 else None


def _is_multi(shape: Any) -> bool:
    return isinstance(shape, list) and bool(shape) and all(isinstance(s, list) or s is None for s in shape) and isinstance(shape[0], list)


def _declared_input(layer: Layer) -> Shape:
    c = layer.config
    for key in ("batch_input_shape", "batch_shape"):
        if isinstance(c.get(key), list):
            return list(c[key])
    return None


def _layer(layer: Layer, inputs: List[Shape], out: Dict[str, Any]) -> Any:
    shape = _compute(layer, inputs, out)
    out[layer.path] = shape
    return shape


def _compute(layer: Layer, inputs: List[Shape], out: Dict[str, Any]) -> Any:
    c = layer.config
    cls = layer.class_name
    x = inputs[0] if inputs else None
    if cls in ("Sequential", "Functional", "Model"):
        return _container(layer.children, cls, c.get("input_layers"), c.get("output_layers"), x, out)
    if cls == "InputLayer":
        return _declared_input(layer)
    if x is None:
        return None
    if cls in _IDENTITY:
        return list(x)
    if cls in _RNN:
        units = c["units"]
        y = [x[0], x[1], units] if c.get("return_sequences") else [x[0], units]
        if c.get("return_state"):
            n_states = 2 if (c.get("cell_class") or cls).replace("CuDNN", "").startswith("LSTM") else 1
            return [y] + [[x[0], units]] * n_states
        return y
    if cls == "Bidirectional":
        forward = _layer(layer.children[0], [x], out)
        _layer(layer.children[1], [x], out)
        y = forward[0] if _is_multi(forward) else forward
        mode = c.get("merge_mode", "concat")
        if mode is None:
            return [y, list(y)]
        if mode == "concat":
            y = y[:-1] + [y[-1] * 2]
        return y
    if cls == "TimeDistributed":
        inner = _layer(layer.children[0], [[x[0]] + x[2:]], out)
        return None if inner is None else [x[0], x[1]] + inner[1:]
    if cls == "Dense":
        return x[:-1] + [c["units"]]
    if cls == "Embedding":
        return x + [c["output_dim"]]
    if cls == "Conv1D":
        k = _int(c["kernel_size"])
        s = _int(c.get("strides", 1))
        d = _int(c.get("dilation_rate", 1))
        return [x[0], _conv_len(x[1], k, s, d, c.get("padding", "valid")), c["filters"]]
    if cls in ("MaxPooling1D", "AveragePooling1D"):
        p = _int(c.get("pool_size", 2))
        s = _int(c.get("strides") or p)
        return [x[0], _conv_len(x[1], p, s, 1, c.get("padding", "valid")), x[2]]
    if cls in ("GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        return [x[0], x[2]]
    if cls == "Flatten":
        n = 1
        for d in x[1:]:
            n = None if d is None or n is None else n * d
        return [x[0], n]
    if cls == "Reshape":
        return [x[0]] + list(c["target_shape"])
    if cls == "RepeatVector":
        return [x[0], c["n"], x[1]]
    if cls == "Permute":
        return [x[0]] + [x[d] for d in c["dims"]]
    if cls == "Concatenate":
        axis = c.get("axis", -1)
        y = list(inputs[0])
        total = 0
        for s in inputs:
            total = None if total is None or s[axis] is None else total + s[axis]
        y[axis] = total
        return y
    if cls in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        return list(x)
    if cls == "ConvLSTM2D":
        k = c["kernel_size"]
        s = c.get("strides", [1, 1])
        d = c.get("dilation_rate", [1, 1])
        pad = c.get("padding", "valid")
        rows = _conv_len(x[2], _int(k[0]), _int(s[0]), _int(d[0]), pad)
        cols = _conv_len(x[3], _int(k[1]), _int(s[1]), _int(d[1]), pad)
        y = [x[0], x[1], rows, cols, c["filters"]] if c.get("return_sequences") else [x[0], rows, cols, c["filters"]]
        return y
    return None


def _int(v: Any) -> int:
    return int(v[0]) if isinstance(v, (list, tuple)) else int(v)


def _conv_len(length: Optional[int], k: int, s: int, d: int, padding: str) -> Optional[int]:
    if length is None:
        return None
    if padding in ("same", "causal"):
        return -(-length // s)
    return (length - d * (k - 1) - 1) // s + 1
