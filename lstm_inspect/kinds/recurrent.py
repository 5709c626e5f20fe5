"""A recurrent layer seen through its gates: kind, layout, and where each gate's
columns sit in the arrays the file stores.

:func:`recurrent_view` is the one place that knows Keras's weight layouts:
fused Keras 2/3 arrays (i, f, c, o), Keras 1 per-gate arrays (stored i, c, f, o),
CuDNN kernels and biases, GRU biases with and without ``reset_after``, and
ConvLSTM kernels with gates on their last axis. It also gives the canonical
Keras 2 arrays (``kernel``, ``recurrent_kernel``, ``bias``) the executor runs on,
converted exactly as Keras's own loader converts them.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..errors import ConfigError, LstmInspectError, UnsupportedError
from ..gates import KERAS1_GRU_ARRAY_GATES, KERAS1_LSTM_ARRAY_GATES, gate_columns, gate_order
from ..model import Layer, Model, StoredArray
from ..versions import default_recurrent_activation
from .activations import activation_name

ROLES = ("kernel", "recurrent_kernel", "bias")

@dataclass
class GateSlice:
    """Columns ``start:stop`` of the stored array's last axis belong to ``gate``."""

    gate: Optional[str]  #: None for SimpleRNN (no gates)
    start: int
    stop: int
    row: Optional[int] = None  #: 2-D GRU bias: 0 input bias, 1 recurrent bias
    part: Optional[str] = None  #: CuDNN bias: "input" or "recurrent"

    def block(self, value: np.ndarray) -> np.ndarray:
        v = value[self.row] if self.row is not None else value
        return v[..., self.start : self.stop]


@dataclass
class StoredWeight:
    """One stored array of a recurrent layer, in its role, with the gate slices of its last axis."""

    role: str  #: kernel, recurrent_kernel or bias
    array: StoredArray
    slices: List[GateSlice]


@dataclass
class RecurrentLayer:
    """A recurrent layer (one direction of a Bidirectional) seen through its gates."""

    path: str
    class_name: str
    kind: str  #: lstm, gru, simple_rnn, conv_lstm
    cell_class: Optional[str]
    direction: str  #: forward or backward
    units: int
    input_dim: int
    activation: str
    recurrent_activation: Optional[str]  #: None for SimpleRNN
    layout: str  #: "keras2" (fused), "keras1" (per-gate arrays) or "cudnn"
    use_bias: bool
    reset_after: Optional[bool]  #: GRU only
    go_backwards: bool
    return_sequences: bool
    return_state: bool
    stored: List[StoredWeight]
    #: config keys whose values were assumed (writer's defaults), not read from a config
    assumed: List[str] = field(default_factory=list)
    config: Dict = field(default_factory=dict)

    @property
    def gate_order(self) -> Tuple[str, ...]:
        return gate_order(self.kind)

    @property
    def compute_dtype(self) -> str:
        """float16 for a layer computed in float16 (kinds/half.py), else float32."""
        from .half import computes_in_float16

        return "float16" if computes_in_float16(self.config) else "float32"

    @property
    def input_rank(self) -> int:
        """(batch, time, features), or (batch, time, *spatial, channels) for ConvLSTM."""
        return self.stored[0].array.value.ndim + 1 if self.kind == "conv_lstm" else 3

    def canonical(self) -> Dict[str, Optional[np.ndarray]]:
        """``kernel``, ``recurrent_kernel``, ``bias`` in Keras 2's fused layout, as Keras's
        loader converts them (bias is (2, 3u) for GRU with reset_after)."""
        return _canonical(self)


def is_recurrent(layer: Layer) -> bool:
    """A recurrent layer whose gates lstm_inspect knows (an RNN of an unknown cell is not)."""
    from .registry import kind_of
    from .rnn import gate_kind

    kind = kind_of(layer.class_name)
    return kind is not None and kind.role == "recurrent" and gate_kind(layer, kind) is not None


def recurrent_kind(layer: Layer) -> str:
    from .registry import kind_of
    from .rnn import gate_kind

    kind = kind_of(layer.class_name)
    gates = gate_kind(layer, kind) if kind is not None and kind.role == "recurrent" else None
    if gates is None:
        cls = layer.config.get("cell_class") if layer.class_name == "RNN" else layer.class_name
        raise UnsupportedError(f"layer '{layer.path}' is an RNN of {cls}, which lstm_inspect does not know")
    return gates


def recurrent_view(layer: Layer, keras_version: Optional[str]) -> RecurrentLayer:
    """Describe a recurrent layer's gates from its config and stored weights."""
    kind = recurrent_kind(layer)
    cfg = layer.config
    arrays = layer.weights
    gates = gate_order(kind)
    n_gates = max(1, len(gates))
    assumed: List[str] = []
    cudnn_class = layer.class_name.startswith("CuDNN")

    if kind in ("lstm", "gru") and len(arrays) == 3 * len(gates):
        layout = "keras1"
    else:
        layout = "keras2"
    if layout == "keras1":
        stored, units, input_dim, use_bias = _keras1_slices(layer, kind)
        reset_after = False if kind == "gru" else None
    else:
        if len(arrays) not in (2, 3):
            raise ConfigError(
                f"recurrent layer '{layer.path}' has {len(arrays)} weight arrays; expected kernel, "
                "recurrent_kernel and (optionally) bias"
            )
        kernel, recurrent = arrays[0], arrays[1]
        bias = arrays[2] if len(arrays) == 3 else None
        units = _units(layer, kind, recurrent, n_gates)
        _check_shape(layer, "recurrent_kernel", recurrent, kind, units, n_gates)
        _check_shape(layer, "kernel", kernel, kind, units, n_gates)
        input_dim = int(kernel.shape[-2])
        use_bias = bias is not None
        stored = [
            StoredWeight("kernel", kernel, _column_slices(gates, units)),
            StoredWeight("recurrent_kernel", recurrent, _column_slices(gates, units)),
        ]
        reset_after = None
        if bias is not None:
            b = bias.value
            if kind == "lstm" and b.shape == (8 * units,):
                layout = "cudnn"
                slices = [GateSlice(g, s, e, part="input") for g, s, e in gate_columns(gates, units)]
                slices += [GateSlice(g, s, e, part="recurrent") for g, s, e in gate_columns(gates, units, 4 * units)]
            elif kind == "gru" and b.shape == (6 * units,):
                layout = "cudnn"
                reset_after = True
                slices = [GateSlice(g, s, e, part="input") for g, s, e in gate_columns(gates, units)]
                slices += [GateSlice(g, s, e, part="recurrent") for g, s, e in gate_columns(gates, units, 3 * units)]
            elif kind == "gru" and b.shape == (2, 3 * units):
                reset_after = True
                slices = [GateSlice(g, s, e, row=r) for r in (0, 1) for g, s, e in gate_columns(gates, units)]
            elif b.shape == (n_gates * units,):
                reset_after = False if kind == "gru" else None
                slices = _column_slices(gates, units)
            else:
                raise ConfigError(
                    f"layer '{layer.path}' ({layer.class_name}, {units} units) has a bias of shape "
                    f"{tuple(b.shape)}, which fits no Keras layout"
                )
            stored.append(StoredWeight("bias", bias, slices))
        elif kind == "gru":
            reset_after = bool(cfg.get("reset_after", False))
        if cudnn_class:
            layout = "cudnn"

    if layout == "cudnn":
        activation, recurrent_activation = "tanh", "sigmoid"
    else:
        activation = _activation(cfg, "activation", "tanh", assumed, layer)
        recurrent_activation = (
            _activation(cfg, "recurrent_activation", default_recurrent_activation(keras_version), assumed, layer)
            if gates
            else None
        )
    if kind == "gru" and reset_after is not None and "reset_after" in cfg and bool(cfg["reset_after"]) != reset_after and layout != "cudnn":
        raise ConfigError(
            f"the config does not fit the weights: GRU '{layer.path}' says reset_after={cfg['reset_after']} "
            f"but its bias has the shape of reset_after={reset_after}"
        )
    go_backwards = bool(cfg.get("go_backwards", False))
    if layer.inferred and "go_backwards" not in cfg:
        assumed.append("go_backwards")
    return RecurrentLayer(
        path=layer.path,
        class_name=layer.class_name,
        kind=kind,
        cell_class=cfg.get("cell_class"),
        direction="backward" if go_backwards else "forward",
        units=units,
        input_dim=input_dim,
        activation=activation,
        recurrent_activation=recurrent_activation,
        layout=layout,
        use_bias=use_bias,
        reset_after=reset_after,
        go_backwards=go_backwards,
        return_sequences=bool(cfg.get("return_sequences", False)),
        return_state=bool(cfg.get("return_state", False)),
        stored=stored,
        assumed=assumed,
        config=cfg,
    )


def _column_slices(gates, units) -> List[GateSlice]:
    if not gates:
        return [GateSlice(None, 0, units)]
    return [GateSlice(g, s, e) for g, s, e in gate_columns(gates, units)]


def _units(layer: Layer, kind: str, recurrent: StoredArray, n_gates: int) -> int:
    shape = recurrent.shape
    if len(shape) < 2:
        raise ConfigError(f"layer '{layer.path}' has a recurrent kernel of shape {shape}; expected (units, {n_gates}*units)")
    from_shape = int(shape[-2])
    key = "filters" if kind == "conv_lstm" else "units"
    configured = layer.config.get(key)
    if configured is not None and int(configured) != from_shape:
        raise ConfigError(
            f"the config does not fit the weights: layer '{layer.path}' has {key}={configured} "
            f"but its recurrent kernel has shape {shape}"
        )
    return from_shape


def _check_shape(layer: Layer, role: str, array: StoredArray, kind: str, units: int, n_gates: int) -> None:
    shape = array.shape
    rank = len(shape)
    ok = rank >= 2 and shape[-1] == n_gates * units
    if kind == "conv_lstm":
        ok = ok and rank >= 3
    elif ok:
        ok = rank == 2
    if role == "recurrent_kernel":
        ok = ok and shape[-2] == units
    if not ok:
        raise ConfigError(
            f"layer '{layer.path}' ({layer.class_name}) has a {role} of shape {shape}; "
            f"a {kind} of {units} units needs its last axis to be {n_gates}*{units}"
        )


def _keras1_slices(layer: Layer, kind: str):
    order = KERAS1_LSTM_ARRAY_GATES if kind == "lstm" else KERAS1_GRU_ARRAY_GATES
    stored: List[StoredWeight] = []
    units = int(layer.weights[2].shape[-1]) if layer.weights[2].value.ndim else 0
    for k, array in enumerate(layer.weights):
        role = ROLES[k % 3]
        gate = order[k // 3]
        expected_last = units
        if array.value.ndim < 1 or array.shape[-1] != expected_last:
            raise ConfigError(
                f"layer '{layer.path}' stores Keras 1 per-gate arrays, but '{array.name}' has shape {array.shape}"
            )
        stored.append(StoredWeight(role, array, [GateSlice(gate, 0, units)]))
    input_dim = int(layer.weights[0].shape[0])
    return stored, units, input_dim, True


def _activation(cfg: Dict, key: str, default: str, assumed: List[str], layer: Layer) -> str:
    if key not in cfg:
        assumed.append(key)
        return default
    try:
        return activation_name(cfg[key])
    except ConfigError as e:
        raise ConfigError(f"layer '{layer.path}': {e.detail}") from None


def _canonical(view: RecurrentLayer) -> Dict[str, Optional[np.ndarray]]:
    gates = view.gate_order
    by_role: Dict[str, List[StoredWeight]] = {}
    for w in view.stored:
        by_role.setdefault(w.role, []).append(w)
    if view.layout == "keras1":
        out = {}
        for role, weights in by_role.items():
            blocks = {w.slices[0].gate: w.array.value for w in weights}
            out[role] = np.concatenate([blocks[g] for g in gates], axis=-1)
        return {role: out.get(role) for role in ROLES}
    kernel = by_role["kernel"][0].array.value
    recurrent = by_role["recurrent_kernel"][0].array.value
    bias = by_role["bias"][0].array.value if "bias" in by_role else None
    if view.layout == "cudnn":
        n = len(gates)
        # Keras's _convert_rnn_weights: each gate block of the kernel is cuDNN's flat
        # buffer read column-major; recurrent blocks are transposed.
        kernel = np.hstack([k.T.reshape(k.shape, order="F") for k in np.hsplit(kernel, n)])
        recurrent = np.hstack([r.T for r in np.hsplit(recurrent, n)])
        if bias is not None:
            b_input, b_recurrent = np.split(bias, 2)
            bias = b_input + b_recurrent if view.kind == "lstm" else np.stack([b_input, b_recurrent])
    return {"kernel": kernel, "recurrent_kernel": recurrent, "bias": bias}


#: id(model) -> its views; computed once per loaded model, dropped with the model.
_VIEWS: Dict[int, List[RecurrentLayer]] = {}


def recurrent_layers(model: Model) -> List[RecurrentLayer]:
    """Every recurrent layer of the model (each direction of a Bidirectional on its own).

    Computed once per model object and kept outside it (the model stays as read)."""
    views = _VIEWS.get(id(model))
    if views is None:
        try:
            views = [recurrent_view(layer, model.semantics_version) for layer in model.walk() if is_recurrent(layer)]
        except LstmInspectError as e:  # weights that fit no layout: say which file
            raise e.with_file(model.file) from None
        _VIEWS[id(model)] = views
        weakref.finalize(model, _VIEWS.pop, id(model), None)
    return views
