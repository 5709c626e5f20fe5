"""A plan as one ONNX model: recurrent layers as ``LSTM``/``GRU``/``RNN`` nodes, the rest as
ONNX operators, checked with ``onnx.checker`` (full check) before it is written.

Facts (docs/formats.md section 4 for Keras's side; the ONNX operator specification for
ONNX's): ONNX LSTM gate blocks are i, o, f, c (Keras i, f, c, o); GRU blocks are z, r, h
as in Keras, ``linear_before_reset=1`` is Keras's ``reset_after=True``; ``B`` holds the
input bias then the recurrent bias. A reverse node writes ``Y`` in input time order, where
Keras's ``go_backwards`` returns the reversed sequence. ``sequence_lens`` runs each row over
its first ``len`` steps: Keras's mask exactly when the live steps come first (right
padding). A row whose mask has a hole or leading padding cannot be expressed (nor a row
with no live step that starts from given states), so the graph computes NaN for that row
instead of a different number.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from ..errors import UnsupportedError
from ..gates import LSTM_GATES, ONNX_LSTM_GATES
from .onnx_layers import OPS
from .plan import Op, Plan, Value

#: Pinned so that current onnxruntime (1.17 and later) loads the file.
OPSET = 17
IR_VERSION = 8

INSTALL = "pip install 'lstm-inspect[onnx]'  (or: pip install onnx)"

#: Keras activation -> (ONNX RNN activation, alpha, beta), None: the ONNX default.
_RNN_ACTS = {
    "sigmoid": ("Sigmoid", None, None),
    "tanh": ("Tanh", None, None),
    "relu": ("Relu", None, None),
    "softsign": ("Softsign", None, None),
    "softplus": ("Softplus", None, None),
    "elu": ("Elu", 1.0, None),
    "linear": ("Affine", 1.0, 0.0),
}
_ONNX_OP = {"lstm": "LSTM", "gru": "GRU", "simple_rnn": "RNN"}
_DEFAULTS = {"HardSigmoid": (0.2, 0.5), "Elu": (1.0, None), "Affine": (None, None)}


def require_onnx():
    try:
        import onnx
    except ImportError:
        raise UnsupportedError(f"export --to onnx needs the onnx package: {INSTALL}") from None
    return onnx


class _Graph:
    def __init__(self, onnx, plan: Plan):
        self.onnx, self.h, self.plan = onnx, onnx.helper, plan
        self.nodes: list = []
        self.inits: Dict[str, object] = {}
        self.n = 0
        self.bad_rows: List[str] = []  #: per-row flags: the mask is not live-steps-first
        self._lens: Dict[str, str] = {}
        self.dtypes = plan.dtypes

    def value_dtype(self, name: str) -> str:
        return self.dtypes.get(name, "float32")

    def tmp(self, hint: str = "t") -> str:
        self.n += 1
        return f"_{hint}_{self.n}"

    def node(self, op: str, ins: List[str], n_out: int = 1, outs: Optional[List[str]] = None, **attrs) -> List[str]:
        outs = outs or [self.tmp(op.lower()) for _ in range(n_out)]
        self.nodes.append(self.h.make_node(op, ins, outs, **attrs))
        return outs

    def one(self, op: str, ins: List[str], **attrs) -> str:
        return self.node(op, ins, **attrs)[0]

    def const(self, value, name: Optional[str] = None) -> str:
        name = name or self.tmp("c")
        if name not in self.inits:
            self.inits[name] = self.onnx.numpy_helper.from_array(np.asarray(value), name)
        return name

    def ints(self, values) -> str:
        return self.const(np.asarray(values, np.int64))

    # ---------------------------------------------------------------- masks

    def lengths(self, mask: str) -> str:
        """int32 (batch,) live steps of each row; notes a per-row flag where the mask is
        not its live steps first (those rows become NaN)."""
        if mask in self._lens:
            return self._lens[mask]
        m = self.one("Cast", [mask], to=self.onnx.TensorProto.FLOAT)
        lens = self.one("Cast", [self.one("ReduceSum", [m, self.ints([1])], keepdims=0)], to=self.onnx.TensorProto.INT32)
        # a step that is live after a dead one: m[t] - m[t-1] > 0 for some t >= 1
        later = self.one("Slice", [m, self.ints([1]), self.ints([2**62]), self.ints([1])])
        earlier = self.one("Slice", [m, self.ints([0]), self.ints([-1]), self.ints([1])])
        rise = self.one("Sub", [later, earlier])
        rise = self.one("Concat", [rise, self.one("Mul", [self.one("Slice", [m, self.ints([0]), self.ints([1]),
                                                                              self.ints([1])]), self.const(np.float32(0))])], axis=1)
        bad = self.one("Greater", [self.one("ReduceMax", [rise], axes=[1], keepdims=0), self.const(np.float32(0))])
        self.bad_rows.append(bad)
        self._lens[mask] = lens
        return lens

    # ---------------------------------------------------------------- recurrent

    def activations(self, cell: Dict, path: str):
        kind = cell["kind"]
        names = {"lstm": ["recurrent_activation", "activation", "activation"],
                 "gru": ["recurrent_activation", "activation"], "simple_rnn": ["activation"]}[kind]
        out = []
        for key in names:
            name = cell[key]
            if name == "hard_sigmoid":
                out.append(("HardSigmoid", cell["hard_sigmoid_alpha"], 0.5))
            elif name in _RNN_ACTS:
                out.append(_RNN_ACTS[name])
            else:
                raise UnsupportedError(f"layer '{path}': {key} '{name}' is not among the activations of ONNX's "
                                      f"{_ONNX_OP[kind]} operator (export --to torch computes it)")
        return out

    def weights(self, cell: Dict):
        """W, R, B in ONNX layout for one direction (each (1, ...))."""
        p = self.plan.params
        K, U = p[cell["kernel"]], p[cell["recurrent_kernel"]]
        b = p[cell["bias"]] if cell["bias"] is not None else None
        u = cell["units"]
        if cell["kind"] == "lstm":
            order = [LSTM_GATES.index(g) for g in ONNX_LSTM_GATES]

            def blocks(a):
                return np.concatenate([a[..., k * u:(k + 1) * u] for k in order], axis=-1)

            K, U = blocks(K), blocks(U)
            b = None if b is None else blocks(b)
        n = K.shape[1]
        if b is None:
            B = np.zeros(2 * n, np.float32)
        elif b.ndim == 2:  # GRU reset_after: input bias, recurrent bias
            B = np.concatenate([b[0], b[1]])
        else:
            B = np.concatenate([b, np.zeros_like(b)])
        return K.T, U.T, B

    def recurrent(self, op: Op, cells: List[Dict], x: str, mask: Optional[str], init: List[Optional[str]], zero: bool):
        kind = cells[0]["kind"]
        onnx_op = _ONNX_OP[kind]
        bidirectional = len(cells) == 2
        Ws, Rs, Bs, acts = [], [], [], []
        for cell in cells:
            W, R, B = self.weights(cell)
            Ws.append(W)
            Rs.append(R)
            Bs.append(B)
            acts += self.activations(cell, cell["path"])
        if bidirectional and cells[0]["units"] != cells[1]["units"]:
            raise UnsupportedError(f"layer '{op.layer}': its two directions differ in units")
        u = cells[0]["units"]
        W = self.const(np.stack(Ws).astype(np.float32), f"{op.module}.W")
        R = self.const(np.stack(Rs).astype(np.float32), f"{op.module}.R")
        B = self.const(np.stack(Bs).astype(np.float32), f"{op.module}.B")
        attrs = {"hidden_size": u, "activations": [a for a, _, _ in acts]}
        attrs.update(self._alphas(acts, op.layer))
        if kind == "gru":
            attrs["linear_before_reset"] = int(cells[0]["reset_after"])
        backwards = not bidirectional and cells[0]["go_backwards"]
        attrs["direction"] = "bidirectional" if bidirectional else ("reverse" if backwards else "forward")
        xt = self.one("Transpose", [x], perm=[1, 0, 2])
        lens = self.lengths(mask) if mask is not None else ""
        if mask is not None and any(init):
            # a row with no live step keeps its initial state in Keras; ONNX gives zeros
            self.bad_rows.append(self.one("Equal", [lens, self.const(np.int32(0))]))
        states = []
        for k in range(2 if kind == "lstm" else 1):
            given = [init[k + j * (len(init) // len(cells))] for j in range(len(cells))] if any(init) else []
            if given and not all(given):
                raise UnsupportedError(f"layer '{op.layer}' is given some initial states but not all")
            states.append(self.one("Concat", [self.one("Unsqueeze", [s, self.ints([0])]) for s in given], axis=0)
                          if given else "")
        ins = [xt, W, R, B, lens, states[0]] + ([states[1]] if kind == "lstm" else [])
        while ins and ins[-1] == "":
            ins.pop()
        outs = self.node(onnx_op, ins, 3 if kind == "lstm" else 2, **attrs)
        Y, Y_h = outs[0], outs[1]
        Y_c = outs[2] if kind == "lstm" else None
        seq = cells[0]["return_sequences"]
        results = []
        for d in range(len(cells)):
            if seq:
                y = self.one("Transpose", [self.one("Gather", [Y, self.const(np.int64(d))], axis=1)], perm=[1, 0, 2])
                if backwards:  # Keras returns the reversed sequence
                    y = self.one("Slice", [y, self.ints([-1]), self.ints([-(2**62)]), self.ints([1]), self.ints([-1])])
                elif d == 0 and mask is not None and not zero:
                    y = self._repeat_last(y, lens)
            else:
                y = self.one("Gather", [Y_h, self.const(np.int64(d))], axis=0)
            results.append(y)
        finals = []
        for d in range(len(cells)):
            finals.append(self.one("Gather", [Y_h, self.const(np.int64(d))], axis=0))
            if Y_c is not None:
                finals.append(self.one("Gather", [Y_c, self.const(np.int64(d))], axis=0))
        return results, finals

    def _alphas(self, acts, path: str) -> Dict:
        """activation_alpha/beta, written only where the ONNX specification (one entry per
        activation, in order) and onnxruntime (entries for the activations that take them,
        in order) read them alike: every parametrised activation with the same values, or
        every parametrised activation before every other one."""
        # HardSigmoid always explicit (its alpha is the classic mismatch), others where not default
        if not any(a == "HardSigmoid" or (a in _DEFAULTS and _DEFAULTS[a] != (al, be)) for a, al, be in acts):
            return {}
        taking = {(al, be) for a, al, be in acts if a in _DEFAULTS}
        if len(taking) == 1:
            ((al, be),) = taking
            return {"activation_alpha": [al or 0.0] * len(acts), "activation_beta": [be or 0.0] * len(acts)}
        k = 0
        while k < len(acts) and acts[k][0] in _DEFAULTS:
            k += 1
        if any(a in _DEFAULTS for a, _, _ in acts[k:]):
            raise UnsupportedError(f"layer '{path}': its activations need parameters ONNX runtimes read differently")
        alphas = [acts[j][1] if acts[j][1] is not None else 0.0 for j in range(k)]
        betas = [acts[j][2] if acts[j][2] is not None else 0.0 for j in range(k)]
        return {"activation_alpha": alphas, "activation_beta": betas}

    def _repeat_last(self, y: str, lens: str) -> str:
        """Keras repeats the last live output at masked steps; ONNX writes zeros there."""
        T = self.one("Gather", [self.one("Shape", [y]), self.const(np.int64(1))], axis=0)
        steps = self.one("Unsqueeze", [self.one("Range", [self.const(np.int64(0)), T, self.const(np.int64(1))]),
                                       self.ints([0])])
        last = self.one("Unsqueeze", [self.one("Sub", [self.one("Cast", [lens], to=self.onnx.TensorProto.INT64),
                                                       self.const(np.int64(1))]), self.ints([1])])
        idx = self.one("Min", [steps, last])  # (batch, time); -1 (no live step) reads an all-zero row
        idx = self.one("Expand", [self.one("Unsqueeze", [idx, self.ints([2])]), self.one("Shape", [y])])
        return self.one("GatherElements", [y, idx], axis=1)


def _act(g: _Graph, x: str, fn: str, alpha: Optional[float]) -> str:
    simple = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu", "softsign": "Softsign", "softplus": "Softplus",
              "selu": "Selu", "exponential": "Exp"}
    if fn in simple:
        return g.one(simple[fn], [x])
    if fn == "hard_sigmoid":
        return g.one("HardSigmoid", [x], alpha=float(alpha), beta=0.5)
    if fn == "elu":
        return g.one("Elu", [x], alpha=1.0)
    if fn in ("swish", "silu"):
        return g.one("Mul", [x, g.one("Sigmoid", [x])])
    if fn == "gelu":  # 0.5 x (1 + erf(x / sqrt 2)), Keras's exact gelu
        erf = g.one("Erf", [g.one("Div", [x, g.const(np.float32(np.sqrt(2.0)))])])
        return g.one("Mul", [g.one("Mul", [x, g.const(np.float32(0.5))]), g.one("Add", [erf, g.const(np.float32(1.0))])])
    if fn == "softmax":
        return g.one("Softmax", [x], axis=-1)
    raise UnsupportedError(f"activation '{fn}' has no ONNX mapping")


#: Plan ops written as a left fold of a binary ONNX operator.
_FOLDED = {"and": "And", "or": "Or", "mul": "Mul", "sub": "Sub"}


def _emit(g: _Graph, op: Op, v: Dict[str, str]) -> None:
    ins = [None if n is None else v[n] for n in op.ins]
    a, p = op.attrs, g.plan.params

    def out(*names):
        for plan_name, name in zip(op.outs, names):
            v[plan_name] = name

    if op.op == "dense":
        y = g.one("MatMul", [ins[0], g.const(p[a["kernel"]], a["kernel"])])
        out(g.one("Add", [y, g.const(p[a["bias"]], a["bias"])]) if a["bias"] else y)
    elif op.op == "act":
        out(_act(g, ins[0], a["fn"], a.get("alpha")))
    elif op.op == "embedding":
        out(g.one("Gather", [g.const(p[a["table"]], a["table"]), ins[0]], axis=0))
    elif op.op == "nonzero":
        out(g.one("Not", [g.one("Equal", [ins[0], g.const(np.int32(0))])]))
    elif op.op == "mask_value":
        live = g.one("Cast", [g.one("Not", [g.one("Equal", [ins[0], g.const(np.float32(a["value"]))])])],
                     to=g.onnx.TensorProto.FLOAT)
        out(g.one("Cast", [g.one("ReduceMax", [live], axes=[-1], keepdims=0)], to=g.onnx.TensorProto.BOOL))
    elif op.op == "apply_mask":
        m = g.one("Unsqueeze", [g.one("Cast", [ins[1]], to=g.onnx.TensorProto.FLOAT), g.ints([-1])])
        out(g.one("Mul", [ins[0], m]))
    elif op.op in _FOLDED:  # binary operators applied left to right over the inputs
        y = ins[0]
        for other in ins[1:]:
            y = g.one(_FOLDED[op.op], [y, other])
        out(y)
    elif op.op == "concat":
        out(g.one("Concat", ins, axis=a["axis"]))
    elif op.op in ("add", "ave", "max", "min"):
        out(g.one({"add": "Sum", "ave": "Mean", "max": "Max", "min": "Min"}[op.op], ins))
    elif op.op == "mean_time":
        if ins[1] is None:
            out(g.one("ReduceMean", [ins[0]], axes=[1], keepdims=0))
        else:  # Keras: the sum over live steps over their count (a fully masked row is 0/0 = NaN);
            # tf.keras multiplies by the mask (a NaN at a masked step leaks), Keras 3 selects with where
            m = g.one("Unsqueeze", [g.one("Cast", [ins[1]], to=g.onnx.TensorProto.FLOAT), g.ints([-1])])
            if a.get("where"):
                mb = g.one("Unsqueeze", [ins[1], g.ints([-1])])
                live_x = g.one("Where", [mb, ins[0], g.const(np.float32(0))])
            else:
                live_x = g.one("Mul", [ins[0], m])
            total = g.one("ReduceSum", [live_x, g.ints([1])], keepdims=0)
            out(g.one("Div", [total, g.one("ReduceSum", [m, g.ints([1])], keepdims=0)]))
    elif op.op in OPS:
        out(OPS[op.op](g, op, ins))
    elif op.op in ("recurrent", "bidirectional"):
        cells = [a["cell"]] if op.op == "recurrent" else [a["forward"], a["backward"]]
        ys, finals = g.recurrent(op, cells, ins[0], ins[1], ins[2:], a["zero_output"])
        out(*ys, *finals)
    else:
        raise UnsupportedError(f"layer '{op.layer}': '{op.op}' has no ONNX mapping")




def build(plan: Plan, layer_outputs: bool = False):
    """The plan as an ``onnx.ModelProto``, checked in full. ``layer_outputs`` adds each
    recurrent layer's output as a further graph output named ``layer:<path>``."""
    onnx = require_onnx()
    h = onnx.helper
    g = _Graph(onnx, plan)
    values: Dict[str, str] = {}
    inputs = []
    types = {"float32": onnx.TensorProto.FLOAT, "int32": onnx.TensorProto.INT32}
    for v, shape in plan.inputs:
        # batch symbolic, and time (axis 1 of a sequence or of token ids) even where Keras fixed it
        timed = len(shape) >= 3 or (len(shape) == 2 and v.dtype == "int32")
        time = "time" if not inputs else f"{v.name}_time"  # inputs may differ in length
        dims = ["batch"] + [(time if k == 1 and timed else d) for k, d in enumerate(shape[1:], 1)]
        dims = [f"{v.name}_dim{k}" if d is None else d for k, d in enumerate(dims)]
        inputs.append(h.make_tensor_value_info(v.name, types[v.dtype], dims))
        values[v.name] = v.name
    for op in plan.ops:
        _emit(g, op, values)
    bad = None
    for flag in g.bad_rows:
        bad = flag if bad is None else g.one("Or", [bad, flag])
    named = list(zip(plan.outputs, plan.output_names))
    if layer_outputs:
        seen = set()
        for op in plan.ops:
            if op.op == "recurrent" and op.layer not in seen:
                seen.add(op.layer)
                rank = 3 if op.attrs["cell"]["return_sequences"] else 2
                named.append((Value(op.outs[0], rank), f"layer:{op.layer}"))
    outputs = []
    for v, name in named:
        y = values[v.name]
        if bad is not None:  # rows whose mask ONNX cannot express: NaN, never another number
            flag = g.one("Unsqueeze", [bad, g.ints(list(range(1, v.rank)))]) if v.rank > 1 else bad
            y = g.one("Where", [flag, g.const(np.float32(np.nan)), y])
        g.node("Identity", [y], outs=[name])
        outputs.append(h.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [None] * v.rank))
    graph = h.make_graph(g.nodes, "lstm_inspect_export", inputs, outputs, initializer=list(g.inits.values()))
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                         producer_name="lstm-inspect")
    onnx.checker.check_model(model, full_check=True)
    return model, bool(g.bad_rows)
