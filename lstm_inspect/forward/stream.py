"""Running a model over a long sequence a chunk of steps at a time, so that memory stays
bounded whatever the sequence length (``run --jsonl`` streams its records this way).

Each chunk is an ordinary run of the executor that starts from the states (and the last
output) the chunk before ended with; for the models this allows, that is exactly the
whole-sequence run cut into pieces. It allows models in which every layer works step by
step: forward recurrent layers, and layers that act on each step alone (Dense, Embedding,
Masking, merges along the feature axis, ...). Layers that look across steps
(go_backwards, Bidirectional, Conv1D, pooling over time, Flatten, ...) need the whole
sequence, and :func:`streaming_blocker` says which one stops a model.
"""

from __future__ import annotations

import functools
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import LstmInspectError
from ..kinds.base import LAST, STEPS, Blocked
from ..kinds.registry import kind_for
from ..model import Layer, Model
from .executor import RunResult, run_model
from .graph import io_refs
from .walk import SEQUENTIAL_CALL, Step, walk

__all__ = ["LAST", "STEPS", "chunk_steps", "run_chunks", "streaming_blocker"]

#: Target size of one chunk's trace buffers per layer, in bytes.
CHUNK_BYTES = 8 << 20


def streaming_blocker(model: Model, inputs: Sequence[np.ndarray]) -> Optional[str]:
    """None when ``model`` can run on ``inputs`` chunk by chunk with the results of one
    whole run; otherwise the reason it cannot, naming the layer."""
    if len(inputs) != 1:
        return f"the model has {len(inputs)} inputs"
    if np.ndim(inputs[0]) < 2:
        return "the input has no time axis"
    try:
        _Planner(model).walk(model.layers, model.class_name or "Sequential", model.input_layers, None)
    except Blocked as e:
        return str(e)
    except LstmInspectError as e:  # a graph that cannot be followed: run will say so in full
        return e.detail
    return None


def chunk_steps(model: Model, batch: int) -> int:
    """Steps per chunk: about CHUNK_BYTES of traces for the widest recurrent layer."""
    from ..kinds.recurrent import recurrent_layers

    widest = max((v.units for v in recurrent_layers(model)), default=1)
    per_step = batch * 6 * widest * 4  # LSTM: 4 gates, cell, hidden
    return int(min(8192, max(256, CHUNK_BYTES // max(1, per_step))))


def run_chunks(
    model: Model,
    inputs: Sequence[np.ndarray],
    steps_per_chunk: Optional[int] = None,
    hard_sigmoid: Optional[str] = None,
    until: Optional[str] = None,
    initial_states: Optional[Dict[str, Dict[str, np.ndarray]]] = None,
    progress: Optional[Callable[[str, int, int], None]] = None,
    keep=None,
) -> Iterator[Tuple[int, RunResult]]:
    """Run ``model`` chunk by chunk; yield ``(first step, result)`` for each chunk.

    Each result is that chunk's run: its traces cover the chunk's steps only (add the
    first step to their ``steps``); its outputs are the chunk's, and for outputs that are
    not sequences the last chunk's are the whole run's. Call :func:`streaming_blocker`
    first: for a model it names, the results would differ from one whole run.
    """
    (x,) = inputs
    total = x.shape[1]
    n = steps_per_chunk or chunk_steps(model, x.shape[0])
    states = dict(initial_states or {})
    outputs: Dict[str, np.ndarray] = {}
    for start in range(0, max(total, 1), n):
        part = x[:, start : start + n]
        report = None if progress is None else functools.partial(_in_whole_run, progress, start, total)
        result = run_model(model, [part], hard_sigmoid=hard_sigmoid, until=until, initial_states=states,
                           progress=report, initial_outputs=outputs, keep=keep)
        states = {t.path: t.trace.states for t in result.traces}
        outputs = {t.path: t.trace.last_output for t in result.traces}
        yield start, result


def _in_whole_run(progress, start: int, total: int, path: str, done: int, _steps: int) -> None:
    """A chunk's progress, counted in the whole run's steps."""
    progress(path, start + done, total)


class _Planner:
    """Walks the model with the kind of each tensor (STEPS or LAST) in place of its value;
    each layer's kind says what it makes of its inputs' kinds (``Kind.streams``)."""

    def __init__(self, model: Optional[Model] = None, shapes: Optional[Dict] = None):
        self.model = model
        self._shapes = shapes

    def input_rank(self, layer: Layer, call) -> Optional[int]:
        """The rank of a layer's (first) input: from the Keras 3 node's tensor, else from the
        static shape of the layer's output (the kinds that ask keep the rank)."""
        from .graph import tensor_refs

        args = getattr(call, "args", None) if call is not None else None
        if getattr(call, "keras3", False) and args:
            first = _first_tensor(args)
            shape = (first.get("config") or {}).get("shape") if first is not None and tensor_refs(first) else None
            if isinstance(shape, list):
                return len(shape)
        if self._shapes is None:
            from .shapes import infer_shapes

            try:
                self._shapes = infer_shapes(self.model) if self.model is not None else {}
            except LstmInspectError:
                self._shapes = {}
        shape = self._shapes.get(layer.path)
        if isinstance(shape, list) and shape and not isinstance(shape[0], list):
            return len(shape)
        return None

    def walk(self, layers: List[Layer], class_name: str, input_layers, output_layers) -> str:
        self.by_layer: Dict[str, str] = {}
        n_inputs = len(io_refs(input_layers)) or 1
        outs = walk(layers, class_name, input_layers, output_layers, [STEPS] * n_inputs, self._visit)
        kinds = set(outs)
        if len(kinds) > 1:
            raise Blocked("a nested model returns both sequences and whole-run values")
        return kinds.pop() if kinds else STEPS

    def container(self, layer: Layer) -> str:
        c = layer.config
        planner = _Planner(self.model, self._shapes)
        return planner.walk(layer.children, layer.class_name, c.get("input_layers"), c.get("output_layers"))

    def _visit(self, step: Step) -> List[str]:
        layer, call = step.layer, step.call
        sequential = call is SEQUENTIAL_CALL
        sources = list(step.inputs) if sequential else [step.lookup(r) for r in call.refs]
        out = _layer_kind(layer, sources, None if sequential else call, self)
        if not sequential and self.by_layer.setdefault(layer.name, out) != out:
            raise Blocked(f"layer '{layer.path}' is called on sequences and on whole-run values")
        return [out] * step.wanted


def _first_tensor(value):
    """The first Keras 3 ``__keras_tensor__`` entry inside a (nested) argument, or None."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            return value
        value = list(value.values())
    if isinstance(value, list):
        for v in value:
            found = _first_tensor(v)
            if found is not None:
                return found
    return None


def _layer_kind(layer: Layer, sources: List[str], call, planner: _Planner) -> str:
    """The kind of ``layer``'s output, given its inputs' kinds; Blocked when chunks
    would change what it computes."""
    where = f"layer '{layer.path}' ({layer.class_name})"
    kind = kind_for(layer)
    if sources and all(k == LAST for k in sources):
        if kind is not None and kind.over_time:
            raise Blocked(f"{where} runs over a sequence made from a whole-run value")
        return LAST
    if LAST in sources:
        raise Blocked(f"{where} combines per-step values with a whole-run value")
    if kind is None or kind.streams is None:
        raise Blocked(f"{where} works across time steps")
    if kind.role == "op":
        try:
            return kind.streams(layer, call, sources, planner)
        except Blocked:
            raise Blocked(f"operation '{layer.path}' ({layer.class_name}) works across time steps") from None
    return kind.streams(layer, call, sources, planner)
