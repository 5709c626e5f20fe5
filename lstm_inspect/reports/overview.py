"""One row per layer for ``lstm-inspect layers``: the facts a person checks first."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ..model import Layer, Model
from ..forward.shapes import infer_shapes

#: Config keys worth showing, in this order, when a layer has them.
SHOWN_KEYS = (
    "units", "filters", "output_dim", "return_sequences", "return_state", "go_backwards", "stateful",
    "merge_mode", "mask_zero", "mask_value", "reset_after", "activation", "rate",
)

def runnable(layer: Layer) -> Optional[str]:
    """None when `run` can compute the layer, else why not."""
    if layer.class_name == "Lambda":
        return "Lambda holds Python code, which is never executed"
    if layer.inferred:
        return "no config in the file: pass the architecture with --config"
    if not _computable(layer):
        return f"{layer.class_name} is not supported"
    for key in ("activation", "recurrent_activation"):
        if key in layer.config:  # a custom activation is refused by name, never imported
            from ..kinds.activations import activation
            from ..kinds.activations import activation_name
            from ..errors import LstmInspectError

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
                    except Exception:
                        value = "?"
                config[key] = value
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


def _computable(layer: Layer) -> bool:
    """What the executor dispatches on (executor._compute), asked of the same registries."""
    from ..forward.executor import MODEL_CLASSES, is_op
    from ..kinds.layers_np import LAYERS
    from ..kinds.recurrent import is_recurrent

    return (
        layer.class_name in MODEL_CLASSES
        or layer.class_name in ("Bidirectional", "TimeDistributed")
        or is_recurrent(layer)
        or layer.class_name in LAYERS
        or is_op(layer)
    )



def unrunnable_wrapper(model: Model, until: Optional[str] = None) -> Optional[str]:
    """Why `run` cannot get through a Bidirectional it would reach (one whose two
    directions are not both recurrent layers it knows, as a damaged or custom config
    can give), or None. Layers after ``until`` are never reached."""
    from ..kinds.recurrent import is_recurrent

    for layer in model.walk():
        if layer.class_name == "Bidirectional":
            odd = [c for c in layer.children if not is_recurrent(c)]
            if len(layer.children) != 2 or odd:
                inner = odd[0].class_name if odd else f"{len(layer.children)} layers"
                return (
                    f"layer '{layer.path}' is a Bidirectional of {inner}, which run cannot compute; "
                    "use --until to stop before it"
                )
        if until is not None and layer.path == until:
            return None
    return None
