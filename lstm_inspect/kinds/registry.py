"""The registry of layer kinds: every family module's ``KINDS``, looked up by class name.

The family modules are imported on the first lookup (they import the numeric helpers,
which import :mod:`.recurrent`; loading them lazily keeps ``kinds`` import cycles out).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from ..model import Layer
from .base import Kind

_BY_NAME: Dict[str, Kind] = {}
_OPS: Dict[str, Kind] = {}
_ALIASES: Dict[str, str] = {}
_ALL: List[Kind] = []


def _load() -> None:
    if _ALL:
        return
    from . import (
        activation_layers,
        attention,
        conv,
        core,
        mask_ops,
        merges,
        norms,
        pooling,
        reshaping,
        rnn,
        tf_ops,
        wrappers,
    )

    # The family modules, in the order their kinds are tried when recognising weights.
    families = (rnn, core, conv, pooling, merges, norms, reshaping, wrappers, mask_ops, activation_layers, attention, tf_ops)
    kinds: List[Kind] = [kind for family in families for kind in family.KINDS]
    for kind in kinds:
        table = _OPS if kind.role == "op" else _BY_NAME
        for name in kind.names:
            if name in table:
                raise RuntimeError(f"layer kind {name} is declared twice")
            table[name] = kind
        for alias in kind.keras1_names:
            _ALIASES[alias] = kind.name
    _ALL.extend(kinds)


def all_kinds() -> List[Kind]:
    _load()
    return list(_ALL)


def kind_of(class_name: str) -> Optional[Kind]:
    """The layer kind (never an op) of a Keras class name, or None when unknown."""
    _load()
    return _BY_NAME.get(class_name)


def kind_for(layer: Layer) -> Optional[Kind]:
    """The kind a layer of the model is: a Keras 3 op entry, or a layer kind."""
    _load()
    op = _OPS.get(layer.class_name)
    if op is not None and (op.claims is None or op.claims(layer)):
        return op
    return _BY_NAME.get(layer.class_name)


def canonical_name(class_name: str) -> str:
    """A Keras 1 class name as its Keras 2 kind calls it (``Convolution1D`` -> ``Conv1D``)."""
    _load()
    return _ALIASES.get(class_name, class_name)


def role_of(class_name: str) -> Optional[str]:
    kind = kind_of(class_name)
    return kind.role if kind else None


def is_model_class(class_name: str) -> bool:
    return role_of(class_name) == "model"


def recognised(names: List[str], shapes: List[Tuple[int, ...]], role: str) -> Optional[Kind]:
    """The first kind of ``role`` ("recurrent" or "layer") its ``recognise`` rule claims."""
    for kind in all_kinds():
        if kind.role == role and kind.recognise is not None and kind.recognise(names, shapes):
            return kind
    return None


def var_names(class_key: str) -> Tuple[str, ...]:
    """The Keras 3 variable names of the kind whose snake_case class name is ``class_key``."""
    import re

    for kind in all_kinds():
        snake = re.sub("([a-z0-9])([A-Z])", r"\1_\2", re.sub("(.)([A-Z][a-z]+)", r"\1_\2", kind.name)).lower()
        if snake == class_key and kind.var_names:
            return kind.var_names
    return ("kernel", "bias")
