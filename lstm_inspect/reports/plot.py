"""Pictures in files (``run --plot``, ``gates --plot``): the heatmaps of the terminal view
at full resolution, and each recurrent weight matrix with its gate boundaries, drawn with
matplotlib (an optional extra: ``pip install 'lstm-inspect[plot]'``).

Figures are built with :class:`matplotlib.figure.Figure` on the Agg canvas, never through
pyplot, so no display is needed and no global backend is changed. Files are written as
``run --npz`` writes its file: to a temporary name, then renamed into place.
"""

from __future__ import annotations

import os
from typing import List

import numpy as np

from ..errors import InputError, LstmInspectError
from ..gates import GATE_SHORT_NAMES
from .views import LayerGrids, Scale, layer_grids, matching_inputs, nice_ceil

#: What a plot file may be, by its suffix.
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
INSTALL = "pip install 'lstm-inspect[plot]'"
#: Figure width and height of a heatmap row, inches.
WIDTH = 10.0
ROW_HEIGHT = 1.0
CMAPS = {"sequential": "viridis", "diverging": "RdBu_r"}


class MissingDependencyError(LstmInspectError):
    """An optional library a feature needs is not installed."""


def check_plot_file(path: str) -> str:
    """The format of a ``--plot`` file by its suffix; matplotlib must be importable."""
    fmt = FORMATS.get(os.path.splitext(os.fspath(path))[1].lower())
    if fmt is None:
        raise InputError("--plot writes .png, .svg or .pdf files; give the file one of those suffixes",
                         file=os.fspath(path))
    _matplotlib()
    return fmt


def _matplotlib():
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError(f"--plot needs matplotlib, which is not installed: {INSTALL}") from None
    return Figure, FigureCanvasAgg


def _figure(width: float, height: float):
    Figure, FigureCanvasAgg = _matplotlib()
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


class _Stack:
    """Heatmap rows placed top to bottom at fixed sizes in inches, each with a colour bar
    on its right: no layout engine, so drawing is fast and the same every time."""

    LEFT, RIGHT, BAR = 1.1, 0.95, 0.12
    LAYER_TITLE, GAP, XLABEL, LAYER_GAP = 0.45, 0.12, 0.55, 0.25

    @classmethod
    def height(cls, blocks: List[List[tuple]]) -> float:
        """``blocks``: per layer, ``(row height, space above it for its title)`` per row."""
        return sum(cls.LAYER_TITLE + sum(h + pad + cls.GAP for h, pad in rows) + cls.XLABEL + cls.LAYER_GAP
                   for rows in blocks)

    def __init__(self, fig):
        self.fig = fig
        self.width, self.total = fig.get_size_inches()
        self.y = 0.0  #: inches from the top

    def title(self, text: str, gid: str) -> None:
        self.fig.text(0.5, 1 - (self.y + 0.3) / self.total, text, ha="center", fontsize=11, gid=gid)
        self.y += self.LAYER_TITLE

    def row(self, h: float, pad: float, sharex=None):
        self.y += pad
        bottom = 1 - (self.y + h) / self.total
        ax = self.fig.add_axes((self.LEFT / self.width, bottom, (self.width - self.LEFT - self.RIGHT) / self.width,
                                h / self.total), sharex=sharex)
        cax = self.fig.add_axes(((self.width - self.RIGHT + 0.1) / self.width, bottom, self.BAR / self.width,
                                 h / self.total))
        self.y += h + self.GAP
        return ax, cax

    def end_layer(self) -> None:
        self.y += self.XLABEL + self.LAYER_GAP


def _cmap(scale: Scale):
    import matplotlib

    return matplotlib.colormaps[CMAPS[scale.kind]].with_extremes(bad="0.5")


# ------------------------------------------------------------------------------ run


def run_figures(report, selection=None, pages: bool = False) -> List:
    """The heatmaps of a :class:`~lstm_inspect.reports.run.RunReport` as matplotlib
    figures: one figure holding every traced layer, or with ``pages`` one figure per
    layer (a page of a PDF). ``selection`` narrows the run again (default: the report's
    own selection). Each heatmap's image array is the trace's values for the first
    selected sample, units down and input time across; its axes' gid is
    ``<layer path>/<quantity>`` (``<layer path>/input/<name>`` for input strips;
    ``<layer path>#2/...`` for the second call of a shared layer)."""
    from .selection import select

    selected = select(report.result, selection) if selection is not None else report.selected
    layers = [layer_grids(st, inputs=matching_inputs(report, st)) for st in selected]
    if not layers:
        fig = _figure(WIDTH, 1.0)
        fig.text(0.5, 0.5, "no recurrent layer traced", ha="center", va="center")
        return [fig]
    keys = _keys([st.layer.path for st in selected])
    groups = [[k] for k in range(len(layers))] if pages else [list(range(len(layers)))]
    out = []
    for group in groups:
        stack = _Stack(_figure(WIDTH, _Stack.height([_rows(layers[k]) for k in group])))
        for k in group:
            _draw_layer(stack, layers[k], keys[k])
        out.append(stack.fig)
    return out


def _keys(paths: List[str]) -> List[str]:
    """Each traced layer's gid prefix: its path, then ``<path>#2``, ... for later calls
    of a shared layer."""
    seen: dict = {}
    out = []
    for path in paths:
        seen[path] = seen.get(path, 0) + 1
        out.append(path if seen[path] == 1 else f"{path}#{seen[path]}")
    return out


def _rows(grids: LayerGrids) -> List[tuple]:
    return [(0.6 * ROW_HEIGHT, 0.25)] * len(grids.inputs) + [(ROW_HEIGHT, 0.25)] * len(grids.grids)


def _draw_layer(stack: _Stack, grids: LayerGrids, key: str) -> None:
    st = grids.trace
    v = st.layer.view
    cls = v.class_name if not v.cell_class else f"{v.class_name}({v.cell_class})"
    title = f"{v.path} · {cls} · {v.units} units · {v.direction} · sample {st.samples[0]}"
    if st.spatial:
        title += f" · {st.spatial}"
    stack.title(title, gid=f"{key}/title")
    t0, t1 = (int(grids.times[0]), int(grids.times[-1])) if len(grids.times) else (0, 0)
    first_ax = None
    rows = grids.inputs + grids.grids
    for k, (grid, (h, pad)) in enumerate(zip(rows, _rows(grids))):
        ax, cax = stack.row(h, pad, sharex=first_ax)
        first_ax = first_ax or ax
        is_input = k < len(grids.inputs)
        first = 0 if is_input else st.units[0]
        last = first + grid.values.shape[0] - 1
        ax.set_gid(f"{key}/input/{grid.name}" if is_input else f"{key}/{grid.name}")
        im = ax.imshow(grid.values, aspect="auto", interpolation="nearest", cmap=_cmap(grid.scale),
                       vmin=grid.scale.lo, vmax=grid.scale.hi, extent=(t0 - 0.5, t1 + 0.5, last + 0.5, first - 0.5))
        stack.fig.colorbar(im, cax=cax, ticks=grid.scale.ticks())
        cax.tick_params(labelsize=8)
        ax.set_ylabel("input" if is_input else grid.name, rotation=0, ha="right", va="center")
        what = "features" if is_input else "units"
        ax.set_title(f"{grid.title} ({what} {first}:{last + 1})", fontsize=9, loc="left", y=1.0, pad=3)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.tick_params(labelbottom=k == len(rows) - 1, labelsize=8)
        if grids.masked is not None:
            for a, b in _runs(grids.masked > 0):
                ax.axvspan(grids.times[a] - 0.5, grids.times[b - 1] + 0.5, facecolor="none", edgecolor="0.2",
                           hatch="///", linewidth=0)
    ax.set_xlabel("input time t" + ("  (hatched: masked steps)" if grids.masked is not None else ""))
    ax.xaxis.get_major_locator().set_params(integer=True)
    stack.end_layer()


def _runs(flags: np.ndarray):
    """(start, stop) of each run of True in ``flags``."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist())


def save_run_plot(path: str, report, selection=None, protect=()) -> None:
    """Draw :func:`run_figures` into ``path`` (.png, .svg, or .pdf with a page per layer)."""
    fmt = check_plot_file(path)
    _save(path, fmt, run_figures(report, selection, pages=fmt == "pdf"), protect)


def _save(path: str, fmt: str, figures: List, protect) -> None:
    from ..reading.files import save_atomically

    def write(fh):
        if fmt == "pdf":
            from matplotlib.backends.backend_pdf import PdfPages

            with PdfPages(fh, metadata={"Creator": "lstm-inspect"}) as pdf:
                for fig in figures:
                    pdf.savefig(fig)
            return
        (fig,) = figures
        metadata = {"Software": "lstm-inspect"} if fmt == "png" else {"Creator": "lstm-inspect"} if fmt == "svg" else {}
        fig.savefig(fh, format=fmt, metadata=metadata)

    save_atomically(path, write, protect)


# ------------------------------------------------------------------------------ gates


def gates_figures(report, pages: bool = False) -> List:
    """Each recurrent layer's kernel, recurrent_kernel and bias as heatmaps (Keras 2's
    fused layout, as Keras's loader converts older layouts), with the gate boundaries
    and each gate's letter over its columns: one figure holding every layer, or with
    ``pages`` one figure per layer. Each matrix's axes' gid is ``<layer path>/<role>``."""
    layers = [_matrices(r.layer) for r in report.layers]
    if not layers:
        fig = _figure(WIDTH, 1.0)
        fig.text(0.5, 0.5, "no recurrent layers in this model", ha="center", va="center")
        return [fig]
    groups = [[g] for g in layers] if pages else [layers]
    out = []
    for group in groups:
        stack = _Stack(_figure(WIDTH, _Stack.height([_gates_rows(mats) for _, mats in group])))
        for view, mats in group:
            _draw_weights(stack, view, mats)
        out.append(stack.fig)
    return out


def _matrices(view):
    mats = []
    for role, w in view.canonical().items():
        if w is None:
            continue
        w = np.asarray(w, np.float32)
        mats.append((role, w.shape, w.reshape(1, -1) if w.ndim == 1 else w.reshape(-1, w.shape[-1])))
    return view, mats


def _gates_rows(mats) -> List[tuple]:
    return [(ROW_HEIGHT * float(np.clip(m.shape[0] / 16, 0.5, 3.0)), 0.45) for _, _, m in mats]


def _draw_weights(stack: _Stack, view, mats) -> None:
    cls = view.class_name if not view.cell_class else f"{view.class_name}({view.cell_class})"
    layout = "" if view.layout == "keras2" else f" · stored {view.layout}, shown fused as Keras loads it"
    stack.title(f"{view.path} · {cls} · {view.units} units · {view.direction}{layout}", gid=f"{view.path}/title")
    gates = view.gate_order or ("",)
    first_ax = None
    for k, ((role, shape, m), (h, pad)) in enumerate(zip(mats, _gates_rows(mats))):
        ax, cax = stack.row(h, pad, sharex=first_ax)
        first_ax = first_ax or ax
        ax.set_gid(f"{view.path}/{role}")
        finite = np.abs(m[np.isfinite(m)])
        limit = nice_ceil(float(finite.max())) if finite.size and finite.max() > 0 else 1.0
        scale = Scale("diverging", -limit, limit)
        im = ax.imshow(m, aspect="auto", interpolation="nearest", cmap=_cmap(scale), vmin=-limit, vmax=limit)
        stack.fig.colorbar(im, cax=cax, ticks=scale.ticks())
        cax.tick_params(labelsize=8)
        shown = "" if len(shape) <= 2 else f", rows are the first {len(shape) - 1} axes flattened"
        ax.set_title(f"{role} {tuple(shape)}{shown}", fontsize=9, loc="left", y=1.0, pad=16)
        width = m.shape[1] // len(gates)
        for j in range(1, len(gates)):
            ax.axvline(j * width - 0.5, color="black", linewidth=1.2)
        ax.yaxis.get_major_locator().set_params(integer=True)
        if m.shape[0] == 1:
            ax.set_yticks([])
        elif role == "bias" and m.shape[0] == 2:
            ax.set_yticks([0, 1], ["input", "recurrent"])
        ax.tick_params(labelbottom=k == len(mats) - 1, labelsize=8)
        top = ax.secondary_xaxis("top")
        top.set_xticks([(j + 0.5) * width - 0.5 for j in range(len(gates))],
                       [f"{g} {GATE_SHORT_NAMES[g]}" if g else "" for g in gates], fontweight="bold", fontsize=9)
        top.tick_params(length=0)
    ax.set_xlabel(f"column (gates of {view.units} columns each, in Keras order {''.join(gates)})")
    stack.end_layer()


def save_gates_plot(path: str, report, protect=()) -> None:
    """Draw :func:`gates_figures` into ``path`` (.png, .svg, or .pdf with a page per layer)."""
    fmt = check_plot_file(path)
    _save(path, fmt, gates_figures(report, pages=fmt == "pdf"), protect)

