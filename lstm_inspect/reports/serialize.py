"""Reports as plain, JSON-ready dicts. The schemas are versioned (``lstm-inspect/gates@1``);
a breaking change bumps the number. README.md documents every key."""

from __future__ import annotations

import json
import math
from typing import Any, Dict, Iterator, List

from ..versions import HARD_SIGMOID_FORMULAS
from .labels import GatesReport, LayerReport, SliceReport

GATES_SCHEMA = "lstm-inspect/gates@1"
LAYERS_SCHEMA = "lstm-inspect/layers@1"


def dumps(doc: Dict[str, Any]) -> str:
    """One JSON document, never NaN or Infinity (those become null). Traces are large,
    so ``run`` documents are compact; the others are indented for reading."""
    indent = None if doc.get("schema") == RUN_SCHEMA else 2
    return json.dumps(_finite(doc), indent=indent, allow_nan=False) + "\n"


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


RUN_SCHEMA = "lstm-inspect/run@1"


def run_document(report) -> Dict[str, Any]:
    """A :class:`~lstm_inspect.reports.run.RunReport` as the ``lstm-inspect/run@1``
    document (its selection applied)."""
    result = report.result
    return {
        "schema": RUN_SCHEMA,
        **file_header(report.model),
        "hard_sigmoid": HARD_SIGMOID_FORMULAS[result.hard_sigmoid],
        "inputs": [{"name": name, "shape": list(shape)} for name, shape in report.inputs],
        "outputs": [y.tolist() for y in result.outputs],
        "stopped_at": result.stopped_at,
        "layers": [_trace(st) for st in report.selected],
    }


def _trace(st) -> Dict[str, Any]:
    v = st.layer.view
    return {
        "path": v.path,
        "class_name": v.class_name,
        "direction": v.direction,
        "units": v.units,
        "gate_order": list(v.gate_order),
        "activation": v.activation,
        "recurrent_activation": v.recurrent_activation,
        "samples": list(st.samples),
        "unit_range": list(st.units),
        "steps": [int(t) for t in st.steps],
        "spatial": st.spatial,
        "trace": {name: value.tolist() for name, value in st.values.items()},
        "mask": None if st.masked is None else (~st.masked).tolist(),
    }


def run_records(selected) -> Iterator[Dict[str, Any]]:
    """One JSON-ready record per layer, sample and step (NaN and infinities as None), in
    step order, then layer (in the order they ran), then sample."""
    longest = max((len(st.steps) for st in selected), default=0)
    for j in range(longest):
        for st in selected:
            if j >= len(st.steps):
                continue
            t = int(st.steps[j])
            step = st.step_range[0] + j
            for a, sample in enumerate(st.samples):
                record = {"layer": st.layer.path, "sample": sample, "step": step, "t": t}
                record["masked"] = bool(st.masked[a, j]) if st.masked is not None else False
                for name, values in st.values.items():
                    record[name] = values[a, j].tolist()
                yield _finite(record)


def record_line(record: Dict[str, Any]) -> str:
    """A ``--jsonl`` line: one record as compact JSON, without its newline."""
    return json.dumps(record, allow_nan=False)
