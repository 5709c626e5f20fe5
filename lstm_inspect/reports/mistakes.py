"""The catalogue of porting mistakes ``compare`` tests, each a what-if on the neutral
model or on the run: a :class:`Mistake` changes a :class:`Plan` (the model's canonical
weights or config, the ``hard_sigmoid`` meaning, the run's hooks, or chunked runs) and
:func:`simulate` runs the result with the ordinary :func:`~lstm_inspect.forward.executor.run_model`.

Ids are stable (``compare --json`` uses them): ``gate-order:<letters>`` (the port's
order of the gate blocks), ``bias-twice``, ``gru-bias-summed``,
``gru-reset-after:<true|false>``, ``recurrent-transposed``, ``kernel-transposed``,
``hard-sigmoid:<keras2|keras3|sigmoid>``, ``backwards-unreversed``,
``directions-swapped``, ``mask-ignored``, ``zero-output-for-mask``, ``state-not-carried``,
``float32-for-float16``.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..forward.executor import RunHooks, RunResult, run_model
from ..gates import NAMED_ORDERS
from ..kinds.half import computes_in_float16
from ..kinds.recurrent import RecurrentLayer, recurrent_layers
from ..model import Layer, Model, StoredArray


@dataclass
class Plan:
    """A run to simulate: the (altered) model and how it is run."""

    model: Model
    hard_sigmoid: Optional[str] = None
    hooks: RunHooks = field(default_factory=RunHooks)
    chunk: Optional[int] = None  #: run each chunk of this many steps from zero states


@dataclass(frozen=True)
class Mistake:
    """One catalogued mistake at one place: ``id`` (stable), ``layer`` (a path, or None
    for the whole model), ``fix`` (what to change in the port) and how to simulate it."""

    id: str
    layer: Optional[str]
    fix: str
    apply: Callable[[Plan], Plan] = field(compare=False, repr=False)

    @property
    def key(self) -> Tuple[str, str]:
        return (self.id.split(":")[0], self.layer or "")


# ------------------------------------------------------------------------------------
# Running a plan


def simulate(plan: Plan, inputs: Sequence[np.ndarray]) -> RunResult:
    """Run a plan: one run, or (``chunk``) one run per chunk of steps, each from zero
    states, joined along time (outputs without a time axis are the last chunk's)."""
    if not plan.chunk:
        return run_model(plan.model, inputs, hard_sigmoid=plan.hard_sigmoid, hooks=plan.hooks)
    time = inputs[0].shape[1]
    parts = [run_model(plan.model, [x[:, a:a + plan.chunk] for x in inputs], hard_sigmoid=plan.hard_sigmoid,
                       hooks=plan.hooks) for a in range(0, time, plan.chunk)]
    return _join(parts)


def _join(parts: List[RunResult]) -> RunResult:
    def cat(values):
        return np.concatenate(values, axis=1) if values[0].ndim >= 3 else values[-1]

    last = parts[-1]
    outputs = [cat([p.outputs[k] for p in parts]) for k in range(len(last.outputs))]
    layer_outputs = {path: [cat([p.layer_outputs[path][k] for p in parts]) for k in range(len(outs))]
                     for path, outs in last.layer_outputs.items()}
    traces = []
    steps = [len(p.traces[0].trace.steps) if p.traces else 0 for p in parts]
    for n, lt in enumerate(last.traces):
        t = lt.trace
        pieces = [p.traces[n].trace for p in parts]
        trace = dataclasses.replace(
            t,
            steps=np.concatenate([pc.steps + sum(steps[:k]) for k, pc in enumerate(pieces)]),
            gates={g: np.concatenate([pc.gates[g] for pc in pieces], axis=1) for g in t.gates},
            cell=None if t.cell is None else np.concatenate([pc.cell for pc in pieces], axis=1),
            hidden=np.concatenate([pc.hidden for pc in pieces], axis=1),
        )
        traces.append(dataclasses.replace(lt, trace=trace))
    return dataclasses.replace(last, outputs=outputs, layer_outputs=layer_outputs, traces=traces)


# ------------------------------------------------------------------------------------
# Altering the neutral model


def replace_layer(model: Model, path: str, change: Callable[[Layer], Layer]) -> Model:
    """A copy of ``model`` whose layer at ``path`` is ``change(layer)`` (other layers shared)."""

    def walk(layers: List[Layer]) -> List[Layer]:
        out = []
        for layer in layers:
            if layer.path == path:
                out.append(change(layer))
            elif path.startswith(layer.path + "/"):
                out.append(dataclasses.replace(layer, children=walk(layer.children)))
            else:
                out.append(layer)
        return out

    return dataclasses.replace(model, layers=walk(model.layers), warnings=[])


def _view(model: Model, path: str) -> RecurrentLayer:
    return next(v for v in recurrent_layers(model) if v.path == path)


def _with_weights(layer: Layer, view: RecurrentLayer, weights: Dict[str, Optional[np.ndarray]],
                  **config) -> Layer:
    """``layer`` with Keras 2 fused weights and ``config`` changes; a CuDNN layer becomes
    the plain layer CuDNN computes."""
    cfg = dict(layer.config, **config)
    class_name = layer.class_name
    if class_name.startswith("CuDNN"):
        class_name = class_name[len("CuDNN"):]
        cfg.setdefault("activation", "tanh")
        cfg.setdefault("recurrent_activation", "sigmoid")
        if view.kind == "gru":
            cfg.setdefault("reset_after", True)
    arrays = [StoredArray(role, role, np.asarray(weights[role], np.float32))
              for role in ("kernel", "recurrent_kernel", "bias") if weights.get(role) is not None]
    return dataclasses.replace(layer, class_name=class_name, config=cfg, weights=arrays)


def _alter(path: str, weights: Callable[[RecurrentLayer, Dict], Dict], **config) -> Callable[[Plan], Plan]:
    def apply(plan: Plan) -> Plan:
        view = _view(plan.model, path)
        new = weights(view, dict(view.canonical()))
        model = replace_layer(plan.model, path, lambda layer: _with_weights(layer, view, new, **config))
        return dataclasses.replace(plan, model=model)

    return apply


def _blocks(array: np.ndarray, n: int) -> List[np.ndarray]:
    return np.split(array, n, axis=-1)


# ------------------------------------------------------------------------------------
# The catalogue


def _gate_order(view: RecurrentLayer, port: Tuple[str, ...]) -> Mistake:
    keras = view.gate_order

    def weights(v, w):
        # the port's gate port[k] runs on Keras's block k
        return {role: None if a is None else np.concatenate(
            [_blocks(a, len(keras))[port.index(g)] for g in keras], axis=-1) for role, a in w.items()}

    letters = "".join(port)
    named = f" ({NAMED_ORDERS[port]})" if port in NAMED_ORDERS else ""
    return Mistake(f"gate-order:{letters}", view.path,
                   f"reorder the gate blocks {','.join(keras)} -> {','.join(port)}{named}",
                   _alter(view.path, weights))


def _bias_twice(view: RecurrentLayer) -> Mistake:
    return Mistake("bias-twice", view.path,
                   "put the Keras bias in one of the two bias vectors (e.g. bias_ih) and zeros in the other",
                   _alter(view.path, lambda v, w: dict(w, bias=2 * w["bias"])))


def _gru_bias_summed(view: RecurrentLayer) -> Mistake:
    def weights(v, w):
        b = w["bias"]
        return dict(w, bias=np.stack([b[0] + b[1], np.zeros_like(b[1])]))

    return Mistake("gru-bias-summed", view.path,
                   "keep the recurrent candidate bias (bias[1] of block h, PyTorch's b_hn) inside r * (...): "
                   "bias_ih = bias[0], bias_hh = bias[1], not their sum", _alter(view.path, weights))


def _gru_reset_after(view: RecurrentLayer) -> Mistake:
    port = not view.reset_after

    def weights(v, w):
        b = w["bias"]
        if b is not None:
            b = np.stack([b, np.zeros_like(b)]) if port else b[0] + b[1]
        return dict(w, bias=b)

    value = "true" if port else "false"
    keras_value = "linear_before_reset=1 / reset_after=True" if not port else "linear_before_reset=0 / reset_after=False"
    return Mistake(f"gru-reset-after:{value}", view.path,
                   f"the Keras GRU has reset_after={not port}; use the same convention ({keras_value})",
                   _alter(view.path, weights, reset_after=port))


def _transposed(view: RecurrentLayer, role: str) -> Mistake:
    n = max(1, len(view.gate_order))

    def weights(v, w):
        return dict(w, **{role: np.concatenate([b.T for b in _blocks(w[role], n)], axis=-1)})

    name = "recurrent-transposed" if role == "recurrent_kernel" else "kernel-transposed"
    keras_shape = "(units, units)" if role == "recurrent_kernel" else "(input, units)"
    return Mistake(name, view.path, f"each gate's {role} block is {keras_shape} in Keras (in x out); "
                   "transpose it once for an out x in port, and not again", _alter(view.path, weights))


def _hard_sigmoid_run(flavour: str) -> Mistake:
    formula = {"keras2": "clip(0.2x + 0.5, 0, 1)", "keras3": "clip(x/6 + 0.5, 0, 1)"}
    other = "keras3" if flavour == "keras2" else "keras2"
    return Mistake(f"hard-sigmoid:{flavour}", None,
                   f"this file's hard_sigmoid is {formula[other]} ({other}), not {formula[flavour]}",
                   lambda plan: dataclasses.replace(plan, hard_sigmoid=flavour))


def _hard_sigmoid_as_sigmoid(view: RecurrentLayer) -> Mistake:
    return Mistake("hard-sigmoid:sigmoid", view.path,
                   "the recurrent activation is hard_sigmoid, not the logistic sigmoid",
                   _alter(view.path, lambda v, w: w, recurrent_activation="sigmoid"))


def _backwards_unreversed(path: str) -> Mistake:
    def apply(plan: Plan) -> Plan:
        hooks = dataclasses.replace(plan.hooks, reversed_outputs=plan.hooks.reversed_outputs + (path,))
        return dataclasses.replace(plan, hooks=hooks)

    return Mistake("backwards-unreversed", path,
                   "a go_backwards layer returns its sequence in processing order (last input step first), "
                   "which a Bidirectional flips back to input order; flip the port's sequence to match", apply)


def _directions_swapped(path: str, forward: str, backward: str) -> Mistake:
    def apply(plan: Plan) -> Plan:
        fv, bv = _view(plan.model, forward), _view(plan.model, backward)
        fw, bw = dict(fv.canonical()), dict(bv.canonical())
        model = replace_layer(plan.model, forward, lambda layer: _with_weights(layer, fv, bw))
        model = replace_layer(model, backward, lambda layer: _with_weights(layer, bv, fw))
        return dataclasses.replace(plan, model=model)

    return Mistake("directions-swapped", path,
                   "load the forward layer's weights into the forward direction and the backward "
                   "layer's into the reverse one", apply)


def _mask_ignored() -> Mistake:
    def apply(plan: Plan) -> Plan:
        return dataclasses.replace(plan, hooks=dataclasses.replace(plan.hooks, ignore_masks=True))

    return Mistake("mask-ignored", None,
                   "honour the mask: at a masked step keep the states and repeat the previous output "
                   "(or zeros), e.g. pack_padded_sequence / sequence_lens for post-padding", apply)


def _zero_output(path: str, keras_zero: bool) -> Mistake:
    def apply(plan: Plan) -> Plan:
        model = replace_layer(plan.model, path, lambda layer: dataclasses.replace(
            layer, config=dict(layer.config, zero_output_for_mask=not keras_zero)))
        return dataclasses.replace(plan, model=model)

    keras = "zeros" if keras_zero else "the previous output"
    return Mistake("zero-output-for-mask", path, f"at masked steps Keras outputs {keras} here", apply)


def _state_not_carried(steps: int) -> Mistake:
    return Mistake("state-not-carried", None,
                   f"carry the states (h, c) from one chunk of {steps} steps to the next instead of starting from zeros",
                   lambda plan: dataclasses.replace(plan, chunk=steps))


def _float32_for_float16(layers: List[Layer]) -> Mistake:
    """The port computes in float32 (or wider) what Keras computes in float16 (docs/formats.md section 5.6)."""
    def apply(plan: Plan) -> Plan:
        model = plan.model
        for layer in layers:
            model = replace_layer(model, layer.path, lambda found: dataclasses.replace(
                found, config=dict(found.config, dtype="float32")))
        return dataclasses.replace(plan, model=model)

    names = ", ".join(f"'{layer.path}'" for layer in layers)
    return Mistake("float32-for-float16", None,
                   f"Keras computes {names} in float16, every operation rounded: compute those layers in float16 "
                   "(or accept differences of about one float16 step, 1e-3 relative)", apply)


def catalogue(model: Model, inputs: Sequence[np.ndarray], masked: Dict[str, bool], first_step: Optional[int],
              flavour: str) -> List[Mistake]:
    """Every catalogued mistake that can occur in ``model``: ``masked`` tells which
    recurrent layers (by path) saw masked steps in the neutral run and whether Keras
    zeroed their outputs there; ``first_step`` is the step where the port first
    diverges (the chunk length tried for ``state-not-carried``)."""
    from ..forward import stream

    out: List[Mistake] = []
    views = recurrent_layers(model)
    for v in views:
        if v.kind == "conv_lstm":
            continue
        keras = v.gate_order
        out += [_gate_order(v, p) for p in itertools.permutations(keras) if p != keras]
        if v.use_bias and (v.kind != "gru" or not v.reset_after):
            out.append(_bias_twice(v))
        if v.kind == "gru":
            if v.use_bias and v.reset_after:
                out.append(_gru_bias_summed(v))
            out.append(_gru_reset_after(v))
        out.append(_transposed(v, "recurrent_kernel"))
        if v.input_dim == v.units:
            out.append(_transposed(v, "kernel"))
        if v.recurrent_activation == "hard_sigmoid":
            out.append(_hard_sigmoid_as_sigmoid(v))
    if any(v.recurrent_activation == "hard_sigmoid" for v in views):
        out.append(_hard_sigmoid_run("keras3" if flavour == "keras2" else "keras2"))
    for layer in model.walk():
        if layer.class_name == "Bidirectional" and len(layer.children) == 2:
            out.append(_directions_swapped(layer.path, layer.children[0].path, layer.children[1].path))
    out += [_backwards_unreversed(v.path) for v in views if v.go_backwards and v.return_sequences]
    if masked:
        out.append(_mask_ignored())
        zero_at = {}
        for path, keras_zero in masked.items():
            parent = path.rpartition("/")[0]
            bidirectional = any(layer.path == parent and layer.class_name == "Bidirectional" for layer in model.walk())
            zero_at[parent if bidirectional else path] = keras_zero
        out += [_zero_output(path, zero) for path, zero in zero_at.items()]
    total_steps = inputs[0].shape[1] if inputs and np.ndim(inputs[0]) >= 2 else 0
    if first_step and 0 < first_step < total_steps and not stream.streaming_blocker(model, inputs):
        out.append(_state_not_carried(first_step))
    half = [layer for layer in model.walk() if computes_in_float16(layer.config)]
    if half:
        out.append(_float32_for_float16(half))
    return out


def combine(mistakes: Sequence[Mistake], model: Model) -> Plan:
    plan = Plan(model)
    for m in mistakes:
        plan = m.apply(plan)
    return plan
