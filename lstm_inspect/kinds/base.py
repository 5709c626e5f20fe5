"""What lstm-inspect knows about one Keras layer kind, declared in one place.

A :class:`Kind` holds every fact the pipeline asks of a layer class: how its config is
normalised (Keras 1 aliases and key renames), what weights it writes (legacy HDF5
counts, the Keras 3 variable location), how it is recognised from weights alone, its
static output shape, its numpy compute, whether it runs step by step, and whether it
runs at all. The family modules (``core``, ``rnn``, ``wrappers``, ``conv``, ``pooling``,
``merges``, ``norms``, ``reshaping``, ``mask_ops``) declare kinds; :mod:`.registry`
finds them. Readers, the executor, the shape pass, the streaming planner and the
``layers`` report ask the registry and hold no class lists of their own.

Adding a layer kind is a one-file change: declare a ``Kind(...)`` in the family module
it belongs to (and add it to that module's ``KINDS`` list). Facts that later tools need
(an ONNX or PyTorch mapping) go in ``Kind.exports`` under a key of their own.

Config keys: every key honoured or refused by name
---------------------------------------------------
A kind lists in ``Kind.keys`` every config key it reads, each with the values it
computes exactly as Keras does (``{key: rule}``). A rule is

* :data:`ANY` -- every value is honoured (``units``: the weights decide),
* a tuple of values -- only these (``("channels_last",)``; write ``None`` where a config
  may leave the value as null),
* a callable ``rule(value) -> bool`` -- True when honoured (:func:`one_of_types`, ...).

Keys every layer may carry and that never change the numbers (``name``, ``trainable``,
initializers, regularizers, constraints, ``batch_input_shape``, ...) are declared once
here (:data:`HARMLESS`, :data:`HARMLESS_SUFFIXES`), and ``dtype`` is honoured as float32
only (:data:`COMMON`); a kind may override a common key (``InputLayer`` takes any dtype).
Before anything runs (``run`` checks every layer it will reach; ``layers``' runnable column
asks the same), :func:`key_refusal` and :func:`refused_key` refuse a key a kind neither honours nor lists as
harmless, or a value outside its rule, by name::

    data_format='channels_first' is not supported
    config key 'lora_rank' (4) is not supported

A kind with ``keys=None`` has not declared its keys: nothing is checked at run time, and
``tests/test_kinds.py`` fails for it. Where Keras's behaviour differs between generations,
the compute function reads the writer's version from the context (as ``hard_sigmoid`` does).

Compute functions see the rest of the run only through a :class:`Context` (the executor
provides it), shape rules through a :class:`ShapeContext`, streaming rules through
:data:`STEPS`/:data:`LAST` and :class:`Blocked`: nothing here imports ``forward``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import ConfigError
from ..model import Layer

Mask = Optional[np.ndarray]
Result = Tuple[List[np.ndarray], List[Mask]]
Shape = Optional[List[Optional[int]]]

#: Roles: how the walkers treat a kind. "layer" (compute on arrays), "op" (a Keras 3
#: traced operation: compute on its call's args), "recurrent", "wrapper", "model", "input".
ROLES = ("layer", "op", "recurrent", "wrapper", "model", "input")

# What a tensor holds in a chunked run: one value per step of the input ("steps"), or one
# value per sample computed from the steps so far ("last": the last chunk's is the whole run's).
STEPS, LAST = "steps", "last"


class Blocked(Exception):
    """A layer that cannot run chunk by chunk; the message names it and says why."""


@dataclass
class Call:
    """One call of a layer, with values (arrays) in place of the tensors of its node."""

    args: List[Any] = field(default_factory=list)
    kwargs: Dict[str, Any] = field(default_factory=dict)
    #: the Keras mask of each tensor the call reads, by ``id`` of its array (MultiHeadAttention
    #: reads the masks of its value and key, which are not its first argument)
    masks: Dict[int, Any] = field(default_factory=dict)

    #: ``id`` of the arrays of this call's tensors that another call reads too
    shared: Any = field(default_factory=set)

    def mask_of(self, array: Any) -> Any:
        return self.masks.get(id(array))


class Context:
    """What a compute function may use besides its inputs (the executor subclasses it)."""

    backend: Optional[str] = None
    hard_sigmoid: str = "keras2"
    #: the file was written by Keras 3 (where layers compute differently from tf-keras)
    keras3: bool = False
    #: the writer's Keras major version (1, 2, 3): where Keras's behaviour differs between
    #: generations, the writer's decides
    keras_major: int = 2
    #: tf.keras >= 2.4 and Keras 3 zero masked outputs inside Bidirectional(return_sequences)
    zero_bidirectional: bool = False
    #: recurrent layer path -> {"h": ..., "c": ...} given by the caller
    initial_states: Dict[str, Dict[str, np.ndarray]] = {}
    progress: Optional[Callable[[str, int, int], None]] = None

    def container(self, layer: Layer, xs: List[np.ndarray], masks: List[Mask]) -> Result:
        """Run a nested model's layers."""
        raise NotImplementedError

    def compute(self, layer: Layer, xs: List[np.ndarray], masks: List[Mask], call: Call) -> Result:
        """Run one (inner) layer, dispatched through the registry."""
        raise NotImplementedError

    def record(self, path: str, outputs: List[np.ndarray]) -> None:
        """Note an inner layer's outputs (TimeDistributed's wrapped layer)."""

    def view(self, layer: Layer) -> Any:
        """The gate view (kinds.recurrent.RecurrentLayer) of a recurrent layer."""
        raise NotImplementedError

    def initial_output(self, path: str) -> Optional[np.ndarray]:
        """The output before the first step (a chunked run continues the previous chunk's)."""
        return None

    def traced(self, view: Any, trace: Any, mask: Mask) -> None:
        """Note a recurrent layer's trace."""

    def keep_rows(self, path: str) -> Optional[List[int]]:
        """The batch rows whose traces a recurrent layer keeps: None for every row."""
        return None


class ShapeContext:
    """What a shape rule may use besides its input shapes (the shape pass subclasses it)."""

    #: the call's positional arguments, shapes in place of tensors (Keras 3 ops read them)
    args: List[Any] = []

    def container(self, layer: Layer, inputs: List[Shape]) -> Any:
        raise NotImplementedError

    def layer(self, layer: Layer, inputs: List[Shape]) -> Any:
        """The shape of an inner layer (recorded under its path too)."""
        raise NotImplementedError


# ---------------------------------------------------------------------- config keys

#: The rule of a key whose every value is honoured.
ANY = "any"
Rule = Union[str, Tuple[Any, ...], Callable[[Any], bool]]

#: Keys any layer may carry that never change what inference computes.
HARMLESS = frozenset({
    "name", "trainable", "batch_input_shape", "batch_shape", "input_shape", "input_dim", "input_length",
    "build_config", "compile_config", "autocast", "module", "registered_name", "shared_object_id",
    "activity_regularizer", "seed", "weights", "config_version", "input_dtype",
})
#: Key endings that never change inference: how weights were initialised, regularised, constrained.
HARMLESS_SUFFIXES = ("_initializer", "_regularizer", "_constraint", "_init")


def dtype_name(value: Any) -> Optional[str]:
    """A layer's dtype as a name: a plain string, or a tf.keras / Keras 3 policy's name."""
    if isinstance(value, dict):
        config = value.get("config")
        value = config.get("name") if isinstance(config, dict) else None
    return value if isinstance(value, str) else None


def float32_dtype(value: Any) -> bool:
    """A layer dtype (a name, or a tf.keras/Keras 3 policy object) that computes in float32."""
    return value is None or dtype_name(value) in ("float32", "float32_ref")


#: Keys every kind reads the same way (a kind's own ``keys`` may override them).
COMMON: Dict[str, Rule] = {"dtype": float32_dtype}


def one_of_types(*types: type) -> Callable[[Any], bool]:
    """A rule: the value is an instance of one of ``types`` (bool is never an int)."""

    def rule(value: Any) -> bool:
        return isinstance(value, types) and not (isinstance(value, bool) and bool not in types)

    return rule


def _same(value: Any, honoured: Any) -> bool:
    return value == honoured and isinstance(value, bool) == isinstance(honoured, bool)


def _honours(rule: Rule, value: Any) -> bool:
    if isinstance(rule, str):
        return rule == ANY
    if isinstance(rule, tuple):
        return any(_same(value, v) for v in rule)
    return bool(rule(value))


def _shown(value: Any) -> str:
    inner = value.get("config") if isinstance(value, dict) else None
    if isinstance(inner, dict) and isinstance(inner.get("name"), str):
        value = inner["name"]  # a serialized object (a dtype policy): its name
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def key_refusal(kind: Kind, config: Mapping[str, Any]) -> Optional[str]:
    """Why this layer's own config keys cannot be computed exactly (the first key found), or None."""
    if kind.keys is None:
        return None
    from .half import computes_in_float16, half_refusal

    half = kind.half is not None and "dtype" not in kind.keys and computes_in_float16(config)
    if half:  # a float16 layer of a kind that computes in float16 (kinds/half.py)
        reason = half_refusal(config, recurrent=kind.role == "recurrent")
        if reason:
            return reason
    for key, value in config.items():
        if half and key == "dtype":
            continue
        rule = kind.keys.get(key, COMMON.get(key))
        if rule is None:
            if key in HARMLESS or key.endswith(HARMLESS_SUFFIXES):
                continue
            return f"config key '{key}' ({_shown(value)}) is not supported"
        if not _honours(rule, value):
            return f"{key}={_shown(value)} is not supported"
    return None


def refused_key(layer: Layer) -> Optional[str]:
    """``layer 'gap' (GlobalAveragePooling1D): data_format='channels_first' is not supported``
    for the first key ``layer`` or a layer its wrapper holds does not honour, or None.
    (A nested model's layers are checked as layers of their own.)"""
    from .registry import kind_for

    kind = kind_for(layer)
    if kind is None or kind.compute is None or (kind.refuse is not None and kind.refuse(layer)):
        return None  # refused as a whole, by its kind's own reason
    reason = key_refusal(kind, layer.config)
    if reason:
        return f"layer '{layer.path}' ({layer.class_name}): {reason}"
    if kind is not None and kind.role == "wrapper":
        for child in layer.children:
            reason = refused_key(child)
            if reason:
                return reason
    return None


Compute = Callable[[Layer, List[np.ndarray], List[Mask], Call, Context], Result]


@dataclass(frozen=True)
class Half:
    """How a kind computes when its layer's dtype is float16 (kinds/half.py)."""

    #: the float16 compute; None: the kind's own compute on float16 inputs computes exactly
    #: what Keras does (it only moves values, or rounds them itself)
    compute: Optional[Compute] = None
    #: cast floating inputs to float16 first, as Keras does (not for token ids)
    round_inputs: bool = True


#: A kind that only moves values: float16 inputs in, the same float16 values out.
MOVES = Half()
ShapeRule = Callable[[Layer, List[Shape], ShapeContext], Any]
#: (layer, the call's parsed node or None, its inputs' kinds, planner) -> STEPS or LAST; raises Blocked
StreamRule = Callable[[Layer, Any, List[str], Any], str]
Counts = Callable[[Dict[str, Any], List[Tuple[int, int]]], Tuple[int, int]]
Recognise = Callable[[List[str], List[Tuple[int, ...]]], bool]


def no_weights(config: Dict[str, Any], children) -> Tuple[int, int]:
    return 0, 0


@dataclass(frozen=True, eq=False)
class Kind:
    """Everything lstm-inspect knows about one Keras layer kind.

    ``compute`` and ``output_shape`` must be given (``None`` is an explicit "unknown");
    a kind without compute gives ``refusal``, the reason ``layers`` and ``run`` show.
    """

    names: Tuple[str, ...]  #: Keras class names (the first is the kind's own)
    family: str  #: the declaring module: core, recurrent, wrappers, conv, ...
    compute: Optional[Compute]
    output_shape: Optional[ShapeRule]
    role: str = "layer"
    #: why it is never computed (when compute is None), to follow the class name:
    #: "Conv3D is not supported", "Lambda holds Python code, ..."
    refusal: Optional[str] = None
    #: Keras 1 class names read as this kind (``Convolution1D`` -> ``Conv1D``)
    keras1_names: Tuple[str, ...] = ()
    #: Keras 1 config fixups (key renames), applied when the config is normalised
    keras1_config: Optional[Callable[[Dict[str, Any]], Dict[str, Any]]] = None
    #: (trainable, non-trainable) weights written to a legacy HDF5 file, from the config
    #: and the children's counts; Keras 3 variables are as many, at ``v3_vars``
    weights: Counts = no_weights
    v3_vars: str = "vars"  #: where a Keras 3 file keeps the variables, below the layer's key
    v3_children: Tuple[str, ...] = ()  #: wrappers: the attributes holding the children
    #: layers made of sublayers (MultiHeadAttention): the groups below the layer's key whose
    #: ``vars`` hold its variables, in the legacy HDF5 order; empty: ``v3_vars``
    v3_groups: Tuple[str, ...] = ()
    var_names: Tuple[str, ...] = ()  #: names of the Keras 3 variables, in order (inference)
    #: recognise the kind from its weights' short names and shapes alone (no config)
    recognise: Optional[Recognise] = None
    #: STEPS/LAST rule for chunked runs; None: it works across time steps (never chunked)
    streams: Optional[StreamRule] = None
    #: a config this kind cannot run: why (shown by ``layers``), checked before compute
    refuse: Optional[Callable[[Layer], Optional[str]]] = None
    #: the name of its export mapping per target ("onnx", "torch"), implemented in export/
    exports: Dict[str, Any] = field(default_factory=dict)
    #: ``op`` kinds: the layer is this op (not a same-named layer) when this says so
    claims: Optional[Callable[[Layer], bool]] = None
    #: runs over a sequence (a recurrent layer or a Bidirectional of them)
    over_time: bool = False
    gate_kind: Optional[str] = None  #: recurrent: lstm, gru, simple_rnn, conv_lstm
    #: every config key the kind reads -> the values it honours (see the module docstring);
    #: None: not declared yet (nothing checked; tests/test_kinds.py fails)
    keys: Optional[Mapping[str, Rule]] = None
    #: how it computes with dtype float16 / mixed_float16; None: refused by name in float16
    half: Optional[Half] = None

    @property
    def name(self) -> str:
        return self.names[0]


# ---------------------------------------------------------------------- common rules


def kernel_and_bias(config: Dict[str, Any], children) -> Tuple[int, int]:
    return (2 if config.get("use_bias", True) else 1), 0


def stepwise(layer: Layer, call, sources: List[str], planner) -> str:
    """Computes each step from that step alone."""
    return STEPS


def stepwise_on(key: str, default: Any = -1, extra: int = 0) -> StreamRule:
    """Step-wise as long as the config's ``key`` names feature axes only (not 0 or 1); a
    negative axis is resolved against the input's rank (the planner's ``input_rank``), plus
    ``extra`` where the axis counts in the output (``expand_dims``)."""

    def rule(layer: Layer, call, sources, planner) -> str:
        rank = planner.input_rank(layer, call) if hasattr(planner, "input_rank") else None
        rank = None if rank is None else rank + extra
        if feature_axis(layer.config.get(key, default), rank):
            return STEPS
        raise Blocked(f"layer '{layer.path}' ({layer.class_name}) works across time steps")

    return rule


def feature_axis(axis: Any, rank: Optional[int] = None) -> bool:
    """True when every axis is past the time axis. A negative axis counts from the end of an
    input of ``rank`` axes; with the rank unknown only -1 is taken as a feature axis."""
    axes = axis if isinstance(axis, list) else [axis]
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        return False
    if rank is None:
        return all(a >= 2 or a == -1 for a in axes)
    return all((a + rank if a < 0 else a) >= 2 for a in axes)


def same_shape(layer: Layer, inputs: List[Shape], ctx: ShapeContext) -> Shape:
    x = inputs[0] if inputs else None
    return None if x is None else list(x)


def keras1_renames(renames: Dict[str, str]) -> Callable[[Dict[str, Any]], Dict[str, Any]]:
    """A Keras 1 fixup that renames config keys (old -> new, unless new is present)."""

    def fix(config: Dict[str, Any]) -> Dict[str, Any]:
        if any(k in config for k in renames):
            for old, new in renames.items():
                if old in config and new not in config:
                    config[new] = config.pop(old)
            if config.get("input_dim") and "batch_input_shape" not in config:
                config["batch_input_shape"] = [None, config["input_dim"]]
        return config

    return fix


# ---------------------------------------------------------------------- honest checks


def weights_of(layer: Layer, at_least: int, what: str) -> List[np.ndarray]:
    """The layer's stored arrays as float32, refusing a file that stores fewer than needed."""
    if len(layer.weights) < at_least:
        raise ConfigError(
            f"layer '{layer.path}' ({layer.class_name}) has {len(layer.weights)} weight arrays; it needs {what}"
        )
    return [np.asarray(w.value, dtype=np.float32) for w in layer.weights]


def need_rank(layer: Layer, x: np.ndarray, ranks: Sequence[int], what: str) -> None:
    if x.ndim not in ranks:
        raise ConfigError(f"layer '{layer.path}' ({layer.class_name}) needs input {what}, got shape {x.shape}")


def need_features(layer: Layer, x: np.ndarray, n: int, axis: int = -1) -> None:
    if x.ndim == 0 or x.shape[axis] != n:
        raise ConfigError(
            f"layer '{layer.path}' ({layer.class_name}) needs {n} features on its last axis, got input shape {x.shape}"
        )


def need_vector(layer: Layer, array: np.ndarray, n: int, what: str) -> None:
    if array.shape != (n,):
        raise ConfigError(f"layer '{layer.path}' ({layer.class_name}) has a {what} of shape {array.shape}; expected ({n},)")


def need_inputs(layer: Layer, xs: Sequence[Any], low: int, high: Optional[int] = None) -> None:
    if len(xs) < low or (high is not None and len(xs) > high):
        want = str(low) if high == low else f"at least {low}" if high is None else f"{low} to {high}"
        raise ConfigError(f"layer '{layer.path}' ({layer.class_name}) takes {want} inputs, got {len(xs)}")


def config_int(layer: Layer, key: str, default: Any = None, low: int = 0) -> int:
    """A whole-number config value the kind reads (``default`` when absent)."""
    value = layer.config.get(key, default)
    if value is None:
        value = default
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ConfigError(f"layer '{layer.path}' ({layer.class_name}): '{key}' is {value!r}, not a whole number >= {low}")
    return int(value)


def config_ints(layer: Layer, key: str, n: int, default: Any) -> Tuple[int, ...]:
    """An int or a list of n ints (Keras's ``normalize_tuple``), each >= 1."""
    value = layer.config.get(key, default)
    if value is None:
        value = default
    values = [value] * n if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    if isinstance(values, (list, tuple)) and len(values) == 1 and n > 1:
        values = list(values) * n
    ok = isinstance(values, (list, tuple)) and len(values) == n and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in values
    )
    if not ok:
        raise ConfigError(f"layer '{layer.path}' ({layer.class_name}): '{key}' is {value!r}, not {n} whole number(s) >= 1")
    return tuple(int(v) for v in values)


def axes_of(layer: Layer, value: Any, ndim: int) -> Tuple[int, ...]:
    """Config axes (an int or a list) as non-negative axes of an ``ndim`` array."""
    values = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for a in values:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool) or not -ndim <= a < ndim:
            raise ConfigError(
                f"layer '{layer.path}' ({layer.class_name}): axis {a!r} does not exist in an input of rank {ndim}"
            )
        out.append(int(a) % ndim)
    return tuple(out)


def fits_budget(layer: Layer, nbytes: int) -> None:
    """A layer whose config (not its weights) sets its output size: check the output
    against the memory budget before numpy is asked for it."""
    from ..limits import current_budget

    current_budget().check(nbytes, f"the output of layer '{layer.path}'")


def shape_int(v: Any) -> Optional[int]:
    """A config int for a shape rule (the first of a list), or None when it is not one."""
    if isinstance(v, (list, tuple)) and v:
        v = v[0]
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def conv_len(length: Optional[int], k: Optional[int], s: Optional[int], d: Optional[int], padding: Any) -> Optional[int]:
    """Output length of a window of ``k`` taps ``d`` apart, ``s`` apart, along one axis."""
    if length is None or k is None or not s or d is None:
        return None
    if padding in ("same", "causal"):
        return -(-length // s)
    return max((length - d * (k - 1) - 1) // s + 1, 0)
