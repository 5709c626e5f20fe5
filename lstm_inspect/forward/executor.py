"""The whole model, run forward in numpy: Sequential and Functional graphs of every
generation, nested models, wrappers, masks and initial states, with a trace of every
recurrent layer. The graph is followed by :mod:`.walk`; each layer is computed by its
kind (:mod:`lstm_inspect.kinds`); this module connects the two and keeps the record.

Errors: a kind checks what a user's input or a file's config can get wrong and raises
the project's own errors; anything else is a bug in lstm-inspect and propagates as is.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ConfigError, InputError, LstmInspectError, UnsupportedError
from ..kinds.base import Call, Context, refused_key
from ..kinds.cells import Trace
from ..kinds.half import computes_in_float16, half_inputs
from ..kinds.recurrent import RecurrentLayer, recurrent_layers
from ..kinds.registry import kind_for
from ..model import Layer, Model
from ..versions import hard_sigmoid_flavour, parse_version
from .graph import parse_calls, resolve, resolve_legacy
from .walk import SEQUENTIAL_CALL, Step, walk


@dataclass
class LayerTrace:
    """One recurrent layer's run (each direction of a Bidirectional is its own)."""

    path: str
    view: RecurrentLayer
    trace: Trace
    mask: Optional[np.ndarray]  #: (batch, time) in input time order, or None


@dataclass
class RunResult:
    outputs: List[np.ndarray]
    traces: List[LayerTrace] = field(default_factory=list)
    #: every layer's outputs by path (the last call's, for shared layers)
    layer_outputs: Dict[str, List[np.ndarray]] = field(default_factory=dict)
    #: functional graphs: outputs of each call, by (layer path, node index)
    node_outputs: Dict[Tuple[str, int], List[np.ndarray]] = field(default_factory=dict)
    stopped_at: Optional[str] = None  #: the --until layer, when the run stopped early
    hard_sigmoid: str = "keras2"


@dataclass(frozen=True)
class Keep:
    """Which traces a run keeps (:func:`run_model`'s ``keep``): the recurrent layers at
    ``paths`` (a path also keeps the layers under it, as a Bidirectional's directions;
    None: every layer) and, of those, the batch rows ``samples`` (None: every row). A
    layer not kept still runs; its trace then holds no rows (``Trace.rows == []``).
    ConvLSTM layers always keep everything."""

    paths: Optional[Sequence[str]] = None
    samples: Optional[Sequence[int]] = None

    def rows(self, path: str) -> Optional[List[int]]:
        if self.paths is not None and not any(path == p or path.startswith(p + "/") for p in self.paths):
            return []
        return None if self.samples is None else [int(s) for s in self.samples]


class _Stop(Exception):
    def __init__(self, outputs: List[np.ndarray]):
        self.outputs = outputs


def run_model(
    model: Model,
    inputs: Sequence[np.ndarray],
    hard_sigmoid: Optional[str] = None,
    until: Optional[str] = None,
    initial_states: Optional[Dict[str, Dict[str, np.ndarray]]] = None,
    progress: Optional[Callable[[str, int, int], None]] = None,
    initial_outputs: Optional[Dict[str, np.ndarray]] = None,
    hooks: Optional[RunHooks] = None,
    keep: Optional[Keep] = None,
) -> RunResult:
    """Run ``model`` on ``inputs`` (one array per model input, batch first).

    ``initial_states`` maps a recurrent layer's path to ``{"h": ..., "c": ...}``;
    ``progress(path, steps_done, steps_total)`` hears about long recurrent loops.
    ``initial_outputs`` maps a path to the output before the first step, which masked
    leading steps repeat (zeros by default, as Keras starts every call; a run continuing
    an earlier chunk of the same sequence passes that chunk's ``Trace.last_output``).
    ``hooks`` alter a run on purpose (``compare`` simulates a port's mistakes with them).
    ``keep`` (a :class:`Keep`) keeps only some traces, which saves their memory and
    time; by default every trace is kept.
    """
    executor = _Executor(model, hard_sigmoid, until, initial_states, progress, initial_outputs, keep)
    executor.hooks = hooks
    return executor.run(list(inputs))


@dataclass
class RunHooks:
    """What-ifs for a run: masks dropped before every layer (a port that ignores
    masks), and recurrent layers (or directions of a Bidirectional) whose returned
    sequence is reversed along time (a port that gets a ``go_backwards`` output order wrong)."""

    ignore_masks: bool = False
    reversed_outputs: Tuple[str, ...] = ()


def zero_output_in_bidirectional(keras_version: Optional[str]) -> bool:
    """tf.keras (TF >= 2.4, keras_version without "-tf") and Keras 3 force zero outputs at
    masked steps inside Bidirectional with return_sequences; Keras 1/2.x and TF 1.x do not."""
    v = parse_version(keras_version)
    if v is None or str(keras_version).endswith("-tf"):
        return False
    return v >= (2, 4, 0)


def tensor_arguments(call) -> int:
    """How many of a Keras 3 call's arguments (``mask`` aside) hold tensors."""
    from .graph import tensor_refs

    return sum(1 for a in call.args if tensor_refs(a)) + sum(
        1 for k, v in call.kwargs.items() if k != "mask" and tensor_refs(v))


class _Executor(Context):
    hooks: Optional[RunHooks] = None

    def __init__(self, model: Model, hard_sigmoid, until, initial_states, progress=None, initial_outputs=None,
                 keep=None):
        self.model = model
        self.keep = keep
        #: path -> the output before the first step (``stream`` continues earlier chunks)
        self.initial_outputs = initial_outputs or {}
        self.progress = progress
        self.hard_sigmoid = self.flavour = hard_sigmoid or hard_sigmoid_flavour(model.semantics_version)
        self.backend = model.backend
        self.views = {v.path: v for v in recurrent_layers(model)}
        self.zero_bidirectional = zero_output_in_bidirectional(model.semantics_version)
        version = parse_version(model.semantics_version)
        self.keras3 = version is not None and version[0] >= 3
        self.keras_major = version[0] if version else 2
        self.until = until
        self._readers: List[Counter] = []
        self.initial_states = initial_states or {}
        self._check_initial_states()
        self.result = RunResult(outputs=[], hard_sigmoid=self.flavour)
        if until is not None and until not in {layer.path for layer in model.walk()}:
            raise ConfigError(f"--until: the model has no layer '{until}'", file=model.file)

    def run(self, inputs: List[np.ndarray]) -> RunResult:
        m = self.model
        if not inputs:
            raise InputError("run needs one array per model input; none was given", file=m.file)
        inputs = [np.asarray(x) for x in inputs]
        self._check_keys()
        try:
            outs, _ = self._container(m.layers, m.class_name or "Sequential", m.input_layers, m.output_layers,
                                      inputs, [None] * len(inputs))
        except _Stop as stop:
            outs = stop.outputs
            self.result.stopped_at = self.until
        except LstmInspectError as e:
            raise e.with_file(m.file) from None
        self.result.outputs = outs
        return self.result

    def _check_initial_states(self) -> None:
        """Every given initial state names a recurrent layer (each direction of a Bidirectional
        is its own) and a state it has: used, or refused here by name."""
        for path, states in self.initial_states.items():
            view = self.views.get(path)
            if view is None:
                known = ", ".join(sorted(self.views)) or "none"
                raise InputError(f"initial states are given for '{path}', which is not a recurrent layer of the model "
                                 f"(they are: {known})", file=self.model.file)
            allowed = ("h", "c") if view.kind in ("lstm", "conv_lstm") else ("h",)
            for key in states:
                if key not in allowed:
                    raise InputError(f"initial state '{path}/{key}' is not a state of {view.class_name} "
                                     f"'{path}' (it has {', '.join(allowed)})", file=self.model.file)

    def _check_keys(self) -> None:
        """Every config key of every layer the run reaches is honoured, checked before anything runs."""
        for layer in self.model.walk():
            reason = refused_key(layer)
            if reason:
                raise UnsupportedError(f"{reason}; use --until to stop before it", file=self.model.file)
            if self.backend not in (None, "tensorflow") and computes_in_float16(layer.config):
                raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}) computes in float16 on the "
                                       f"{self.backend} backend; lstm-inspect computes float16 as TensorFlow does; "
                                       "use --until to stop before it", file=self.model.file)
            if layer.path == self.until:
                return

    # ---------------------------------------------------------------- the walk

    def _container(self, layers, class_name, input_layers, output_layers, xs, masks):
        # how many calls read each tensor (Keras 3 MultiHeadAttention clears its inputs' masks)
        self._readers.append(Counter(ref for layer in layers for call in parse_calls(layer.inbound_nodes)
                                     for ref in set(call.refs)))
        try:
            values = walk(layers, class_name, input_layers, output_layers, list(zip(xs, masks)), self._visit)
        finally:
            self._readers.pop()
        return [v[0] for v in values], [v[1] for v in values]

    def _visit(self, step: Step) -> List[Tuple[np.ndarray, object]]:
        layer, call = step.layer, step.call
        arrays = [x for x, _ in step.inputs]
        masks = [m for _, m in step.inputs]
        if step.call is SEQUENTIAL_CALL:
            outs, out_masks = self._call(layer, arrays, masks, Call(arrays, {}))
            return list(zip(outs, out_masks))
        get = lambda ref: step.lookup(ref)[0]  # noqa: E731
        if call.keras3:
            args, kwargs = resolve(call.args, get), resolve(call.kwargs, get)
        else:
            args, kwargs = arrays, resolve_legacy(call.kwargs, lambda ref: step.lookup(ref)[0])
        tensor_masks = {id(step.lookup(ref)[0]): step.lookup(ref)[1] for ref in call.refs}
        readers = self._readers[-1] if self._readers else Counter()
        shared = {id(step.lookup(ref)[0]) for ref in call.refs if readers[ref] > 1}
        if call.keras3 and kwargs.get("mask") is None and tensor_arguments(call) > 1:
            # Keras 3 fills in the mask of a call with one tensor argument only (docs/formats.md
            # section 3.3): LSTM(x, initial_state=[h, c]) runs unmasked. A recorded mask of null
            # is filled in at run time like any other (a nested model's output mask).
            masks = [None] * len(arrays)
        if kwargs.get("mask") is not None:  # an explicit mask (Keras 3 records traced mask tensors)
            explicit = kwargs["mask"]
            masks = list(explicit) if isinstance(explicit, list) else [explicit] * len(arrays)
            if len(masks) != len(arrays) or not all(m is None or isinstance(m, np.ndarray) for m in masks):
                raise ConfigError(f"layer '{layer.path}' is called on {len(arrays)} tensors with masks "
                                  f"{str(explicit)[:40]} that do not fit them")
        kind = kind_for(layer)
        if kind is not None and kind.role == "op":  # a traced mask computation, not a layer
            outs, out_masks = self.compute(layer, arrays, masks, Call(args, kwargs, tensor_masks, shared))
        else:
            outs, out_masks = self._call(layer, arrays, masks, Call(args, kwargs, tensor_masks, shared))
        self.result.node_outputs[(layer.path, step.index)] = outs
        return list(zip(outs, out_masks))

    # ---------------------------------------------------------------- one layer

    def _call(self, layer: Layer, xs, masks, call: Call):
        if self.hooks is not None and self.hooks.ignore_masks:
            masks = [None] * len(masks)
        outs, out_masks = self.compute(layer, xs, masks, call)
        self.result.layer_outputs[layer.path] = outs
        if self.until == layer.path:
            raise _Stop(outs)
        return outs, out_masks

    def compute(self, layer: Layer, xs, masks, call: Call):
        kind = kind_for(layer)
        if kind is None:
            raise UnsupportedError(
                f"layer '{layer.path}' ({layer.class_name}) cannot be computed by lstm-inspect; use --until to stop before it"
            )
        refused = refused_key(layer)
        if refused:
            raise UnsupportedError(f"{refused}; use --until to stop before it")
        reason = kind.refuse(layer) if kind.refuse else None
        if kind.compute is None or reason:
            reason = reason or f"{layer.class_name} {kind.refusal}"
            raise UnsupportedError(f"layer '{layer.path}' is a {layer.class_name}: {reason}; use --until to stop before it")
        if kind.role != "op" and not xs:
            raise ConfigError(f"layer '{layer.path}' ({layer.class_name}) is called without inputs")
        compute = kind.compute
        if kind.half is not None and computes_in_float16(layer.config):  # docs/formats.md section 5.6
            if kind.half.round_inputs:
                xs = half_inputs(xs)
            compute = kind.half.compute or compute
        outs, out_masks = compute(layer, xs, masks, call, self)
        return list(outs), list(out_masks)

    # ---------------------------------------------------------------- what kinds ask of the run

    def container(self, layer: Layer, xs, masks):
        c = layer.config
        return self._container(layer.children, layer.class_name, c.get("input_layers"), c.get("output_layers"), xs, masks)

    def record(self, path: str, outputs) -> None:
        self.result.layer_outputs[path] = outputs

    def view(self, layer: Layer) -> RecurrentLayer:
        view = self.views.get(layer.path)
        if view is None:
            raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}) is not a recurrent layer lstm-inspect knows")
        return view

    def initial_output(self, path: str):
        return self.initial_outputs.get(path)

    def keep_rows(self, path: str):
        return None if self.keep is None else self.keep.rows(path)

    def traced(self, view: RecurrentLayer, trace: Trace, mask) -> None:
        if self.hooks is not None and view.path in self.hooks.reversed_outputs and trace.output.ndim >= 3:
            trace.output = trace.output[:, ::-1]
        self.result.traces.append(LayerTrace(view.path, view, trace, mask))
