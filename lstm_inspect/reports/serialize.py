"""Reports as plain, JSON-ready dicts. The schemas are versioned (``lstm-inspect/gates@1``);
a breaking change bumps the number. README.md documents every key."""

from __future__ import annotations

import json
import math
from typing import Any, Dict, Iterator, List

import numpy as np

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
        "compute_dtype": v.compute_dtype,
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


def layers_document(model, rows: List[Dict[str, Any]], inputs=()) -> Dict[str, Any]:
    return {"schema": LAYERS_SCHEMA, **file_header(model),
            "inputs": [{"name": name, "shape": list(shape), "dtype": dtype} for name, shape, dtype in inputs],
            "layers": rows}


RUN_SCHEMA = "lstm-inspect/run@1"

#: Arrays are encoded this many bytes of float32 at a time (about 3x as much text).
CHUNK_BYTES = 1 << 20


def run_document(report) -> Dict[str, Any]:
    """A :class:`~lstm_inspect.reports.run.RunReport` as the ``lstm-inspect/run@1``
    document (its selection applied), as Python lists; :func:`run_document_chunks` writes
    the same document without building it."""
    head = _run_head(report)
    head["outputs"] = [np.asarray(y).tolist() for y in report.result.outputs]
    head["stopped_at"] = report.result.stopped_at
    head["layers"] = []
    for st in report.selected:
        layer = _trace_head(st)
        layer["trace"] = {name: value.tolist() for name, value in st.values.items()}
        layer["mask"] = None if st.masked is None else (~st.masked).tolist()
        head["layers"].append(layer)
    return head


def run_document_chunks(report) -> Iterator[bytes]:
    """The ``run --json`` document as UTF-8 text, a piece at a time: arrays are encoded
    :data:`CHUNK_BYTES` at a time with orjson, float32 values in their shortest
    round-tripping form, NaN and infinities as ``null``, so the text is never held whole."""
    head = _run_head(report)
    yield _dumps(head)[:-1] + b',"outputs":['
    for k, y in enumerate(report.result.outputs):
        yield b"," if k else b""
        yield from encode_array(np.asarray(y))
    yield b'],"stopped_at":' + _dumps(report.result.stopped_at) + b',"layers":['
    for n, st in enumerate(report.selected):
        yield (b"," if n else b"") + _dumps(_trace_head(st))[:-1] + b',"trace":{'
        for k, (name, value) in enumerate(st.values.items()):
            yield (b"," if k else b"") + _dumps(name) + b":"
            yield from encode_array(value)
        yield b'},"mask":'
        if st.masked is None:
            yield b"null"
        else:
            yield from encode_array(~st.masked)
        yield b"}"
    yield b"]}\n"


def _run_head(report) -> Dict[str, Any]:
    return {
        "schema": RUN_SCHEMA,
        **file_header(report.model),
        "hard_sigmoid": HARD_SIGMOID_FORMULAS[report.result.hard_sigmoid],
        "inputs": [{"name": name, "shape": list(shape)} for name, shape in report.inputs],
    }


def _trace_head(st) -> Dict[str, Any]:
    v = st.layer.view
    return {
        "path": v.path,
        "class_name": v.class_name,
        "direction": v.direction,
        "units": v.units,
        "gate_order": list(v.gate_order),
        "activation": v.activation,
        "recurrent_activation": v.recurrent_activation,
        "compute_dtype": v.compute_dtype,
        "samples": list(st.samples),
        "unit_range": list(st.units),
        "steps": [int(t) for t in st.steps],
        "spatial": st.spatial,
    }


def encode_array(array: np.ndarray) -> Iterator[bytes]:
    """``array`` as nested JSON lists, :data:`CHUNK_BYTES` of it at a time."""
    if array.ndim <= 1 or array.nbytes <= CHUNK_BYTES:
        yield _dumps_array(array)
        return
    row = array[0].nbytes or 1
    yield b"["
    if row > CHUNK_BYTES:
        for i in range(len(array)):
            yield b"," if i else b""
            yield from encode_array(array[i])
    else:
        n = CHUNK_BYTES // row
        for i in range(0, len(array), n):
            yield (b"," if i else b"") + _dumps_array(array[i : i + n])[1:-1]
    yield b"]"


def _dumps(value: Any) -> bytes:
    import orjson

    return orjson.dumps(value)


def _dumps_array(array: np.ndarray) -> bytes:
    import orjson

    if array.dtype.kind in "fiub" and array.dtype.itemsize <= 8:
        return orjson.dumps(np.ascontiguousarray(array), option=orjson.OPT_SERIALIZE_NUMPY)
    return orjson.dumps(array.tolist())  # float128 and the like: as Python floats


def _record_dicts(selected) -> Iterator[Dict[str, Any]]:
    """One record per layer, sample and step (quantities as 1-D float32 arrays), in step
    order, then layer (in the order they ran), then sample."""
    longest = max((len(st.steps) for st in selected), default=0)
    values = [st.values for st in selected]
    for j in range(longest):
        for st, arrays in zip(selected, values):
            if j >= len(st.steps):
                continue
            t = int(st.steps[j])
            step = st.step_range[0] + j
            units = list(st.units)
            for a, sample in enumerate(st.samples):
                record = {"path": st.layer.path, "sample": sample, "step": step, "t": t,
                          "masked": bool(st.masked[a, j]) if st.masked is not None else False,
                          "unit_range": units}
                for name, v in arrays.items():
                    record[name] = np.ascontiguousarray(v[a, j])  # a view: units are contiguous
                yield record


def run_records(selected) -> Iterator[Dict[str, Any]]:
    """One JSON-ready record per layer, sample and step (NaN and infinities as None): the
    ``--jsonl`` record, its quantities as lists of the units ``unit_range`` names."""
    import orjson

    option = orjson.OPT_SERIALIZE_NUMPY
    for record in _record_dicts(selected):  # each as its line reads back: float32 values in their shortest form
        yield orjson.loads(orjson.dumps(record, option=option))


def record_chunks(selected, chunk_bytes: int = 1 << 18) -> Iterator[bytes]:
    """``--jsonl`` text, encoded with orjson, about ``chunk_bytes`` of records (whole lines)
    at a time."""
    import orjson

    option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
    lines: List[bytes] = []
    size = 0
    for record in _record_dicts(selected):
        line = orjson.dumps(record, option=option)
        lines.append(line)
        size += len(line)
        if size >= chunk_bytes:
            yield b"".join(lines)
            lines, size = [], 0
    if lines:
        yield b"".join(lines)


def record_line(record: Dict[str, Any]) -> str:
    """A ``--jsonl`` line: one record as compact JSON, without its newline."""
    import orjson

    return orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY).decode()
