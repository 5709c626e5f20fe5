"""The ONNX writer's operators for the layers around the recurrent ones (convolution,
normalisation, pooling, reshaping, masks, activations, slices and reductions, attention): one
function per plan operation, ``OPS[op.op](graph, op, input names) -> output name``, each the
ONNX form of what run computes for it. Split from :mod:`.onnx`, which writes the graph and the
recurrent nodes.
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedError
from .plan import Op


def _conv1d(g, op: Op, ins) -> str:
    a, p = op.attrs, g.plan.params
    k, d = a["size"], a["dilation"]
    xt = g.one("Transpose", [ins[0]], perm=[0, 2, 1])  # (batch, channels, steps)
    attrs = {"kernel_shape": [k], "strides": [a["strides"]], "dilations": [d], "group": a.get("groups", 1)}
    if a["padding"] == "causal":  # d (k - 1) zeros before the first step
        xt = g.one("Pad", [xt, g.ints([0, 0, d * (k - 1), 0, 0, 0])])
    elif a["padding"] == "same" and d > 1:  # onnxruntime's SAME lacks dilation; Keras: strides 1 with it
        if a["strides"] != 1:
            raise UnsupportedError(f"layer '{op.layer}': padding 'same' with strides and dilation both > 1")
        total = d * (k - 1)  # TensorFlow's SAME: the odd padding step goes at the end
        xt = g.one("Pad", [xt, g.ints([0, 0, total // 2, 0, 0, total - total // 2])])
    elif a["padding"] == "same":  # TensorFlow's SAME: the odd padding step goes at the end
        attrs["auto_pad"] = "SAME_UPPER"
    W = g.const(np.ascontiguousarray(p[a["kernel"]].transpose(2, 1, 0)), f"{op.module}.weight")
    ins_ = [xt, W] + ([g.const(p[a["bias"]], a["bias"])] if a["bias"] else [])
    return g.one("Transpose", [g.one("Conv", ins_, **attrs)], perm=[0, 2, 1])


def _batchnorm(g, op: Op, ins) -> str:
    a, p = op.attrs, g.plan.params
    c = {k: g.const(p[a[k]], a[k]) for k in ("weight", "bias", "running_mean", "running_var")}
    std = g.one("Sqrt", [g.one("Add", [c["running_var"], g.const(np.float32(a["epsilon"]))])])
    y = g.one("Div", [g.one("Sub", [ins[0], c["running_mean"]]), std])
    return g.one("Add", [g.one("Mul", [y, c["weight"]]), c["bias"]])


def _pool1d(g, op: Op, ins) -> str:
    a = op.attrs
    xt = g.one("Transpose", [ins[0]], perm=[0, 2, 1])
    attrs = {"kernel_shape": [a["size"]], "strides": [a["strides"]]}
    if a["padding"] == "same":  # averages count only the steps inside (Keras's and ONNX's default)
        attrs["auto_pad"] = "SAME_UPPER"
    y = g.one("MaxPool" if a["kind"] == "max" else "AveragePool", [xt], **attrs)
    return g.one("Transpose", [y], perm=[0, 2, 1])


def _reduce_bool(g, x: str, op: str, axis: int) -> str:
    y = g.one(op, [g.one("Cast", [x], to=g.onnx.TensorProto.INT32)], axes=[axis], keepdims=0)
    return g.one("Cast", [y], to=g.onnx.TensorProto.BOOL)


def _zeros_like(g, op: Op, ins) -> str:
    dtype = np.bool_ if g.value_dtype(op.outs[0]) == "bool" else np.float32
    return g.one("ConstantOfShape", [g.one("Shape", [ins[0]])],
                 value=g.onnx.numpy_helper.from_array(np.zeros(1, dtype), "zero"))


OPS = {
    "conv1d": _conv1d,
    "batchnorm": _batchnorm,
    "layernorm": lambda g, op, ins: g.one("LayerNormalization", [ins[0], g.const(g.plan.params[op.attrs["weight"]],
                                          op.attrs["weight"]), g.const(g.plan.params[op.attrs["bias"]], op.attrs["bias"])],
                                          axis=-1, epsilon=op.attrs["epsilon"]),
    "pool1d": _pool1d,
    "max_time": lambda g, op, ins: g.one("ReduceMax", [ins[0]], axes=[1], keepdims=0),
    "pad_time": lambda g, op, ins: g.one("Pad", [ins[0], g.ints([0, op.attrs["pads"][0], 0, 0, op.attrs["pads"][1], 0])]),
    "crop_time": lambda g, op, ins: g.one("Slice", [ins[0], g.ints([op.attrs["crops"][0]]),
                                                    g.ints([-op.attrs["crops"][1] or 2**62]), g.ints([1])]),
    "flatten": lambda g, op, ins: g.one("Flatten", [ins[0]], axis=1),
    "reshape": lambda g, op, ins: g.one("Reshape", [ins[0], g.ints([0] + list(op.attrs["shape"]))]),
    "permute": lambda g, op, ins: g.one("Transpose", [ins[0]], perm=[0] + list(op.attrs["dims"])),
    "repeat": lambda g, op, ins: g.one("Tile", [g.one("Unsqueeze", [ins[0], g.ints([1])]), g.ints([1, op.attrs["n"], 1])]),
    "not_equal": lambda g, op, ins: g.one("Not", [g.one("Equal", [ins[0], g.const(
        np.asarray(op.attrs["value"], np.int32 if g.value_dtype(op.ins[0]) == "int32" else np.float32))])]),
    "expand_dims": lambda g, op, ins: g.one("Unsqueeze", [ins[0], g.ints([op.attrs["axis"]])]),
    "zeros_like": _zeros_like,
    "logical_or": lambda g, op, ins: g.one("Or", ins),
    "logical_and": lambda g, op, ins: g.one("And", ins),
    "logical_not": lambda g, op, ins: g.one("Not", ins),
    "reduce_any": lambda g, op, ins: _reduce_bool(g, ins[0], "ReduceMax", op.attrs["axis"]),
    "reduce_all": lambda g, op, ins: _reduce_bool(g, ins[0], "ReduceMin", op.attrs["axis"]),
}


def _relu(g, op: Op, ins) -> str:
    """tf-keras / Keras 3 relu: x above the threshold else 0, clipped to [0, max_value],
    minus negative_slope * relu(threshold - x)."""
    a, x = op.attrs, ins[0]
    thr = g.const(np.float32(a["threshold"]))
    if a["threshold"] == 0:
        y = g.one("Relu", [x])
    else:
        y = g.one("Where", [g.one("Greater", [x, thr]), x, g.const(np.float32(0))])
    if a["max_value"] is not None:
        y = g.one("Clip", [y, g.const(np.float32(0)), g.const(np.float32(a["max_value"]))])
    if a["negative_slope"]:
        y = g.one("Sub", [y, g.one("Mul", [g.const(np.float32(a["negative_slope"])), g.one("Relu", [g.one("Sub", [thr, x])])])])
    return y


def _softmax(g, op: Op, ins) -> str:
    axes = list(op.attrs["axes"])
    if len(axes) == 1:  # opset 13 and later: per axis
        return g.one("Softmax", [ins[0]], axis=axes[0])
    top = g.one("ReduceMax", [ins[0]], axes=axes, keepdims=1)
    e = g.one("Exp", [g.one("Sub", [ins[0], top])])
    return g.one("Div", [e, g.one("ReduceSum", [e, g.ints(axes)], keepdims=1)])


def _param_or_float(g, v) -> str:
    return g.const(np.float32(v)) if isinstance(v, float) else g.const(g.plan.params[v], v)


OPS.update({
    "relu": _relu,
    "leaky_relu": lambda g, op, ins: g.one("LeakyRelu", [ins[0]], alpha=float(op.attrs["slope"])),
    "elu": lambda g, op, ins: g.one("Elu", [ins[0]], alpha=float(op.attrs["alpha"])),
    "prelu": lambda g, op, ins: g.one("PRelu", [ins[0], g.const(g.plan.params[op.attrs["alpha"]], op.attrs["alpha"])]),
    "softmax": _softmax,
    "rescale": lambda g, op, ins: g.one("Add", [g.one("Mul", [ins[0], _param_or_float(g, op.attrs["scale"])]),
                                              _param_or_float(g, op.attrs["offset"])]),
})


def _slice(g, op: Op, ins) -> str:
    a, y = op.attrs, ins[0]
    if a["slices"]:
        big = 2**62
        starts = [0 if s is None else s for _, s, _, _ in a["slices"]]
        ends = [big if e is None else e for _, _, e, _ in a["slices"]]
        y = g.one("Slice", [y, g.ints(starts), g.ints(ends), g.ints([ax for ax, _, _, _ in a["slices"]]),
                            g.ints([st for _, _, _, st in a["slices"]])])
    for axis, index in sorted(a["picks"], reverse=True):  # the last axis first: the others keep their place
        y = g.one("Gather", [y, g.const(np.int64(index))], axis=axis)
    return y


def _reduce(g, op: Op, ins) -> str:
    a = op.attrs
    name = {"mean": "ReduceMean", "sum": "ReduceSum", "max": "ReduceMax", "min": "ReduceMin"}[a["fn"]]
    if name == "ReduceSum":  # opset 13 and later: axes as an input
        return g.one(name, [ins[0], g.ints(a["axes"])], keepdims=int(a["keepdims"]))
    return g.one(name, [ins[0]], axes=list(a["axes"]), keepdims=int(a["keepdims"]))


def _attention(g, op: Op, ins) -> str:
    from .attention import onnx_attention

    return onnx_attention(g, op, ins)


def _mha(g, op: Op, ins) -> str:
    from .attention import onnx_mha

    return onnx_mha(g, op, ins)


OPS.update({"slice": _slice, "reduce": _reduce, "attention": _attention, "mha": _mha})
