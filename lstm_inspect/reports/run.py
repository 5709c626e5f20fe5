"""The pipeline behind ``lstm-inspect run``, as library functions: inputs read and
checked against the model's input signature, the forward pass, the narrowing to what is
to be shown, and the arrays ``--npz`` and ``--state-out`` write.

>>> import lstm_inspect
>>> model = lstm_inspect.load("sample_models/seed.h5")
>>> report = lstm_inspect.run_report(model, "sample_models/seed_input.json")
>>> [(st.layer.path, st.units, len(st.steps)) for st in report.selected]
[('lstm', (0, 3), 3)]
>>> sorted(lstm_inspect.trace_arrays(report.result))[:3]
['lstm/c', 'lstm/cell', 'lstm/f']
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import InputError, UnsupportedError
from ..forward.executor import Keep, RunResult, run_model
from ..forward.signature import input_signature
from ..model import Model
from ..reading.files import load_states
from ..reading.inputs import InputSpec, fit_arrays, load_inputs
from .selection import SelectedTrace, Selection, check_samples, select

PathLike = Union[str, "os.PathLike[str]"]
#: Initial states: ``{layer path: {"h": array, "c": array}}``, the flat layout of
#: :func:`state_arrays` (``{"<layer path>/h": array, ...}``), or an .npz file of it.
States = Union[PathLike, Mapping[str, Union[np.ndarray, Mapping[str, np.ndarray]]]]
Progress = Callable[[str, int, int], None]


@dataclass
class ModelInputs:
    """The arrays a model is run on, one per model input, with the input names and notes
    on what was done to fit them (a batch axis added, a sequence length that differs from
    the saved one, NaN values)."""

    names: List[str]
    arrays: List[np.ndarray]
    notes: List[str] = field(default_factory=list)


@dataclass
class RunReport:
    """A run (or, from :func:`run_report_chunks`, one chunk of it) and what to show of it.

    ``selected`` is ``result`` narrowed by ``selection``; ``notes`` are one-line remarks
    for the user (the CLI prints them as ``Note: ...``); ``inputs`` are the input names
    and shapes. A chunk starts at step ``start`` of ``total_steps``; ``final`` is True for
    the report whose result ends the run (its states are the run's final states).
    """

    model: Model
    result: RunResult
    selected: List[SelectedTrace]
    selection: Selection
    inputs: List[Tuple[str, Tuple[int, ...]]]
    notes: List[str] = field(default_factory=list)
    start: int = 0
    total_steps: Optional[int] = None
    final: bool = True
    input_arrays: List[np.ndarray] = field(default_factory=list)  #: the model inputs, as run

    def records(self) -> Iterator[Dict]:
        """One JSON-ready record per selected layer, sample and step (``run --jsonl``)."""
        from .serialize import run_records

        return run_records(self.selected)


# ------------------------------------------------------------------------------------
# Inputs


def read_inputs(model: Model, source: PathLike, stdin=None) -> ModelInputs:
    """Read ``source`` (.npy, .npz, .csv/.tsv/.txt, .json, or ``"-"`` for JSON on ``stdin``)
    and check it against ``model``'s inputs. The time axis is free: a sequence may be
    longer or shorter than the model was saved for (a note says so), so that a stateful
    model can be run in chunks; a layer that needs the saved length still says so."""
    declared, specs = _signature(model)
    arrays, notes = load_inputs(source, specs, stdin)
    return ModelInputs([s.name for s in specs], arrays, notes + _length_notes(declared, arrays))


def model_inputs(model: Model, inputs: Union[PathLike, np.ndarray, Sequence[np.ndarray], ModelInputs]) -> ModelInputs:
    """``inputs`` as :class:`ModelInputs`: a path is read with :func:`read_inputs`; an array
    (one input) or a list of arrays (in the model's input order) gets the same checks and
    conversions (a batch axis added to one sequence, float32 or integer token ids)."""
    if isinstance(inputs, ModelInputs):
        return inputs
    if isinstance(inputs, (str, os.PathLike)):
        return read_inputs(model, inputs)
    declared, specs = _signature(model)
    try:
        arrays, notes = fit_arrays([inputs] if isinstance(inputs, np.ndarray) else list(inputs), specs)
    except InputError as err:
        raise err.with_file(model.file) from None
    return ModelInputs([s.name for s in specs], arrays, notes + _length_notes(declared, arrays))


def _signature(model: Model):
    declared = input_signature(model)
    return declared, [InputSpec(name, _free_time(shape), dtype) for name, shape, dtype in declared]


def _free_time(shape):
    return (shape[0], None) + tuple(shape[2:]) if len(shape) >= 3 else shape


def _float16_notes(model) -> List[str]:
    from ..kinds.half import computes_in_float16

    half = [layer.path for layer in model.walk() if computes_in_float16(layer.config)]
    if not half:
        return []
    return [f"computed in float16, every operation rounded as TensorFlow does on CPU: {', '.join(half)}"]


def _length_notes(declared, arrays) -> List[str]:
    return [
        f"input '{name}' has {x.shape[1]} time steps; the model was saved for {shape[1]}"
        for (name, shape, _), x in zip(declared, arrays)
        if len(shape) >= 3 and shape[1] is not None and x.shape[1] != shape[1]
    ]


# ------------------------------------------------------------------------------------
# States and traces as flat arrays (the --npz and --state-out layouts)


def trace_arrays(result: RunResult) -> Dict[str, np.ndarray]:
    """Every output and trace of a run, keyed as ``run --npz`` writes them:
    ``output/<k>``, ``<layer path>/<quantity>`` (gates, ``cell``, ``hidden``; each
    ``(batch, steps, units)``) and ``<layer path>/steps`` (the input time index of each
    step, in processing order). Traces are full, not narrowed by a selection."""
    arrays = {f"output/{k}": y for k, y in enumerate(result.outputs)}
    for t in result.traces:
        for name, value in {**t.trace.gates, "cell": t.trace.cell, "hidden": t.trace.hidden}.items():
            if value is not None:
                arrays[f"{t.path}/{name}"] = value
        arrays[f"{t.path}/steps"] = t.trace.steps
    return arrays


def state_arrays(result: RunResult) -> Dict[str, np.ndarray]:
    """Each recurrent layer's final states keyed ``<layer path>/h`` and, for LSTM layers,
    ``<layer path>/c`` (what ``run --state-out`` writes; :func:`load_states` reads it)."""
    return {f"{t.path}/{k}": v for t in result.traces for k, v in t.trace.states.items()}


def initial_states(states: Optional[States]) -> Optional[Dict[str, Dict[str, np.ndarray]]]:
    """``{layer path: {"h": ..., "c": ...}}`` from a path (read with :func:`load_states`),
    the flat layout of :func:`state_arrays`, or that nested form itself."""
    if states is None:
        return None
    if isinstance(states, (str, os.PathLike)):
        return load_states(states)
    nested: Dict[str, Dict[str, np.ndarray]] = {}
    for key, value in states.items():
        if isinstance(value, Mapping):
            nested.setdefault(key, {}).update(value)
            continue
        layer, _, which = key.rpartition("/")
        if not layer or which not in ("h", "c"):
            raise InputError(f"initial state {key!r} is not named '<layer path>/h' or '<layer path>/c'")
        nested.setdefault(layer, {})[which] = np.asarray(value, dtype=np.float32)
    return nested


# ------------------------------------------------------------------------------------
# Runs


def run_report(
    model: Model,
    inputs: Union[PathLike, np.ndarray, Sequence[np.ndarray], ModelInputs],
    selection: Optional[Selection] = None,
    *,
    hard_sigmoid: Optional[str] = None,
    until: Optional[str] = None,
    initial_states: Optional[States] = None,
    progress: Optional[Progress] = None,
    max_units: Optional[int] = None,
    keep: Optional[Keep] = None,
) -> RunReport:
    """Run ``model`` forward on ``inputs`` (a path, an array, or a list of arrays) and
    narrow its traces to ``selection`` (default: everything).

    ``max_units``: when the selection names no units and a layer has more than this,
    show units ``0:max_units`` with a note (tables pass
    :data:`~lstm_inspect.reports.selection.DEFAULT_UNITS`). The other options are those
    of :func:`~lstm_inspect.forward.executor.run_model`; ``initial_states`` may also be
    a path or the flat layout of :func:`state_arrays`. ``keep`` (default: every trace;
    :func:`selection_keep` gives what the selection shows) is ``run_model``'s.
    """
    given, states, selection = _prepare(model, inputs, initial_states, until, selection)
    result = run_model(model, given.arrays, hard_sigmoid=hard_sigmoid, until=until, initial_states=states,
                       progress=progress, keep=keep)
    notes = given.notes + _float16_notes(model) + _cap_units(result, selection, max_units)
    selected = select(result, selection, notes=notes)
    return RunReport(model, result, selected, selection, _shapes(given), notes, total_steps=_steps(given),
                     input_arrays=given.arrays)


def selection_keep(selection: Optional[Selection]) -> Keep:
    """The traces a run must keep to show ``selection``: its layers and samples."""
    if selection is None:
        return Keep()
    return Keep(paths=selection.layers, samples=selection.samples)


def run_report_chunks(
    model: Model,
    inputs: Union[PathLike, np.ndarray, Sequence[np.ndarray], ModelInputs],
    selection: Optional[Selection] = None,
    *,
    steps_per_chunk: Optional[int] = None,
    hard_sigmoid: Optional[str] = None,
    until: Optional[str] = None,
    initial_states: Optional[States] = None,
    progress: Optional[Progress] = None,
    max_units: Optional[int] = None,
    keep: Optional[Keep] = None,
) -> Iterator[RunReport]:
    """:func:`run_report` a chunk of steps at a time, so memory stays bounded for any
    sequence length: one report per chunk, its selection counted in the whole run's steps
    (``report.start`` is the chunk's first step). A model that needs the whole sequence
    (see :func:`~lstm_inspect.forward.stream.streaming_blocker`) is run whole, as one
    report, with a note when the sequence is long. Notes come with the first report."""
    from ..forward import stream

    given, states, selection = _prepare(model, inputs, initial_states, until, selection)
    options = {"hard_sigmoid": hard_sigmoid, "until": until, "initial_states": states, "progress": progress,
               "keep": keep}
    arrays, notes = given.arrays, list(given.notes) + _float16_notes(model)
    total = _steps(given)
    blocker = stream.streaming_blocker(model, arrays)
    if blocker is not None:
        if total is not None and total > (steps_per_chunk or stream.chunk_steps(model, len(arrays[0]))):
            notes.append(f"--jsonl holds the whole run in memory: {blocker}")
        result = run_model(model, arrays, **options)
        notes += _cap_units(result, selection, max_units)
        selected = select(result, selection, notes=notes)
        yield RunReport(model, result, selected, selection, _shapes(given), notes, total_steps=total)
        return
    n = steps_per_chunk or stream.chunk_steps(model, arrays[0].shape[0])
    for start, result in stream.run_chunks(model, arrays, steps_per_chunk=n, **options):
        if start == 0:
            notes += _cap_units(result, selection, max_units)
        selected = select(result, selection, offset=start, total_steps=total, notes=notes if start == 0 else None)
        yield RunReport(model, result, selected, selection, _shapes(given), notes if start == 0 else [],
                        start=start, total_steps=total, final=start + n >= total)


def run_records(
    model: Model,
    inputs: Union[PathLike, np.ndarray, Sequence[np.ndarray], ModelInputs],
    selection: Optional[Selection] = None,
    **options,
) -> Iterator[Dict]:
    """``run --jsonl`` as a generator: one JSON-ready record per selected layer, sample
    and step, computed a chunk of steps at a time where the model allows it
    (:func:`run_report_chunks` takes the same options)."""
    for report in run_report_chunks(model, inputs, selection, **options):
        yield from report.records()


def _prepare(model, inputs, states, until, selection):
    """Inputs, initial states and a copy of the selection, checked before anything runs."""
    from .overview import unrunnable_wrapper

    given = model_inputs(model, inputs)
    if selection is not None and given.arrays:
        check_samples(selection.samples, len(given.arrays[0]))
    states = initial_states(states)
    reason = unrunnable_wrapper(model, until)
    if reason:
        raise UnsupportedError(reason, file=model.file)
    return given, states, dataclasses.replace(selection) if selection is not None else Selection()


def _cap_units(result: RunResult, selection: Selection, max_units: Optional[int]) -> List[str]:
    """The default-units rule: all units when at most ``max_units``, else 0:max_units."""
    if max_units is None or selection.units is not None:
        return []
    widest = max((t.view.units for t in result.traces), default=0)
    if widest <= max_units:
        return []
    selection.units, selection.units_capped = (0, max_units), True
    return [f"showing units 0:{max_units} of up to {widest}; use --units A:B to see others"]


def _shapes(given: ModelInputs) -> List[Tuple[str, Tuple[int, ...]]]:
    return [(name, tuple(np.shape(x))) for name, x in zip(given.names, given.arrays)]


def _steps(given: ModelInputs) -> Optional[int]:
    first = given.arrays[0] if given.arrays else None
    return int(first.shape[1]) if first is not None and np.ndim(first) >= 2 else None
