"""A plan as a readable PyTorch module (``model.py``) and its state dict.

nn.LSTM / nn.GRU / nn.RNN are used where they compute the Keras layer exactly: sigmoid
gates and tanh (LSTM, GRU with ``reset_after=True``; SimpleRNN tanh or relu), no mask.
Keras's LSTM bias goes in ``bias_ih`` and zeros in ``bias_hh``; GRU blocks z, r, h become
r, z, n with the input bias in ``bias_ih`` and the recurrent bias (inside the reset
product) in ``bias_hh``; ``go_backwards`` runs the module on the time-flipped input, whose
output is already Keras's reversed sequence. Anything else (other activations, GRU
``reset_after=False``, a mask) becomes the step-by-step ``KerasRecurrent`` written out in
the module, with the same parameter names and layout.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..errors import UnsupportedError
from ..gates import GRU_GATES, LSTM_GATES, PYTORCH_GRU_GATES, PYTORCH_LSTM_GATES
from . import torch_source as src
from .plan import Op, Plan

_ACTS = {
    "tanh": "torch.tanh({x})", "sigmoid": "torch.sigmoid({x})", "relu": "torch.relu({x})",
    "hard_sigmoid": "hard_sigmoid({x})", "softsign": "F.softsign({x})", "softplus": "F.softplus({x})",
    "elu": "F.elu({x})", "selu": "F.selu({x})", "swish": "F.silu({x})", "silu": "F.silu({x})",
    "gelu": "F.gelu({x})", "exponential": "torch.exp({x})", "softmax": "torch.softmax({x}, dim=-1)",
}


#: Plan operations written as one expression ({x}: the first input, {y}: the last; attrs by name).
_SIMPLE = {
    "max_time": "{x}.amax(dim=1)",
    "pad_time": "F.pad({x}, (0, 0, {pads[0]}, {pads[1]}))",
    "crop_time": "{x}[:, {crops[0]} : {x}.shape[1] - {crops[1]}]",
    "flatten": "{x}.flatten(1)",
    "reshape": "{x}.reshape({x}.shape[0], *{shape})",
    "permute": "{x}.permute(0, *{dims})",
    "repeat": "{x}.unsqueeze(1).repeat(1, {n}, 1)",
    "not_equal": "{x} != {value!r}",
    "expand_dims": "{x}.unsqueeze({axis})",
    "zeros_like": "torch.zeros_like({x}, dtype=torch.bool)",
    "logical_or": "{x} | {y}",
    "logical_and": "{x} & {y}",
    "logical_not": "~{x}",
    "reduce_any": "{x}.any(dim={axis})",
    "reduce_all": "{x}.all(dim={axis})",
    "leaky_relu": "F.leaky_relu({x}, {slope!r})",
    "elu": "F.elu({x}, alpha={alpha!r})",
}


def torch_layout(cell: Dict, params: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """One direction's Keras arrays as nn.LSTM/GRU/RNN parameters (suffix-free names)."""
    K, U = params[cell["kernel"]], params[cell["recurrent_kernel"]]
    b = params[cell["bias"]] if cell["bias"] is not None else None
    u, kind = cell["units"], cell["kind"]

    def blocks(a, keras, torch_order):
        return np.concatenate([a[..., keras.index(g) * u:(keras.index(g) + 1) * u] for g in torch_order], axis=-1)

    if kind == "gru":
        K, U = blocks(K, GRU_GATES, PYTORCH_GRU_GATES), blocks(U, GRU_GATES, PYTORCH_GRU_GATES)
        b = None if b is None else blocks(b, GRU_GATES, PYTORCH_GRU_GATES)
    elif kind == "lstm":  # the same order: i, f, c (g), o
        assert PYTORCH_LSTM_GATES == LSTM_GATES
    n = K.shape[1]
    if b is None:
        b_ih, b_hh = np.zeros(n, np.float32), np.zeros(n, np.float32)
    elif b.ndim == 2:  # GRU reset_after: input bias, recurrent bias
        b_ih, b_hh = b[0], b[1]
    else:
        b_ih, b_hh = b, np.zeros_like(b)
    return {"weight_ih_l0": K.T, "weight_hh_l0": U.T, "bias_ih_l0": b_ih, "bias_hh_l0": b_hh}


def _native(cell: Dict, masked: bool) -> Optional[str]:
    """Why nn.LSTM/GRU/RNN cannot compute this direction exactly, or None when it can."""
    kind, act, rec = cell["kind"], cell["activation"], cell["recurrent_activation"]
    if masked:
        return "masked input (nn modules have no per-step mask)"
    if kind == "simple_rnn":
        return None if act in ("tanh", "relu") else f"activation {act} (nn.RNN has tanh and relu)"
    if kind == "gru" and not cell["reset_after"]:
        return "GRU reset_after=False (nn.GRU resets after the recurrent product)"
    if act != "tanh" or rec != "sigmoid":
        return f"activation {act} / recurrent_activation {rec} (nn.{kind.upper()} has tanh / sigmoid)"
    return None


class _Writer:
    def __init__(self, plan: Plan):
        self.plan = plan
        self.init: List[str] = []
        self.body: List[str] = []
        self.state: Dict[str, np.ndarray] = {}
        self.declared: Dict[str, str] = {}
        self.notes: List[str] = []
        self.custom = False
        self.helpers = False  #: same_pad and pool1d are used
        self.params = False  #: the Params container is used

    def declare(self, module: str, line: str, params: Dict[str, np.ndarray]) -> None:
        if module in self.declared:
            return
        self.declared[module] = line
        self.init.append(f"self.{module} = {line}")
        for name, array in params.items():
            self.state[f"{module}.{name}"] = np.ascontiguousarray(array, dtype=np.float32)

    def emit(self, line: str) -> None:
        self.body.append(line)

    def op(self, op: Op) -> None:
        a, p, v = op.attrs, self.plan.params, op.ins
        out = op.outs
        if op.op == "dense":
            K = p[a["kernel"]]
            params = {"weight": K.T}
            if a["bias"]:
                params["bias"] = p[a["bias"]]
            self.declare(op.module, f"nn.Linear({K.shape[0]}, {K.shape[1]}, bias={bool(a['bias'])})", params)
            self.emit(f"{out[0]} = self.{op.module}({v[0]})")
        elif op.op == "act":
            self.emit(f"{out[0]} = " + _ACTS[a["fn"]].format(x=v[0]))
        elif op.op == "embedding":
            table = p[a["table"]]
            self.declare(op.module, f"nn.Embedding({table.shape[0]}, {table.shape[1]})", {"weight": table})
            self.emit(f"{out[0]} = self.{op.module}({v[0]}.long())")
        elif op.op == "nonzero":
            self.emit(f"{out[0]} = {v[0]} != 0  # mask_zero")
        elif op.op == "mask_value":
            self.emit(f"{out[0]} = ({v[0]} != {a['value']!r}).any(dim=-1)  # Masking: live steps")
        elif op.op == "apply_mask":
            self.emit(f"{out[0]} = {v[0]} * {v[1]}.unsqueeze(-1).to({v[0]}.dtype)")
        elif op.op in ("and", "or"):
            self.emit(f"{out[0]} = " + (" & " if op.op == "and" else " | ").join(v))
        elif op.op == "concat":
            self.emit(f"{out[0]} = torch.cat([{', '.join(v)}], dim={a['axis']})")
        elif op.op in ("add", "mul", "sub"):
            sign = {"add": " + ", "mul": " * ", "sub": " - "}[op.op]
            self.emit(f"{out[0]} = " + sign.join(v))
        elif op.op == "ave":
            self.emit(f"{out[0]} = ({' + '.join(v)}) / {len(v)}")
        elif op.op in ("max", "min"):
            fn = "torch.maximum" if op.op == "max" else "torch.minimum"
            expr = v[0]
            for other in v[1:]:
                expr = f"{fn}({expr}, {other})"
            self.emit(f"{out[0]} = {expr}")
        elif op.op == "mean_time":
            if v[1] is None:
                self.emit(f"{out[0]} = {v[0]}.mean(dim=1)")
            else:
                m = f"{v[1]}.unsqueeze(-1).to({v[0]}.dtype)"
                live = (f"torch.where({v[1]}.unsqueeze(-1), {v[0]}, torch.zeros_like({v[0]}))" if a.get("where")
                        else f"({v[0]} * {m})")  # Keras 3 selects live steps; tf.keras multiplies by the mask
                self.emit(f"{out[0]} = {live}.sum(dim=1) / {m}.sum(dim=1)  # the mean over live steps (0/0: NaN)")
        elif op.op in _SIMPLE:
            self.emit(f"{out[0]} = " + _SIMPLE[op.op].format(x=v[0], y=v[-1], **a))
        elif op.op in ("conv1d", "batchnorm", "layernorm", "pool1d", "relu", "prelu", "softmax", "rescale", "slice",
                       "reduce"):
            getattr(self, op.op)(op)
        elif op.op == "attention":
            from .attention import torch_attention

            for line in torch_attention(self, op):
                self.emit(line)
        elif op.op == "mha":
            from .attention import torch_mha

            for line in torch_mha(self, op):
                self.emit(line)
        elif op.op == "recurrent":
            self.recurrent(op)
        elif op.op == "bidirectional":
            self.bidirectional(op)
        else:
            raise UnsupportedError(f"layer '{op.layer}': '{op.op}' has no PyTorch mapping")

    def conv1d(self, op: Op) -> None:
        a, p, x, y = op.attrs, self.plan.params, op.ins[0], op.outs[0]
        K = p[a["kernel"]]
        k, s, d = a["size"], a["strides"], a["dilation"]
        params = {"weight": K.transpose(2, 1, 0)}
        if a["bias"]:
            params["bias"] = p[a["bias"]]
        g = a.get("groups", 1)
        groups = f", groups={g}" if g != 1 else ""
        self.declare(op.module, f"nn.Conv1d({K.shape[1] * g}, {K.shape[2]}, {k}, stride={s}, dilation={d}, "
                                f"bias={bool(a['bias'])}{groups})", params)
        xt = f"{x}.transpose(1, 2)"
        if a["padding"] == "causal":
            xt = f"F.pad({xt}, ({d * (k - 1)}, 0))"
        elif a["padding"] == "same":
            self.helpers = True
            xt = f"same_pad({xt}, {k}, {s}, {d})"
        self.emit(f"{y} = self.{op.module}({xt}).transpose(1, 2)  # Conv1D, padding {a['padding']}")

    def batchnorm(self, op: Op) -> None:
        a, p, x, y = op.attrs, self.plan.params, op.ins[0], op.outs[0]
        names = ("weight", "bias", "running_mean", "running_var")
        self.params = True
        shapes = ", ".join(f"{k}={p[a[k]].shape[0]}" for k in names)
        self.declare(op.module, f"Params({shapes})", {k: p[a[k]] for k in names})
        m = f"self.{op.module}"
        self.emit(f"{y} = ({x} - {m}.running_mean) / torch.sqrt({m}.running_var + {a['epsilon']!r}) * {m}.weight + {m}.bias"
                  "  # BatchNormalization (inference)")

    def layernorm(self, op: Op) -> None:
        a, p = op.attrs, self.plan.params
        self.declare(op.module, f"nn.LayerNorm({a['size']}, eps={a['epsilon']!r})",
                     {"weight": p[a["weight"]], "bias": p[a["bias"]]})
        self.emit(f"{op.outs[0]} = self.{op.module}({op.ins[0]})")

    def pool1d(self, op: Op) -> None:
        a = op.attrs
        self.helpers = True
        self.emit(f'{op.outs[0]} = pool1d({op.ins[0]}, "{a["kind"]}", {a["size"]}, {a["strides"]}, '
                  f'same={a["padding"] == "same"})')

    def relu(self, op: Op) -> None:
        a, x, y = op.attrs, op.ins[0], op.outs[0]
        thr = a["threshold"]
        expr = f"torch.relu({x})" if thr == 0 else f"torch.where({x} > {thr!r}, {x}, torch.zeros_like({x}))"
        if a["max_value"] is not None:
            expr = f"{expr}.clamp(0.0, {a['max_value']!r})"
        if a["negative_slope"]:
            expr = f"{expr} - {a['negative_slope']!r} * torch.relu({thr!r} - {x})"
        self.emit(f"{y} = {expr}  # ReLU")

    def _tensor(self, op: Op, key: str) -> str:
        """An attribute that is a float or a parameter of the plan, as an expression."""
        v = op.attrs[key]
        if isinstance(v, float):
            return repr(v)
        self.params = True
        name = v.split(".")[-1]
        line = self.declared.get(op.module)
        array = self.plan.params[v]
        if line is None:
            keys = [k for k in ("alpha", "scale", "offset") if isinstance(op.attrs.get(k), str)]
            sizes = ", ".join(f"{k}={tuple(self.plan.params[op.attrs[k]].shape)!r}" for k in keys)
            self.declare(op.module, f"Params({sizes})", {k: self.plan.params[op.attrs[k]] for k in keys})
        assert self.state[f"{op.module}.{name}"].shape == array.shape
        return f"self.{op.module}.{name}"

    def prelu(self, op: Op) -> None:
        x, alpha = op.ins[0], self._tensor(op, "alpha")
        self.emit(f"{op.outs[0]} = torch.relu({x}) - {alpha} * torch.relu(-{x})  # PReLU")

    def softmax(self, op: Op) -> None:
        axes, x, y = op.attrs["axes"], op.ins[0], op.outs[0]
        if len(axes) == 1:
            self.emit(f"{y} = torch.softmax({x}, dim={axes[0]})")
            return
        self.emit(f"{y} = torch.exp({x} - {x}.amax(dim={tuple(axes)!r}, keepdim=True))  # Softmax over axes {axes}")
        self.emit(f"{y} = {y} / {y}.sum(dim={tuple(axes)!r}, keepdim=True)")

    def slice(self, op: Op) -> None:
        a = op.attrs
        rank = 1 + max([ax for ax, *_ in a["slices"]] + [ax for ax, _ in a["picks"]] + [0])
        key = [":"] * rank
        for axis, start, stop, step in a["slices"]:
            key[axis] = ":".join("" if v is None else str(v) for v in (start, stop)) + ("" if step == 1 else f":{step}")
        for axis, index in a["picks"]:
            key[axis] = str(index)
        self.emit(f"{op.outs[0]} = {op.ins[0]}[{', '.join(key)}]")

    def reduce(self, op: Op) -> None:
        a = op.attrs
        fn = {"mean": "mean", "sum": "sum", "max": "amax", "min": "amin"}[a["fn"]]
        self.emit(f"{op.outs[0]} = {op.ins[0]}.{fn}(dim={tuple(a['axes'])!r}, keepdim={a['keepdims']})")

    def rescale(self, op: Op) -> None:
        self.emit(f"{op.outs[0]} = {op.ins[0]} * {self._tensor(op, 'scale')} + {self._tensor(op, 'offset')}  # Rescaling")

    # ---------------------------------------------------------------- recurrent

    def _custom(self, module: str, cell: Dict, reason: str, go_backwards: bool, suffix: str = "") -> str:
        self.custom = True
        name = module + suffix
        rec = cell["recurrent_activation"]
        rec = f'"{rec}"' if rec else "None"
        line = (f'KerasRecurrent("{cell["kind"]}", {cell["input_dim"]}, {cell["units"]}, "{cell["activation"]}", '
                f'{rec}, reset_after={cell["reset_after"]}, go_backwards={go_backwards})')
        self.declare(name, line, torch_layout(cell, self.plan.params))
        self.notes.append(f"layer '{cell['path']}' is a step-by-step KerasRecurrent cell in model.py: {reason}")
        return name

    def _native_module(self, module: str, cells: List[Dict]) -> None:
        cell = cells[0]
        cls = {"lstm": "nn.LSTM", "gru": "nn.GRU", "simple_rnn": "nn.RNN"}[cell["kind"]]
        extra = f", nonlinearity='{cell['activation']}'" if cell["kind"] == "simple_rnn" else ""
        bi = ", bidirectional=True" if len(cells) == 2 else ""
        params = {}
        for d, c in enumerate(cells):
            suffix = "_reverse" if d else ""
            params.update({k + suffix: val for k, val in torch_layout(c, self.plan.params).items()})
        self.declare(module, f"{cls}({cell['input_dim']}, {cell['units']}, batch_first=True{extra}{bi})", params)

    def recurrent(self, op: Op) -> None:
        cell, v, out = op.attrs["cell"], op.ins, op.outs
        x, mask, init = v[0], v[1], v[2:]
        lstm = cell["kind"] == "lstm"
        if any(init) and not all(init):
            raise UnsupportedError(f"layer '{op.layer}' is given some initial states but not all")
        reason = _native(cell, mask is not None)
        seq = cell["return_sequences"]
        y, h = out[0], out[1]
        c = out[2] if lstm else "_"
        if reason:
            name = self._custom(op.module, cell, reason, cell["go_backwards"])
            states = "".join(f", {k}={s}" for k, s in zip(("h", "c"), init)) if any(init) else ""
            zero = ", zero_output=True" if op.attrs["zero_output"] else ""
            m = f", mask={mask}" if mask else ""
            self.emit(f"{y}, {h}, {c} = self.{name}({x}{m}{states}{zero})")
            if not seq:
                self.emit(f"{y} = {y}[:, -1]")
            return
        self._native_module(op.module, [cell])
        if cell["go_backwards"]:
            self.emit(f"{x}_reversed = torch.flip({x}, dims=[1])  # go_backwards: Keras returns this order")
            x = f"{x}_reversed"
        states = ""
        if any(init):
            s = [f"{t}.unsqueeze(0)" for t in init]
            states = f", ({s[0]}, {s[1]})" if lstm else f", {s[0]}"
        if lstm:
            self.emit(f"{y}, ({h}, {c}) = self.{op.module}({x}{states})")
        else:
            self.emit(f"{y}, {h} = self.{op.module}({x}{states})")
        self.emit(f"{h} = {h}[0]  # (1, batch, units) -> (batch, units)")
        if lstm:
            self.emit(f"{c} = {c}[0]")
        if not seq:
            self.emit(f"{y} = {h}")

    def bidirectional(self, op: Op) -> None:
        f, b = op.attrs["forward"], op.attrs["backward"]
        v, out = op.ins, op.outs
        x, mask, init = v[0], v[1], v[2:]
        lstm = f["kind"] == "lstm"
        if any(init) and not all(init):
            raise UnsupportedError(f"layer '{op.layer}' is given some initial states but not all")
        y_f, y_b = out[0], out[1]
        states = out[2:]
        seq = f["return_sequences"]
        reason = _native(f, mask is not None) or _native(b, mask is not None)
        if reason or f["units"] != b["units"]:
            zero = ", zero_output=True" if op.attrs["zero_output"] else ""
            m = f", mask={mask}" if mask else ""
            half = len(init) // 2
            for d, (cell, y, backwards) in enumerate(((f, y_f, False), (b, y_b, True))):
                name = self._custom(op.module, cell, reason or "directions of different sizes", backwards,
                                    "_reverse" if d else "_forward")
                given = init[d * half:(d + 1) * half] if any(init) else []
                st = "".join(f", {k}={s}" for k, s in zip(("h", "c"), given))
                hs = states[d * (2 if lstm else 1):(d + 1) * (2 if lstm else 1)]
                self.emit(f"{y}, {hs[0]}, {hs[1] if lstm else '_'} = self.{name}({x}{m}{st}{zero})")
                if backwards and seq:
                    self.emit(f"{y} = torch.flip({y}, dims=[1])  # Keras flips the backward output back")
                if not seq:
                    self.emit(f"{y} = {y}[:, -1]")
            return
        self._native_module(op.module, [f, b])
        st = ""
        if any(init):
            half = len(init) // 2
            h0 = f"torch.stack([{init[0]}, {init[half]}])"
            st = f", ({h0}, torch.stack([{init[1]}, {init[half + 1]}]))" if lstm else f", {h0}"
        both = f"{op.module}_out"
        if lstm:
            self.emit(f"{both}, ({op.module}_h, {op.module}_c) = self.{op.module}({x}{st})")
        else:
            self.emit(f"{both}, {op.module}_h = self.{op.module}({x}{st})")
        u = f["units"]
        if seq:
            self.emit(f"{y_f}, {y_b} = {both}[..., :{u}], {both}[..., {u}:]")
        else:
            self.emit(f"{y_f}, {y_b} = {op.module}_h[0], {op.module}_h[1]")
        if lstm:
            self.emit(f"{states[0]}, {states[1]}, {states[2]}, {states[3]} = "
                      f"{op.module}_h[0], {op.module}_c[0], {op.module}_h[1], {op.module}_c[1]")
        else:
            self.emit(f"{states[0]}, {states[1]} = {op.module}_h[0], {op.module}_h[1]")


def build(plan: Plan, source_name: str = "a Keras model") -> Tuple[str, Dict[str, np.ndarray], List[str]]:
    """``(model.py source, state dict, notes)``."""
    w = _Writer(plan)
    for op in plan.ops:
        w.op(op)
    args = [v.name for v, _ in plan.inputs]
    outs = list(plan.output_names)
    for value, name in zip(plan.outputs, outs):
        w.emit(f"{name} = {value.name}")
    header = src.HEADER.format(title=f"{source_name}, as a PyTorch module.", source=source_name, args=", ".join(args),
                               plural=f" ({', '.join(outs)})" if len(outs) > 1 else "")
    who, formula, expr = {
        "keras2": ("Keras 1/2 (tf.keras)", "clip(0.2 x + 0.5, 0, 1)", "0.2 * x + 0.5"),
        "keras3": ("Keras 3", "clip(x / 6 + 0.5, 0, 1)", "x / 6.0 + 0.5"),
    }[plan.hard_sigmoid]
    parts = [header, src.ACTIVATIONS.format(who=who, formula=formula, expr=expr)]
    if w.custom:
        parts.append(src.CELL)
    if w.helpers:
        parts.append(src.HELPERS)
    if w.params:
        parts.append(src.PARAMS)
    lines = ["class KerasModel(nn.Module):",
             f'    """Takes {", ".join(args)} (batch first); returns {", ".join(outs)}."""',
             "",
             "    def __init__(self):",
             "        super().__init__()"]
    lines += [f"        {line}" for line in w.init]
    lines += ["", f"    def forward(self, {', '.join(args)}):"]
    lines += [f"        {line}" for line in w.body]
    lines.append(f"        return {', '.join(outs)}")
    parts += ["\n".join(lines), src.LOADER.format(cls="KerasModel")]
    source = "\n\n\n".join(part.strip("\n") for part in parts) + "\n"
    return source, w.state, w.notes


def source_label(path: str) -> str:
    return os.path.basename(path)
