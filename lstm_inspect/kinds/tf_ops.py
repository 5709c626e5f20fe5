"""Tensor operations written into functional configs as layers: tf-keras's ``TFOpLambda``
(``tf.concat``, ``tf.reduce_mean``/``sum``/``max``/``min`` on a tensor) and ``SlicingOpLambda``
(``x[:, -1]``, ``x[:, a:b]``), and Keras 3's traced ``GetItem``, ``Mean``, ``Sum``, ``Max`` and
``Min`` (docs/formats.md sections 3.3 and 5.5).

A config only *names* the operation (``"function": "math.reduce_mean"``) and records its
arguments; lstm-inspect computes the few named here in numpy and refuses every other name:
nothing from a file is ever executed or unpickled. tf-keras records an op's non-tensor
arguments as keywords of its inbound node (``{"axis": 1}``, ``{"slice_spec": [...]}``).
To add an operation, add it to ``_TF_FUNCTIONS`` (tf-keras) or declare an op below (Keras 3).
"""

from __future__ import annotations

from typing import Any, List, Optional

import numpy as np

from ..errors import ConfigError, UnsupportedError
from .base import ANY, STEPS, Blocked, Kind

_REDUCTIONS = {"reduce_mean": np.mean, "reduce_sum": np.sum, "reduce_max": np.max, "reduce_min": np.min}
#: tf-keras TFOpLambda ``function`` names computed here (``math.reduce_mean`` == ``reduce_mean``)
_TF_FUNCTIONS = ("concat", "__operators__.getitem", *_REDUCTIONS, *(f"math.{r}" for r in _REDUCTIONS))


# ---------------------------------------------------------------------- slicing


def _index(layer, spec: Any) -> Any:
    """One entry of a slice spec as a numpy index: an int, a slice, or Ellipsis."""
    if isinstance(spec, int) and not isinstance(spec, bool):
        return spec
    if isinstance(spec, dict):
        if spec.get("class_name") == "__ellipsis__":
            return Ellipsis
        fields = spec.get("config", spec) if spec.get("class_name") == "__slice__" else spec
        if isinstance(fields, dict) and set(fields) <= {"start", "stop", "step"}:
            parts = [fields.get(k) for k in ("start", "stop", "step")]
            if all(p is None or (isinstance(p, int) and not isinstance(p, bool)) for p in parts) and parts[2] != 0:
                return slice(*parts)
    raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}): the index {str(spec)[:60]} is not supported "
                           "(only integers, slices and ...)")


def slice_key(layer, spec: Any) -> tuple:
    specs = spec if isinstance(spec, list) else [spec]
    key = tuple(_index(layer, s) for s in specs)
    if sum(k is Ellipsis for k in key) > 1:
        raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}): an index with two ... is not supported")
    return key


def sliced(layer, x: np.ndarray, spec: Any) -> np.ndarray:
    key = slice_key(layer, spec)
    if key and key[0] != slice(None):
        raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}) indexes the batch axis, which is not supported")
    try:
        return np.asarray(x[key])
    except IndexError as e:
        raise ConfigError(f"layer '{layer.path}' ({layer.class_name}): index {key} does not fit an input of shape "
                          f"{x.shape}: {e}") from None


def _sliced_shape(layer, x: Optional[List[Optional[int]]], spec: Any):
    if x is None:
        return None
    try:
        key = slice_key(layer, spec)
    except UnsupportedError:
        return None
    if Ellipsis in key:
        at = key.index(Ellipsis)
        key = key[:at] + (slice(None),) * (len(x) - len(key) + 1) + key[at + 1:]
    if len(key) > len(x):
        return None
    out = []
    for k, d in enumerate(x):
        index = key[k] if k < len(key) else slice(None)
        if isinstance(index, slice):
            out.append(None if d is None else len(range(*index.indices(d))))
    return out


def _time_untouched(layer, spec: Any) -> bool:
    """The slice keeps the batch and time axes whole (a per-step operation)."""
    try:
        key = slice_key(layer, spec)
    except UnsupportedError:
        return False
    return len(key) < 2 or key[1] is Ellipsis or (key[0] == slice(None) and key[1] == slice(None))


# ---------------------------------------------------------------------- reductions


def _axis(layer, axis: Any, ndim: int):
    axes = axis if isinstance(axis, list) else [axis]
    if axis is None:
        return None
    if not all(isinstance(a, int) and not isinstance(a, bool) and -ndim <= a < ndim for a in axes):
        raise ConfigError(f"layer '{layer.path}' ({layer.class_name}): axis {axis!r} does not fit an input of rank {ndim}")
    if 0 in [a % ndim for a in axes]:
        raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}) reduces over the batch axis, which is not supported")
    return tuple(a % ndim for a in axes)


def _reduced_shape(x, axis, keepdims: bool):
    if x is None or (axis is not None and not all(isinstance(a, int) for a in (axis if isinstance(axis, list) else [axis]))):
        return None
    axes = set(range(len(x))) if axis is None else {a % len(x) for a in (axis if isinstance(axis, list) else [axis])}
    return [(1 if k in axes else d) for k, d in enumerate(x) if keepdims or k not in axes]


def _concat_shape(inputs, axis):
    from .merges import _joined

    return _joined(inputs, axis)


# ---------------------------------------------------------------------- tf-keras TFOpLambda / SlicingOpLambda


def _function(layer) -> str:
    name = layer.config.get("function")
    return name if isinstance(name, str) else repr(name)


def _refuse_tf_op(layer) -> Optional[str]:
    name = _function(layer)
    if name not in _TF_FUNCTIONS:
        return (f"tf.{name} is not computed by lstm-inspect (only tf.concat, tf.reduce_mean/sum/max/min and "
                "slicing x[...] are)")
    return None


def tf_op(layer, xs, masks, call, ctx):
    name = _function(layer).replace("math.", "")
    kwargs = call.kwargs
    if name == "__operators__.getitem":
        return [sliced(layer, np.asarray(xs[0]), kwargs.get("slice_spec"))], [None]
    if name == "concat":
        from .merges import concatenate_arrays

        return [concatenate_arrays(layer, [np.asarray(x) for x in xs], kwargs.get("axis", 0))], [None]
    x = np.asarray(xs[0])
    axis = _axis(layer, kwargs.get("axis"), x.ndim)
    if axis is None:
        raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}) reduces over every axis, the batch "
                               "included, which is not supported")
    return [_REDUCTIONS[name](x, axis=axis, keepdims=bool(kwargs.get("keepdims", False))).astype(x.dtype)], [None]


def _tf_op_shape(layer, inputs, ctx):
    name = _function(layer).replace("math.", "")
    kwargs = _node_kwargs(layer)
    if name == "__operators__.getitem":
        return _sliced_shape(layer, inputs[0] if inputs else None, kwargs.get("slice_spec"))
    if name == "concat":
        return _concat_shape(inputs, kwargs.get("axis", 0))
    if name in _REDUCTIONS:
        return _reduced_shape(inputs[0] if inputs else None, kwargs.get("axis"), bool(kwargs.get("keepdims", False)))
    return None


def _node_kwargs(layer) -> dict:
    """The keywords of a tf-keras op layer's (only) node: on its entries' fourth item."""
    nodes = layer.inbound_nodes or []
    node = nodes[0] if nodes else []
    entries = [node] if node and isinstance(node[0], str) else node
    kwargs: dict = {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, list) and len(entry) > 3 and isinstance(entry[3], dict):
            kwargs.update(entry[3])
    return kwargs


def _tf_op_streams(layer, call, sources, planner) -> str:
    name = _function(layer).replace("math.", "")
    kwargs = call.kwargs if call is not None else _node_kwargs(layer)
    if name == "__operators__.getitem":
        if _time_untouched(layer, kwargs.get("slice_spec")):
            return STEPS
    else:
        axis = kwargs.get("axis", 0 if name == "concat" else None)
        axes = axis if isinstance(axis, list) else [axis]
        if all(isinstance(a, int) and (a < 0 or a >= 2) for a in axes):
            return STEPS
    raise Blocked(f"layer '{layer.path}' ({layer.class_name} {name}) works across time steps")


TF_OP = Kind(
    names=("TFOpLambda", "SlicingOpLambda"), family="tf_ops", compute=tf_op, output_shape=_tf_op_shape,
    refuse=_refuse_tf_op, streams=_tf_op_streams, keys={"function": ANY}, exports={"onnx": "tf_op", "torch": "tf_op"},
)


# ---------------------------------------------------------------------- Keras 3 GetItem, Mean, Sum, Max, Min


def get_item(layer, xs, masks, call, ctx):
    if len(call.args) < 2 or not isinstance(call.args[0], np.ndarray):
        raise ConfigError(f"operation '{layer.path}' (GetItem) takes a tensor and an index")
    return [sliced(layer, call.args[0], call.args[1])], [None]


def _get_item_shape(layer, inputs, ctx):
    args = ctx.args
    return _sliced_shape(layer, inputs[0] if inputs else None, args[1]) if len(args) > 1 else None


def _get_item_streams(layer, call, sources, planner) -> str:
    if call is not None and len(call.args) > 1 and _time_untouched(layer, call.args[1]):
        return STEPS
    raise Blocked(f"layer '{layer.path}' (GetItem) works across time steps")


def _reduce_op(fn):
    def compute(layer, xs, masks, call, ctx):
        if not call.args or not isinstance(call.args[0], np.ndarray):
            raise ConfigError(f"operation '{layer.path}' ({layer.class_name}) takes a tensor")
        x = call.args[0]
        axis = _axis(layer, layer.config.get("axis"), x.ndim)
        if axis is None:
            raise UnsupportedError(f"operation '{layer.path}' ({layer.class_name}) reduces over every axis, the batch "
                                   "included, which is not supported")
        return [fn(x, axis=axis, keepdims=bool(layer.config.get("keepdims", False))).astype(x.dtype)], [None]

    return compute


def _reduce_op_shape(layer, inputs, ctx):
    return _reduced_shape(inputs[0] if inputs else None, layer.config.get("axis"), bool(layer.config.get("keepdims")))


def _reduce_streams(layer, call, sources, planner) -> str:
    axis = layer.config.get("axis")
    axes = axis if isinstance(axis, list) else [axis]
    if all(isinstance(a, int) and (a < 0 or a >= 2) for a in axes):
        return STEPS
    raise Blocked(f"layer '{layer.path}' ({layer.class_name}) works across time steps")


def _op(name, compute, shape, streams, keys, export: str) -> Kind:
    return Kind(names=(name,), family="tf_ops", role="op", compute=compute, output_shape=shape, streams=streams,
                keys=keys, exports={"onnx": export, "torch": export})


_REDUCE_KEYS = {"axis": ANY, "keepdims": ANY, "initial": (None,)}

KINDS = [
    TF_OP,
    _op("GetItem", get_item, _get_item_shape, _get_item_streams, {}, "get_item"),
    _op("Mean", _reduce_op(np.mean), _reduce_op_shape, _reduce_streams, _REDUCE_KEYS, "reduce_mean"),
    _op("Sum", _reduce_op(np.sum), _reduce_op_shape, _reduce_streams, _REDUCE_KEYS, "reduce_sum"),
    _op("Max", _reduce_op(np.max), _reduce_op_shape, _reduce_streams, _REDUCE_KEYS, "reduce_max"),
    _op("Min", _reduce_op(np.min), _reduce_op_shape, _reduce_streams, _REDUCE_KEYS, "reduce_min"),
]
