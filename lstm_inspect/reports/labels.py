"""The labeller: every gate slice of every recurrent weight array, with statistics
and notes that help a person read them. Pure numpy; renderers turn the report into
tables or JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from ..gates import GATE_NAMES
from ..kinds.recurrent import GateSlice, RecurrentLayer, is_recurrent, recurrent_layers
from ..model import Model
from ..versions import HARD_SIGMOID_FORMULAS, hard_sigmoid_flavour


@dataclass
class SliceReport:
    """One gate slice of a stored array, with its statistics."""

    slice: GateSlice
    mean: float
    std: float
    min: float
    max: float
    l2: float

    @property
    def gate(self) -> Optional[str]:
        return self.slice.gate


@dataclass
class WeightReport:
    """One stored array of a recurrent layer, slice by slice."""

    role: str
    name: str
    h5_path: str
    shape: tuple
    slices: List[SliceReport]


@dataclass
class LayerReport:
    """One recurrent layer: its arrays and the notes that help read them."""

    layer: RecurrentLayer
    weights: List[WeightReport]
    notes: List[str] = field(default_factory=list)


@dataclass
class GatesReport:
    """What ``gates`` shows: every recurrent layer of a model."""

    model: Model
    layers: List[LayerReport]
    hard_sigmoid: str  #: "keras2" or "keras3": what hard_sigmoid means for this file


def label_gates(model: Model, hard_sigmoid: Optional[str] = None) -> GatesReport:
    """Label each gate slice of each recurrent layer's stored arrays."""
    flavour = hard_sigmoid or hard_sigmoid_flavour(model.semantics_version)
    for layer in model.walk():
        if layer.class_name == "RNN" and not is_recurrent(layer) and not layer.children:  # stacked: its cells are labelled
            cell = layer.config.get("cell_class") or "an unknown cell"
            warning = f"{layer.path}: RNN of {cell} is not labelled (only LSTMCell, GRUCell, SimpleRNNCell are)"
            if warning not in model.warnings:  # labelled twice, said once
                model.warnings.append(warning)
    reports = []
    for view in recurrent_layers(model):
        weights = [
            WeightReport(
                role=w.role,
                name=w.array.name,
                h5_path=w.array.h5_path,
                shape=w.array.shape,
                slices=[_stats(s, w.array.value) for s in w.slices],
            )
            for w in view.stored
        ]
        reports.append(LayerReport(view, weights, notes=_notes(view, model, flavour)))
    return GatesReport(model=model, layers=reports, hard_sigmoid=flavour)


def _stats(s: GateSlice, value: np.ndarray) -> SliceReport:
    block = np.asarray(s.block(value), dtype=np.float64)
    return SliceReport(
        slice=s,
        mean=float(block.mean()),
        std=float(block.std()),
        min=float(block.min()),
        max=float(block.max()),
        l2=float(np.sqrt(np.sum(block * block))),
    )


def _notes(view: RecurrentLayer, model: Model, flavour: str) -> List[str]:
    notes: List[str] = []
    if view.layout == "keras1":
        order = ", ".join(dict.fromkeys(w.slices[0].gate for w in view.stored))
        fused = ", ".join(view.gate_order)
        notes.append(
            f"Keras 1 layout: one array per gate and role, stored in gate order {order}; "
            f"Keras 2 fuses them in the order {fused}."
        )
    if view.layout == "cudnn":
        n = len(view.gate_order)
        if view.kind == "lstm":
            notes.append(
                f"CuDNN layout: the bias holds {n} input biases then {n} recurrent biases; Keras loads the sum of the two."
            )
        else:
            notes.append(
                f"CuDNN layout: the bias holds {n} input biases then {n} recurrent biases; Keras loads them as the "
                "two rows of a GRU(reset_after=True) bias."
            )
        notes.append(
            "CuDNN layout: each kernel gate block is cuDNN's flat buffer; Keras's loader turns block k into "
            "block.reshape(units, input_dim).T, and each recurrent_kernel block into block.T. Activations are "
            "fixed to tanh and sigmoid."
        )
    if view.kind == "gru" and view.reset_after and view.layout != "cudnn":
        notes.append("reset_after=True: bias row 0 is added to x·W, row 1 to h·U; the reset gate multiplies h·U + b[1].")
    if view.kind == "gru" and view.reset_after is False:
        notes.append("reset_after=False: the reset gate multiplies h before the recurrent product (r*h)·U_h.")
    untrained = _untrained(view)
    if untrained:
        notes.append(untrained)
    if view.assumed:
        keys = ", ".join(view.assumed[:-1]) + (" and " if len(view.assumed) > 1 else "") + view.assumed[-1]
        values = ", ".join(f"{k}={getattr(view, k)}".replace("True", "true").replace("False", "false") for k in view.assumed)
        if model.keras_version:
            writer = f"Keras {model.keras_version}"
        else:
            writer = f"Keras {model.assumed_keras_major} (assumed)" if model.assumed_keras_major else "Keras 1"
        notes.append(f"{keys} assumed ({values}, the defaults of {writer}): the file has no config; pass --config to use the model's own.")
    if model.config_source == "weights" and view.class_name:
        notes.append(f"{view.class_name} inferred from the weight shapes (no config in the file).")
    if "hard_sigmoid" in (view.activation, view.recurrent_activation):
        formula = HARD_SIGMOID_FORMULAS[flavour]
        if flavour == "keras2":
            notes.append(
                f"hard_sigmoid here is {formula} (Keras 1/2 and tf.keras); Keras 3 loads the same name as "
                f"{HARD_SIGMOID_FORMULAS['keras3']} and computes different outputs."
            )
        else:
            notes.append(
                f"hard_sigmoid here is {formula} (Keras 3); Keras 1/2 and tf.keras meant {HARD_SIGMOID_FORMULAS['keras2']}."
            )
    if view.recurrent_activation not in (None, "sigmoid", "hard_sigmoid"):
        notes.append(f"recurrent_activation is {view.recurrent_activation}: gate values are not confined to [0, 1].")
    if view.go_backwards:
        notes.append("go_backwards: the layer reads the sequence from the last step to the first.")
    if view.compute_dtype != "float32":
        notes.append(f"computes in {view.compute_dtype}: run rounds every operation to float16, as TensorFlow does on CPU.")
    return notes


def _untrained(view: RecurrentLayer) -> Optional[str]:
    bias = view.canonical()["bias"]
    if bias is None or view.kind == "simple_rnn":
        return None
    bias = np.asarray(bias).reshape(-1, bias.shape[-1])
    u = view.units
    if view.kind in ("lstm", "conv_lstm"):
        f = view.gate_order.index("f")
        forget = bias[:, f * u : (f + 1) * u]
        others = np.delete(bias, np.s_[f * u : (f + 1) * u], axis=1)
        if np.all(forget == 1.0) and np.all(others == 0.0):
            return (
                "forget-gate bias is exactly 1 and the other biases 0: these weights look untrained "
                "(Keras's unit_forget_bias initialiser), or the bias was never updated."
            )
    if np.all(bias == 0.0):
        return "all biases are exactly 0: these weights look untrained (Keras's zeros initialiser)."
    return None


def gate_name(gate: Optional[str]) -> str:
    return GATE_NAMES.get(gate, "") if gate else ""
