"""Pictures in files (``run --plot``, ``gates --plot``): the heatmaps of the terminal view
at full resolution, and each recurrent weight matrix with its gate boundaries, drawn with
matplotlib (an optional extra: ``pip install 'lstm-inspect[plot]'``).

Figures are built with :class:`matplotlib.figure.Figure` on the Agg canvas, never through
pyplot, so no display is needed and no global backend is changed. Files are written as
``run --npz`` writes its file: to a temporary name, then renamed into place.
"""

from __future__ import annotations

import os
from typing import List, Optional

import numpy as np

from ..errors import InputError, LstmInspectError
from ..gates import GATE_SHORT_NAMES
from .views import LayerGrids, Scale, layer_grids, matching_inputs, nice_ceil

#: What a plot file may be, by its suffix.
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
INSTALL = "pip install 'lstm-inspect[plot]'"
#: Figure width and height per heatmap row, inches.
WIDTH = 10.0
ROW_HEIGHT = 1.1
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
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _cmap(scale: Scale):
    import matplotlib

    return matplotlib.colormaps[CMAPS[scale.kind]].with_extremes(bad="0.5")


# ------------------------------------------------------------------------------ run


def run_figures(report, selection=None, pages: bool = False) -> List:
    """The heatmaps of a :class:`~lstm_inspect.reports.run.RunReport` as matplotlib
    figures: one figure holding a group of axes per traced layer, or with ``pages`` one
    figure per layer (a page of a PDF). ``selection`` narrows the run again (default:
    the report's own selection). Each heatmap's image array is the trace's values for
    the first selected sample, units down and input time across."""
    from .selection import select

    selected = select(report.result, selection) if selection is not None else report.selected
    layers = [layer_grids(st, inputs=matching_inputs(report, st)) for st in selected]
    if not layers:
        fig = _figure(WIDTH, 1.0)
        fig.text(0.5, 0.5, "no recurrent layer traced", ha="center", va="center")
        return [fig]
    if pages:
        out = []
        for grids in layers:
            fig = _figure(WIDTH, _height(grids))
            _draw_layer(fig, grids)
            out.append(fig)
        return out
    fig = _figure(WIDTH, sum(_height(g) for g in layers))
    subfigs = fig.subfigures(len(layers), 1, height_ratios=[_height(g) for g in layers], squeeze=False)[:, 0]
    for sub, grids in zip(subfigs, layers):
        _draw_layer(sub, grids)
    return [fig]


def _ratios(grids: LayerGrids) -> List[float]:
    return [0.6] * len(grids.inputs) + [1.0] * len(grids.grids)


def _height(grids: LayerGrids) -> float:
    return ROW_HEIGHT * sum(_ratios(grids)) + 0.9


def _draw_layer(container, grids: LayerGrids) -> None:
    st = grids.trace
    v = st.layer.view
    cls = v.class_name if not v.cell_class else f"{v.class_name}({v.cell_class})"
    title = f"{v.path} · {cls} · {v.units} units · {v.direction} · sample {st.samples[0]}"
    if st.spatial:
        title += f" · {st.spatial}"
    container.suptitle(title, fontsize=11)
    rows = grids.inputs + grids.grids
    axes = container.subplots(len(rows), 1, sharex=True, squeeze=False,
                              gridspec_kw={"height_ratios": _ratios(grids)})[:, 0]
    t0, t1 = (int(grids.times[0]), int(grids.times[-1])) if len(grids.times) else (0, 0)
    for k, (ax, grid) in enumerate(zip(axes, rows)):
        first = 0 if k < len(grids.inputs) else st.units[0]
        last = first + grid.values.shape[0] - 1
        im = ax.imshow(grid.values, aspect="auto", interpolation="nearest", cmap=_cmap(grid.scale),
                       vmin=grid.scale.lo, vmax=grid.scale.hi, extent=(t0 - 0.5, t1 + 0.5, last + 0.5, first - 0.5))
        container.colorbar(im, ax=ax, pad=0.01, fraction=0.04, ticks=grid.scale.ticks())
        ax.set_ylabel(grid.name if k >= len(grids.inputs) else "input", rotation=0, ha="right", va="center")
        ax.set_title(f"{grid.title}" + ("" if k < len(grids.inputs) else f" (units {first}:{last + 1})"),
                     fontsize=9, loc="left")
        ax.yaxis.get_major_locator().set_params(integer=True)
        if grids.masked is not None:
            for a, b in _runs(grids.masked > 0):
                ax.axvspan(grids.times[a] - 0.5, grids.times[b - 1] + 0.5, facecolor="none", edgecolor="0.2",
                           hatch="///", linewidth=0)
    axes[-1].set_xlabel("input time t" + ("  (hatched: masked steps)" if grids.masked is not None else ""))
    axes[-1].xaxis.get_major_locator().set_params(integer=True)


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
    and each gate's letter over its columns: one figure with a group of axes per layer,
    or with ``pages`` one figure per layer."""
    layers = [_matrices(r.layer) for r in report.layers]
    if not layers:
        fig = _figure(WIDTH, 1.0)
        fig.text(0.5, 0.5, "no recurrent layers in this model", ha="center", va="center")
        return [fig]
    heights = [_gates_height(m) for _, m in layers]
    if pages:
        out = []
        for (view, mats), h in zip(layers, heights):
            fig = _figure(WIDTH, h)
            _draw_weights(fig, view, mats)
            out.append(fig)
        return out
    fig = _figure(WIDTH, sum(heights))
    subfigs = fig.subfigures(len(layers), 1, height_ratios=heights, squeeze=False)[:, 0]
    for sub, (view, mats) in zip(subfigs, layers):
        _draw_weights(sub, view, mats)
    return [fig]


def _matrices(view):
    mats = []
    for role, w in view.canonical().items():
        if w is None:
            continue
        w = np.asarray(w, np.float32)
        mats.append((role, w.shape, w.reshape(1, -1) if w.ndim == 1 else w.reshape(-1, w.shape[-1])))
    return view, mats


def _gates_ratio(matrix: np.ndarray) -> float:
    return float(np.clip(matrix.shape[0] / 16, 0.5, 3.0))


def _gates_height(mats) -> float:
    return sum(ROW_HEIGHT * _gates_ratio(m) + 0.6 for _, _, m in mats) + 0.8


def _draw_weights(container, view, mats) -> None:
    cls = view.class_name if not view.cell_class else f"{view.class_name}({view.cell_class})"
    layout = "" if view.layout == "keras2" else f" · stored {view.layout}, shown fused as Keras loads it"
    container.suptitle(f"{view.path} · {cls} · {view.units} units · {view.direction}{layout}", fontsize=11)
    axes = container.subplots(len(mats), 1, sharex=True, squeeze=False,
                              gridspec_kw={"height_ratios": [_gates_ratio(m) for _, _, m in mats]})[:, 0]
    gates = view.gate_order or ("",)
    for ax, (role, shape, m) in zip(axes, mats):
        finite = np.abs(m[np.isfinite(m)])
        limit = nice_ceil(float(finite.max())) if finite.size and finite.max() > 0 else 1.0
        scale = Scale("diverging", -limit, limit)
        im = ax.imshow(m, aspect="auto", interpolation="nearest", cmap=_cmap(scale), vmin=-limit, vmax=limit)
        container.colorbar(im, ax=ax, pad=0.01, fraction=0.04, ticks=scale.ticks())
        shown = "" if len(shape) <= 2 else f", rows are the first {len(shape) - 1} axes flattened"
        ax.set_title(f"{role} {tuple(shape)}{shown}", fontsize=9, loc="left", pad=16)
        width = m.shape[1] // len(gates)
        for k in range(1, len(gates)):
            ax.axvline(k * width - 0.5, color="black", linewidth=1.2)
        ax.yaxis.get_major_locator().set_params(integer=True)
        if m.shape[0] == 1:
            ax.set_yticks([])
        elif role == "bias" and m.shape[0] == 2:
            ax.set_yticks([0, 1], ["input", "recurrent"])
        top = ax.secondary_xaxis("top")
        top.set_xticks([(k + 0.5) * width - 0.5 for k in range(len(gates))],
                       [f"{g} {GATE_SHORT_NAMES[g]}" if g else "" for g in gates], fontweight="bold")
        top.tick_params(length=0)
    axes[-1].set_xlabel(f"column (gates of {view.units} columns each, in Keras order {''.join(gates)})")


def save_gates_plot(path: str, report, protect=()) -> None:
    """Draw :func:`gates_figures` into ``path`` (.png, .svg, or .pdf with a page per layer)."""
    fmt = check_plot_file(path)
    _save(path, fmt, gates_figures(report, pages=fmt == "pdf"), protect)


def plot_format(path: str) -> Optional[str]:
    return FORMATS.get(os.path.splitext(os.fspath(path))[1].lower())
