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

from .executor import MODEL_CLASSES, RunResult, is_op, run_model
from .graph import io_refs, parse_calls, tensor_refs
from ..model import Layer, Model
from ..kinds.recurrent import is_recurrent, recurrent_kind

#: Layers that compute each step from that step alone (and so may be run chunk by chunk).
STEPWISE_LAYERS = frozenset({
    "InputLayer", "Dense", "Activation", "Embedding", "Masking", "TimeDistributed",
    "Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
})
#: ... and those that do so as long as their ``axis`` is a feature axis (not 0 or 1).
AXIS_LAYERS = frozenset({"Concatenate", "BatchNormalization", "LayerNormalization"})
#: Keras 3 mask operations that act elementwise, or along their ``axis``.
ELEMENTWISE_OPS = frozenset({"NotEqual", "Equal", "LogicalAnd", "LogicalOr", "LogicalNot", "ZerosLike", "OnesLike", "Cast"})
AXIS_OPS = frozenset({"Any", "All", "ExpandDims", "Squeeze", "Concatenate"})

#: Target size of one chunk's trace buffers per layer, in bytes.
CHUNK_BYTES = 8 << 20

# What a tensor holds: one value per step of the input ("steps"), or one value per sample
# computed from the steps so far ("last": the last chunk's is the whole run's).
STEPS, LAST = "steps", "last"


class _Blocked(Exception):
    pass


def streaming_blocker(model: Model, inputs: Sequence[np.ndarray]) -> Optional[str]:
    """None when ``model`` can run on ``inputs`` chunk by chunk with the results of one
    whole run; otherwise the reason it cannot, naming the layer."""
    if len(inputs) != 1:
        return f"the model has {len(inputs)} inputs"
    if np.ndim(inputs[0]) < 2:
        return "the input has no time axis"
    try:
        _container_kind(model.layers, model.class_name or "Sequential", STEPS)  # its outputs may mix kinds
    except _Blocked as e:
        return str(e)
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
                           progress=report, initial_outputs=outputs)
        states = {t.path: t.trace.states for t in result.traces}
        outputs = {t.path: t.trace.last_output for t in result.traces}
        yield start, result


def _in_whole_run(progress, start: int, total: int, path: str, done: int, _steps: int) -> None:
    """A chunk's progress, counted in the whole run's steps."""
    progress(path, start + done, total)


def _container_kind(layers: List[Layer], class_name: str, kind: str, output_layers=None) -> str:
    """The kind of a (nested) model's output; _Blocked when one of its layers needs the
    whole sequence."""
    if class_name == "Sequential" or not any(l.inbound_nodes for l in layers):
        for layer in layers:
            if layer.class_name != "InputLayer":
                kind = _layer_kind(layer, [kind], None)
        return kind
    kinds = {l.name: kind for l in layers if l.class_name == "InputLayer"}
    pending = [(l, call) for l in layers if l.class_name != "InputLayer" for call in parse_calls(l.inbound_nodes)]
    last = kind
    while pending:  # in dependency order, whatever order the config lists layers in
        ready = [(l, c) for l, c in pending if all(r[0] in kinds for r in c.inputs + tensor_refs(c.kwargs))]
        if not ready:
            raise _Blocked(f"layer '{pending[0][0].path}' waits on inputs that are never computed")
        for layer, call in ready:
            sources = [kinds[name] for name, _, _ in call.inputs + tensor_refs(call.kwargs)]
            out = _layer_kind(layer, sources, call)
            if kinds.setdefault(layer.name, out) != out:
                raise _Blocked(f"layer '{layer.path}' is called on sequences and on whole-run values")
            last = out
            pending.remove((layer, call))
    outs = {kinds[name] for name, _, _ in io_refs(output_layers) if name in kinds}
    if len(outs) > 1:
        raise _Blocked("a nested model returns both sequences and whole-run values")
    return outs.pop() if outs else last


def _layer_kind(layer: Layer, sources: List[str], call) -> str:
    """The kind of ``layer``'s output, given its inputs' kinds; _Blocked when chunks
    would change what it computes."""
    cls, cfg, where = layer.class_name, layer.config, f"layer '{layer.path}' ({layer.class_name})"
    recurrent = is_recurrent(layer) or cls == "Bidirectional"
    if all(k == LAST for k in sources) and sources:
        if recurrent:
            raise _Blocked(f"{where} runs over a sequence made from a whole-run value")
        return LAST
    if LAST in sources:
        raise _Blocked(f"{where} combines per-step values with a whole-run value")
    if cls in MODEL_CLASSES:
        return _container_kind(layer.children, cls, STEPS, cfg.get("output_layers"))
    if cls == "Bidirectional":
        raise _Blocked(f"{where} runs backwards over the whole sequence")
    if is_recurrent(layer):
        if cfg.get("go_backwards"):
            raise _Blocked(f"{where} runs backwards (go_backwards)")
        if recurrent_kind(layer) == "conv_lstm":
            raise _Blocked(f"{where} is a ConvLSTM")
        if call is not None and _has_initial_state(call):
            raise _Blocked(f"{where} starts from states computed in the model")
        return STEPS if cfg.get("return_sequences") else LAST
    if is_op(layer):
        if layer.class_name in ELEMENTWISE_OPS or (layer.class_name in AXIS_OPS and _feature_axis(cfg.get("axis", -1))):
            return STEPS
        raise _Blocked(f"operation '{layer.path}' ({cls}) works across time steps")
    if cls in STEPWISE_LAYERS:
        return STEPS
    if cls in AXIS_LAYERS and _feature_axis(cfg.get("axis", -1)):
        return STEPS
    if cls == "Merge" and (cfg.get("mode", "sum") != "concat" or _feature_axis(cfg.get("concat_axis", -1))):
        return STEPS
    raise _Blocked(f"{where} works across time steps")


def _has_initial_state(call) -> bool:
    """Keras 3 passes initial states as a keyword; Keras 1/2 as extra input tensors."""
    return bool(call.kwargs.get("initial_state")) or len(call.inputs) > 1


def _feature_axis(axis) -> bool:
    """True when every axis is past the time axis (negative axes count from the end)."""
    axes = axis if isinstance(axis, list) else [axis]
    return all(isinstance(a, int) and (a < 0 or a >= 2) for a in axes)
