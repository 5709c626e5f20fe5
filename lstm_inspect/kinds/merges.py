"""Merge kinds: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, and Keras 1
``Merge``. Masks of the inputs are combined with logical and (Keras 1/2, tf.keras) or, in Keras 3,
with logical or (no mask once an input has none). To add a merge kind, declare
it below and append it to ``KINDS``.
"""

from __future__ import annotations

from typing import Callable, List, Sequence

import numpy as np

from ..errors import ConfigError, UnsupportedError
from .base import ANY, MOVES, STEPS, Blocked, Kind, Mask, feature_axis, need_inputs, stepwise, stepwise_on


def and_masks(masks: Sequence[Mask]) -> Mask:
    present = [m for m in masks if m is not None]
    if not present:
        return None
    out = present[0]
    for m in present[1:]:
        out = np.logical_and(out, m)
    return out


def _same_shapes(layer, xs: List[np.ndarray]) -> None:
    """Keras's elementwise merges take inputs of one shape (a batch of 1 broadcasts)."""
    try:
        np.broadcast_shapes(*[x.shape for x in xs])
    except ValueError:
        shapes = ", ".join(str(x.shape) for x in xs)
        raise ConfigError(f"layer '{layer.path}' ({layer.class_name}) merges inputs of shapes {shapes}, which differ") from None


def or_masks(masks: Sequence[Mask]) -> Mask:
    """Keras 3's elementwise merges: the OR of the masks, and no mask once one input has none."""
    if not masks or any(m is None for m in masks):
        return None
    out = masks[0]
    for m in masks[1:]:
        out = np.logical_or(out, m)
    return out


def _merge(op: Callable[[Sequence[np.ndarray]], np.ndarray], low: int = 1, high=None, keras3_masked: bool = True):
    def merge(layer, xs, masks, call, ctx):
        need_inputs(layer, xs, low, high)
        _same_shapes(layer, xs)
        if ctx.keras_major >= 3:
            if not keras3_masked and any(m is not None for m in masks):
                raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}): Keras 3 replaces masked values "
                                       "before merging, which run does not compute; use --until to stop before it")
            return [op(xs)], [or_masks(masks)]
        return [op(xs)], [and_masks(masks)]

    return merge


def concatenate_arrays(layer, xs: List[np.ndarray], axis) -> np.ndarray:
    """``np.concatenate`` after checking ranks, the axis, and the other axes agreeing."""
    need_inputs(layer, xs, 1)
    ndim = xs[0].ndim
    if not isinstance(axis, int) or isinstance(axis, bool) or not -ndim <= axis < ndim or any(x.ndim != ndim for x in xs):
        shapes = ", ".join(str(x.shape) for x in xs)
        raise ConfigError(f"layer '{layer.path}' ({layer.class_name}) cannot join inputs of shapes {shapes} on axis {axis!r}")
    a = axis % ndim
    if len({x.shape[:a] + x.shape[a + 1:] for x in xs}) > 1:
        shapes = ", ".join(str(x.shape) for x in xs)
        raise ConfigError(f"layer '{layer.path}' ({layer.class_name}) cannot join inputs of shapes {shapes} on axis {axis}")
    return np.concatenate(xs, axis=a)


def concatenate(layer, xs, masks, call, ctx):
    axis = layer.config.get("axis", -1)
    y = concatenate_arrays(layer, xs, axis)
    return [y], [concatenate_masks(layer, xs, masks, axis, ctx.keras_major >= 3)]


def concatenate_masks(layer, xs: List[np.ndarray], masks: Sequence[Mask], axis: int, keras3: bool) -> Mask:
    """Keras's ``Concatenate.compute_mask``: each mask brought to its input's rank (an unmasked
    input: all true), joined along ``axis`` like the tensors, then reduced over the last axis
    (tf.keras: all; Keras 3: any). Along time (axis 1) the masks are joined, not combined."""
    if all(m is None for m in masks):
        return None
    full = []
    for x, m in zip(xs, masks):
        if m is None:
            full.append(np.ones(x.shape, bool))
        elif m.ndim < x.ndim:
            m = np.asarray(m, bool)[..., None]
            full.append(np.broadcast_to(m, x.shape) if keras3 else m)
        else:
            full.append(np.asarray(m, bool))
    try:
        joined = np.concatenate(full, axis=axis)
    except ValueError:
        shapes = ", ".join(str(m.shape) for m in full)
        raise ConfigError(f"layer '{layer.path}' ({layer.class_name}) cannot join masks of shapes {shapes} on axis {axis}; "
                          "Keras cannot either") from None
    return joined.any(axis=-1) if keras3 else joined.all(axis=-1)


_KERAS1_MODES = {
    "sum": lambda a: np.sum(a, axis=0),
    "mul": lambda a: np.prod(a, axis=0),
    "ave": lambda a: np.mean(a, axis=0),
    "max": lambda a: np.max(a, axis=0),
}


def keras1_merge(layer, xs, masks, call, ctx):
    mode = layer.config.get("mode", "sum")
    if mode == "concat":
        return [concatenate_arrays(layer, xs, layer.config.get("concat_axis", -1))], [and_masks(masks)]
    if mode not in _KERAS1_MODES:
        raise UnsupportedError(f"layer '{layer.path}': Keras 1 Merge mode {mode!r} is not supported")
    need_inputs(layer, xs, 1)
    if len({x.shape for x in xs}) > 1:  # Keras 1 merged tensors of one shape only
        shapes = ", ".join(str(x.shape) for x in xs)
        raise ConfigError(f"layer '{layer.path}' (Merge, mode {mode!r}) merges inputs of shapes {shapes}, which differ")
    return [_KERAS1_MODES[mode](np.stack(xs))], [and_masks(masks)]


# ---------------------------------------------------------------------- shapes


def _elementwise_shape(layer, inputs, ctx):
    if not inputs or any(s is None for s in inputs) or len({len(s) for s in inputs}) > 1:
        return None
    return [None] + [next((d for d in dims if d not in (None, 1)), dims[0]) for dims in zip(*[s[1:] for s in inputs])]


def _joined(inputs, axis):
    if not inputs or any(s is None for s in inputs) or not isinstance(axis, int):
        return None
    ndim = len(inputs[0])
    if not -ndim <= axis < ndim or any(len(s) != ndim for s in inputs):
        return None
    y = list(inputs[0])
    total = 0
    for s in inputs:
        total = None if total is None or s[axis] is None else total + s[axis]
    y[axis] = total
    return y


def _merge_shape(layer, inputs, ctx):
    c = layer.config
    if c.get("mode", "sum") == "concat":
        return _joined(inputs, c.get("concat_axis", -1))
    return _elementwise_shape(layer, inputs, ctx)


def _merge_streams(layer, call, sources, planner) -> str:
    c = layer.config
    if c.get("mode", "sum") != "concat" or feature_axis(c.get("concat_axis", -1)):
        return STEPS
    raise Blocked(f"layer '{layer.path}' ({layer.class_name}) works across time steps")


def _elementwise(name: str, op, low: int = 1, high=None, keras3_masked: bool = True, export: str = "") -> Kind:
    return Kind(names=(name,), family="merges", compute=_merge(op, low, high, keras3_masked), output_shape=_elementwise_shape,
                streams=stepwise, keys={}, exports={"onnx": export, "torch": export})


KINDS = [
    _elementwise("Add", lambda xs: np.sum(np.stack(np.broadcast_arrays(*xs)), axis=0), export="add"),
    _elementwise("Subtract", lambda xs: xs[0] - xs[1], 2, 2, export="sub"),
    _elementwise("Multiply", lambda xs: np.prod(np.stack(np.broadcast_arrays(*xs)), axis=0), export="mul"),
    _elementwise("Average", lambda xs: np.mean(np.stack(np.broadcast_arrays(*xs)), axis=0), export="ave"),
    _elementwise("Maximum", lambda xs: np.max(np.stack(np.broadcast_arrays(*xs)), axis=0), keras3_masked=False, export="max"),
    _elementwise("Minimum", lambda xs: np.min(np.stack(np.broadcast_arrays(*xs)), axis=0), keras3_masked=False, export="min"),
    Kind(names=("Concatenate",), family="merges", compute=concatenate, streams=stepwise_on("axis"), keys={"axis": ANY},
         output_shape=lambda layer, inputs, ctx: _joined(inputs, layer.config.get("axis", -1)),
         exports={"onnx": "concat", "torch": "concat"}, half=MOVES),
    Kind(names=("Merge",), family="merges", compute=keras1_merge, output_shape=_merge_shape, streams=_merge_streams,
         keys={"mode": ANY, "concat_axis": ANY, "mode_type": ("raw", None), "dot_axes": ANY, "output_shape": (None,),
               "output_shape_type": ANY, "output_mask": (None,), "output_mask_type": ANY, "arguments": ANY}),
]
