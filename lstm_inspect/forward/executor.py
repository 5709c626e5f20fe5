"""The whole model, run forward in numpy: Sequential and Functional graphs of every
generation, nested models, wrappers, masks and initial states, with a trace of every
recurrent layer. Layer arithmetic lives in ``cells``, ``conv_lstm`` and ``layers_np``;
this module only walks the graph."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..kinds.cells import Trace, run_recurrent
from ..errors import ConfigError, LstmInspectError, UnsupportedError
from .graph import Ref, io_refs, tensor_refs
from ..kinds.recurrent import recurrent_layers
from ..kinds.layers_np import LAYERS, Context, Mask
from ..model import Layer, Model
from ..kinds.recurrent import RecurrentLayer, is_recurrent
from ..versions import hard_sigmoid_flavour, parse_version

MODEL_CLASSES = ("Sequential", "Functional", "Model")


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
) -> RunResult:
    """Run ``model`` on ``inputs`` (one array per model input, batch first).

    ``initial_states`` maps a recurrent layer's path to ``{"h": ..., "c": ...}``;
    ``progress(path, steps_done, steps_total)`` hears about long recurrent loops.
    ``initial_outputs`` maps a path to the output before the first step, which masked
    leading steps repeat (zeros by default, as Keras starts every call; a run continuing
    an earlier chunk of the same sequence passes that chunk's ``Trace.last_output``).
    """
    return _Executor(model, hard_sigmoid, until, initial_states, progress, initial_outputs).run(list(inputs))


def zero_output_in_bidirectional(keras_version: Optional[str]) -> bool:
    """tf.keras (TF >= 2.4, keras_version without "-tf") and Keras 3 force zero outputs at
    masked steps inside Bidirectional with return_sequences; Keras 1/2.x and TF 1.x do not."""
    v = parse_version(keras_version)
    if v is None or str(keras_version).endswith("-tf"):
        return False
    return v >= (2, 4, 0)


class _Executor:
    def __init__(self, model: Model, hard_sigmoid, until, initial_states, progress=None, initial_outputs=None):
        self.model = model
        #: path -> the output before the first step (``stream`` continues earlier chunks)
        self.initial_outputs = initial_outputs or {}
        self.progress = progress
        self.flavour = hard_sigmoid or hard_sigmoid_flavour(model.semantics_version)
        self.ctx = Context(model.backend, self.flavour)
        self.views = {v.path: v for v in recurrent_layers(model)}
        self.zero_bidirectional = zero_output_in_bidirectional(model.semantics_version)
        self.until = until
        self.initial_states = initial_states or {}
        self.result = RunResult(outputs=[], hard_sigmoid=self.flavour)
        if until is not None and until not in {l.path for l in model.walk()}:
            raise ConfigError(f"--until: the model has no layer '{until}'", file=model.file)

    def run(self, inputs: List[np.ndarray]) -> RunResult:
        m = self.model
        try:
            outs, _ = self._container(
                m.layers, m.class_name or "Sequential", m.input_layers, m.output_layers, inputs, [None] * len(inputs)
            )
        except _Stop as stop:
            outs = stop.outputs
            self.result.stopped_at = self.until
        except LstmInspectError as e:
            raise e.with_file(m.file) from None
        self.result.outputs = outs
        return self.result

    # ---------------------------------------------------------------- containers

    def _container(self, layers, class_name, input_layers, output_layers, xs, masks):
        if class_name == "Sequential" or not any(l.inbound_nodes for l in layers):
            x, mask = xs[0], masks[0]
            outs, out_masks = [x], [mask]
            for layer in layers:
                if layer.class_name == "InputLayer":
                    continue
                outs, out_masks = self._call(layer, [x], [mask], {})
                x, mask = outs[0], out_masks[0]
            return outs, out_masks
        return self._functional(layers, input_layers, output_layers, xs, masks)

    def _functional(self, layers, input_layers, output_layers, xs, masks):
        produced: Dict[Ref, Tuple[np.ndarray, Mask]] = {}
        in_refs = io_refs(input_layers)
        if len(in_refs) != len(xs):
            raise ConfigError(f"the model has {len(in_refs)} inputs but {len(xs)} arrays were given")
        for ref, x, mask in zip(in_refs, xs, masks):
            produced[ref] = (x, mask)
        offsets = _node_offsets(layers, output_layers)
        pending = [
            (l, k + offsets.get(l.name, 0), node)
            for l in layers
            if l.class_name != "InputLayer"
            for k, node in enumerate(l.inbound_nodes)
        ]
        while pending:
            progressed = False
            for item in list(pending):
                layer, k, node = item
                refs = _node_refs(node)
                if not all(r in produced for r in refs):
                    continue
                args, kwargs, inputs = self._resolve_node(node, produced)
                if is_op(layer):
                    try:
                        outs, out_masks = [_run_op(layer, args)], [None]
                    except (ValueError, IndexError, TypeError, KeyError) as e:
                        raise ConfigError(f"op '{layer.path}' ({layer.class_name}) cannot be computed ({str(e)[:100]})") from None
                else:
                    in_masks = [produced[r][1] for r in inputs]
                    if "mask" in kwargs:  # Keras 3 passes masks explicitly (null means none)
                        explicit = kwargs["mask"]
                        in_masks = list(explicit) if isinstance(explicit, list) else [explicit] * len(inputs)
                    arrays = [produced[r][0] for r in inputs]
                    outs, out_masks = self._call(layer, arrays, in_masks, kwargs)
                self.result.node_outputs[(layer.path, k)] = outs
                for t, (y, m) in enumerate(zip(outs, out_masks)):
                    produced[(layer.name, k, t)] = (y, m)
                pending.remove(item)
                progressed = True
            if not progressed:
                names = sorted({l.name for l, _, _ in pending})
                raise ConfigError(f"the model graph cannot be followed: layers {', '.join(names[:5])} never get their inputs")
        out_refs = io_refs(output_layers)
        missing = [r for r in out_refs if r not in produced]
        if missing:
            raise ConfigError(f"the model output {missing[0][0]} is never computed")
        return [produced[r][0] for r in out_refs], [produced[r][1] for r in out_refs]

    def _resolve_node(self, node, produced):
        """(args with arrays in place of tensors, kwargs likewise, the input tensor refs)."""
        if isinstance(node, dict):  # Keras 3
            args = _resolve(node.get("args", []), produced)
            kwargs = _resolve(node.get("kwargs") or {}, produced)
            first = node.get("args", [None])[0] if node.get("args") else None
            inputs = tensor_refs(first)
            return args, kwargs, inputs
        refs = [(e[0], int(e[1]), int(e[2])) for e in node]
        kwargs: Dict[str, Any] = {}
        for e in node:
            if len(e) > 3 and isinstance(e[3], dict):
                kwargs.update(e[3])
        return [produced[r][0] for r in refs], kwargs, refs

    # ---------------------------------------------------------------- one layer

    def _call(self, layer: Layer, xs, masks, kwargs):
        try:
            outs, out_masks = self._compute(layer, xs, masks, kwargs)
        except (ValueError, IndexError, TypeError) as e:  # numpy refused the shapes
            shapes = ", ".join(str(tuple(np.shape(x))) for x in xs)
            raise ConfigError(
                f"layer '{layer.path}' ({layer.class_name}) cannot take input of shape {shapes} "
                f"({str(e).splitlines()[0][:100]})"
            ) from None
        self.result.layer_outputs[layer.path] = outs
        if self.until == layer.path:
            raise _Stop(outs)
        return outs, out_masks

    def _compute(self, layer: Layer, xs, masks, kwargs):
        cls = layer.class_name
        if cls in MODEL_CLASSES:
            c = layer.config
            return self._container(layer.children, cls, c.get("input_layers"), c.get("output_layers"), xs, masks)
        if cls == "Bidirectional":
            return self._bidirectional(layer, xs, masks, kwargs)
        if cls == "TimeDistributed":
            return self._time_distributed(layer, xs, masks)
        if is_recurrent(layer):
            return self._recurrent(layer, xs, masks, kwargs)
        if cls in LAYERS:
            return LAYERS[cls](layer, xs, masks, self.ctx)
        if cls == "Lambda":
            raise UnsupportedError(
                f"layer '{layer.path}' is a Lambda: it holds Python code, which lstm-inspect never executes; "
                "use --until to stop before it"
            )
        raise UnsupportedError(
            f"layer '{layer.path}' ({cls}) cannot be computed by lstm-inspect; use --until to stop before it"
        )

    def _initial_state(self, path: str, xs, kwargs, n_states: int) -> Optional[List[np.ndarray]]:
        if len(xs) > 1:  # Keras 1/2: initial states arrive as extra inputs
            return list(xs[1:])
        if kwargs.get("initial_state") is not None:
            state = kwargs["initial_state"]
            return list(state) if isinstance(state, list) else [state]
        given = self.initial_states.get(path)
        if given:
            return [given[k] for k in ("h", "c")[:n_states] if k in given]
        return None

    def _run(self, view: RecurrentLayer, x, mask, initial_state, zero_output: bool) -> Trace:
        if view.kind == "conv_lstm":
            from ..kinds.conv_lstm import run_conv_lstm

            if initial_state is not None or zero_output:
                raise UnsupportedError(f"layer '{view.path}': initial states and zeroed masked outputs are not supported for ConvLSTM")
            trace = run_conv_lstm(view, x, mask=mask, hard_sigmoid=self.flavour,
                                  theano_kernels=self.model.backend == "theano")
        else:
            trace = run_recurrent(view, x, mask=mask, hard_sigmoid=self.flavour, initial_state=initial_state,
                                  zero_output_for_mask=zero_output, progress=self.progress,
                                  initial_output=self.initial_outputs.get(view.path))
        self.result.traces.append(LayerTrace(view.path, view, trace, mask))
        return trace

    def _recurrent(self, layer: Layer, xs, masks, kwargs):
        view = self.views[layer.path]
        if layer.config.get("time_major"):
            raise UnsupportedError(f"layer '{layer.path}' is time_major (inputs (time, batch, ...)), which run does not support")
        _check_rank(view, xs[0])
        n_states = 2 if view.kind in ("lstm", "conv_lstm") else 1
        init = self._initial_state(layer.path, xs, kwargs, n_states)
        mask = masks[0] if masks else None
        trace = self._run(view, xs[0], mask, init, bool(layer.config.get("zero_output_for_mask", False)))
        return _with_states(view, trace.output, [trace], mask)

    def _bidirectional(self, layer: Layer, xs, masks, kwargs):
        forward, backward = layer.children
        fv, bv = self.views[forward.path], self.views[backward.path]
        _check_rank(fv, xs[0])
        mask = masks[0] if masks else None
        n_states = 2 if fv.kind in ("lstm", "conv_lstm") else 1
        init = self._initial_state(layer.path, xs, kwargs, 2 * n_states)
        half = len(init) // 2 if init else 0
        zero = (self.zero_bidirectional and fv.return_sequences) or bool(forward.config.get("zero_output_for_mask"))
        ft = self._run(fv, xs[0], mask, init[:half] if init else None, zero)
        bt = self._run(bv, xs[0], mask, init[half:] if init else None, zero)
        y, y_rev = ft.output, bt.output
        if fv.return_sequences:
            y_rev = y_rev[:, ::-1]
        mode = layer.config.get("merge_mode", "concat")
        merged = {
            "concat": lambda: [np.concatenate([y, y_rev], axis=-1)],
            "sum": lambda: [y + y_rev],
            "mul": lambda: [y * y_rev],
            "ave": lambda: [(y + y_rev) / 2],
            None: lambda: [y, y_rev],
        }
        if mode not in merged:
            raise UnsupportedError(f"layer '{layer.path}': merge_mode {mode!r} is not supported")
        outs = merged[mode]()
        out_mask = mask if fv.return_sequences else None
        out_masks = [out_mask] * len(outs)
        if fv.return_state:
            for t in (ft, bt):
                states = [t.states["h"], t.states["c"]] if "c" in t.states else [t.states["h"]]
                outs += states
                out_masks += [None] * len(states)
        return outs, out_masks

    def _time_distributed(self, layer: Layer, xs, masks):
        (inner,) = layer.children
        x = xs[0]
        batch, time = x.shape[0], x.shape[1]
        outs, _ = self._compute(inner, [x.reshape((batch * time,) + x.shape[2:])], [None], {})
        y = outs[0]
        self.result.layer_outputs[inner.path] = outs
        return [y.reshape((batch, time) + y.shape[1:])], [masks[0] if masks else None]


def _with_states(view: RecurrentLayer, output, traces, mask):
    (trace,) = traces
    outs = [output]
    out_masks = [mask if view.return_sequences else None]
    if view.return_state:
        states = [trace.states["h"], trace.states["c"]] if "c" in trace.states else [trace.states["h"]]
        outs += states
        out_masks += [None] * len(states)
    return outs, out_masks


def _check_rank(view: RecurrentLayer, x: np.ndarray) -> None:
    want = 5 if view.kind == "conv_lstm" else 3
    if x.ndim != want:
        raise ConfigError(f"layer '{view.path}' needs input of rank {want} (batch, time, ...), got shape {x.shape}")
    if view.kind != "conv_lstm" and x.shape[-1] != view.input_dim:
        raise ConfigError(
            f"layer '{view.path}' needs {view.input_dim} features per step, got {x.shape[-1]} (input shape {x.shape})"
        )


def _node_offsets(layers: List[Layer], output_layers) -> Dict[str, int]:
    """Keras 1/2 number the calls of a nested model from 1 (its node 0 is its own input;
    ``kept_nodes = 1`` for Networks in ``Network.get_config``). Keras 3 numbers from 0.
    Tell them apart by the indices the config refers to."""
    referenced: Dict[str, set] = {}
    for layer in layers:
        for node in layer.inbound_nodes:
            for name, k, _ in _node_refs(node):
                referenced.setdefault(name, set()).add(k)
    for name, k, _ in io_refs(output_layers):
        referenced.setdefault(name, set()).add(k)
    offsets = {}
    for layer in layers:
        ks = referenced.get(layer.name)
        if layer.class_name in MODEL_CLASSES and ks and min(ks) >= 1 and max(ks) <= len(layer.inbound_nodes):
            offsets[layer.name] = 1
    return offsets


def _node_refs(node) -> List[Ref]:
    if isinstance(node, dict):
        return tensor_refs(node.get("args", [])) + tensor_refs(node.get("kwargs") or {})
    return [(e[0], int(e[1]), int(e[2])) for e in node]


def _resolve(value: Any, produced) -> Any:
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            h = value["config"]["keras_history"]
            return produced[(h[0], int(h[1]), int(h[2]))][0]
        return {k: _resolve(v, produced) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, produced) for v in value]
    return value


# Keras 3 traces mask computations into functional configs as op entries (section 3.3).
_OPS = {
    "NotEqual": lambda a, c: np.not_equal(a[0], a[1]),
    "Equal": lambda a, c: np.equal(a[0], a[1]),
    "Any": lambda a, c: np.any(a[0], axis=_axis(c), keepdims=bool(c.get("keepdims", False))),
    "All": lambda a, c: np.all(a[0], axis=_axis(c), keepdims=bool(c.get("keepdims", False))),
    "LogicalAnd": lambda a, c: np.logical_and(a[0], a[1]),
    "LogicalOr": lambda a, c: np.logical_or(a[0], a[1]),
    "LogicalNot": lambda a, c: np.logical_not(a[0]),
    "ExpandDims": lambda a, c: np.expand_dims(a[0], _axis(c)),
    "Squeeze": lambda a, c: np.squeeze(a[0], _axis(c)),
    "ZerosLike": lambda a, c: np.zeros_like(a[0], dtype=bool if c.get("dtype") == "bool" else None),
    "OnesLike": lambda a, c: np.ones_like(a[0], dtype=bool if c.get("dtype") == "bool" else None),
    "Cast": lambda a, c: np.asarray(a[0]).astype(bool if c.get("dtype") == "bool" else np.float32),
    "Concatenate": lambda a, c: np.concatenate(a[0], axis=int(c.get("axis", 0))),
}


def _axis(c: Dict[str, Any]):
    axis = c.get("axis")
    return tuple(axis) if isinstance(axis, list) else axis


def is_op(layer: Layer) -> bool:
    """Keras 3 op entries: known op names, without the keys every layer config has."""
    if layer.class_name not in _OPS:
        return False
    return "trainable" not in layer.config and "dtype" not in layer.config or (layer.class_name != "Concatenate")


def _run_op(layer: Layer, args: List[Any]) -> np.ndarray:
    return _OPS[layer.class_name](args, layer.config)
