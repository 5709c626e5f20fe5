"""Kinds that hold other layers: Bidirectional, TimeDistributed, and models nested in the
model (Sequential, Functional, Model).

Their children come from the config (see reading/config.py); a wrapper's weights are its
children's. To add a wrapper kind, declare it below (with ``v3_children``, the attribute
names Keras 3 saves its children under) and append it to ``KINDS``.
"""

from __future__ import annotations

from typing import Any, List, Tuple

import numpy as np

from ..errors import ConfigError, UnsupportedError
from .base import ANY, Blocked, Call, Half, Kind, stepwise
from .half import computes_in_float16, to_half
from .recurrent import is_recurrent
from .rnn import check_input, final_states, initial_state, n_states, run_view


def _sum(children: List[Tuple[int, int]]) -> Tuple[int, int]:
    return sum(t for t, _ in children), sum(n for _, n in children)


# ---------------------------------------------------------------------- Bidirectional

_MERGES = {
    "concat": lambda y, y_rev: [np.concatenate([y, y_rev], axis=-1)],
    "sum": lambda y, y_rev: [y + y_rev],
    "mul": lambda y, y_rev: [y * y_rev],
    "ave": lambda y, y_rev: [(y + y_rev) / 2],
    None: lambda y, y_rev: [y, y_rev],
}


def unrunnable_bidirectional(layer) -> Any:
    """Why a Bidirectional cannot run (its two directions are not recurrent layers lstm_inspect
    knows, as a damaged or custom config can give), or None."""
    odd = [c for c in layer.children if not is_recurrent(c)]
    if len(layer.children) != 2 or odd:
        inner = odd[0].class_name if odd else f"{len(layer.children)} layers"
        return f"a Bidirectional of {inner}, which run cannot compute"
    if layer.config.get("merge_mode", "concat") not in _MERGES:
        return f"a Bidirectional with merge_mode {layer.config.get('merge_mode')!r}, which run cannot compute"
    return None


def bidirectional_zero_output(layer, forward_view, zero_bidirectional: bool) -> bool:
    """Whether a Bidirectional outputs zeros at masked steps (run and export ask this one rule):
    tf.keras >= 2.4 and Keras 3 force it with return_sequences (``zero_bidirectional``), a
    direction's own ``zero_output_for_mask`` asks for it, and the wrapper's own key (Keras never
    writes it there; compare sets it for a what-if) decides over both."""
    zero = layer.config.get("zero_output_for_mask")
    if zero is not None:
        return bool(zero)
    forward = layer.children[0]
    return (zero_bidirectional and forward_view.return_sequences) or bool(forward.config.get("zero_output_for_mask"))


def bidirectional(layer, xs, masks, call, ctx):
    reason = unrunnable_bidirectional(layer)
    if reason:
        raise UnsupportedError(f"layer '{layer.path}' is {reason}; use --until to stop before it")
    forward, backward = layer.children
    fv, bv = ctx.view(forward), ctx.view(backward)
    check_input(fv, xs[0])
    mask = masks[0] if masks else None
    init = initial_state(fv, layer.path, xs, call.kwargs, 2 * n_states(fv), ctx)
    if init is not None:
        for direction in (forward, backward):  # states from the model: the caller's would go unused
            initial_state(ctx.view(direction), direction.path, xs, call.kwargs, 2 * n_states(fv), ctx)
    else:  # the caller's states, by direction (the keys run --state-out writes: bi/forward_lstm/h, ...)
        f_init = initial_state(fv, forward.path, xs[:1], {}, n_states(fv), ctx)
        b_init = initial_state(bv, backward.path, xs[:1], {}, n_states(bv), ctx)
        if f_init is not None or b_init is not None:
            if f_init is None or b_init is None or len(f_init) != len(b_init):
                raise ConfigError(f"initial states are given for one direction of '{layer.path}' only; give both "
                                  f"('{forward.path}/h', '{backward.path}/h', ...)")
            init = f_init + b_init
    half = len(init) // 2 if init else 0
    zero = bidirectional_zero_output(layer, fv, ctx.zero_bidirectional)
    ft = run_view(fv, xs[0], mask, init[:half] if init else None, zero, ctx)
    bt = run_view(bv, xs[0], mask, init[half:] if init else None, zero, ctx)
    y, y_rev = ft.output, bt.output
    if fv.return_sequences:
        y_rev = y_rev[:, ::-1]
    mode = layer.config.get("merge_mode", "concat")
    if computes_in_float16(layer.config if ctx.keras3 else forward.config):
        # Keras 3 casts both directions to the wrapper's dtype before the merge, tf.keras merges
        # in theirs: in float16 each operation is rounded (docs/formats.md section 5.6)
        y, y_rev = to_half(y), to_half(y_rev)
        outs = [to_half(to_half(y + y_rev) / 2)] if mode == "ave" else [to_half(o) for o in _MERGES[mode](y, y_rev)]
    else:
        outs = _MERGES[mode](y, y_rev)
    out_masks = [mask if fv.return_sequences else None] * len(outs)
    if fv.return_state:
        for t in (ft, bt):
            states = final_states(t)
            outs += states
            out_masks += [None] * len(states)
    return outs, out_masks


def _bidirectional_shape(layer, inputs, ctx):
    x = inputs[0] if inputs else None
    if x is None or len(layer.children) != 2:
        return None
    forward = ctx.layer(layer.children[0], [x])
    ctx.layer(layer.children[1], [x])
    if forward is None:
        return None
    multi = isinstance(forward[0], list)
    y, states = (forward[0], forward[1:]) if multi else (forward, [])
    mode = layer.config.get("merge_mode", "concat")
    if y is None or mode not in _MERGES:
        return None
    if mode is None:
        outs = [y, list(y)]
    elif mode == "concat":
        outs = [y[:-1] + [None if y[-1] is None else y[-1] * 2]]
    else:
        outs = [y]
    outs += states + [list(s) for s in states]
    return outs if len(outs) > 1 else outs[0]


def _backwards(layer, call, sources, planner):
    raise Blocked(f"layer '{layer.path}' ({layer.class_name}) runs backwards over the whole sequence")


BIDIRECTIONAL = Kind(
    names=("Bidirectional",), family="wrappers", role="wrapper", compute=bidirectional,
    output_shape=_bidirectional_shape, streams=_backwards, over_time=True,
    # zero_output_for_mask: Keras never writes it on the wrapper; compare sets it for a what-if
    keys={"layer": ANY, "backward_layer": ANY, "merge_mode": ANY, "zero_output_for_mask": ANY},
    weights=lambda c, children: _sum(children), v3_children=("forward_layer", "backward_layer"),
    exports={"onnx": "bidirectional", "torch": "bidirectional"},
    half=Half(),  # float16 inputs; each direction computes in its own dtype, the merge as above
)

# ---------------------------------------------------------------------- TimeDistributed


def time_distributed(layer, xs, masks, call, ctx):
    if len(layer.children) != 1:
        raise ConfigError(f"layer '{layer.path}' (TimeDistributed) wraps {len(layer.children)} layers, not one")
    (inner,) = layer.children
    x = xs[0]
    if x.ndim < 3:
        raise ConfigError(f"layer '{layer.path}' (TimeDistributed) needs input (batch, time, ...), got shape {x.shape}")
    batch, time = x.shape[0], x.shape[1]
    mask = masks[0] if masks else None
    # Both generations hand the wrapped layer the mask of its own axes (batch*time, ...);
    # a (batch, time) mask leaves one value per call, which no recurrent layer can take.
    inner_mask = None
    if mask is not None and mask.ndim > 2:
        inner_mask = mask.reshape((batch * time,) + mask.shape[2:])
    elif mask is not None and is_recurrent(inner):
        raise UnsupportedError(f"layer '{layer.path}' (TimeDistributed) passes a (batch, time) mask to the recurrent "
                               f"layer it wraps, which Keras cannot apply either")
    outs, inner_masks = ctx.compute(inner, [x.reshape((batch * time,) + x.shape[2:])], [inner_mask], Call())
    y = outs[0]
    ctx.record(inner.path, outs)
    return [y.reshape((batch, time) + y.shape[1:])], [_time_distributed_mask(mask, inner_masks[0], batch, time, ctx)]


def _time_distributed_mask(mask, inner_mask, batch: int, time: int, ctx):
    """Keras 3 passes the input mask through; tf.keras (and Keras 1/2) take the wrapped layer's
    output mask, or else the input mask reduced to (batch, time) with any."""
    if ctx.keras_major >= 3:
        return mask
    if inner_mask is not None:
        return inner_mask.reshape((batch, time) + inner_mask.shape[1:])
    if mask is None:
        return None
    return mask.reshape(batch, time, -1).any(axis=-1) if mask.ndim > 2 else mask


def _time_distributed_shape(layer, inputs, ctx):
    x = inputs[0] if inputs else None
    if x is None or len(x) < 3 or len(layer.children) != 1:
        return None
    inner = ctx.layer(layer.children[0], [[None] + list(x[2:])])
    if inner is None or (inner and isinstance(inner[0], list)):
        return None
    return [None, x[1]] + list(inner[1:])


TIME_DISTRIBUTED = Kind(
    names=("TimeDistributed",), family="wrappers", role="wrapper", compute=time_distributed,
    output_shape=_time_distributed_shape, streams=stepwise, keys={"layer": ANY},
    weights=lambda c, children: _sum(children), v3_children=("layer",),
    exports={"onnx": "time_distributed", "torch": "time_distributed"},
)

# ---------------------------------------------------------------------- nested models


def nested_model(layer, xs, masks, call, ctx):
    return ctx.container(layer, xs, masks)


MODEL = Kind(
    names=("Sequential", "Functional", "Model"), family="wrappers", role="model", compute=nested_model,
    output_shape=lambda layer, inputs, ctx: ctx.container(layer, inputs),
    streams=lambda layer, call, sources, planner: planner.container(layer), exports={"onnx": "model", "torch": "model"},
    weights=lambda c, children: _sum(children),
    keys={"layers": ANY, "input_layers": ANY, "output_layers": ANY, "build_input_shape": ANY},
)

KINDS = [BIDIRECTIONAL, TIME_DISTRIBUTED, MODEL]
