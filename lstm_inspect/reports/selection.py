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
    units: Optional[Tuple[int, Optional[int]]] = None  #: None: every unit; a slice (negative: from the end)
    steps: Optional[Tuple[int, Optional[int]]] = None  #: processing-order step range, as units; None: every step
    layers: Optional[List[str]] = None  #: None: every recurrent layer
    pixel: Optional[Tuple[int, ...]] = None  #: ConvLSTM: one position (one index per spatial axis); None: spatial mean
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


def parse_range(text: Optional[str], what: str) -> Optional[Tuple[int, Optional[int]]]:
    """``"A:B"`` -> (A, B) as a Python slice reads it: either end may be empty (B None:
    to the end), a negative end counts from the end (``-10:`` is the last ten), and a
    single number N is N:N+1."""
    if text is None:
        return None
    start, sep, stop = text.partition(":")
    try:
        a = int(start) if start.strip() else 0
        b = int(stop) if stop.strip() else None
        if not sep:
            b = a + 1 if a != -1 else None
    except ValueError:
        raise SelectionError(f"{what} '{text}' is not a range A:B") from None
    if b is not None and (a >= 0) == (b >= 0) and b <= a:
        raise SelectionError(f"{what} '{text}' is empty; give A:B with A < B (a negative end counts from the end)")
    return (a, b)


def resolve_range(span: Optional[Tuple[int, Optional[int]]], size: int, what: str, where: str,
                  notes: Optional[List[str]] = None) -> Tuple[int, int]:
    """``span`` within ``size`` items, as a slice: negative ends count from the end; an end
    past the last item is clipped (with a note); a start past it, or an empty result, is an
    error naming ``span`` as the user gave it."""
    if span is None:
        return 0, size
    a, b = span
    given = f"{a}:{'' if b is None else b}"
    a0 = a + size if a < 0 else a
    b0 = size if b is None else (b + size if b < 0 else b)
    if a0 >= size or b0 <= max(a0, 0):
        raise SelectionError(f"{what} {given} is out of range for '{where}', which has {size} {_noun(what)}")
    a0, b1 = max(a0, 0), min(b0, size)
    if notes is not None and (b1 < b0 or (a < 0 and a + size < 0)):
        note = f"{what} {given}: '{where}' has {size} {_noun(what)}; showing {a0}:{b1}"
        if note not in notes:
            notes.append(note)
    return a0, b1


def _noun(what: str) -> str:
    return "steps" if what == "--steps" else "units"


def select(result: RunResult, sel: Selection, offset: int = 0, total_steps: Optional[int] = None,
           notes: Optional[List[str]] = None) -> List[SelectedTrace]:
    """The traces ``sel`` asks for. A chunk of a longer run (``stream``) passes the step its
    traces start at and the whole run's length: ``sel.steps`` counts in the whole run, and
    a chunk outside it gives traces with no steps. Ranges clipped to the run are noted in
    ``notes``."""
    traces = result.traces
    if sel.layers:
        known = [t.path for t in traces]
        for path in sel.layers:
            if path not in known and not any(k.startswith(path + "/") for k in known):
                listing = ", ".join(known) if known else "none"
                raise SelectionError(f"--layer '{path}' is not a recurrent layer of this model (they are: {listing})")
        traces = [t for t in traces if any(t.path == p or t.path.startswith(p + "/") for p in sel.layers)]
    if sel.pixel is not None and not any(t.view.kind == "conv_lstm" for t in traces):
        listing = ", ".join(f"{t.path} ({t.view.class_name})" for t in traces) or "none"
        raise SelectionError(f"--pixel applies to ConvLSTM2D layers only; the layers shown have none (they are: {listing})")
    return [_select_one(t, sel, offset, total_steps, notes) for t in traces]


def check_samples(samples: Optional[List[int]], batch: int) -> None:
    for s in samples or ():
        if not 0 <= s < batch:
            raise SelectionError(f"--sample {s} is out of range: the input has {batch} sample(s) (0 to {batch - 1})")


def _select_one(t: LayerTrace, sel: Selection, offset: int, total_steps: Optional[int],
                notes: Optional[List[str]]) -> SelectedTrace:
    batch = t.trace.output.shape[0] if t.trace.output is not None else t.trace.hidden.shape[0]
    n_steps = t.trace.hidden.shape[1]
    total = n_steps if total_steps is None else total_steps
    samples = sel.samples if sel.samples is not None else list(range(batch))
    check_samples(samples, batch)
    kept = getattr(t.trace, "rows", None)
    units = sel.units
    if sel.units_capped and units is not None and units[1] != -1:  # the default cap, not the user's --units:
        units = (units[0], min(units[1], t.view.units))            # a narrower layer shows all its units
    u0, u1 = resolve_range(units, t.view.units, "--units", t.path, notes)
    s0, s1 = resolve_range(sel.steps, total, "--steps", t.path, notes)
    a, b = max(s0 - offset, 0), min(s1 - offset, n_steps)  # this chunk's part of s0:s1
    a, b = (a, b) if a < b else (0, 0)
    out = SelectedTrace(layer=t, samples=samples, units=(u0, u1), step_range=(offset + a, offset + b),
                        steps=t.trace.steps[a:b] + offset)
    for name in QUANTITIES[t.view.kind]:
        full = t.trace.cell if name == "cell" else t.trace.hidden if name == "hidden" else t.trace.gates[name]
        full = _rows(full[:, a:b], samples, batch, kept, t.path)
        if full.ndim >= 4:  # ConvLSTM maps: (samples, steps, *spatial, filters), 1 to 3 spatial axes
            full, out.spatial = _spatial(full, sel.pixel, t.path)
        out.values[name] = full[..., u0:u1]
    if t.mask is not None:
        out.masked = ~_rows(np.asarray(t.mask, bool), samples, batch)[:, t.trace.steps[a:b]]
    return out


def _rows(array: np.ndarray, samples: List[int], batch: int, kept: Optional[List[int]] = None,
          path: str = "") -> np.ndarray:
    """``array[samples]``, as a view (no copy) for every sample or a single one. ``kept``:
    the batch rows ``array`` holds (a run that kept only some, see ``run_model(keep=)``)."""
    if kept is not None:
        missing = [s for s in samples if s not in kept]
        if missing:
            raise SelectionError(f"the run kept no trace of sample {missing[0]} of '{path}' (see run_model's keep=)")
        samples, batch = [kept.index(s) for s in samples], len(kept)
    if samples == list(range(batch)):
        return array
    if len(samples) == 1:
        return array[samples[0] : samples[0] + 1]
    return array[samples]


def _spatial(maps: np.ndarray, pixel: Optional[Tuple[int, ...]], path: str):
    dims = maps.shape[2:-1]
    size = "x".join(str(d) for d in dims)
    if pixel is None:
        return maps.mean(axis=tuple(range(2, 2 + len(dims)))), f"spatial mean over {size} positions"
    if len(pixel) != len(dims) or not all(0 <= p < d for p, d in zip(pixel, dims)):
        raise SelectionError(f"--pixel {','.join(map(str, pixel))} is outside the {size} maps of '{path}'")
    if len(dims) == 2:
        return maps[:, :, pixel[0], pixel[1]], f"position row {pixel[0]}, col {pixel[1]} of {size}"
    return maps[(slice(None), slice(None), *pixel)], f"position {','.join(map(str, pixel))} of {size}"
