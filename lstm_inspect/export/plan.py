"""A model as a plan of export operations: the graph walked once with symbols in place of
arrays, each layer lowered by the mapping its kind names (``Kind.exports``).

The plan is small and target-neutral: ``dense``, ``act``, ``recurrent``, ``bidirectional``,
``concat``, ``add``... over named values, with weights in Keras's own layout (recurrent
layers canonical: Keras 2 fused, after Keras 1 and CuDNN conversion). The ONNX and
PyTorch writers (:mod:`.onnx`, :mod:`.torch`) each turn every plan operation into their
runtime's form, or refuse it by name; what a kind's mapping cannot express exactly is
refused here, before a file is written.
"""

from __future__ import annotations

import keyword
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ..errors import ConfigError, UnsupportedError
from ..forward.executor import tensor_arguments, zero_output_in_bidirectional
from ..forward.graph import io_refs, parse_calls, resolve, resolve_legacy
from ..forward.signature import input_signature
from ..forward.walk import SEQUENTIAL_CALL, Step, walk
from ..kinds.activations import activation_name
from ..kinds.base import dtype_name
from ..kinds.half import computes_in_float16
from ..kinds.recurrent import RecurrentLayer, recurrent_layers
from ..kinds.registry import kind_for
from ..model import Layer, Model
from ..versions import hard_sigmoid_flavour, parse_version

#: Activations every writer maps exactly (elementwise, and softmax over the last axis).
ACTIVATIONS = ("linear", "tanh", "sigmoid", "hard_sigmoid", "relu", "softsign", "softplus", "elu", "selu",
               "swish", "silu", "gelu", "exponential", "softmax")
#: hard_sigmoid = clip(alpha x + 0.5, 0, 1): alpha by the writer's Keras (docs/formats.md section 5.1).
HARD_SIGMOID_ALPHA = {"keras2": 0.2, "keras3": 1.0 / 6.0}


@dataclass
class Value:
    """A tensor of the plan: batch first; ``dtype`` float32, int32 (token ids) or bool (masks)."""

    name: str
    rank: int
    dtype: str = "float32"


@dataclass
class Op:
    op: str
    ins: List[Optional[str]]
    outs: List[str]
    attrs: Dict[str, Any]
    layer: str  #: the Keras layer path it comes from
    module: str  #: the Python identifier its parameters live under


@dataclass
class Plan:
    inputs: List[Tuple[Value, Tuple[Optional[int], ...]]]
    outputs: List[Value] = field(default_factory=list)
    output_names: List[str] = field(default_factory=list)
    ops: List[Op] = field(default_factory=list)
    #: "<module>.<name>" -> array, Keras layout (the writers transpose and reorder)
    params: Dict[str, np.ndarray] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    hard_sigmoid: str = "keras2"
    dtypes: Dict[str, str] = field(default_factory=dict)  #: value name -> dtype (not float32 only)
    _n: int = 0

    def value(self, rank: int, dtype: str = "float32", hint: str = "v") -> Value:
        self._n += 1
        return Value(f"{_ident(hint)}_{self._n}", rank, dtype)

    def add(self, op: str, ins, outs: List[Value], layer: str, module: str, **attrs) -> List[Value]:
        for v in list(ins) + outs:
            if v is not None and v.dtype != "float32":
                self.dtypes[v.name] = v.dtype
        self.ops.append(Op(op, [None if v is None else v.name for v in ins], [v.name for v in outs], attrs, layer, module))
        return outs


def _ident(path: str) -> str:
    """A Python identifier (and ONNX name) for a Keras name or path."""
    s = re.sub(r"\W", "_", path)
    s = s if s and not s[0].isdigit() else f"l_{s}"
    return f"{s}_" if keyword.iskeyword(s) or s in ("self", "torch", "nn", "F") else s


Sym = Tuple[Value, Optional[Value]]  # (tensor, mask)


class Lowering:
    """The walk with symbols: what a mapping sees (the plan, the views, the writer's facts)."""

    def __init__(self, model: Model, hard_sigmoid: Optional[str], target: str):
        self.model, self.target = model, target
        self.flavour = hard_sigmoid or hard_sigmoid_flavour(model.semantics_version)
        self.zero_bidirectional = zero_output_in_bidirectional(model.semantics_version)
        self.views = {v.path: v for v in recurrent_layers(model)}
        version = parse_version(model.semantics_version)
        self.keras_major = version[0] if version else 2  # where Keras's generations differ, the writer's decides
        self.modules: Dict[str, str] = {}
        self._readers: List[Counter] = []
        #: names of the values the current call reads that another call reads too
        self.shared: set = set()
        sig = input_signature(model)
        self.plan = Plan(inputs=[], hard_sigmoid=self.flavour)
        for name, shape, dtype in sig:
            v = Value(_ident(name), len(shape), dtype)
            self.plan.inputs.append((v, shape))

    def module(self, layer: Layer) -> str:
        """A Python identifier for the layer's parameters, unique in the plan."""
        if layer.path not in self.modules:
            name, k = _ident(layer.path), 1
            while name in self.modules.values():
                k += 1
                name = f"{_ident(layer.path)}_{k}"
            self.modules[layer.path] = name
        return self.modules[layer.path]

    def param(self, layer: Layer, name: str, array: np.ndarray) -> str:
        key = f"{self.module(layer)}.{name}"
        self.plan.params[key] = np.ascontiguousarray(np.asarray(array, dtype=np.float32))
        return key

    def run(self) -> Plan:
        m = self.model
        ins = [(v, None) for v, _ in self.plan.inputs]
        outs = self.container(m.layers, m.class_name or "Sequential", m.input_layers, m.output_layers, ins)
        names = _output_names(m, len(outs))
        seen = set()
        for (v, _), name in zip(outs, names):
            name = _ident(name)
            while name in seen or name in {i.name for i, _ in self.plan.inputs}:
                name += "_"
            seen.add(name)
            self.plan.outputs.append(v)
            self.plan.output_names.append(name)
        return self.plan

    def container(self, layers, class_name, input_layers, output_layers, ins: List[Sym]) -> List[Sym]:
        # how many calls read each tensor (Keras 3 MultiHeadAttention clears its inputs' masks)
        self._readers.append(Counter(ref for layer in layers for call in parse_calls(layer.inbound_nodes)
                                     for ref in set(call.refs)))
        try:
            return walk(layers, class_name, input_layers, output_layers, list(ins), self.visit)
        finally:
            self._readers.pop()

    def visit(self, step: Step) -> List[Sym]:
        layer, call = step.layer, step.call
        xs = list(step.inputs)
        kwargs: Dict[str, Any] = {}
        args: List[Any] = []
        if call is not SEQUENTIAL_CALL:
            get = lambda ref: step.lookup(ref)  # noqa: E731
            if call.keras3:
                args, kwargs = resolve(call.args, get), resolve(call.kwargs, get)
            else:  # tf.keras tensors given as keywords (lstm(x, mask=m)) are [layer, node, tensor] refs
                args, kwargs = xs, resolve_legacy(call.kwargs, step.lookup)
            readers = self._readers[-1] if self._readers else Counter()
            self.shared = {step.lookup(ref)[0].name for ref in call.refs if readers[ref] > 1}
            if isinstance(kwargs.get("mask"), (tuple, list)) and kwargs["mask"] and isinstance(kwargs["mask"][0], Value):
                kwargs["mask"] = [kwargs["mask"]]
            if call.keras3 and kwargs.get("mask") is None and tensor_arguments(call) > 1:
                # as run does (docs/formats.md section 3.3): Keras 3 fills in the mask of a call with
                # one tensor argument only, so LSTM(x, initial_state=[h, c]) runs unmasked
                xs = [(x, None) for x, _ in xs]
            if kwargs.get("mask") is not None:  # an explicit mask; a recorded null is filled in as usual
                given = kwargs["mask"]
                given = given if isinstance(given, list) else [given]
                masks = [g[0] if isinstance(g, tuple) else g for g in given]
                if len(masks) == len(xs):
                    xs = [(x, m) for (x, _), m in zip(xs, masks)]
        return self.layer(layer, xs, args, kwargs)

    def layer(self, layer: Layer, xs: List[Sym], args=(), kwargs=None) -> List[Sym]:
        kind = kind_for(layer)
        key = kind.exports.get(self.target) if kind is not None else None
        where = f"layer '{layer.path}' ({layer.class_name})"
        if kind is not None and (kind.compute is None or (kind.refuse and kind.refuse(layer))):
            reason = (kind.refuse(layer) if kind.refuse else None) or f"{layer.class_name} {kind.refusal}"
            raise UnsupportedError(f"{where} cannot be exported: {reason}")
        half = _float16_layer(layer)
        if half is not None:
            raise UnsupportedError(f"layer '{half.path}' ({half.class_name}) computes in float16 "
                                   f"(dtype '{dtype_name(half.config.get('dtype'))}'), which export does not map: "
                                   "the exported model would compute in float32")
        if not key:
            why = NOT_MAPPED.get(layer.class_name, f"lstm-inspect does not map {layer.class_name} yet")
            raise UnsupportedError(f"{where} cannot be exported to {TARGETS[self.target]}: {why}")
        return MAPPINGS[key](self, layer, xs, list(args), kwargs or {})


def _float16_layer(layer: Layer) -> Optional[Layer]:
    """The layer, or a layer a wrapper holds, that computes in float16 (kinds/half.py), or None."""
    if computes_in_float16(layer.config):
        return layer
    if kind_for(layer) is not None and kind_for(layer).role == "wrapper":
        return next((found for found in map(_float16_layer, layer.children) if found is not None), None)
    return None


TARGETS = {"onnx": "ONNX", "torch": "PyTorch"}
#: Why a kind that ``run`` computes has no export mapping (the README's Export table says the same).
NOT_MAPPED = {
    **{f"ConvLSTM{n}D": "ONNX has no ConvLSTM operator and PyTorch no ConvLSTM module" for n in (1, 2, 3)},
}


def _output_names(model: Model, n: int) -> List[str]:
    refs = io_refs(model.output_layers)
    if len(refs) == n and model.class_name != "Sequential":
        many = {name for name, _, _ in refs if sum(r[0] == name for r in refs) > 1}
        return [f"{name}_{t}" if name in many else name for name, _, t in refs]
    last = [layer for layer in model.layers if layer.class_name != "InputLayer"]
    base = last[-1].name if last else "output"
    return [base] if n == 1 else [f"{base}_{k}" for k in range(n)]


def lower(model: Model, target: str, hard_sigmoid: Optional[str] = None) -> Plan:
    """The model as a plan for ``target`` ("onnx" or "torch"); refuses what it cannot map."""
    try:
        return Lowering(model, hard_sigmoid, target).run()
    except (ConfigError, UnsupportedError) as e:
        raise e.with_file(model.file) from None


# ---------------------------------------------------------------------- mappings


def _activation(low: Lowering, layer: Layer, x: Value, key: str = "activation") -> Value:
    name = activation_name(layer.config.get(key, "linear"))
    return act(low, layer, x, name)


def act(low: Lowering, layer: Layer, x: Value, name: str) -> Value:
    if name == "linear":
        return x
    if name not in ACTIVATIONS:
        raise UnsupportedError(f"layer '{layer.path}': activation '{name}' has no exact export mapping")
    attrs = {"fn": name}
    if name == "hard_sigmoid":
        attrs["alpha"] = HARD_SIGMOID_ALPHA[low.flavour]
    (y,) = low.plan.add("act", [x], [low.plan.value(x.rank, hint=layer.name)], layer.path, low.module(layer), **attrs)
    return y


def _input(low, layer, xs, args, kwargs):
    return [xs[0]]


def _identity(low, layer, xs, args, kwargs):
    return [xs[0]]


def _dense(low, layer, xs, args, kwargs):
    (x, mask) = xs[0]
    w = [np.asarray(a.value, np.float32) for a in layer.weights]
    if not w or w[0].ndim != 2:
        raise ConfigError(f"layer '{layer.path}' (Dense) has no (inputs, units) kernel")
    kernel = low.param(layer, "kernel", w[0])
    bias = low.param(layer, "bias", w[1]) if layer.config.get("use_bias", True) and len(w) > 1 else None
    (y,) = low.plan.add("dense", [x], [low.plan.value(x.rank, hint=layer.name)], layer.path, low.module(layer),
                        kernel=kernel, bias=bias, units=w[0].shape[1], features=w[0].shape[0])
    return [(_activation(low, layer, y), mask)]


def _activation_layer(low, layer, xs, args, kwargs):
    (x, mask) = xs[0]
    return [(_activation(low, layer, x), mask)]


def _embedding(low, layer, xs, args, kwargs):
    (ids, _) = xs[0]
    table = np.asarray(layer.weights[0].value, np.float32)
    key = low.param(layer, "embeddings", table)
    (y,) = low.plan.add("embedding", [ids], [low.plan.value(ids.rank + 1, hint=layer.name)], layer.path,
                        low.module(layer), table=key, vocabulary=table.shape[0], size=table.shape[1])
    mask = None
    if layer.config.get("mask_zero"):
        (mask,) = low.plan.add("nonzero", [ids], [low.plan.value(ids.rank, "bool", hint=f"{layer.name}_mask")],
                               layer.path, low.module(layer))
    return [(y, mask)]


def _masking(low, layer, xs, args, kwargs):
    (x, _) = xs[0]
    value = float(layer.config.get("mask_value", 0.0))
    p = low.plan
    (mask,) = p.add("mask_value", [x], [p.value(x.rank - 1, "bool", hint=f"{layer.name}_mask")], layer.path,
                    low.module(layer), value=value)
    (y,) = p.add("apply_mask", [x, mask], [p.value(x.rank, hint=layer.name)], layer.path, low.module(layer))
    return [(y, mask)]


def _merge(op: str):
    def mapping(low, layer, xs, args, kwargs):
        values = [x for x, _ in xs]
        if len(values) < 2 and op != "concat":
            raise ConfigError(f"layer '{layer.path}' ({layer.class_name}) needs two or more inputs")
        rank = values[0].rank
        attrs = {}
        if op == "concat":
            axis = layer.config.get("axis", -1)
            attrs["axis"] = int(axis) % rank
            if attrs["axis"] == 0:
                raise UnsupportedError(f"layer '{layer.path}' (Concatenate) joins along the batch axis")
        if op == "sub" and len(values) != 2:
            raise ConfigError(f"layer '{layer.path}' (Subtract) takes two inputs")
        p = low.plan
        (y,) = p.add(op, values, [p.value(rank, hint=layer.name)], layer.path, low.module(layer), **attrs)
        masks = [m for _, m in xs if m is not None]
        mask = None
        if masks and op != "concat" and low.keras_major >= 3:
            # Keras 3's elementwise merges: OR of the masks, none once an input has none; Maximum
            # and Minimum replace masked values first (run refuses those too)
            if op in ("max", "min"):
                raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}): Keras 3 replaces masked values "
                                       "before merging, which export does not map")
            if len(masks) < len(xs):
                return [(y, None)]
            mask = masks[0]
            if len(masks) > 1:
                (mask,) = p.add("or", masks, [p.value(masks[0].rank, "bool", hint=f"{layer.name}_mask")],
                                layer.path, low.module(layer))
            return [(y, mask)]
        if masks and (op != "concat" or attrs["axis"] != 1):
            mask = masks[0]  # Keras: all masks together (a missing one is all live)
            if len(masks) > 1:
                (mask,) = p.add("and", masks, [p.value(masks[0].rank, "bool", hint=f"{layer.name}_mask")],
                                layer.path, low.module(layer))
        elif masks:
            raise UnsupportedError(f"layer '{layer.path}' (Concatenate) joins masked sequences along time")
        return [(y, mask)]

    return mapping


def _global_average(low, layer, xs, args, kwargs):
    (x, mask) = xs[0]
    if layer.config.get("data_format", "channels_last") != "channels_last" or x.rank != 3:
        raise UnsupportedError(f"layer '{layer.path}' (GlobalAveragePooling1D) is not channels_last over (batch, time, features)")
    if layer.config.get("keepdims"):
        raise UnsupportedError(f"layer '{layer.path}' (GlobalAveragePooling1D) keeps dims")
    p = low.plan
    (y,) = p.add("mean_time", [x, mask], [p.value(2, hint=layer.name)], layer.path, low.module(layer),
                 where=low.keras_major >= 3)
    return [(y, None)]


def _time_distributed(low, layer, xs, args, kwargs):
    (inner,) = layer.children
    kind = kind_for(inner)
    if kind is None or kind.exports.get(low.target) not in ("dense", "activation", "identity"):
        raise UnsupportedError(f"layer '{layer.path}' (TimeDistributed) wraps {inner.class_name}, which export "
                               "maps only for Dense, Activation and Dropout")
    return low.layer(inner, xs)


def _nested(low, layer, xs, args, kwargs):
    c = layer.config
    return low.container(layer.children, layer.class_name, c.get("input_layers"), c.get("output_layers"), xs)


# ---------------------------------------------------------------------- recurrent layers


def view_attrs(low: Lowering, layer: Layer, view: RecurrentLayer) -> Dict[str, Any]:
    """What a writer needs of one direction: its arrays (Keras 2 layout) and its options."""
    if view.kind == "conv_lstm":
        raise UnsupportedError(f"layer '{view.path}' (ConvLSTM) cannot be exported: ONNX and PyTorch have no ConvLSTM")
    if layer.config.get("time_major"):
        raise UnsupportedError(f"layer '{view.path}' is time_major, which export does not map")
    for key in ("activation", "recurrent_activation"):
        name = getattr(view, key)
        if name is not None and name not in ACTIVATIONS or name == "softmax":
            raise UnsupportedError(f"layer '{view.path}': {key} '{name}' has no exact export mapping")
    w = view.canonical()
    params = {role: (None if a is None else low.param(layer, role, a)) for role, a in w.items()}
    return {
        "kind": view.kind, "units": view.units, "input_dim": view.input_dim, "activation": view.activation,
        "recurrent_activation": view.recurrent_activation, "reset_after": bool(view.reset_after),
        "go_backwards": view.go_backwards, "return_sequences": view.return_sequences, "path": view.path,
        "hard_sigmoid_alpha": HARD_SIGMOID_ALPHA[low.flavour], **params,
    }


def _states(low: Lowering, layer: Layer, xs: List[Sym], kwargs, n: int) -> List[Optional[Value]]:
    given: List[Any] = [x for x, _ in xs[1:]]
    if not given and kwargs.get("initial_state") is not None:
        s = kwargs["initial_state"]
        given = [t[0] if isinstance(t, tuple) else t for t in (s if isinstance(s, list) else [s])]
    if given and (len(given) != n or not all(isinstance(v, Value) for v in given)):
        raise UnsupportedError(f"layer '{layer.path}' is given {len(given)} initial states; export maps {n}")
    return given or [None] * n


def _recurrent(low, layer, xs, args, kwargs):
    if layer.children:
        raise UnsupportedError(f"layer '{layer.path}' (RNN of StackedRNNCells) cannot be exported: export maps one "
                               "cell per recurrent layer")
    view = low.views.get(layer.path)
    if view is None:
        raise UnsupportedError(f"layer '{layer.path}' ({layer.class_name}) is not a recurrent layer lstm-inspect knows")
    (x, mask) = xs[0]
    attrs = view_attrs(low, layer, view)
    n = 2 if view.kind == "lstm" else 1
    init = _states(low, layer, xs, kwargs, n)
    zero = bool(layer.config.get("zero_output_for_mask", False))
    p = low.plan
    y = p.value(3 if view.return_sequences else 2, hint=layer.name)
    states = [p.value(2, hint=f"{layer.name}_{s}") for s in ("h", "c")[:n]]
    p.add("recurrent", [x, mask, *init], [y, *states], layer.path, low.module(layer), cell=attrs, zero_output=zero)
    out = [(y, mask if view.return_sequences else None)]
    if view.return_state:
        out += [(s, None) for s in states]
    return out


def _bidirectional(low, layer, xs, args, kwargs):
    from ..kinds.wrappers import bidirectional_zero_output, unrunnable_bidirectional

    reason = unrunnable_bidirectional(layer)
    if reason:
        raise UnsupportedError(f"layer '{layer.path}' is {reason}")
    forward, backward = layer.children
    fv, bv = low.views[forward.path], low.views[backward.path]
    (x, mask) = xs[0]
    n = 2 if fv.kind == "lstm" else 1
    init = _states(low, layer, xs, kwargs, 2 * n)
    zero = bidirectional_zero_output(layer, fv, low.zero_bidirectional)
    fa, ba = view_attrs(low, forward, fv), view_attrs(low, backward, bv)
    p = low.plan
    rank = 3 if fv.return_sequences else 2
    y_f, y_b = p.value(rank, hint=f"{layer.name}_forward"), p.value(rank, hint=f"{layer.name}_backward")
    states = [p.value(2, hint=f"{layer.name}_{d}_{s}") for d in ("f", "b") for s in ("h", "c")[:n]]
    # y_b is in input time order (Keras flips the backward output back before merging)
    p.add("bidirectional", [x, mask, *init], [y_f, y_b, *states], layer.path, low.module(layer),
          forward=fa, backward=ba, zero_output=zero)
    mode = layer.config.get("merge_mode", "concat")
    out_mask = mask if fv.return_sequences else None
    if mode is None:
        out = [(y_f, out_mask), (y_b, out_mask)]
    else:
        op = {"concat": "concat", "sum": "add", "mul": "mul", "ave": "ave"}[mode]
        attrs = {"axis": rank - 1} if op == "concat" else {}
        (y,) = p.add(op, [y_f, y_b], [p.value(rank, hint=layer.name)], layer.path, low.module(layer), **attrs)
        out = [(y, out_mask)]
    if fv.return_state:
        out += [(s, None) for s in states]
    return out


MAPPINGS: Dict[str, Callable] = {
    "input": _input,
    "identity": _identity,
    "dense": _dense,
    "activation": _activation_layer,
    "embedding": _embedding,
    "masking": _masking,
    "recurrent": _recurrent,
    "bidirectional": _bidirectional,
    "time_distributed": _time_distributed,
    "model": _nested,
    "concat": _merge("concat"),
    "add": _merge("add"),
    "sub": _merge("sub"),
    "mul": _merge("mul"),
    "ave": _merge("ave"),
    "max": _merge("max"),
    "min": _merge("min"),
    "global_average_1d": _global_average,
}


def _more() -> None:
    from .layers import MAPPINGS as more

    MAPPINGS.update(more)


_more()
