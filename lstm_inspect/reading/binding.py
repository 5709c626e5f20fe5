"""Give each layer of a config its own weights.

Legacy HDF5 files store one flat, ordered weight list per top-level layer; the
list of a wrapper or nested model must be split among its children the way
Keras's loader splits it (docs/formats.md section 2.5). Keras 3 files store
each object's variables under a path built from attribute names and snake_case
class names (docs/formats.md section 2.8). Both rules live here; the readers only fetch arrays.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..errors import ConfigError
from ..model import Layer, StoredArray
from .config import LayerSpec, ModelSpec

# --------------------------------------------------------------------------------------
# Legacy HDF5: flat per-layer lists


def weight_counts(spec: LayerSpec) -> Tuple[int, int]:
    """(trainable, non-trainable) weight count a layer writes to a legacy HDF5 file, as
    its kind declares (a wrapper's or a nested model's are its children's)."""
    c = spec.config
    trainable = c.get("trainable", True) is not False
    kind = spec.kind
    children = [weight_counts(child) for child in spec.children]
    if spec.is_model:
        t, n = sum(ct for ct, _ in children), sum(cn for _, cn in children)
        return (t, n) if trainable else (0, t + n)
    t, n = kind.weights(c, children) if kind is not None else (0, 0)
    return (t, n) if trainable else (0, t + n)


def bind_legacy(model: ModelSpec, stored: Dict[str, List[StoredArray]], file: str) -> List[Layer]:
    """Top-level layers matched to the file's weight groups by name, then split to children."""
    with_weights = [s for s in model.layers if sum(weight_counts(s)) > 0]
    groups_with_weights = [name for name, arrays in stored.items() if arrays]
    by_name = all(s.name in stored for s in with_weights)
    if not by_name:
        # Keras's own loader matches by order among layers that have weights.
        if len(with_weights) != len(groups_with_weights):
            missing = [s.name for s in with_weights if s.name not in stored]
            raise ConfigError(
                f"the config does not fit the weights: layer '{missing[0]}' has no weights in the file, and the "
                f"config has {len(with_weights)} layers with weights where the file has {len(groups_with_weights)}",
                file=file,
            )
        mapping = dict(zip([s.name for s in with_weights], groups_with_weights))
    else:
        mapping = {s.name: s.name for s in with_weights}
    layers = []
    for spec in model.layers:
        arrays = list(stored.get(mapping.get(spec.name, spec.name), [])) if spec in with_weights or spec.name in stored else []
        layers.append(_distribute(spec, arrays, spec.name, file))
    return layers


def _distribute(spec: LayerSpec, arrays: List[StoredArray], path: str, file: str) -> Layer:
    layer = _layer(spec, path)
    if spec.is_model:
        t_total, _ = weight_counts(spec) if spec.config.get("trainable", True) is not False else (0, 0)
        trainable, non_trainable = list(arrays[:t_total]), list(arrays[t_total:])
        for child in spec.children:
            ct, cn = weight_counts(child)
            own = trainable[:ct] + non_trainable[:cn]
            trainable, non_trainable = trainable[ct:], non_trainable[cn:]
            layer.children.append(_distribute(child, own, f"{path}/{child.name}", file))
        if trainable or non_trainable:
            raise ConfigError(f"nested model '{path}' has more weights in the file than its config needs", file=file)
        return layer
    role = spec.kind.role if spec.kind else None
    if role == "wrapper" and len(spec.children) == 2:  # Bidirectional: forward's weights, then backward's
        forward, backward = spec.children
        half, other = sum(weight_counts(forward)), sum(weight_counts(backward))
        if half + other != len(arrays):  # a config the counts cannot tell: two equal halves
            half = len(arrays) // 2
            if len(arrays) % 2:
                raise ConfigError(f"{spec.class_name} '{path}' has an odd number of weights ({len(arrays)})", file=file)
        layer.children = [
            _distribute(forward, arrays[:half], f"{path}/{forward.name}", file),
            _distribute(backward, arrays[half:], f"{path}/{backward.name}", file),
        ]
        return layer
    if role == "recurrent" and spec.children:  # stacked cells: each cell's weights, in order
        for child in spec.children:
            n = sum(weight_counts(child))
            layer.children.append(_distribute(child, arrays[:n], f"{path}/{child.name}", file))
            arrays = arrays[n:]
        if arrays:
            raise ConfigError(f"the config does not fit the weights: layer '{path}' ({spec.class_name}) has "
                              f"{len(arrays)} more weights in the file than its cells need", file=file)
        return layer
    if role == "wrapper":  # TimeDistributed: all of them
        inner = spec.children[0]
        layer.children = [_distribute(inner, arrays, f"{path}/{inner.name}", file)]
        return layer
    layer.weights = arrays
    return layer


def _layer(spec: LayerSpec, path: str) -> Layer:
    return Layer(
        name=spec.name,
        class_name=spec.class_name,
        path=path,
        config=spec.config,
        inbound_nodes=spec.inbound_nodes,
    )


# --------------------------------------------------------------------------------------
# Keras 3 .keras / .weights.h5: variables by attribute path

VarsReader = Callable[[str], Optional[List[StoredArray]]]


def to_snake_case(name: str) -> str:
    """Keras 3's ``keras.src.utils.naming.to_snake_case``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def list_keys(specs: Sequence[LayerSpec], container_class: str) -> List[Optional[str]]:
    """The key of each layer inside a saved ``layers`` list (``lstm``, ``lstm_1``, ...).

    Sequential keeps its InputLayer out of ``model.layers``, so it gets no key (None).
    """
    seen: Dict[str, int] = {}
    keys: List[Optional[str]] = []
    for spec in specs:
        if spec.class_name == "InputLayer" and container_class == "Sequential":
            keys.append(None)
            continue
        base = to_snake_case(spec.class_name)
        k = seen.get(base, 0)
        seen[base] = k + 1
        keys.append(base if k == 0 else f"{base}_{k}")
    return keys


def bind_v3(model: ModelSpec, read_vars: VarsReader, file: str) -> List[Layer]:
    keys = list_keys(model.layers, model.class_name)
    return [_bind_v3(spec, f"layers/{key}" if key else None, spec.name, read_vars, file) for spec, key in zip(model.layers, keys)]


def _bind_v3(spec: LayerSpec, h5: Optional[str], path: str, read_vars: VarsReader, file: str) -> Layer:
    layer = _layer(spec, path)
    if h5 is None:
        return layer
    if spec.is_model:
        keys = list_keys(spec.children, spec.class_name)
        layer.children = [
            _bind_v3(child, f"{h5}/layers/{key}" if key else None, f"{path}/{child.name}", read_vars, file)
            for child, key in zip(spec.children, keys)
        ]
    elif spec.kind is not None and spec.kind.v3_children:  # wrappers: children under attribute names
        layer.children = [
            _bind_v3(child, f"{h5}/{attribute}", f"{path}/{child.name}", read_vars, file)
            for child, attribute in zip(spec.children, spec.kind.v3_children)
        ]
    elif spec.kind is not None and spec.kind.role == "recurrent" and spec.children:
        # stacked cells: cell/cells/<snake_case cell class>[_n]/vars (docs/formats.md section 2.8)
        seen: Dict[str, int] = {}
        for child in spec.children:
            base = to_snake_case(str(child.config.get("cell_class")))
            k = seen.get(base, 0)
            seen[base] = k + 1
            cell = _layer(child, f"{path}/{child.name}")
            where = f"{h5}/cell/cells/{base if k == 0 else f'{base}_{k}'}/vars"
            cell.weights = _own_vars(child, cell, where, read_vars(where), file)
            layer.children.append(cell)
    else:
        where = f"{h5}/{spec.kind.v3_vars if spec.kind else 'vars'}"
        arrays = read_vars(where)
        if spec.kind is not None and spec.kind.v3_groups:  # variables of sublayers, in the legacy order
            # Keras 3 names the attributes ``query_dense``...; tf.keras's .keras files ``_query_dense``...
            groups = [read_vars(f"{h5}/{group}/vars") or read_vars(f"{h5}/_{group}/vars") for group in spec.kind.v3_groups]
            arrays = [a for g in groups if g is not None for a in g] if any(g is not None for g in groups) else None
            where = f"{h5}/{{{','.join(spec.kind.v3_groups)}}}/vars"
        layer.weights = _own_vars(spec, layer, where, arrays, file)
    return layer


def _own_vars(spec: LayerSpec, layer: Layer, where: str, arrays: Optional[List[StoredArray]], file: str) -> List[StoredArray]:
    """A layer's own variables found at ``where``, as many as its kind needs."""
    expected = sum(weight_counts(spec))
    kind = spec.kind
    if kind is None or kind.compute is None or (kind.refuse is not None and kind.refuse(layer)):
        # never computed: its variables are kept as found (run refuses it by name),
        # whatever the counts a computed kind would need
        return arrays or []
    if arrays is None:
        if expected:
            raise ConfigError(
                f"the config does not fit the weights: layer '{layer.path}' ({spec.class_name}) has no variables at '/{where}'",
                file=file,
            )
        arrays = []
    if expected and len(arrays) != expected:
        raise ConfigError(
            f"the config does not fit the weights: layer '{layer.path}' ({spec.class_name}) needs {expected} "
            f"variables, '/{where}' holds {len(arrays)}",
            file=file,
        )
    return arrays
