"""Reports as plain, JSON-ready dicts. The schemas are versioned (``lstm-inspect/gates@1``);
a breaking change bumps the number. README.md documents every key."""

from __future__ import annotations

import json
import math
from typing import Any, Dict, List

from .labels import GatesReport, LayerReport, SliceReport
from .versions import HARD_SIGMOID_FORMULAS

GATES_SCHEMA = "lstm-inspect/gates@1"
LAYERS_SCHEMA = "lstm-inspect/layers@1"


def dumps(doc: Dict[str, Any]) -> str:
    """One JSON document, never NaN or Infinity (those become null)."""
    return json.dumps(_finite(doc), indent=2, allow_nan=False) + "\n"


def _finite(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def file_header(model) -> Dict[str, Any]:
    return {
        "file": model.file,
        "format": model.format,
        "keras_version": model.keras_version,
        "backend": model.backend,
        "config_source": model.config_source,
    }


def gates_document(report: GatesReport) -> Dict[str, Any]:
    return {
        "schema": GATES_SCHEMA,
        **file_header(report.model),
        "hard_sigmoid": HARD_SIGMOID_FORMULAS[report.hard_sigmoid],
        "layers": [_layer(r) for r in report.layers],
    }


def _layer(r: LayerReport) -> Dict[str, Any]:
    v = r.layer
    return {
        "path": v.path,
        "class_name": v.class_name,
        "cell_class": v.cell_class,
        "direction": v.direction,
        "units": v.units,
        "input_dim": v.input_dim,
        "gate_order": list(v.gate_order),
        "activation": v.activation,
        "recurrent_activation": v.recurrent_activation,
        "assumed": list(v.assumed),
        "layout": v.layout,
        "use_bias": v.use_bias,
        "reset_after": v.reset_after,
        "go_backwards": v.go_backwards,
        "return_sequences": v.return_sequences,
        "weights": [
            {
                "role": w.role,
                "name": w.name,
                "h5_path": w.h5_path,
                "shape": list(w.shape),
                "slices": [_slice(s) for s in w.slices],
            }
            for w in r.weights
        ],
        "notes": list(r.notes),
    }


def _slice(s: SliceReport) -> Dict[str, Any]:
    out: Dict[str, Any] = {"gate": s.gate, "start": s.slice.start, "stop": s.slice.stop}
    if s.slice.row is not None:
        out["row"] = s.slice.row
    if s.slice.part is not None:
        out["part"] = s.slice.part
    out.update(mean=s.mean, std=s.std, min=s.min, max=s.max, l2=s.l2)
    return out


def layers_document(model, rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {"schema": LAYERS_SCHEMA, **file_header(model), "layers": rows}
