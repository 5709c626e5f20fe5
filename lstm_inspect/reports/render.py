"""Rich renderables for reports: each function takes a report and returns (or yields)
renderables; printing them is the job of :class:`~lstm_inspect.reports.terminal.Terminal`."""

from __future__ import annotations

import functools
import re
from typing import Any, Callable, Dict, Iterator, List, Optional

import numpy as np
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..gates import GATE_SHORT_NAMES
from ..versions import HARD_SIGMOID_FORMULAS
from .labels import GatesReport, LayerReport, gate_name


class Fitted:
    """A table (or any renderable) at the console's width, or wider when its cells need
    more: cells are never folded inside a word, a number or a shape. Lines then run past
    the width (a terminal wraps them whole) rather than break a value in two."""

    def __init__(self, renderable: RenderableType):
        self.renderable = renderable

    def __rich_console__(self, console, options):
        from rich.measure import Measurement

        need = Measurement.get(console, options.update(max_width=10_000), self.renderable).maximum
        if need > options.max_width:
            options = options.update(width=need)
        yield from console.render(self.renderable, options)


class Parts:
    """Text made of parts joined by ``sep`` that wraps only between parts (a wrapped line
    starts with ``indent``), never inside one: a file name, ``Keras 2.21.0``."""

    def __init__(self, parts: List[Text], sep: str = " · ", indent: str = "  "):
        self.parts, self.sep, self.indent = parts, sep, indent

    def __rich_console__(self, console, options):
        width = options.max_width
        line = Text()
        for part in self.parts:
            if not line.plain:
                line = part.copy()
            elif line.cell_len + len(self.sep) + part.cell_len <= width:
                line.append(self.sep)
                line.append_text(part)
            else:
                yield _unwrapped(line)
                line = Text(self.indent + self.sep.lstrip())
                line.append_text(part)
        yield _unwrapped(line)


class _Unwrapped:
    """One line of text, never wrapped: longer than the width, it runs past it."""

    def __init__(self, text: Text):
        self.text = text

    def __rich_console__(self, console, options):
        width = max(options.max_width, self.text.cell_len)
        yield from console.render(self.text, options.update(width=width, no_wrap=True, overflow="ignore"))


def _unwrapped(text: Text) -> RenderableType:
    return _Unwrapped(text)


def file_line(model) -> RenderableType:
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
    first = Text(model.file, style="bold")
    first.append("  " + parts[0])
    return Parts([first] + [Text(p) for p in parts[1:]])


def gates_renderables(report: GatesReport, brief: bool = False, precision: int = 4) -> List[RenderableType]:
    """``gates``: per layer a heading and a table per weight role; ``brief``: one line per
    layer with each gate's columns for each weight."""
    out: List[RenderableType] = [file_line(report.model)]
    if not report.layers:
        out.append(Text("No recurrent layers in this model."))
        return out
    if brief:
        out.append(Text(""))
        out.extend(_unwrapped(_brief_line(layer)) for layer in report.layers)
        return out
    fmt = number_format(precision)
    for layer in report.layers:
        out.append(Text(""))
        out.append(_layer_block(layer, report.hard_sigmoid, fmt))
    return out


def _activations(v, flavour: str) -> RenderableType:
    """``activation tanh · recurrent_activation hard_sigmoid = clip(...)``, wrapped between
    the two, never inside a formula."""
    parts = [Text(f"activation {v.activation}")]
    if v.recurrent_activation:
        formula = f" = {HARD_SIGMOID_FORMULAS[flavour]}" if v.recurrent_activation == "hard_sigmoid" else ""
        parts.append(Text(f"recurrent_activation {v.recurrent_activation}{formula}"))
    if v.compute_dtype != "float32":
        parts.append(Text(f"computed in {v.compute_dtype}"))
    return Parts(parts)


def _brief_line(r: LayerReport) -> Text:
    """``path  Class(units)  kernel, recurrent_kernel, bias: i 0:3  f 3:6 ...``: weights
    whose gates sit in the same columns share one list."""
    v = r.layer
    line = Text(v.path, style="bold cyan")
    cls = v.class_name if not v.cell_class else f"{v.class_name}({v.cell_class})"
    line.append(f"  {cls}({v.units})" + ("  backward" if v.direction == "backward" else ""))
    groups: Dict[str, List[str]] = {}
    for role, weights in _by_role(r).items():
        if len(weights) > 1:  # Keras 1: one array per gate
            text = "  ".join(f"{s.gate} {_array_name(w.name)}" for w in weights for s in w.slices)
            groups.setdefault(text, []).append(role)
            continue
        parts: Dict[str, List[str]] = {}  # a GRU bias's rows, a CuDNN bias's parts: each its own list
        for s in weights[0].slices:
            label = role + (f"[{s.slice.row}]" if s.slice.row is not None else "")
            label += f" ({s.slice.part})" if s.slice.part else ""
            parts.setdefault(label, []).append((f"{s.gate} " if s.gate else "") + f"{s.slice.start}:{s.slice.stop}")
        for label, cols in parts.items():
            groups.setdefault("  ".join(cols), []).append(label)
    for text, roles in groups.items():
        line.append(f"  {', '.join(roles)}: {text}" + ";")
    line.right_crop(1)
    return line


def _by_role(r: LayerReport) -> Dict[str, list]:
    roles: Dict[str, list] = {}
    for w in r.weights:
        roles.setdefault(w.role, []).append(w)
    return roles


def _layer_block(r: LayerReport, flavour: str, fmt: Callable[[float], str]) -> RenderableType:
    v = r.layer
    cls = v.class_name if not v.cell_class else f"{v.class_name}({v.cell_class})"
    head = Text(v.path, style="bold cyan")
    head.append(f"  {cls}")
    title = Parts([head, Text(f"{v.units} units"), Text(f"input_dim {v.input_dim}"), Text(v.direction)])
    lines: List[RenderableType] = [title, _activations(v, flavour)]
    if v.gate_order:
        lines.append(Text("gates " + ", ".join(f"{g} {gate_name(g)}" for g in v.gate_order)))
    for role, weights in _by_role(r).items():
        if len(weights) > 1:  # Keras 1: one array per gate
            lines.append(Text(f"{role}: {len(weights)} arrays, one per gate, in stored order", style="bold"))
        else:
            shape = "(" + ", ".join(map(str, weights[0].shape)) + ("," if len(weights[0].shape) == 1 else "") + ")"
            lines.append(Parts([Text(role, style="bold"), Text(weights[0].h5_path, style="bold"),
                                Text(shape, style="bold")], sep=" ", indent=""))
        lines.append(Fitted(_role_table(weights, fmt)))
    for note in r.notes:
        lines.append(Text(f"note: {note}", style="dim"))
    return Group(*lines)


def _role_table(weights: list, fmt: Callable[[float], str]) -> Table:
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
            table.add_row(*cells, *(fmt(x) for x in (s.mean, s.std, s.min, s.max, s.l2)))
    return table


def _array_name(name: str) -> str:
    """``forward_lstm_1_W_i:0`` -> ``W_i``: the part that names role and gate."""
    m = re.search(r"([WUb]_[a-z])(:\d+)?$", name)
    return m.group(1) if m else name.split("/")[-1]


def layers_renderables(model, rows: List[Dict[str, Any]], inputs=()) -> List[RenderableType]:
    """The ``layers`` table; ``inputs`` are the model's inputs (name, shape, dtype)."""
    reasons: Dict[str, int] = {}
    cells = []
    for row in rows:
        run = "yes"
        if not row["runnable"]:
            run = f"no [{reasons.setdefault(row['reason'], len(reasons) + 1)}]"
        cls = row["class_name"] + (f"({row['cell_class']})" if row.get("cell_class") else "")
        cells.append((row["path"], cls, _shape(row["output_shape"]), str(row["params"]), _config(row["config"]), run))
    out: List[RenderableType] = [file_line(model)]
    if inputs:
        shown = [Text(f"{name} {_shape(list(shape))} {dtype}") for name, shape, dtype in inputs]
        shown[0] = Text("inputs  ").append_text(shown[0])
        out.append(Parts(shown, sep="  ", indent="        "))
    out.append(_LayersTable(cells))
    out += [Text(f"[{k}] {reason}", style="dim") for reason, k in reasons.items()]
    return out


class _LayersTable:
    """The layers table, config items side by side where the width allows, else one a line."""

    def __init__(self, cells):
        self.cells = cells

    def table(self, config_sep: str) -> Table:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
        for name in ("path", "class", "output shape", "params", "config", "run"):
            table.add_column(name, no_wrap=True, justify="right" if name == "params" else "left")
        for row in self.cells:
            table.add_row(*row[:4], config_sep.join(row[4]), row[5])
        return table

    def __rich_console__(self, console, options):
        from rich.measure import Measurement

        table = self.table(" ")
        if Measurement.get(console, options.update(max_width=10_000), table).maximum > options.max_width:
            table = self.table("\n")
        yield Fitted(table)


def _config(config: Dict[str, Any]) -> List[str]:
    """Booleans by name when true, other values as key=value."""
    parts = []
    for key, value in config.items():
        if value is True:
            parts.append(key)
        elif value is not False and value is not None:
            parts.append(f"{key}={value}")
    return parts


def _shape(shape: Optional[list]) -> str:
    if shape is None:
        return "?"
    if shape and isinstance(shape[0], list):
        return "\n".join(_shape(s) for s in shape)
    return "(" + ",".join("None" if d is None else str(d) for d in shape) + ")"



# ------------------------------------------------------------------------------- run


class PlainLines:
    """Lines of plain text laid out for a width: long tables are formatted here, not by
    Rich (whose tables cost about 100 µs a line). :class:`~.terminal.Terminal` writes
    ``lines(width)`` as they are; any other Rich console prints them unwrapped."""

    def __init__(self, lines: Callable[[int], List[str]]):
        self.lines = lines

    def __rich_console__(self, console, options):
        for line in self.lines(options.max_width):
            yield Text(line, no_wrap=True, overflow="ignore")


def number_format(precision: int = 4) -> Callable[[float], str]:
    """``precision`` digits after the point, and e-notation where that would hide the value
    (``3e-05``, never ``0.0000``) or make it very wide (``1.2e+07``)."""
    small = 0.5 * 10.0**-precision
    tiny = f"{{:.{max(precision - 4, 0)}e}}".format
    fixed = f"{{:.{precision}f}}".format
    huge = f"{{:.{max(precision - 2, 1)}e}}".format

    def fmt(x: float) -> str:
        a = abs(x)
        if a < small and a != 0.0:
            return tiny(x)
        if a >= 1e6 and a != float("inf"):
            return huge(x)
        return fixed(x)

    return fmt


def _widest(values: np.ndarray, fmt: Callable[[float], str]) -> int:
    """The widest ``fmt(x)`` among ``values``, from the few values that can be widest."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    if not flat.size:
        return 0
    finite = flat[np.isfinite(flat)]
    candidates = [float("nan")] if np.isnan(flat).any() else []
    candidates += [float("-inf")] if np.isneginf(flat).any() else []
    candidates += [float("inf")] if np.isposinf(flat).any() else []
    if finite.size:
        candidates += [float(finite.max()), float(finite.min())]
        negative = finite[np.signbit(finite)]
        if negative.size:
            candidates += [float(negative.max())]  # -0.0 and tiny negatives
        nonzero = np.abs(finite[finite != 0])
        if nonzero.size:
            k = int(np.argmin(nonzero))
            candidates += [float(nonzero[k]), -float(nonzero[k])] if negative.size else [float(nonzero[k])]
    return max(len(fmt(x)) for x in candidates)


def run_renderables(report, traces: bool = True, written=None, precision: int = 4) -> Iterator[RenderableType]:
    """A :class:`~lstm_inspect.reports.run.RunReport` as one table per traced layer (one
    sample), then the model's outputs for that sample; built as they are printed.
    ``traces`` False shows only the outputs; ``written`` (path, arrays) lists a file
    written (``--npz``)."""
    result = report.result
    samples = report.selection.samples
    outputs_sample = samples[0] if samples else 0
    yield file_line(report.model)
    if traces:
        for st in report.selected:
            yield Text("")
            yield from _trace_block(st, result.hard_sigmoid, precision=precision)
    yield Text("")
    if result.stopped_at:
        yield Text(f"stopped after '{result.stopped_at}' (--until): the output is that layer's", style="dim")
    for k, y in enumerate(result.outputs):
        y = np.asarray(y)
        title = f"output {k}  shape {tuple(y.shape)}  sample {outputs_sample}"
        yield Text(title, style="bold")
        yield Text(np.array2string(y[outputs_sample], precision=6, separator=", ", suppress_small=False))
    if written is not None:
        path, arrays = written
        yield Text("")
        yield _unwrapped(Text(f"wrote {path}: {len(arrays)} arrays", style="bold"))
        yield PlainLines(lambda width: _array_list(arrays))


def _array_list(arrays) -> List[str]:
    w = max((len(k) for k in arrays), default=0)
    return [f"  {k:<{w}}  {'x'.join(map(str, a.shape)) or 'scalar'} {a.dtype}" for k, a in arrays.items()]


#: Steps per rendered table block: long traces are printed a block at a time.
ROWS_PER_BLOCK = 256


def _trace_block(st, flavour: str, rows_per_block: int = ROWS_PER_BLOCK, precision: int = 4
                 ) -> Iterator[RenderableType]:
    """A traced layer's heading, then its table: one row per step, one line per unit inside
    a row, or as many units side by side as the width allows; printed in blocks of
    ``rows_per_block`` steps that line up as one table."""
    v = st.layer.view
    (sample,) = st.samples
    u0, u1 = st.units
    head = Text(v.path, style="bold cyan")
    cls = v.class_name if not v.cell_class else f"{v.class_name}({v.cell_class})"
    head.append(f"  {cls} · {v.direction} · sample {sample} · units {u0}:{u1} of {v.units}")
    lines: List[RenderableType] = [head, _activations(v, flavour)]
    if st.spatial:
        lines.append(Text(f"gate maps shown at: {st.spatial} (--pixel R,C to choose)", style="dim"))
    yield Group(*lines)
    table = _TraceTable(st, number_format(precision))
    n = len(st.steps)
    for b0 in range(0, max(n, 1), rows_per_block):
        b1 = min(b0 + rows_per_block, n)
        yield PlainLines(functools.partial(table.lines, b0, b1))
    if table.masked.any():
        yield Text("* masked step: state and output carried over from the step before", style="dim")


class _TraceTable:
    """A trace as text: columns step, t, then per unit group: unit and each quantity,
    right-aligned, two spaces apart, widths measured over every step (so blocks line up)."""

    def __init__(self, st, fmt: Callable[[float], str]):
        self.st, self.fmt = st, fmt
        self.names = list(st.values)
        self.values = [np.asarray(st.values[name][0]) for name in self.names]  # (steps, units)
        u0, u1 = st.units
        self.units = list(range(u0, u1))
        self.several = len(self.units) > 1
        n = len(st.steps)
        self.masked = np.zeros(n, bool) if st.masked is None else np.asarray(st.masked[0], bool)
        self.w_step = max(len("step"), len(str(st.step_range[1] - 1)) if n else 0)
        self.w_t = max(len("t"), len(str(int(np.max(st.steps)))) + int(self.masked.any()) if n else 0)
        self.w_unit = max(len("unit"), len(str(u1 - 1))) if self.several else 0
        self.w_q = [max(len(name), _widest(v, fmt)) for name, v in zip(self.names, self.values)]

    #: Between units side by side.
    GAP = "    "

    def _layout(self, width: int):
        """(line width, units per line): as many units side by side as fit, spread evenly."""
        prefix = self.w_step + 2 + self.w_t
        group = (self.w_unit + 2 if self.several else 0) + sum(2 + w for w in self.w_q) - 2
        n = len(self.units)
        k = 1
        if self.several:
            k = max(1, min(n, (width - prefix - 2 + len(self.GAP)) // (group + len(self.GAP))))
            k = -(-n // -(-n // k))  # the same number of lines, units spread evenly over them
        return prefix + 2 + k * group + (k - 1) * len(self.GAP), k

    def lines(self, b0: int, b1: int, width: int) -> List[str]:
        """The table's lines for steps b0 to b1 (with the header when b0 is 0)."""
        total, k = self._layout(width)
        out: List[str] = []
        fmt, st = self.fmt, self.st
        unit_head = ["unit".rjust(self.w_unit)] if self.several else []
        group_head = "  ".join(unit_head + [n.rjust(w) for n, w in zip(self.names, self.w_q)])
        if b0 == 0:
            heads = min(k, len(self.units)) if self.several else 1
            out.append("step".rjust(self.w_step) + "  " + "t".rjust(self.w_t) + "  " + self.GAP.join([group_head] * heads))
            out.append("─" * total)
        blank = " " * total
        s0 = st.step_range[0]
        rows = [self.units[i : i + k] for i in range(0, len(self.units), k)] if self.several else [[self.units[0]]]
        u0 = self.units[0] if self.units else 0
        for j in range(b0, b1):
            t = int(st.steps[j])
            lead = str(s0 + j).rjust(self.w_step) + "  " + (f"{t}*" if self.masked[j] else str(t)).rjust(self.w_t)
            pad = " " * len(lead)
            for r, group in enumerate(rows):
                cells = []
                for u in group:
                    unit = [str(u).rjust(self.w_unit)] if self.several else []
                    cells.append("  ".join(unit + [fmt(float(v[j, u - u0])).rjust(w) for v, w in zip(self.values, self.w_q)]))
                out.append((lead if r == 0 else pad) + "  " + self.GAP.join(cells))
            if self.several and (j < b1 - 1 or b1 < len(st.steps)):
                out.append(blank)
        return out
