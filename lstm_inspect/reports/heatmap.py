"""``run``'s heatmap view: for each traced layer, a units x steps heatmap per quantity
in the terminal, binned (mean per bin) to its width and height.

With colour, each character holds two cells (the upper half block ``▀``: its foreground
is the upper cell, its background the lower one), coloured along a sequential scale for
gates (0 to 1, viridis) or a diverging one centred on 0 for candidates, cell and hidden
states (blue, white, red). Without colour (``NO_COLOR``, ``--no-color``, not a terminal)
each character is one cell, shaded `` ░▒▓█`` in five equal steps of the scale, so a CI
log stays readable. The grids and scales are :mod:`~lstm_inspect.reports.views`'s.
"""

from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from ..versions import HARD_SIGMOID_FORMULAS
from .views import Grid, LayerGrids, Scale, layer_grids, matching_inputs

#: Colour levels of a scale.
LEVELS = 32
SHADES = " ░▒▓█"
HALF = "▀"
#: Anchors of the colour maps (matplotlib's viridis, and RdBu reversed: blue below 0, red above).
VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"]
RDBU = ["#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582", "#d6604d",
        "#b2182b", "#67001f"]
NAN_RGB = (128, 128, 128)
#: Heatmap lines kept free of the terminal's height (title, mask and tick lines, prompt).
RESERVED_LINES = 6
#: An input strip takes at most this many lines.
INPUT_LINES = 4


def _lut(anchors: List[str], n: int = LEVELS) -> np.ndarray:
    """``n`` RGB colours evenly along the anchors (linear between them), uint8."""
    rgb = np.array([[int(a[k : k + 2], 16) for k in (1, 3, 5)] for a in anchors], float)
    x = (np.arange(n) + 0.5) / n * (len(anchors) - 1)
    out = np.stack([np.interp(x, np.arange(len(anchors)), rgb[:, c]) for c in range(3)], axis=1)
    return np.vstack([np.rint(out), NAN_RGB]).astype(np.uint8)  # index n: NaN


_LUTS = {"sequential": _lut(VIRIDIS), "diverging": _lut(RDBU)}


def levels(grid: np.ndarray, scale: Scale, n: int) -> np.ndarray:
    """Each value's level 0..n-1 along ``scale`` (NaN: ``n``), vectorised."""
    frac = scale.fraction(grid)
    idx = np.minimum((np.nan_to_num(frac, nan=0.0) * n).astype(np.intp), n - 1)
    idx[np.isnan(frac)] = n
    return idx


def _fmt(x: float) -> str:
    return f"{x:g}"


class _Styles:
    """Styles of half blocks by scale kind and key ``upper * (LEVELS + 2) + lower + 1``
    (lower -1: no lower cell), made once each."""

    def __init__(self):
        self._cache: Dict[str, Dict[int, Style]] = {kind: {} for kind in _LUTS}

    def table(self, kind: str) -> Dict[int, Style]:
        return self._cache[kind]

    def make(self, kind: str, key: int) -> Style:
        top, bottom = divmod(key, LEVELS + 2)
        lut = _LUTS[kind]
        fg = Color.from_rgb(*map(int, lut[top]))
        bg = Color.from_rgb(*map(int, lut[bottom - 1])) if bottom else None
        style = self._cache[kind][key] = Style(color=fg, bgcolor=bg)
        return style


class LayerHeatmap:
    """One traced layer as heatmaps, laid out for the console it is printed on."""

    def __init__(self, report, st, flavour: str):
        self.report = report
        self.st = st
        self.flavour = flavour

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        st = self.st
        plain = console.no_color or console.color_system is None
        u0, u1 = st.units
        inputs = matching_inputs(self.report, st)
        features = max((x[0].size // max(x.shape[1], 1) for _, x in inputs), default=1)
        gutter = max(len(str(max(u1 - 1, 0))), len(str(max(features - 1, 0))), 4) + 1
        lines = max(4, (options.height or console.height) - RESERVED_LINES)
        per_line = 1 if plain else 2
        grids = layer_grids(st, columns=max(options.max_width - gutter, 8), rows=lines * per_line,
                            inputs=inputs, input_rows=min(INPUT_LINES, lines) * per_line)
        yield from self._heading(grids, plain)
        draw = _Drawing(grids, gutter, plain)
        for grid in grids.inputs:
            yield from draw.block(grid, grid.title, 0, grids.input_bin, ticks=False)
        for grid in grids.grids:
            yield from draw.block(grid, f"{grid.name}  {grid.title}", u0, grids.unit_bin, ticks=True)
        if grids.masked is not None:
            yield Text("mask: * all steps of the column masked, - some (state and output carried over)", style="dim")

    def _heading(self, grids: LayerGrids, plain: bool) -> Iterator[RenderableType]:
        st = self.st
        v = st.layer.view
        (sample,) = st.samples[:1]
        head = Text(v.path, style="bold cyan")
        cls = v.class_name if not v.cell_class else f"{v.class_name}({v.cell_class})"
        s0, s1 = st.step_range
        head.append(f"  {cls} · {v.direction} · sample {sample} · units {st.units[0]}:{st.units[1]} of {v.units}"
                    f" · steps {s0}:{s1}")
        yield head
        acts = Text(f"activation {v.activation}")
        if v.recurrent_activation:
            acts.append(f" · recurrent_activation {v.recurrent_activation}")
            if v.recurrent_activation == "hard_sigmoid":
                acts.append(f" = {HARD_SIGMOID_FORMULAS[self.flavour]}")
        if v.compute_dtype != "float32":
            acts.append(f" · computed in {v.compute_dtype}")
        yield acts
        if st.spatial:
            yield Text(f"gate maps shown at: {st.spatial} (--pixel R,C to choose)", style="dim")
        cell = "each character" if plain else "each half character"
        if grids.step_bin == 1 and grids.unit_bin == 1:
            what = f"{cell}: one unit at one step"
        else:
            what = (f"{cell}: the mean of {grids.step_bin} step{'s' * (grids.step_bin > 1)} × "
                    f"{grids.unit_bin} unit{'s' * (grids.unit_bin > 1)}")
        yield Text(f"{what}; units down, input time t across", style="dim", overflow="fold")


class _Drawing:
    """Lines of one layer's heatmaps: a gutter of labels, then the cells."""

    def __init__(self, grids: LayerGrids, gutter: int, plain: bool):
        self.grids = grids
        self.gutter = gutter
        self.plain = plain
        self.styles = _Styles()
        self.segments: Dict[str, Dict[Tuple[int, int], Segment]] = {kind: {} for kind in _LUTS}

    def block(self, grid: Grid, title: str, first: int, per_row: int, ticks: bool) -> Iterator:
        yield from self._legend(title, grid.scale, nan=bool(np.isnan(grid.values).any()))
        rows = grid.values.shape[0]
        idx = levels(grid.values, grid.scale, len(SHADES) if self.plain else LEVELS)
        step = 1 if self.plain else 2
        every = 1 if rows <= 8 * step else 4
        for k, r in enumerate(range(0, rows, step)):
            label = str(first + r * per_row) if k % every == 0 else ""
            yield Segment(label.rjust(self.gutter - 1) + " ")
            if self.plain:
                yield Segment(_SHADE_CODES[idx[r]].tobytes().decode("utf-32-le").rstrip())
            else:
                yield from self._half_blocks(grid.scale.kind, idx[r], idx[r + 1] if r + 1 < rows else None)
            yield Segment.line()
        if ticks:
            if self.grids.masked is not None:
                yield Segment("mask".rjust(self.gutter - 1) + " " + _mask_line(self.grids.masked).rstrip())
                yield Segment.line()
            yield Segment("t".rjust(self.gutter - 1) + " " + _tick_line(self.grids))
            yield Segment.line()

    def _half_blocks(self, kind: str, top: np.ndarray, bottom: Optional[np.ndarray]) -> List[Segment]:
        """One segment per run of equal cells: keys and runs vectorised, segments reused."""
        key = top * (LEVELS + 2) + (0 if bottom is None else bottom + 1)
        cuts = (np.flatnonzero(np.diff(key)) + 1).tolist()
        starts = [0, *cuts]
        runs = np.diff([*starts, len(key)]).tolist()
        segments = self.segments[kind]
        out = []
        for k, n in zip(key[starts].tolist(), runs):
            segment = segments.get((k, n))
            if segment is None:
                style = self.styles.table(kind).get(k) or self.styles.make(kind, k)
                segment = segments[(k, n)] = Segment(HALF * n, style)
            out.append(segment)
        return out

    def _legend(self, title: str, scale: Scale, nan: bool) -> Iterator[Segment]:
        yield Segment(title, Style(bold=True))
        lo, mid, hi = (_fmt(x) for x in scale.ticks())
        if self.plain:
            yield Segment(f"   {lo} [{SHADES}] {hi}")
        else:
            lut = _LUTS[scale.kind]
            cells = [Segment("█", Style(color=Color.from_rgb(*map(int, lut[k])))) for k in range(0, LEVELS, 2)]
            yield Segment(f"   {lo} ")
            yield from cells[: len(cells) // 2]
            yield Segment(f" {mid} ")
            yield from cells[len(cells) // 2 :]
            yield Segment(f" {hi}")
        if nan:
            yield Segment(" · ? NaN" if self.plain else " · grey NaN")
        yield Segment.line()


_SHADE_CODES = np.array([ord(ch) for ch in SHADES + "?"], dtype="<u4")  #: level -> code point (NaN: ?)


def _mask_line(masked: np.ndarray) -> str:
    chars = np.where(masked >= 1.0, "*", np.where(masked > 0, "-", " "))
    return "".join(chars.tolist())


def nice_step(minimum: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is at least ``minimum``."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if step * m >= minimum:
                return step * m
        step *= 10


def _tick_line(grids: LayerGrids) -> str:
    """Input times at their columns (a label starts at the column holding that step): the
    first column's, then round numbers spaced so that labels never touch."""
    times = grids.times
    if not len(times):
        return ""
    t0, t1 = int(times[0]), int(times[-1])
    width = len(str(t1)) + 2
    every = nice_step(width * grids.step_bin)
    line: List[str] = list(str(t0))
    for t in range(-(-(t0 + 1) // every) * every, t1 + 1, every):
        col = (t - t0) // grids.step_bin
        if col <= len(line) or col >= grids.columns:
            continue
        line.extend(" " * (col - len(line)))
        line.extend(str(t))
    return "".join(line)


def heatmap_renderables(report) -> Iterator[RenderableType]:
    """A :class:`~lstm_inspect.reports.run.RunReport` as heatmaps, one block per traced
    layer (one sample), then the model's outputs for that sample."""
    from .render import file_line

    result = report.result
    samples = report.selection.samples
    outputs_sample = samples[0] if samples else 0
    yield file_line(report.model)
    for st in report.selected:
        yield Text("")
        yield LayerHeatmap(report, st, result.hard_sigmoid)
    yield Text("")
    if result.stopped_at:
        yield Text(f"stopped after '{result.stopped_at}' (--until): the output is that layer's", style="dim")
    for k, y in enumerate(result.outputs):
        y = np.asarray(y)
        yield Text(f"output {k}  shape {tuple(y.shape)}  sample {outputs_sample}", style="bold")
        yield Text(np.array2string(y[outputs_sample], precision=6, separator=", ", suppress_small=False))
