"""Narrowing a run's traces to what the user asked to see: layers, one sample or all,
a range of units and of steps, and for ConvLSTM one pixel or the spatial mean."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..errors import LstmInspectError
from ..forward.executor import LayerTrace, RunResult

#: Columns of a trace, in the order tables and JSON give them.
QUANTITIES = {
    "lstm": ("i", "f", "c", "o", "cell", "hidden"),
    "conv_lstm": ("i", "f", "c", "o", "cell", "hidden"),
    "gru": ("z", "r", "h", "hidden"),
    "simple_rnn": ("hidden",),
}

#: Tables show at most this many units unless --units says otherwise.
DEFAULT_UNITS = 8


class SelectionError(LstmInspectError):
    """A --layer, --sample, --units, --steps or --pixel that does not fit the run."""


@dataclass
class Selection:
    samples: Optional[List[int]] = None  #: None: every sample
    units: Optional[Tuple[int, int]] = None  #: None: every unit
    steps: Optional[Tuple[int, int]] = None  #: processing-order step range; None: every step
    layers: Optional[List[str]] = None  #: None: every recurrent layer
    pixel: Optional[Tuple[int, int]] = None  #: ConvLSTM: one position; None: spatial mean
    #: ``units`` is the default cap (not the user's --units): a narrower layer shows all its units
    units_capped: bool = False


@dataclass
class SelectedTrace:
    layer: LayerTrace
    samples: List[int]
    units: Tuple[int, int]
    step_range: Tuple[int, int]
    steps: np.ndarray  #: input time index at each selected step
    values: Dict[str, np.ndarray] = field(default_factory=dict)  #: (samples, steps, units)
    masked: Optional[np.ndarray] = None  #: (samples, steps) True where the step was masked
    spatial: Optional[str] = None  #: ConvLSTM: how maps were reduced


def parse_range(text: Optional[str], what: str) -> Optional[Tuple[int, int]]:
    """``"A:B"`` (either end may be empty) -> (A, B); B None means to the end."""
    if text is None:
        return None
    start, sep, stop = text.partition(":")
    try:
        a = int(start) if start.strip() else 0
        b = int(stop) if stop.strip() else -1
        if not sep:
            b = a + 1
    except ValueError:
        raise SelectionError(f"{what} '{text}' is not a range A:B") from None
    if a < 0 or (b != -1 and b <= a):
        raise SelectionError(f"{what} '{text}' is empty or negative; give A:B with 0 <= A < B")
    return (a, b)


def select(result: RunResult, sel: Selection, offset: int = 0, total_steps: Optional[int] = None) -> List[SelectedTrace]:
    """The traces ``sel`` asks for. A chunk of a longer run (``stream``) passes the step its
    traces start at and the whole run's length: ``sel.steps`` counts in the whole run, and
    a chunk outside it gives traces with no steps."""
    traces = result.traces
    if sel.layers:
        known = [t.path for t in traces]
        for path in sel.layers:
            if path not in known and not any(k.startswith(path + "/") for k in known):
                listing = ", ".join(known) if known else "none"
                raise SelectionError(f"--layer '{path}' is not a recurrent layer of this model (they are: {listing})")
        traces = [t for t in traces if any(t.path == p or t.path.startswith(p + "/") for p in sel.layers)]
    return [_select_one(t, sel, offset, total_steps) for t in traces]


def _select_one(t: LayerTrace, sel: Selection, offset: int, total_steps: Optional[int]) -> SelectedTrace:
    batch = t.trace.hidden.shape[0]
    n_steps = t.trace.hidden.shape[1]
    total = n_steps if total_steps is None else total_steps
    samples = sel.samples if sel.samples is not None else list(range(batch))
    for s in samples:
        if not 0 <= s < batch:
            raise SelectionError(f"--sample {s} is out of range: the input has {batch} sample(s) (0 to {batch - 1})")
    units = t.view.units
    u0, u1 = sel.units or (0, units)
    u1 = units if u1 == -1 else min(u1, units) if sel.units_capped else u1
    if u0 >= units or u1 > units:
        raise SelectionError(f"--units {u0}:{u1} is out of range for '{t.path}', which has {units} units")
    s0, s1 = sel.steps or (0, total)
    s1 = total if s1 == -1 else min(s1, total)
    if s0 >= total:
        raise SelectionError(f"--steps {s0}:{s1} is out of range for '{t.path}', which ran {total} steps")
    a, b = max(s0 - offset, 0), min(s1 - offset, n_steps)  # this chunk's part of s0:s1
    a, b = (a, b) if a < b else (0, 0)
    out = SelectedTrace(layer=t, samples=samples, units=(u0, u1), step_range=(offset + a, offset + b),
                        steps=t.trace.steps[a:b] + offset)
    for name in QUANTITIES[t.view.kind]:
        full = t.trace.cell if name == "cell" else t.trace.hidden if name == "hidden" else t.trace.gates[name]
        full = _rows(full[:, a:b], samples, batch)
        if full.ndim == 5:  # ConvLSTM maps: (samples, steps, rows, cols, filters)
            full, out.spatial = _spatial(full, sel.pixel, t.path)
        out.values[name] = full[..., u0:u1]
    if t.mask is not None:
        out.masked = ~_rows(np.asarray(t.mask, bool), samples, batch)[:, t.trace.steps[a:b]]
    return out


def _rows(array: np.ndarray, samples: List[int], batch: int) -> np.ndarray:
    """``array[samples]``, as a view (no copy) for every sample or a single one."""
    if samples == list(range(batch)):
        return array
    if len(samples) == 1:
        return array[samples[0] : samples[0] + 1]
    return array[samples]


def _spatial(maps: np.ndarray, pixel: Optional[Tuple[int, int]], path: str):
    rows, cols = maps.shape[2], maps.shape[3]
    if pixel is None:
        return maps.mean(axis=(2, 3)), f"spatial mean over {rows}x{cols} positions"
    r, c = pixel
    if not (0 <= r < rows and 0 <= c < cols):
        raise SelectionError(f"--pixel {r},{c} is outside the {rows}x{cols} maps of '{path}'")
    return maps[:, :, r, c], f"position row {r}, col {c} of {rows}x{cols}"
