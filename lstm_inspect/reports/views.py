"""What the heatmap views of ``run`` show, in numpy: which view is the default, the
colour scale of each quantity, and a selected trace as a units x steps grid in input
time, binned (mean per bin) to the cells a terminal offers. The terminal drawing is
:mod:`~lstm_inspect.reports.heatmap` (Rich), the image files :mod:`~lstm_inspect.reports.plot`
(matplotlib); both draw what this module computes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ..gates import GATE_NAMES
from .selection import SelectedTrace

#: ``run`` shows a heatmap by default when the longest selected trace has more steps than
#: this, and a table otherwise (README "Seeing a long trace" says why).
HEATMAP_STEPS = 64

#: Activations whose values lie in [0, 1], and those in [-1, 1].
_UNIT = {"sigmoid", "hard_sigmoid"}
_SYMMETRIC = {"tanh", "softsign"}
_GATES = ("i", "f", "o", "z", "r")
_CANDIDATES = ("c", "h")

#: Quantities' long names, after the gate names of gates.py.
QUANTITY_NAMES = {**{g: f"{GATE_NAMES[g]} gate" for g in _GATES}, "c": "cell candidate", "h": "candidate",
                  "cell": "cell state", "hidden": "hidden state"}


def default_view(report, max_units: Optional[int] = None) -> str:
    """``"heatmap"`` when the longest selected trace has more than :data:`HEATMAP_STEPS`
    steps, else ``"table"``; for a table, the units are narrowed to ``max_units`` (with a
    note) as :func:`~lstm_inspect.reports.run.run_report` does for tables."""
    from .run import _cap_units
    from .selection import select

    longest = max((len(st.steps) for st in report.selected), default=0)
    if longest > HEATMAP_STEPS:
        return "heatmap"
    notes = _cap_units(report.result, report.selection, max_units)
    if notes:
        report.selected = select(report.result, report.selection)
        report.notes.extend(notes)
    return "table"


# ------------------------------------------------------------------------------ scales


@dataclass(frozen=True)
class Scale:
    """``sequential`` from ``lo`` to ``hi`` (gates: 0 to 1), or ``diverging`` from
    ``-hi`` to ``hi``, centred on 0."""

    kind: str
    lo: float
    hi: float

    def fraction(self, values: np.ndarray) -> np.ndarray:
        """``values`` as 0..1 along the scale, clipped at its ends (NaN stays NaN)."""
        out = (np.asarray(values, np.float32) - np.float32(self.lo)) / np.float32(self.hi - self.lo)
        return np.clip(out, 0.0, 1.0, out=out)

    def ticks(self) -> Tuple[float, ...]:
        return (self.lo, 0.0, self.hi) if self.kind == "diverging" else (self.lo, (self.lo + self.hi) / 2, self.hi)


def _bounds(activation: Optional[str]) -> Optional[Tuple[float, float]]:
    if activation in _UNIT:
        return (0.0, 1.0)
    if activation in _SYMMETRIC:
        return (-1.0, 1.0)
    return None


def nominal_bounds(view, name: str) -> Optional[Tuple[float, float]]:
    """The range a quantity cannot leave by construction, or None (cell states, and
    activations such as relu): gates by ``recurrent_activation``, candidates by
    ``activation``, hidden states by ``activation`` when the gates lie in [0, 1]."""
    if name in _GATES:
        return _bounds(view.recurrent_activation)
    if name in _CANDIDATES:
        return _bounds(view.activation)
    if name == "hidden" and (view.kind == "simple_rnn" or view.recurrent_activation in _UNIT):
        return _bounds(view.activation)
    return None


def scale_for(values: np.ndarray, bounds: Optional[Tuple[float, float]]) -> Scale:
    """Sequential 0..1 for values bounded to [0, 1]; otherwise diverging around 0, to 1
    for values bounded to [-1, 1] and to the largest magnitude shown (rounded up to two
    significant digits) for the rest, or for values outside their bounds (an initial
    state, say), so nothing is ever clipped silently."""
    lo, hi = _finite_range(values)
    if bounds == (0.0, 1.0) and lo >= 0.0 and hi <= 1.0:
        return Scale("sequential", 0.0, 1.0)
    limit = max(abs(lo), abs(hi))
    if bounds == (-1.0, 1.0) and limit <= 1.0:
        return Scale("diverging", -1.0, 1.0)
    limit = nice_ceil(limit) if limit > 0 else 1.0
    return Scale("diverging", -limit, limit)


def _finite_range(values: np.ndarray) -> Tuple[float, float]:
    """The smallest and largest finite value (0, 0 when there is none)."""
    if not values.size:
        return 0.0, 0.0
    lo, hi = float(values.min()), float(values.max())
    if math.isfinite(lo) and math.isfinite(hi):
        return lo, hi
    finite = values[np.isfinite(values)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


def input_scale(values: np.ndarray) -> Scale:
    """Model inputs: sequential from 0 when nothing is negative (token ids, one-hot
    rows, counts), else diverging around 0."""
    finite = values[np.isfinite(values)]
    if finite.size and float(finite.min()) >= 0.0:
        return Scale("sequential", 0.0, nice_ceil(float(finite.max())) if finite.max() > 0 else 1.0)
    return scale_for(values, None)


def nice_ceil(x: float) -> float:
    """``x`` rounded up to two significant digits: 2.3417 -> 2.4, 0.01234 -> 0.013."""
    if not math.isfinite(x) or x <= 0:
        return 1.0
    digits = 1 - math.floor(math.log10(x))
    step = 10.0 ** -digits
    return round(math.ceil(round(x / step, 6)) * step, max(digits, 0))


# ------------------------------------------------------------------------------ binning


def bin_size(n: int, cells: int) -> int:
    """How many steps (or units) one cell holds so that ``n`` fit in ``cells``."""
    return max(1, -(-n // max(cells, 1)))


def bin_mean(a: np.ndarray, size: int, axis: int) -> np.ndarray:
    """The mean of consecutive groups of ``size`` along ``axis`` (the last group may be
    shorter: its mean is over what it holds). A NaN makes its group's mean NaN."""
    if size <= 1:
        return a
    n = a.shape[axis]
    starts = np.arange(0, n, size)
    counts = np.diff(np.append(starts, n)).astype(np.float32)
    sums = np.add.reduceat(a, starts, axis=axis, dtype=np.float64)
    shape = [1] * a.ndim
    shape[axis] = len(starts)
    return (sums / counts.reshape(shape)).astype(np.float32)


# ------------------------------------------------------------------------------ grids


@dataclass
class Grid:
    """One quantity of one layer: ``values`` (rows = unit bins, columns = step bins)."""

    name: str
    title: str
    scale: Scale
    values: np.ndarray


@dataclass
class LayerGrids:
    """A selected trace as grids over input time, binned ``unit_bin`` x ``step_bin``."""

    trace: SelectedTrace
    times: np.ndarray  #: the input time of each step, ascending
    step_bin: int
    unit_bin: int
    grids: List[Grid]
    inputs: List[Grid] = field(default_factory=list)  #: model inputs on the same time axis
    input_bin: int = 1  #: features per input row
    masked: Optional[np.ndarray] = None  #: per column: fraction of its steps masked

    @property
    def columns(self) -> int:
        return len(self.times) and -(-len(self.times) // self.step_bin)


def time_order(steps: np.ndarray):
    """An index that puts processing-order steps in input time (a slice where it can)."""
    if len(steps) < 2 or np.all(np.diff(steps) > 0):
        return slice(None)
    if np.all(np.diff(steps) < 0):
        return slice(None, None, -1)
    return np.argsort(steps, kind="stable")


def layer_grids(st: SelectedTrace, columns: Optional[int] = None, rows: Optional[int] = None,
                inputs: Sequence[Tuple[str, np.ndarray]] = (), input_rows: Optional[int] = None) -> LayerGrids:
    """``st`` (its first sample) as one grid per quantity, units down and input time
    across, binned to at most ``columns`` x ``rows`` cells (None: no binning). The scale
    of each quantity is set on its unbinned values. ``inputs``: ``(name, array)`` of the
    model inputs whose time axis is the layer's (batch first; spatial axes are averaged),
    drawn as strips of at most ``input_rows`` rows."""
    order = time_order(st.steps)
    times = np.asarray(st.steps)[order]
    n = len(times)
    units = st.units[1] - st.units[0]
    sb = bin_size(n, columns) if columns else 1
    ub = bin_size(units, rows) if rows else 1
    view = st.layer.view
    grids = []
    for name, values in st.values.items():
        a = np.asarray(values[0])[order]  # (steps, units) in input time; binned, then transposed
        scale = scale_for(a, nominal_bounds(view, name))
        grids.append(Grid(name, QUANTITY_NAMES.get(name, name), scale, bin_mean(bin_mean(a, sb, 0), ub, 1).T))
    out = LayerGrids(st, times, sb, ub, grids)
    if st.masked is not None and np.any(st.masked[0]):
        out.masked = bin_mean(np.asarray(st.masked[0], np.float32)[order][None, :], sb, 1)[0]
    strips = []
    for name, x in inputs:
        x = np.asarray(x[st.samples[0]], np.float32)[np.asarray(st.steps)[order]]  # (steps, ...)
        x = x.reshape(len(x), -1) if x.ndim <= 2 else x.mean(axis=tuple(range(1, x.ndim - 1)))
        strips.append((name, x.reshape(len(x), -1).T))
    if strips:
        features = max(s.shape[0] for _, s in strips)
        out.input_bin = bin_size(features, input_rows) if input_rows else 1
        out.inputs = [Grid(name, f"input '{name}'", input_scale(a), bin_mean(bin_mean(a, sb, 1), out.input_bin, 0))
                      for name, a in strips]
    return out


def matching_inputs(report, st: SelectedTrace) -> List[Tuple[str, np.ndarray]]:
    """The model inputs (name, array) that run over the same time steps as ``st``'s layer."""
    arrays = getattr(report, "input_arrays", None) or []
    steps = st.layer.trace.hidden.shape[1]
    return [(name, x) for (name, _), x in zip(report.inputs, arrays)
            if np.ndim(x) >= 2 and x.shape[1] == steps and np.issubdtype(x.dtype, np.number)]
