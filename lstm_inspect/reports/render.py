"""Rich renderables for reports: each function takes a report and returns (or yields)
renderables; printing them is the job of :class:`~lstm_inspect.reports.terminal.Terminal`."""

from __future__ import annotations

import re
from typing import Any, Dict, Iterator, List, Optional

import numpy as np
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..gates import GATE_SHORT_NAMES
from ..versions import HARD_SIGMOID_FORMULAS
from .labels import GatesReport, LayerReport, gate_name


def file_line(model) -> Text:
    parts = [model.format]
    if model.keras_version:
        parts.append(f"Keras {model.keras_version}")
    elif model.assumed_keras_major:
        parts.append(f"Keras version not recorded (taken as Keras {model.assumed_keras_major})")
    else:
        parts.append("Keras version not recorded (Keras 1)")
    if model.backend:
        parts.append(f"backend {model.backend}")
    if model.config_source == "--config":
        parts.append("architecture from --config")
    elif model.config_source == "weights":
        parts.append("no config: layers inferred from weight shapes")
    text = Text(model.file, style="bold")
    text.append("  " + " · ".join(parts))
    return text


def gates_renderables(report: GatesReport) -> List[RenderableType]:
    out: List[RenderableType] = [file_line(report.model)]
    if not report.layers:
        out.append(Text("No recurrent layers in this model."))
        return out
    for layer in report.layers:
        out.append(Text(""))
        out.append(_layer_block(layer, report.hard_sigmoid))
    return out


def _layer_block(r: LayerReport, flavour: str) -> RenderableType:
    v = r.layer
    title = Text(v.path, style="bold cyan")
    cls = v.class_name if not v.cell_class else f"{v.class_name}({v.cell_class})"
    title.append(f"  {cls} · {v.units} units · input_dim {v.input_dim} · {v.direction}")
    lines: List[RenderableType] = [title]
    acts = Text(f"activation {v.activation}")
    if v.recurrent_activation is not None:
        acts.append(f" · recurrent_activation {v.recurrent_activation}")
        if v.recurrent_activation == "hard_sigmoid":
            acts.append(f" = {HARD_SIGMOID_FORMULAS[flavour]}")
    lines.append(acts)
    if v.gate_order:
        lines.append(Text("gates " + ", ".join(f"{g} {gate_name(g)}" for g in v.gate_order)))
    roles: Dict[str, list] = {}
    for w in r.weights:
        roles.setdefault(w.role, []).append(w)
    for role, weights in roles.items():
        if len(weights) > 1:  # Keras 1: one array per gate
            lines.append(Text(f"{role}: {len(weights)} arrays, one per gate, in stored order", style="bold"))
        else:
            lines.append(Text(f"{role} {weights[0].h5_path} {tuple(weights[0].shape)}", style="bold"))
        lines.append(_role_table(weights))
    for note in r.notes:
        lines.append(Text(f"note: {note}", style="dim"))
    return Group(*lines)


def _role_table(weights: list) -> Table:
    per_gate = len(weights) > 1
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    table.add_column("gate", no_wrap=True)
    if per_gate:
        table.add_column("array", no_wrap=True)
    table.add_column("columns", no_wrap=True)
    if any(s.slice.part for w in weights for s in w.slices):
        table.add_column("part", no_wrap=True)
    table.add_column("shape", no_wrap=True)
    for name in ("mean", "std", "min", "max", "l2"):
        table.add_column(name, justify="right", no_wrap=True)
    for w in weights:
        for s in w.slices:
            gate = f"{s.gate} {GATE_SHORT_NAMES[s.gate]}" if s.gate else "-"
            cols = f"{s.slice.start}:{s.slice.stop}"
            if s.slice.row is not None:
                cols = f"[{s.slice.row}] {cols}"
            shape = list(w.shape)
            if s.slice.row is not None:
                shape = shape[1:]
            shape[-1] = s.slice.stop - s.slice.start
            cells = [gate] + ([_array_name(w.name)] if per_gate else []) + [cols]
            cells += [s.slice.part] if s.slice.part else []
            cells.append("x".join(map(str, shape)))
            table.add_row(*cells, *(_num(x) for x in (s.mean, s.std, s.min, s.max, s.l2)))
    return table


def _array_name(name: str) -> str:
    """``forward_lstm_1_W_i:0`` -> ``W_i``: the part that names role and gate."""
    m = re.search(r"([WUb]_[a-z])(:\d+)?$", name)
    return m.group(1) if m else name.split("/")[-1]


def _num(x: float) -> str:
    return f"{x:.4f}"


def layers_renderables(model, rows: List[Dict[str, Any]]) -> List[RenderableType]:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    table.add_column("path", no_wrap=True)
    table.add_column("class", overflow="fold")
    table.add_column("output shape", overflow="fold")
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("config", overflow="fold")
    table.add_column("run", no_wrap=True)
    reasons: Dict[str, int] = {}
    for row in rows:
        run = "yes"
        if not row["runnable"]:
            run = f"no [{reasons.setdefault(row['reason'], len(reasons) + 1)}]"
        cls = row["class_name"] + (f"({row['cell_class']})" if row.get("cell_class") else "")
        table.add_row(row["path"], cls, _shape(row["output_shape"]), str(row["params"]), _config(row["config"]), run)
    out: List[RenderableType] = [file_line(model), table]
    out += [Text(f"[{k}] {reason}", style="dim") for reason, k in reasons.items()]
    return out


def _config(config: Dict[str, Any]) -> str:
    """Booleans by name when true, other values as key=value."""
    parts = []
    for key, value in config.items():
        if value is True:
            parts.append(key)
        elif value is not False and value is not None:
            parts.append(f"{key}={value}")
    return " ".join(parts)


def _shape(shape: Optional[list]) -> str:
    if shape is None:
        return "?"
    if shape and isinstance(shape[0], list):
        return ", ".join(_shape(s) for s in shape)
    return "(" + ",".join("None" if d is None else str(d) for d in shape) + ")"



# ------------------------------------------------------------------------------- run


def run_renderables(report) -> Iterator[RenderableType]:
    """A :class:`~lstm_inspect.reports.run.RunReport` as one table per traced layer (one
    sample), then the model's outputs for that sample; built as they are printed."""
    result = report.result
    samples = report.selection.samples
    outputs_sample = samples[0] if samples else 0
    yield file_line(report.model)
    for st in report.selected:
        yield Text("")
        yield from _trace_block(st, result.hard_sigmoid)
    yield Text("")
    if result.stopped_at:
        yield Text(f"stopped after '{result.stopped_at}' (--until): the output is that layer's", style="dim")
    for k, y in enumerate(result.outputs):
        y = np.asarray(y)
        title = f"output {k}  shape {tuple(y.shape)}  sample {outputs_sample}"
        yield Text(title, style="bold")
        yield Text(np.array2string(y[outputs_sample], precision=6, separator=", ", suppress_small=False))


#: Steps per rendered table block: long traces are printed a block at a time.
ROWS_PER_BLOCK = 256


def _trace_block(st, flavour: str, rows_per_block: int = ROWS_PER_BLOCK) -> Iterator[RenderableType]:
    """A traced layer's heading, then its table (one row per step, one line per unit inside
    a row) in blocks of ``rows_per_block`` steps that line up as one table."""
    v = st.layer.view
    (sample,) = st.samples
    u0, u1 = st.units
    head = Text(v.path, style="bold cyan")
    cls = v.class_name if not v.cell_class else f"{v.class_name}({v.cell_class})"
    head.append(f"  {cls} · {v.direction} · sample {sample} · units {u0}:{u1} of {v.units}")
    acts = Text(f"activation {v.activation}")
    if v.recurrent_activation:
        acts.append(f" · recurrent_activation {v.recurrent_activation}")
        if v.recurrent_activation == "hard_sigmoid":
            acts.append(f" = {HARD_SIGMOID_FORMULAS[flavour]}")
    lines: List[RenderableType] = [head, acts]
    if st.spatial:
        lines.append(Text(f"gate maps shown at: {st.spatial} (--pixel R,C to choose)", style="dim"))
    yield Group(*lines)
    names = list(st.values)
    several = u1 - u0 > 1
    n = len(st.steps)
    masked = np.zeros(n, bool) if st.masked is None else np.asarray(st.masked[0], bool)
    widths = _column_widths(st, names, several, masked.any()) if n > rows_per_block else None
    s0 = st.step_range[0]
    units_cell = "\n".join(str(u) for u in range(u0, u1))
    headers = ["step", "t"] + (["unit"] if several else []) + names
    for b0 in range(0, max(n, 1), rows_per_block):
        b1 = min(b0 + rows_per_block, n)
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True, show_header=b0 == 0)
        for k, header in enumerate(headers):
            table.add_column(header, justify="right", no_wrap=True, min_width=widths[k] if widths else None)
        for j in range(b0, b1):
            t = st.steps[j]
            cells = [str(s0 + j), f"{t}*" if masked[j] else str(t)]
            if several:
                cells.append(units_cell)
            cells += ["\n".join(f"{x:.4f}" for x in st.values[name][0, j]) for name in names]
            # Rows of several units are set apart; between blocks an empty row does it.
            table.add_row(*cells, end_section=several and j < b1 - 1)
        if several and b1 < n:
            table.add_row(*([""] * len(headers)))
        yield table
    if masked.any():
        yield Text("* masked step: state and output carried over from the step before", style="dim")


def _column_widths(st, names: List[str], several: bool, any_masked: bool) -> List[int]:
    """The width of every column over all steps (what Rich would measure for one table):
    step, t (with its ``*`` on masked steps), unit, then one per quantity."""
    widths = [max(len("step"), len(str(st.step_range[1] - 1))),
              len(str(int(np.max(st.steps)))) + int(any_masked)]
    if several:
        widths.append(max(len("unit"), len(str(st.units[1] - 1))))
    for name in names:
        widths.append(max(len(name), _number_width(np.asarray(st.values[name][0]))))
    return widths


def _number_width(values: np.ndarray) -> int:
    """The widest ``f"{x:.4f}"`` among ``values``: the largest or the most negative one,
    "-0.0000" for negative zeros and tiny negatives, and nan/inf/-inf."""
    finite = values[np.isfinite(values)]
    width = 3 if finite.size < values.size else 0  # nan, inf
    if np.isneginf(values).any():
        width = 4
    if finite.size:
        width = max(width, len(f"{finite.max():.4f}"), len(f"{finite.min():.4f}"))
        if np.signbit(finite).any():
            width = max(width, len(f"{-0.0:.4f}"))
    return width
