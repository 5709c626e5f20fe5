"""The pipeline behind ``lstm-inspect compare``: a port's numbers (or a second Keras
checkpoint) against lstm-inspect's run of the Keras model on the same input, where they
first diverge, and which catalogued porting mistake (:mod:`.mistakes`) explains it.

Quantities are keyed as ``run --npz`` writes them (``<layer path>/<quantity>``, each
``(batch, steps, units)`` in processing order, and ``output/<k>``), plus
``<layer path>/output``: a layer's (first) output as Keras returns it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import InputError, LstmInspectError
from ..forward.executor import RunResult, run_model, zero_output_in_bidirectional
from ..kinds.recurrent import recurrent_layers
from ..model import Model
from .mistakes import Mistake, catalogue, combine, simulate

PathLike = Union[str, "os.PathLike[str]"]
COMPARE_SCHEMA = "lstm-inspect/compare@1"
#: Default tolerances: float32 ports agree with Keras to ~1e-6; mistakes give 1e-2 and more.
ATOL = 1e-4
RTOL = 1e-4
#: Pairs of mistakes are searched from at most this many partial explanations.
MAX_PARTIAL = 3
#: Batches larger than this are screened on two samples first.
SCREEN_ROWS = 4
_INF = float("inf")


@dataclass
class Quantity:
    """One array of a run, with where it sits in processing order."""

    key: str
    layer: str  #: layer path, or "output" for the model's outputs
    quantity: str
    value: np.ndarray
    rank: Tuple[int, int]  #: (layer in processing order, quantity within a step)
    steps: Optional[np.ndarray] = None  #: input time index of each position along axis 1


@dataclass
class Divergence:
    """The first value beyond tolerance, in processing order (layer, step, quantity, sample, unit)."""

    key: str
    layer: str
    quantity: str
    sample: Optional[int] = None
    step: Optional[int] = None
    time: Optional[int] = None  #: input time index of that step
    unit: Optional[int] = None
    keras: Optional[float] = None
    port: Optional[float] = None
    shapes: Optional[Tuple[tuple, tuple]] = None  #: (Keras's, the port's) when they differ

    def order(self, rank: Tuple[int, int]) -> tuple:
        step = _INF if self.step is None else self.step
        return (rank[0], step, rank[1], self.sample or 0, self.unit or 0)


@dataclass
class Difference:
    """One quantity both sides have: the largest difference and how many values are beyond tolerance."""

    key: str
    layer: str
    quantity: str
    shape: Tuple[int, ...]
    max_abs: Optional[float]  #: None when the shapes differ
    beyond: int
    first: Optional[Divergence]


@dataclass
class Diagnosis:
    """``explanations``: each a list of one mistake (or two, when only a combination
    explains the numbers); empty when nothing in the catalogue does."""

    explanations: List[List[Mistake]]
    tried: int

    @property
    def combination(self) -> bool:
        return bool(self.explanations) and all(len(e) > 1 for e in self.explanations)


@dataclass
class WeightChange:
    layer: str
    role: str
    gate: Optional[str]
    relative: Optional[float]  #: ||W_B - W_A|| / ||W_A|| (None when ||W_A|| is 0)


@dataclass
class CompareReport:
    model: Model
    against: str
    atol: float
    rtol: float
    differences: List[Difference] = field(default_factory=list)
    lacking: List[str] = field(default_factory=list)  #: quantities Keras has and the port does not
    unknown: List[str] = field(default_factory=list)  #: the port's keys Keras has no quantity for
    first: Optional[Divergence] = None
    diagnosis: Optional[Diagnosis] = None
    weights: List[WeightChange] = field(default_factory=list)
    compared_run: bool = True  #: False for two checkpoints compared without --input
    notes: List[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return self.first is None


# ------------------------------------------------------------------------------------
# A run as quantities


def quantities(result: RunResult) -> Dict[str, Quantity]:
    """Every quantity of a run, in processing order."""
    out: Dict[str, Quantity] = {}
    traces = {t.path: t for t in result.traces}
    done: set = set()
    rank = 0

    def add_trace(t) -> None:
        nonlocal rank
        tr = t.trace
        named = [*tr.gates.items(), ("cell", tr.cell), ("hidden", tr.hidden)]
        for q, (name, value) in enumerate(named):
            if value is not None:
                out[f"{t.path}/{name}"] = Quantity(f"{t.path}/{name}", t.path, name, value, (rank, q), tr.steps)
        if t.path not in result.layer_outputs:  # a direction of a Bidirectional
            _add_output(out, t.path, tr.output, rank, tr.steps)
        done.add(t.path)
        rank += 1

    for path, outs in result.layer_outputs.items():
        for t in traces.values():
            if t.path not in done and (t.path == path or t.path.startswith(path + "/")):
                add_trace(t)
        own = traces.get(path)
        _add_output(out, path, outs[0] if outs else None, rank - 1 if own else rank, own.trace.steps if own else None)
        rank += 0 if own else 1
    for t in traces.values():
        if t.path not in done:
            add_trace(t)
    for k, y in enumerate(result.outputs):
        out[f"output/{k}"] = Quantity(f"output/{k}", "output", str(k), y, (rank, k))
    return out


def _add_output(out, path, value, rank, steps) -> None:
    if value is None:
        return
    value = np.asarray(value)
    along = steps if steps is not None and value.ndim >= 3 and len(steps) == value.shape[1] else None
    out[f"{path}/output"] = Quantity(f"{path}/output", path, "output", value, (rank, 99), along)


# ------------------------------------------------------------------------------------
# Where


def differences(keras: Mapping[str, Quantity], port: Mapping[str, np.ndarray], atol: float, rtol: float):
    """``(differences, first divergence)`` of the quantities both sides have."""
    diffs: List[Difference] = []
    first: Optional[Divergence] = None
    first_order: Optional[tuple] = None
    for key, q in keras.items():
        if key not in port:
            continue
        d = _difference(q, np.asarray(port[key]), atol, rtol)
        diffs.append(d)
        if d.first is not None:
            order = d.first.order(q.rank)
            if first_order is None or order < first_order:
                first, first_order = d.first, order
    return diffs, first


def _difference(q: Quantity, port: np.ndarray, atol: float, rtol: float) -> Difference:
    keras = np.asarray(q.value, dtype=np.float64)
    if keras.shape != port.shape:
        div = Divergence(q.key, q.layer, q.quantity, shapes=(keras.shape, port.shape))
        return Difference(q.key, q.layer, q.quantity, keras.shape, None, -1, div)
    port64 = port.astype(np.float64)
    with np.errstate(invalid="ignore"):
        delta = np.abs(port64 - keras)
        bad = ~np.isclose(port64, keras, rtol=rtol, atol=atol, equal_nan=True)
    finite = delta[np.isfinite(delta)]
    max_abs = float(finite.max()) if finite.size else (0.0 if not delta.size else _INF)
    n_bad = int(bad.sum())
    if not n_bad:
        return Difference(q.key, q.layer, q.quantity, keras.shape, max_abs, 0, None)
    if keras.ndim >= 3:
        b3 = bad.reshape(keras.shape[0], keras.shape[1], -1)
        at = np.argwhere(b3)  # (sample, step, unit)
        sample, step, unit = at[np.lexsort((at[:, 2], at[:, 0], at[:, 1]))[0]]
        index = np.unravel_index(int(unit), keras.shape[2:])
        kv, pv = keras[sample, step][index], port64[sample, step][index]
        time = int(q.steps[step]) if q.steps is not None else int(step)
        div = Divergence(q.key, q.layer, q.quantity, int(sample), int(step), time, int(unit), float(kv), float(pv))
    else:
        b2 = bad.reshape(keras.shape[0], -1) if keras.ndim else bad.reshape(1, 1)
        sample, unit = np.argwhere(b2)[0]
        kv, pv = keras.reshape(b2.shape)[sample, unit], port64.reshape(b2.shape)[sample, unit]
        div = Divergence(q.key, q.layer, q.quantity, int(sample), None, None, int(unit), float(kv), float(pv))
    return Difference(q.key, q.layer, q.quantity, keras.shape, max_abs, n_bad, div)


# ------------------------------------------------------------------------------------
# Why


def diagnose(model: Model, inputs: Sequence[np.ndarray], result: RunResult, port: Mapping[str, np.ndarray],
             first: Divergence, atol: float, rtol: float) -> Diagnosis:
    """Simulate each catalogued mistake and keep those that reproduce the port's numbers
    within tolerance. Mistakes on a layer after the first divergent one, or on an earlier
    layer whose output the port gives (and matches), cannot explain it and are not run.
    Pairs are searched only when no single mistake explains the numbers, starting from
    the mistakes that move the first divergence later (partial explanations)."""
    keras = quantities(result)
    everything = [m for m in catalogue(model, inputs, _masked(model, result), _chunk_guess(first), result.hard_sigmoid)
                  if _may_explain(m, keras, port, keras[first.key].rank[0], later=True)]
    candidates = [m for m in everything if _may_explain(m, keras, port, keras[first.key].rank[0])]
    # Candidates are screened on a few samples (those of the first divergence and sample
    # 0); what survives is checked on the whole batch.
    rows = _screen_rows(inputs, port, first)
    few_inputs = [x[rows] for x in inputs] if rows is not None else inputs
    few_port = {k: v[rows] for k, v in port.items()} if rows is not None else port
    few_keras = {k: dataclasses.replace(q, value=q.value[rows]) for k, q in keras.items()} if rows is not None else keras
    _, few_first = differences(few_keras, few_port, atol, rtol)
    first_order = few_first.order(few_keras[few_first.key].rank)
    tried = 0

    def score(mistakes: Sequence[Mistake], whole: bool = False):
        nonlocal tried
        tried += 1
        x, expected = (inputs, port) if whole else (few_inputs, few_port)
        try:
            sim = quantities(simulate(combine(mistakes, model), x))
        except LstmInspectError:
            return None
        if any(key not in sim for key in expected if key in keras):
            return None
        diffs, where = differences(sim, expected, atol, rtol)
        worst = max((d.max_abs if d.max_abs is not None else _INF) for d in diffs) if diffs else _INF
        return None if where is None else where.order(sim[where.key].rank), worst

    def explains(mistakes: Sequence[Mistake]) -> bool:
        s = score(mistakes, whole=True) if rows is not None else (None, 0)
        return s is not None and s[0] is None

    scored = [(m, score([m])) for m in candidates]
    singles = [[m] for m, s in scored if s is not None and s[0] is None and explains([m])]
    if singles:
        return Diagnosis(singles, tried)
    partial = [(s[0], s[1], m) for m, s in scored if s is not None and s[0] is not None and s[0] > first_order]
    partial.sort(key=lambda p: (-p[0][0], -p[0][1], p[1]))
    if not partial:  # two mistakes on the first divergent layer: start from the closest
        near = [(s[1], m) for m, s in scored if s is not None and m.layer is not None]
        partial = [(None, w, m) for w, m in sorted(near, key=lambda p: p[0])]
    pairs = []
    seen = set()
    for _, _, a in partial[:MAX_PARTIAL]:
        for b in everything:
            if b.key == a.key or frozenset((a, b)) in seen:
                continue
            seen.add(frozenset((a, b)))
            s = score([a, b])
            if s is not None and s[0] is None and explains([a, b]):
                pairs.append(sorted([a, b], key=lambda m: _layer_rank(m, keras)))
    return Diagnosis(pairs, tried)


def _layer_rank(m: Mistake, keras: Mapping[str, Quantity]) -> int:
    """Where a mistake's layer runs (-1 for the whole model)."""
    ranks = [q.rank[0] for q in keras.values() if m.layer and (q.layer == m.layer or q.layer.startswith(m.layer + "/"))]
    return min(ranks, default=-1)


def _screen_rows(inputs: Sequence[np.ndarray], port: Mapping[str, np.ndarray], first: Divergence) -> Optional[List[int]]:
    """The samples candidates are screened on, or None to use the whole batch (small
    batches, or a port array without the batch axis first)."""
    batch = inputs[0].shape[0] if inputs and np.ndim(inputs[0]) else 0
    if batch <= SCREEN_ROWS or any(np.ndim(v) == 0 or np.shape(v)[0] != batch for v in port.values()):
        return None
    return sorted({0, first.sample or 0})


def _may_explain(m: Mistake, keras: Mapping[str, Quantity], port: Mapping[str, np.ndarray], first_rank: int,
                 later: bool = False) -> bool:
    """False for a mistake on an earlier layer whose output the port gives (the port
    matches there) and, unless ``later`` (the second of a pair), on a layer that runs
    after the first divergence."""
    if m.layer is None:
        return True
    ranks = [q.rank[0] for q in keras.values() if q.layer == m.layer or q.layer.startswith(m.layer + "/")]
    if not ranks:
        return True
    if min(ranks) > first_rank:
        return later
    return not (max(ranks) < first_rank and f"{m.layer}/output" in port)


def _masked(model: Model, result: RunResult) -> Dict[str, bool]:
    """Recurrent layers that saw masked steps, and whether Keras zeroed their outputs there."""
    zero_bidirectional = zero_output_in_bidirectional(model.semantics_version)
    parents = {layer.path: layer for layer in model.walk()}
    out = {}
    for t in result.traces:
        if t.mask is None or np.all(t.mask):
            continue
        parent = parents.get(t.path.rpartition("/")[0])
        zero = bool(t.view.config.get("zero_output_for_mask", False))
        if parent is not None and parent.class_name == "Bidirectional":
            own = parent.config.get("zero_output_for_mask")
            zero = own if own is not None else (zero_bidirectional and t.view.return_sequences) or zero
        out[t.path] = zero
    return out


def _chunk_guess(first: Divergence) -> Optional[int]:
    """The chunk length a port that restarts its states would show: the step where it first diverges."""
    return first.step or None


# ------------------------------------------------------------------------------------
# The whole comparison


def compare_port(model: Model, inputs, port: Mapping[str, np.ndarray], against: str = "",
                 atol: float = ATOL, rtol: float = RTOL, diagnose_mistakes: bool = True) -> CompareReport:
    """Compare ``port`` (arrays keyed as :func:`quantities` keys them) with ``model`` run on
    ``inputs`` (a path, an array or a list of arrays), and diagnose a divergence."""
    from .run import model_inputs

    given = model_inputs(model, inputs)
    result = run_model(model, given.arrays)
    keras = quantities(result)
    port = {k: v for k, v in port.items() if not k.endswith("/steps")}
    report = CompareReport(model, against, atol, rtol, notes=list(given.notes))
    report.differences, report.first = differences(keras, port, atol, rtol)
    report.lacking = [k for k in keras if k not in port]
    report.unknown = sorted(k for k in port if k not in keras)
    if not report.differences:
        raise InputError(f"{against or 'the port'} holds none of the model's quantities "
                         f"(expected keys such as {', '.join(list(keras)[:3])}; see README 'Checking a port')")
    if report.first is not None and diagnose_mistakes:
        report.diagnosis = diagnose(model, given.arrays, result, port, report.first, atol, rtol)
    return report


def compare_checkpoints(a: Model, b: Model, inputs=None, atol: float = ATOL, rtol: float = RTOL) -> CompareReport:
    """Two Keras checkpoints of one architecture: the relative change of every weight
    (per layer, role and gate) and, with ``inputs``, where their runs first diverge."""
    weights = weight_changes(a, b)
    if inputs is None:
        return CompareReport(a, b.file, atol, rtol, weights=weights, compared_run=False)
    from .run import model_inputs

    other = quantities(run_model(b, model_inputs(b, inputs).arrays))
    report = compare_port(a, inputs, {k: q.value for k, q in other.items()}, b.file, atol, rtol,
                          diagnose_mistakes=False)
    report.weights = weights
    return report


def weight_changes(a: Model, b: Model) -> List[WeightChange]:
    """``||W_B - W_A|| / ||W_A||`` per layer, weight role and gate (recurrent layers) or
    per weight array (other layers)."""
    views_b = {v.path: v for v in recurrent_layers(b)}
    recurrent = {v.path: v for v in recurrent_layers(a)}
    layers_b = {layer.path: layer for layer in b.walk()}
    out: List[WeightChange] = []
    for layer in a.walk():
        other = layers_b.get(layer.path)
        if layer.path in recurrent:
            va, vb = recurrent[layer.path], views_b.get(layer.path)
            if vb is None or vb.kind != va.kind or vb.units != va.units or vb.input_dim != va.input_dim:
                raise InputError(f"{b.file} does not have the architecture of {a.file}: layer '{layer.path}' differs")
            wa, wb = va.canonical(), vb.canonical()
            for role in ("kernel", "recurrent_kernel", "bias"):
                x, y = wa[role], wb[role]
                if x is None and y is None:
                    continue
                if x is None or y is None or x.shape != y.shape:
                    raise InputError(f"{b.file} does not have the architecture of {a.file}: "
                                     f"layer '{layer.path}' {role} differs")
                gates = va.gate_order or (None,)
                for gate, xg, yg in zip(gates, np.split(x, len(gates), axis=-1), np.split(y, len(gates), axis=-1)):
                    out.append(WeightChange(layer.path, role, gate, _relative(xg, yg)))
            continue
        if not layer.weights or any(layer.path.startswith(p + "/") for p in recurrent):
            continue
        if other is None or len(other.weights) != len(layer.weights) or any(
                x.shape != y.shape for x, y in zip(layer.weights, other.weights)):
            raise InputError(f"{b.file} does not have the architecture of {a.file}: layer '{layer.path}' differs")
        for x, y in zip(layer.weights, other.weights):
            role = x.name.rsplit("/", 1)[-1].split(":")[0]
            out.append(WeightChange(layer.path, role, None, _relative(x.value, y.value)))
    return out


def _relative(a: np.ndarray, b: np.ndarray) -> Optional[float]:
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    norm = float(np.linalg.norm(a64))
    return float(np.linalg.norm(b64 - a64)) / norm if norm else None


# ------------------------------------------------------------------------------------
# JSON


def compare_document(report: CompareReport) -> Dict:
    """``compare --json`` (schema ``lstm-inspect/compare@1``, documented in the README)."""
    from .serialize import file_header

    diag = report.diagnosis
    doc: Dict = {
        "schema": COMPARE_SCHEMA,
        **file_header(report.model),
        "against": report.against,
        "atol": report.atol,
        "rtol": report.rtol,
        "status": "weights" if not report.compared_run else ("matches" if report.matches else "diverges"),
    }
    if report.weights:
        doc["weights"] = [{"layer": w.layer, "role": w.role, "gate": w.gate, "relative_change": w.relative}
                          for w in report.weights]
    if not report.compared_run:
        return doc
    doc["quantities"] = [{"key": d.key, "layer": d.layer, "quantity": d.quantity, "shape": list(d.shape),
                          "max_abs_diff": d.max_abs, "beyond_tolerance": d.beyond} for d in report.differences]
    doc["lacking"] = report.lacking
    doc["unknown"] = report.unknown
    doc["first_divergence"] = None if report.first is None else _divergence(report.first)
    doc["diagnosis"] = None if diag is None else {
        "explained": bool(diag.explanations),
        "combination": diag.combination,
        "explanations": [[{"id": m.id, "layer": m.layer, "fix": m.fix} for m in e] for e in diag.explanations],
        "tried": diag.tried,
    }
    return doc


def _divergence(d: Divergence) -> Dict:
    out = {"key": d.key, "layer": d.layer, "quantity": d.quantity, "sample": d.sample, "step": d.step,
           "time": d.time, "unit": d.unit, "keras": d.keras, "port": d.port}
    if d.shapes is not None:
        out["shapes"] = {"keras": list(d.shapes[0]), "port": list(d.shapes[1])}
    return out
