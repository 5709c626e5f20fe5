"""Rich renderables for ``compare`` reports (printing them is the job of
:class:`~lstm_inspect.reports.terminal.Terminal`)."""

from __future__ import annotations

from typing import List, Optional, Tuple

from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from .compare import CompareReport, Divergence


def compare_renderables(report: CompareReport) -> List[RenderableType]:
    m = report.model
    version = f", Keras {m.keras_version}" if m.keras_version else ""
    out: List[RenderableType] = [
        Text(f"Keras: {m.file} ({m.format}{version})"),
        Text(f"Port:  {report.against} (atol {report.atol:g}, rtol {report.rtol:g})"),
    ]
    if report.weights:
        out += [Text(""), Text("Relative change |W_B - W_A| / |W_A| per layer, weight and gate:"), _weights_table(report)]
    if not report.compared_run:
        return out
    out += [Text(""), Text("Largest difference per layer and quantity:"), _differences_table(report)]
    if report.lacking:
        out.append(Text("The port lacks: " + ", ".join(report.lacking)))
    if report.unknown:
        out.append(Text("Not model quantities (ignored): " + ", ".join(report.unknown)))
    out.append(Text(""))
    if report.first is None:
        out.append(Text("Result: matches within tolerance.", style="bold green"))
        return out
    where, values = describe(report.first)
    out.append(Text("First divergence: " + where))
    if values:
        out.append(Text("  " + values))
    out += _diagnosis(report)
    out.append(Text("Result: diverges.", style="bold red"))
    return out


def describe(d: Divergence) -> Tuple[str, str]:
    """Where the first divergence is, and the two values there."""
    if d.shapes is not None:
        return f"{d.key}: Keras's shape is {tuple(d.shapes[0])}, the port's {tuple(d.shapes[1])}", ""
    where = [d.key, f"sample {d.sample}"]
    if d.step is not None:
        where.append(f"step {d.step} (input time {d.time})")
    where.append(f"unit {d.unit}")
    return ", ".join(where), f"Keras {_num(d.keras)}, port {_num(d.port)}"


def _diagnosis(report: CompareReport) -> List[RenderableType]:
    diag = report.diagnosis
    if diag is None:
        return []
    if not diag.explanations:
        return [Text(f"Nothing in the catalogue explains it ({diag.tried} what-ifs tried); "
                     "the divergence starts where shown above.", style="bold")]
    lines: List[RenderableType] = []
    head = "Only a combination explains the numbers:" if diag.combination else "Explained by:"
    if len(diag.explanations) > 1:
        head = head.rstrip(":") + f" (any of {len(diag.explanations)}):"
    lines.append(Text(head, style="bold"))
    for explanation in diag.explanations:
        lines.append(Text("  " + " + ".join(_where(m.id, m.layer) for m in explanation), style="bold yellow"))
        for m in explanation:
            lines.append(Text(f"    fix: {m.fix}"))
    return lines


def _where(mid: str, layer: Optional[str]) -> str:
    return f"{mid} in layer {layer}" if layer else mid


def _differences_table(report: CompareReport) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for name, justify in (("layer", "left"), ("quantity", "left"), ("shape", "left"),
                          ("max |diff|", "right"), ("beyond tol", "right")):
        table.add_column(name, justify=justify)
    for d in report.differences:
        shape = "x".join(str(n) for n in d.shape)
        diff = "shape" if d.max_abs is None else _num(d.max_abs)
        beyond = "-" if d.beyond < 0 else str(d.beyond)
        style = "red" if d.beyond else None
        table.add_row(d.layer, d.quantity, shape, diff, beyond, style=style)
    return table


def _weights_table(report: CompareReport) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for name, justify in (("layer", "left"), ("role", "left"), ("gate", "left"), ("change", "right")):
        table.add_column(name, justify=justify)
    for w in report.weights:
        table.add_row(w.layer, w.role, w.gate or "", "n/a" if w.relative is None else _num(w.relative))
    return table


def _num(x: Optional[float]) -> str:
    if x is None:
        return "n/a"
    if x == 0:
        return "0"
    return f"{x:.4g}"
