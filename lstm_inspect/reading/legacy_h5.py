"""Legacy Keras HDF5: ``model.save("x.h5")`` and ``save_weights("x.h5")`` of Keras 1,
Keras 2, tf.keras and Keras 3 (docs/formats.md sections 2.1-2.7)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Optional

from ..errors import ConfigError, NotAKerasFileError
from ..model import Model, StoredArray
from .binding import bind_legacy
from .config import ModelSpec, loads_config, parse_model_config
from .hdf5 import attr, member, open_h5, read_dataset, str_list


def read_hdf5(file: str, config: Optional[ModelSpec]) -> Model:
    """Any HDF5 Keras file; Keras 3 ``.weights.h5`` files are handed to that reader."""
    with open_h5(file, file) as f:
        if attr(f, "model_config") is not None:
            return _read_legacy(f, file, config, full=True)
        if attr(f, "layer_names") is not None:
            return _read_legacy(f, file, config, full=False)
        if member(f, "layers") is not None or member(f, "_layer_checkpoint_dependencies") is not None or member(f, "vars") is not None:
            from .keras_v3 import read_v3_weights

            return read_v3_weights(f, file, config, archive=None)
        if attr(f, "nb_layers") is not None:
            raise NotAKerasFileError("this is a Keras 0.x weights file, which lstm_inspect does not read", file=file)
    raise NotAKerasFileError(
        "HDF5 file but not a Keras model: it has no 'model_config' or 'layer_names' attribute and no "
        "'layers' group; expected a file written by Keras model.save() or save_weights()",
        file=file,
    )


def _read_legacy(f, file: str, config: Optional[ModelSpec], full: bool) -> Model:
    if full:
        group = member(f, "model_weights")
        if group is None or attr(group, "layer_names") is None:
            # Keras 1 probes the same way: weights at the root when model_weights is absent.
            group = f if attr(f, "layer_names") is not None else None
        if group is None:
            raise NotAKerasFileError(
                "has a model_config but no 'model_weights' group: the model was saved without weights", file=file
            )
    else:
        group = f
    keras_version = attr(f, "keras_version") or attr(group, "keras_version")
    backend = attr(f, "backend") or attr(group, "backend")
    stored = _stored_weights(group)

    spec: Optional[ModelSpec] = config
    source = "--config" if config is not None else "weights"
    if config is None and full:
        text = attr(f, "model_config")
        if not isinstance(text, str):
            raise ConfigError("the 'model_config' attribute is not JSON text", file=file)
        spec = parse_model_config(loads_config(text, "the model_config attribute"))
        source = "file"

    if spec is not None:
        layers = bind_legacy(spec, stored, file)
    else:
        from .infer import infer_legacy  # weights-only files without --config

        layers = infer_legacy(stored, file)
    return Model(
        file=file,
        format="keras-h5" if full else "keras-h5-weights",
        keras_version=keras_version if isinstance(keras_version, str) else None,
        backend=backend if isinstance(backend, str) else None,
        layers=layers,
        name=spec.name if spec else None,
        class_name=spec.class_name if spec else None,
        config_source=source,
        input_layers=spec.input_layers if spec else [],
        output_layers=spec.output_layers if spec else [],
    )


def _stored_weights(group) -> Dict[str, List[StoredArray]]:
    """``{layer_name: [arrays in weight_names order]}`` in ``layer_names`` order."""
    out: Dict[str, List[StoredArray]] = OrderedDict()
    for layer_name in str_list(group, "layer_names"):
        g = member(group, layer_name)
        if g is None:
            raise ConfigError(f"layer_names lists '{layer_name}' but the file has no such group")
        arrays = []
        for weight_name in str_list(g, "weight_names"):
            ds = member(g, weight_name)
            if ds is None:
                raise ConfigError(f"layer '{layer_name}' lists weight '{weight_name}' but the file has no such dataset")
            arrays.append(StoredArray(name=weight_name, h5_path=ds.name, value=read_dataset(ds)))
        out[layer_name] = arrays
    return out
