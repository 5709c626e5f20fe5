"""Every weight of a model as named arrays, recurrent layers per gate: what C, embedded
and hand-port users want.

Recurrent layers (each direction of a Bidirectional on its own) are keyed
``<path>/<role>/<gate>`` in Keras 2's canonical layout, after Keras 1 and CuDNN conversion
(docs/formats.md section 4): ``kernel/<g>`` is (inputs, units), ``recurrent_kernel/<g>``
(units, units), ``bias/<g>`` (units,); a GRU with ``reset_after`` has ``bias/<g>/input``
and ``bias/<g>/recurrent``. SimpleRNN has no gates (``<path>/kernel``...). Other layers
are keyed ``<path>/<weight name>`` as stored. The key ``manifest.json`` holds a JSON
document (a 0-d string array) describing every array, shape and gate order.
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..gates import (
    GATE_NAMES,
    GRU_GATES,
    LSTM_GATES,
    ONNX_GRU_GATES,
    ONNX_LSTM_GATES,
    PYTORCH_GRU_GATES,
    PYTORCH_LSTM_GATES,
)
from ..kinds.recurrent import recurrent_layers
from ..kinds.registry import kind_for
from ..model import Model
from ..versions import hard_sigmoid_flavour

MANIFEST_KEY = "manifest.json"


def gate_arrays(model: Model, hard_sigmoid: Optional[str] = None) -> Tuple[Dict[str, np.ndarray], List[str]]:
    arrays: Dict[str, np.ndarray] = {}
    layers = []
    recurrent_paths = set()
    for view in recurrent_layers(model):
        recurrent_paths.add(view.path)
        gates = view.gate_order
        keys = []
        for role, a in view.canonical().items():
            if a is None:
                continue
            a = np.asarray(a, np.float32)
            if not gates:
                keys.append(_put(arrays, f"{view.path}/{role}", a))
                continue
            u = view.units
            for k, g in enumerate(gates):
                block = a[..., k * u:(k + 1) * u]
                if role == "bias" and block.ndim == 2:  # GRU reset_after: input row, recurrent row
                    keys.append(_put(arrays, f"{view.path}/bias/{g}/input", block[0]))
                    keys.append(_put(arrays, f"{view.path}/bias/{g}/recurrent", block[1]))
                else:
                    keys.append(_put(arrays, f"{view.path}/{role}/{g}", block))
        layers.append({
            "path": view.path, "class": view.class_name, "kind": view.kind, "units": view.units,
            "input_dim": view.input_dim, "gate_order": list(gates), "stored_layout": view.layout,
            "activation": view.activation, "recurrent_activation": view.recurrent_activation,
            "reset_after": view.reset_after, "go_backwards": view.go_backwards, "use_bias": view.use_bias,
            "arrays": {key: list(arrays[key].shape) for key in keys},
        })
    others = {}
    for layer in model.walk():
        if layer.path in recurrent_paths or not layer.weights:
            continue
        kind = kind_for(layer)
        names = kind.var_names if kind is not None else ()
        for k, w in enumerate(layer.weights):
            name = w.name.rsplit("/", 1)[-1].split(":")[0]
            if name.isdigit() or not name:
                name = names[k] if len(names) == len(layer.weights) else f"weight_{k}"
            key = _put(arrays, f"{layer.path}/{name}", np.asarray(w.value))
            others[key] = list(arrays[key].shape)
    manifest = {
        "format": "lstm-inspect per-gate weights",
        "source": os.path.basename(model.file),
        "keras_version": model.keras_version,
        "hard_sigmoid": {"keras2": "clip(0.2x + 0.5, 0, 1)", "keras3": "clip(x/6 + 0.5, 0, 1)"}[
            hard_sigmoid or hard_sigmoid_flavour(model.semantics_version)],
        "layout": "Keras 2 canonical: x_t @ kernel/<g> + h_tm1 @ recurrent_kernel/<g> + bias/<g>; "
                  "kernel (inputs, units), recurrent_kernel (units, units)",
        "gate_names": GATE_NAMES,
        "gate_orders": {"keras_lstm": list(LSTM_GATES), "keras_gru": list(GRU_GATES),
                        "onnx_lstm": list(ONNX_LSTM_GATES), "onnx_gru": list(ONNX_GRU_GATES),
                        "torch_lstm": list(PYTORCH_LSTM_GATES), "torch_gru": list(PYTORCH_GRU_GATES)},
        "recurrent_layers": layers,
        "other_arrays": others,
    }
    arrays[MANIFEST_KEY] = np.array(json.dumps(manifest, indent=1))
    notes = [f"{len(layers)} recurrent layer(s) split per gate; {len(others)} other array(s); "
             f"the manifest is the '{MANIFEST_KEY}' entry"]
    return arrays, notes


def _put(arrays: Dict[str, np.ndarray], key: str, value: np.ndarray) -> str:
    while key in arrays:
        key += "_"
    arrays[key] = np.ascontiguousarray(value)
    return key
