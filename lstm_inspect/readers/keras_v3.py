"""Keras 3 formats: ``.keras`` zip archives (also written by tf.keras 2.12+) and
``.weights.h5`` files (keras-formats.md section 2.8). Archives are read in memory,
never extracted."""

from __future__ import annotations

import io
import json
import re
import zipfile

import h5py
from typing import List, Optional

from ..binding import bind_v3
from ..config import ModelSpec, loads_config, parse_model_config
from ..errors import CorruptFileError, NotAKerasFileError, UnsupportedError
from ..infer import V3Object, infer_v3
from ..model import Model, StoredArray
from .hdf5 import attr, member, open_h5, read_dataset

MAX_MEMBER_BYTES = 8 * 1024**3  #: refuse archive members larger than this (uncompressed)
MAX_CONFIG_BYTES = 64 * 1024**2
MAX_RATIO = 1000  #: refuse members that expand more than this (zip bombs)


def read_keras_archive(file: str, config: Optional[ModelSpec]) -> Model:
    try:
        zf = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise CorruptFileError(f"cannot read this zip archive ({e}); it may be truncated", file=file) from None
    with zf:
        names = set(zf.namelist())
        if "model.weights.h5" not in names:
            if "model.weights.npz" in names:
                raise UnsupportedError("this .keras archive stores weights as npz, which lstm_inspect does not read yet", file=file)
            if any(n.endswith(".weights.json") for n in names):
                raise UnsupportedError("this .keras archive has sharded weights, which lstm_inspect does not read yet", file=file)
            raise NotAKerasFileError(
                "zip archive but not a Keras .keras file: it has no model.weights.h5 member", file=file
            )
        metadata = {}
        if "metadata.json" in names:
            try:
                metadata = json.loads(_member(zf, "metadata.json", MAX_CONFIG_BYTES, file))
            except ValueError:
                raise CorruptFileError("metadata.json in the archive is not JSON", file=file) from None
            if not isinstance(metadata, dict):
                metadata = {}
        user_config = config is not None
        if config is None:
            if "config.json" not in names:
                raise NotAKerasFileError("zip archive has no config.json; it is not a Keras .keras file", file=file)
            text = _member(zf, "config.json", MAX_CONFIG_BYTES, file).decode("utf-8", "replace")
            config = parse_model_config(loads_config(text, "config.json in the archive"))
        weights = _member(zf, "model.weights.h5", MAX_MEMBER_BYTES, file)
    with open_h5(io.BytesIO(weights), file) as f:
        model = read_v3_weights(f, file, config, archive=metadata, user_config=user_config)
    return model


def _member(zf: zipfile.ZipFile, name: str, limit: int, file: str) -> bytes:
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise UnsupportedError(f"archive member {name} is {info.file_size} bytes, above the limit of {limit}", file=file)
    if info.compress_size and info.file_size / info.compress_size > MAX_RATIO and info.file_size > 10 * 1024**2:
        raise UnsupportedError(f"archive member {name} expands {info.file_size // info.compress_size}x; refused as a zip bomb", file=file)
    try:
        with zf.open(info) as fh:
            data = fh.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
        raise CorruptFileError(f"cannot read {name} from the archive ({e})", file=file) from None
    if len(data) > limit:
        raise UnsupportedError(f"archive member {name} is larger than its header says; refused", file=file)
    return data


def read_v3_weights(f, file: str, config: Optional[ModelSpec], archive: Optional[dict], user_config: bool = True) -> Model:
    """A Keras 3 weights HDF5 (alone, with --config, or from inside a .keras archive)."""
    root_key = "layers" if member(f, "layers") is not None else "_layer_checkpoint_dependencies"
    if archive is not None:
        keras_version = archive.get("keras_version")
        fmt = "keras-v3"
    else:
        keras_version = attr(f, "keras_version")
        fmt = "keras-v3-weights"

    def read_vars(path: str) -> Optional[List[StoredArray]]:
        path = re.sub(r"^layers/", root_key + "/", path)
        g = member(f, path)
        if g is None:
            return None
        return _vars(g)

    if keras_version is None and (config is None or config.written_by_keras3):
        # Keras 3 .weights.h5 files record no version; tf.keras 2.13+ can write the same
        # layout, but its configs are Keras 2 style.
        assumed_major = "3"
    else:
        assumed_major = None
    if config is not None:
        spec = config
        layers = bind_v3(spec, read_vars, file)
        source = "--config" if user_config else "file"
        return Model(
            file=file,
            format=fmt,
            keras_version=keras_version if isinstance(keras_version, str) else None,
            backend=None,
            layers=layers,
            name=spec.name,
            class_name=spec.class_name,
            config_source=source,
            input_layers=spec.input_layers,
            output_layers=spec.output_layers,
            assumed_keras_major=assumed_major,
        )
    root = _walk(f, "", depth=0)
    if root_key == "_layer_checkpoint_dependencies" and root_key in root.children:
        root.children["layers"] = root.children.pop(root_key)
    return Model(
        file=file,
        format=fmt,
        keras_version=keras_version if isinstance(keras_version, str) else None,
        backend=None,
        layers=infer_v3(root, file),
        config_source="weights",
        assumed_keras_major=assumed_major,
    )


def _vars(g) -> List[StoredArray]:
    keys = [k for k in g.keys() if k.isdigit()]
    arrays = []
    for k in sorted(keys, key=int):
        ds = member(g, k)
        arrays.append(StoredArray(name=f"vars/{k}", h5_path=ds.name, value=read_dataset(ds)))
    return arrays


def _walk(g, key: str, depth: int) -> V3Object:
    if depth > 64:
        raise CorruptFileError("weights file nests groups more than 64 deep")
    vars_group = member(g, "vars")
    name = attr(vars_group, "name") if vars_group is not None else None
    obj = V3Object(key=key, name=name if isinstance(name, str) else None)
    if vars_group is not None:
        obj.arrays = _vars(vars_group)
    nodes = []
    for child in g.keys():
        if child == "vars":
            continue
        node = member(g, child)
        if node is not None and hasattr(node, "keys"):
            nodes.append((_created(node), child, node))
    # h5py lists names alphabetically; Keras wrote the layers in model order, so the
    # order their object headers were allocated in is the model's layer order.
    for _, child, node in sorted(nodes, key=lambda t: t[0]):
        obj.children[child] = _walk(node, child, depth + 1)
    return obj


def _created(node) -> int:
    try:
        return int(h5py.h5o.get_info(node.id).addr)
    except Exception:  # older HDF5 builds without addresses: keep name order
        return 0
