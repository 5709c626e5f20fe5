"""One row per layer for ``lstm-inspect layers``: the facts a person checks first."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..errors import LstmInspectError
from ..forward.shapes import infer_shapes
from ..kinds.base import dtype_name
from ..kinds.half import computes_in_float16
from ..model import Layer, Model

#: Config keys worth showing, in this order, when a layer has them.
SHOWN_KEYS = (
    "units", "filters", "output_dim", "return_sequences", "return_state", "go_backwards", "stateful",
    "merge_mode", "mask_zero", "mask_value", "reset_after", "activation", "rate",
)

def runnable(layer: Layer) -> Optional[str]:
    """None when `run` can compute the layer, else why not (its kind says)."""
    from ..kinds.registry import kind_for

    kind = kind_for(layer)
    if layer.inferred:
        return "no config in the file: pass the architecture with --config"
    if kind is None:
        return f"{layer.class_name} is not supported"
    if kind.compute is None:
        return f"{layer.class_name} {kind.refusal}"
    from ..kinds.base import key_refusal

    reason = (kind.refuse(layer) if kind.refuse else None) or key_refusal(kind, layer.config)
    if reason:
        return reason
    for key in ("activation", "recurrent_activation"):
        if key in layer.config:  # a custom activation is refused by name, never imported
            from ..kinds.activations import activation, activation_name

            try:
                activation(activation_name(layer.config[key]))
            except LstmInspectError as e:
                return e.detail
    for child in layer.children:
        reason = runnable(child)
        if reason:
            return f"{child.name}: {reason}"
    return None


def layer_rows(model: Model) -> List[Dict[str, Any]]:
    shapes = infer_shapes(model) if model.config_source != "weights" else {}
    rows = []
    for layer in model.walk():
        from ..kinds.activations import activation_name

        config: Dict[str, Any] = {}
        for key in SHOWN_KEYS:
            if key in layer.config:
                value = layer.config[key]
                if key == "activation":
                    try:
                        value = activation_name(value)
                    except LstmInspectError:
                        value = "?"
                config[key] = value
        if computes_in_float16(layer.config):
            config["dtype"] = dtype_name(layer.config.get("dtype"))
        reason = runnable(layer)
        rows.append(
            {
                "path": layer.path,
                "class_name": layer.class_name,
                "cell_class": layer.config.get("cell_class"),
                "output_shape": shapes.get(layer.path),
                "params": layer.param_count,
                "config": config,
                "runnable": reason is None,
                "reason": reason,
            }
        )
    return rows


def unrunnable_wrapper(model: Model, until: Optional[str] = None) -> Optional[str]:
    """Why `run` cannot get through a Bidirectional it would reach (one whose two
    directions are not both recurrent layers it knows, as a damaged or custom config
    can give), or None. Layers after ``until`` are never reached."""
    from ..kinds.wrappers import unrunnable_bidirectional

    for layer in model.walk():
        if layer.class_name == "Bidirectional":
            reason = unrunnable_bidirectional(layer)
            if reason:
                return f"layer '{layer.path}' is {reason}; use --until to stop before it"
        if until is not None and layer.path == until:
            return None
    return None
