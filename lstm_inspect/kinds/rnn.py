"""Recurrent layer kinds: LSTM, GRU, SimpleRNN, CuDNNLSTM/GRU, RNN(cell), ConvLSTM1D/2D/3D.

Their gate layouts are read by :mod:`.recurrent`, their step loops are in :mod:`.cells`
and :mod:`.conv_lstm`; this module declares what the rest of the pipeline asks of them.
To add a recurrent kind, declare it below with :func:`_recurrent` and append it to ``KINDS``
(a new cell class for ``RNN(cell)`` goes in ``CELLS``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from ..errors import ConfigError, UnsupportedError
from ..model import Layer
from .base import ANY, LAST, STEPS, Blocked, Half, Kind, conv_len, shape_int

#: Cell classes an ``RNN(cell)`` may wrap, and the gate kind each computes.
CELLS = {"LSTMCell": "lstm", "GRUCell": "gru", "SimpleRNNCell": "simple_rnn"}
#: The cell class of ``RNN(StackedRNNCells([...]))`` and ``RNN([cell, ...])``: the layer's
#: children are its cells, each an ``RNN(cell)`` (reading/config.py).
STACKED = "StackedRNNCells"

# Keras 1 -> Keras 2 recurrent config keys (K@2.2.4:keras/legacy/interfaces.py).
_KERAS1_KEYS = {
    "output_dim": "units",
    "inner_activation": "recurrent_activation",
    "init": "kernel_initializer",
    "inner_init": "recurrent_initializer",
    "dropout_W": "dropout",
    "dropout_U": "recurrent_dropout",
    "W_regularizer": "kernel_regularizer",
    "U_regularizer": "recurrent_regularizer",
    "b_regularizer": "bias_regularizer",
}
_CONSUME_LESS = {"cpu": 0, "mem": 1, "gpu": 2}


def _keras1(config: Dict[str, Any]) -> Dict[str, Any]:
    if any(k in config for k in _KERAS1_KEYS):
        for old, new in _KERAS1_KEYS.items():
            if old in config and new not in config:
                config[new] = config.pop(old)
        if "consume_less" in config and "implementation" not in config:
            config["implementation"] = _CONSUME_LESS.get(config.pop("consume_less"), 0)
        if config.get("input_dim") and "batch_input_shape" not in config:
            config["batch_input_shape"] = [None, config.get("input_length"), config["input_dim"]]
    return config


def gate_kind(layer: Layer, kind: Kind) -> Optional[str]:
    """lstm, gru, simple_rnn or conv_lstm; None for an RNN of an unknown cell."""
    if kind.gate_kind is not None:
        return kind.gate_kind
    return CELLS.get(layer.config.get("cell_class"))


# ---------------------------------------------------------------------- compute


def recurrent(layer: Layer, xs, masks, call, ctx):
    if layer.config.get("time_major"):
        raise UnsupportedError(f"layer '{layer.path}' is time_major (inputs (time, batch, ...)), which run does not support")
    if layer.children:
        return stacked(layer, xs, masks, call, ctx)
    view = ctx.view(layer)
    check_input(view, xs[0])
    mask = masks[0] if masks else None
    init = initial_state(view, layer.path, xs, call.kwargs, n_states(view), ctx)
    trace = run_view(view, xs[0], mask, init, bool(layer.config.get("zero_output_for_mask", False)), ctx)
    outs = [trace.output]
    out_masks = [mask if view.return_sequences else None]
    if view.return_state:
        states = final_states(trace)
        outs += states
        out_masks += [None] * len(states)
    return outs, out_masks


def stacked(layer: Layer, xs, masks, call, ctx):
    """RNN(StackedRNNCells): at each step the cells run one after another, each on the one
    before's output. For the outputs that is each cell run as its own layer over the whole
    sequence, every cell on the same mask (a masked step holds every cell's states), the last
    cell with the RNN's return_sequences and zero_output_for_mask; the states are every cell's,
    in cell order (docs/formats.md section 4.9)."""
    if len(xs) > 1 or call.kwargs.get("initial_state") is not None:
        raise UnsupportedError(f"layer '{layer.path}' (RNN of StackedRNNCells) starts from states computed in the "
                               "model, which run does not support")
    x, mask = xs[0], (masks[0] if masks else None)
    traces = []
    for cell in layer.children:
        view = ctx.view(cell)
        check_input(view, x)
        init = initial_state(view, cell.path, [x], {}, n_states(view), ctx)
        trace = run_view(view, x, mask, init, bool(cell.config.get("zero_output_for_mask", False)), ctx)
        traces.append(trace)
        x = trace.output
    outs = [x]
    out_masks = [mask if layer.config.get("return_sequences") else None]
    if layer.config.get("return_state"):
        for trace in traces:
            states = final_states(trace)
            outs += states
            out_masks += [None] * len(states)
    return outs, out_masks


def n_states(view) -> int:
    return 2 if view.kind in ("lstm", "conv_lstm") else 1


def final_states(trace) -> List[np.ndarray]:
    return [trace.states["h"], trace.states["c"]] if "c" in trace.states else [trace.states["h"]]


def run_view(view, x: np.ndarray, mask, init, zero_output: bool, ctx):
    """Run one direction of a recurrent layer through its step loop, and note its trace."""
    check_mask(view, x, mask)
    if view.kind == "conv_lstm":
        from .conv_lstm import run_conv_lstm

        if init is not None or (zero_output and mask is not None):  # zeroed outputs matter at masked steps only
            raise UnsupportedError(f"layer '{view.path}': initial states and zeroed masked outputs are not supported for ConvLSTM")
        trace = run_conv_lstm(view, x, mask=mask, hard_sigmoid=ctx.hard_sigmoid, theano_kernels=ctx.backend == "theano")
    else:
        from .cells import run_recurrent

        trace = run_recurrent(view, x, mask=mask, hard_sigmoid=ctx.hard_sigmoid, initial_state=init,
                              zero_output_for_mask=zero_output, progress=ctx.progress,
                              initial_output=ctx.initial_output(view.path), keep_rows=ctx.keep_rows(view.path))
    ctx.traced(view, trace, mask)
    return trace


def initial_state(view, path: str, xs, kwargs, n: int, ctx) -> Optional[List[np.ndarray]]:
    """The states a call starts from: extra inputs (Keras 1/2), the ``initial_state`` keyword
    (Keras 3), or the caller's (``{"h", "c"}`` by path); None for zeros. Each state must
    broadcast to (batch, units)."""
    if len(xs) > 1 or kwargs.get("initial_state") is not None:
        if ctx.initial_states.get(path):
            raise ConfigError(f"initial states are given for layer '{path}', which the model starts from states "
                              "it computes itself; they would not be used")
        state = list(xs[1:]) if len(xs) > 1 else kwargs["initial_state"]
        given: Optional[List[Any]] = list(state) if isinstance(state, list) else [state]
    else:
        user = ctx.initial_states.get(path)
        given = [user[k] for k in ("h", "c")[:n] if k in user] if user else None
    if not given:
        return None
    if view.kind != "conv_lstm":
        batch = xs[0].shape[0]
        if len(given) > n:
            raise ConfigError(f"layer '{path}' is given {len(given)} initial states; it takes {n}")
        for s in given:
            shape = np.shape(s) if isinstance(s, (np.ndarray, list, float, int)) else None
            if shape is None or len(shape) > 2 or (shape and shape[-1] != view.units) or (
                    len(shape) == 2 and shape[0] not in (1, batch)):
                raise ConfigError(
                    f"layer '{path}' needs initial states of shape ({batch}, {view.units}), got "
                    f"{shape if shape is not None else type(s).__name__}"
                )
    return given


def check_input(view, x: np.ndarray) -> None:
    want = view.input_rank
    if x.ndim != want:
        raise ConfigError(f"layer '{view.path}' needs input of rank {want} (batch, time, ...), got shape {x.shape}")
    if x.shape[-1] != view.input_dim:
        raise ConfigError(
            f"layer '{view.path}' needs {view.input_dim} features per step, got {x.shape[-1]} (input shape {x.shape})"
        )


def check_mask(view, x: np.ndarray, mask) -> None:
    if mask is not None and np.shape(mask) != x.shape[:2]:
        raise ConfigError(f"layer '{view.path}' is given a mask of shape {np.shape(mask)} for an input of shape {x.shape}")


# ---------------------------------------------------------------------- static shapes


def _units(layer: Layer) -> Optional[int]:
    c = layer.config
    return shape_int(c.get("filters") if c.get("filters") is not None else c.get("units"))


def _shape(layer: Layer, inputs, ctx):
    x = inputs[0] if inputs else None
    cells = layer.children or [layer]
    seq = x
    for cell in layer.children:  # each cell's own row (its whole output sequence)
        seq = ctx.layer(cell, [seq])
    units, c = _units(cells[-1]), layer.config
    if x is None or units is None or len(x) < 3:
        return None
    y = [None, x[1], units] if c.get("return_sequences") else [None, units]
    if c.get("return_state"):
        states = []
        for cell in cells:
            lstm = (cell.config.get("cell_class") or cell.class_name).replace("CuDNN", "").startswith("LSTM")
            states += [[None, _units(cell)]] * (2 if lstm else 1)
        return [y] + states
    return y


def _conv_shape(layer: Layer, inputs, ctx):
    x = inputs[0] if inputs else None
    c, n = layer.config, int(layer.class_name[-2])
    units = _units(layer)
    if x is None or units is None or len(x) != n + 3:
        return None

    def each(key, default):
        v = c.get(key, default)
        return list(v) if isinstance(v, list) and len(v) == n else [v] * n

    k, s, d = each("kernel_size", 1), each("strides", 1), each("dilation_rate", 1)
    pad = c.get("padding", "valid")
    spatial = [conv_len(x[2 + a], shape_int(k[a]), shape_int(s[a]), shape_int(d[a]), pad) for a in range(n)]
    state = [None] + spatial + [units]
    y = [None, x[1]] + spatial + [units] if c.get("return_sequences") else state
    return [y, state, list(state)] if c.get("return_state") else y


# ---------------------------------------------------------------------- streaming


def _streams(layer: Layer, call, sources, planner) -> str:
    where = f"layer '{layer.path}' ({layer.class_name})"
    if layer.children:
        raise Blocked(f"{where} runs stacked cells")
    if layer.config.get("go_backwards"):
        raise Blocked(f"{where} runs backwards (go_backwards)")
    if call is not None and (call.kwargs.get("initial_state") or len(call.inputs) > 1):
        raise Blocked(f"{where} starts from states computed in the model")
    return STEPS if layer.config.get("return_sequences") else LAST


# ---------------------------------------------------------------------- recognition from weights


def _blocks(shapes) -> Optional[int]:
    if len(shapes) < 2 or len(shapes[1]) < 2 or not shapes[1][-2] or shapes[1][-1] % shapes[1][-2]:
        return None
    return shapes[1][-1] // shapes[1][-2]


def _recognise(blocks: int, rank: int, cudnn_bias: Optional[int] = None, plain: bool = True):
    def rule(names, shapes) -> bool:
        if _blocks(shapes) != blocks or len(shapes[1]) != rank:
            return False
        if cudnn_bias is None:
            return True
        units = shapes[1][-2]
        is_cudnn = len(shapes) > 2 and tuple(shapes[2]) == (cudnn_bias * units,)
        return is_cudnn != plain

    return rule


def _refuse_rnn(layer: Layer) -> Optional[str]:
    cell_class = layer.config.get("cell_class")
    if cell_class == STACKED and layer.children:
        odd = [c.config.get("cell_class") for c in layer.children if CELLS.get(c.config.get("cell_class")) is None]
        if odd:
            return f"RNN of StackedRNNCells holding {odd[0] or 'an unknown cell'} is not supported"
        if layer.config.get("go_backwards"):  # Keras reverses the input once, not each cell's
            return "RNN of StackedRNNCells with go_backwards=True is not supported"
        return None
    if layer.class_name == "RNN" and CELLS.get(cell_class) is None:
        return f"RNN of {cell_class or 'an unknown cell'} is not supported"
    return None


#: Activations Keras applies to each gate's columns; one across several columns (softmax)
#: would differ from Keras wherever lstm-inspect activates gates together.
_NOT_ELEMENTWISE = ("softmax", "log_softmax")


def elementwise_activation(value: Any) -> bool:
    from ..errors import LstmInspectError
    from .activations import activation_name

    try:
        return activation_name(value) not in _NOT_ELEMENTWISE
    except LstmInspectError:
        return True  # an unknown activation is refused by name where it is looked up


#: The config keys every recurrent layer reads (the cell's keys included: RNN(cell) merges them).
RECURRENT_KEYS = {
    "units": ANY, "activation": elementwise_activation, "recurrent_activation": elementwise_activation,
    "use_bias": ANY, "return_sequences": ANY, "return_state": ANY, "go_backwards": ANY, "stateful": ANY,
    "unroll": ANY, "implementation": ANY, "dropout": ANY, "recurrent_dropout": ANY, "time_major": (False, None),
    "zero_output_for_mask": ANY, "reset_after": ANY, "use_cudnn": ANY, "cell_class": ANY, "unit_forget_bias": ANY,
}
_CONV_LSTM_KEYS = {**RECURRENT_KEYS, "filters": ANY, "kernel_size": ANY, "strides": ANY, "padding": ANY,
                   "dilation_rate": ANY, "data_format": ("channels_last", None)}


def _weights(c, children):
    """kernel, recurrent_kernel (and bias); stacked cells: each cell's, in order."""
    if children:
        return sum(t for t, _ in children), sum(n for _, n in children)
    return (3 if c.get("use_bias", True) else 2), 0


def _recurrent(names, gate, shape, **more) -> Kind:
    return Kind(
        names=names, family="recurrent", role="recurrent", compute=recurrent, output_shape=shape, keys=RECURRENT_KEYS,
        gate_kind=gate, over_time=True, streams=_streams, v3_vars="cell/vars", var_names=("kernel", "recurrent_kernel", "bias"),
        weights=_weights, **more,
        exports={"onnx": "recurrent", "torch": "recurrent"},
    )


def _conv_streams(layer, call, sources, planner):
    raise Blocked(f"layer '{layer.path}' ({layer.class_name}) is a ConvLSTM")


KINDS = [
    # float16: the step loop rounds every operation itself (kinds/half.py)
    _recurrent(("LSTM",), "lstm", _shape, keras1_config=_keras1, recognise=_recognise(4, 2, 8, plain=True), half=Half()),
    _recurrent(("GRU",), "gru", _shape, keras1_config=_keras1, recognise=_recognise(3, 2, 6, plain=True), half=Half()),
    _recurrent(("SimpleRNN",), "simple_rnn", _shape, keras1_config=_keras1, recognise=_recognise(1, 2), half=Half()),
    _recurrent(("CuDNNLSTM",), "lstm", _shape, recognise=_recognise(4, 2, 8, plain=False)),
    _recurrent(("CuDNNGRU",), "gru", _shape, recognise=_recognise(3, 2, 6, plain=False)),
    _recurrent(("RNN",), None, _shape, refuse=_refuse_rnn),
    *[
        Kind(
            names=(f"ConvLSTM{n}D",), family="recurrent", role="recurrent", compute=recurrent, output_shape=_conv_shape,
            gate_kind="conv_lstm", over_time=True, streams=_conv_streams, v3_vars="cell/vars", keys=_CONV_LSTM_KEYS,
            var_names=("kernel", "recurrent_kernel", "bias"), recognise=_recognise(4, n + 2),
            weights=lambda c, children: ((3 if c.get("use_bias", True) else 2), 0),
        )
        for n in (1, 2, 3)
    ],
]
