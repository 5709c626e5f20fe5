"""Keras 3 formats: ``.keras`` zip archives (also written by tf.keras 2.12+) and
``.weights.h5`` files (docs/formats.md section 2.8). Archives are read in memory,
never extracted."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, List, Optional

import h5py

from ..errors import CorruptFileError, NotAKerasFileError, UnsupportedError
from ..limits import checked_json, current_budget, human
from ..model import Model, StoredArray
from .binding import bind_v3
from .config import ModelSpec, loads_config, parse_model_config
from .hdf5 import attr, group, keys, member, open_h5, read_dataset

MAX_CONFIG_BYTES = 64 * 1024**2  #: config.json and metadata.json
MAX_RATIO = 100  #: refuse members that expand more than this (zip bombs) ...
RATIO_FLOOR = 1024**2  #: ... once they expand to more than this
MAX_GROUPS = 100_000  #: groups visited in a weights file without a config

if TYPE_CHECKING:  # zipfile and the inference of layers from weights are imported where used
    import zipfile

    from .infer import V3Object


def read_keras_archive(file: str, config: Optional[ModelSpec]) -> Model:
    import zipfile

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
            metadata = checked_json(_member(zf, "metadata.json", MAX_CONFIG_BYTES, file), "metadata.json in the archive",
                                    error=CorruptFileError)
            if not isinstance(metadata, dict):
                metadata = {}
        user_config = config is not None
        if config is None:
            if "config.json" not in names:
                raise NotAKerasFileError("zip archive has no config.json; it is not a Keras .keras file", file=file)
            text = _member(zf, "config.json", MAX_CONFIG_BYTES, file).decode("utf-8", "replace")
            config = parse_model_config(loads_config(text, "config.json in the archive"))
        weights = _member(zf, "model.weights.h5", None, file)
    with open_h5(io.BytesIO(weights), file) as f:
        model = read_v3_weights(f, file, config, archive=metadata, user_config=user_config)
    return model


def _member(zf: zipfile.ZipFile, name: str, limit: Optional[int], file: str) -> bytes:
    """One archive member read into memory, after checking its declared size and
    compression ratio; it is never extracted to disk."""
    import zipfile
    import zlib
    from lzma import LZMAError

    info = zf.getinfo(name)
    size = info.file_size
    if limit is not None and size > limit:
        raise UnsupportedError(f"archive member {name} is {human(size)}, above the limit of {human(limit)}; refused", file=file)
    if size > RATIO_FLOOR and size > MAX_RATIO * max(info.compress_size, 1):
        raise UnsupportedError(
            f"archive member {name} expands {size // max(info.compress_size, 1)}x "
            f"({human(info.compress_size)} to {human(size)}); refused as a zip bomb", file=file
        )
    current_budget().charge(size, f"archive member {name}")
    try:
        with zf.open(info) as fh:
            data = fh.read(size + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError,
            RuntimeError, zlib.error, LZMAError) as e:
        raise CorruptFileError(f"cannot read {name} from the archive ({_first(e)}); it may be truncated or damaged",
                               file=file) from None
    if len(data) != size:
        raise CorruptFileError(f"archive member {name} is not the size its header says; refused", file=file)
    return data


def _first(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else e.__class__.__name__
    return text[:120]


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
        g = group(f, path)
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
    from .infer import infer_v3

    root = _walk(f, "", depth=0, seen=set())
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
    names = [k for k in keys(g) if k.isascii() and k.isdigit()]
    arrays = []
    for k in sorted(names, key=int):
        ds = member(g, k)
        if ds is None:
            raise CorruptFileError(f"'{g.name}' lists '{k}' but it cannot be opened; the file may be damaged")
        arrays.append(StoredArray(name=f"vars/{k}", h5_path=ds.name, value=read_dataset(ds)))
    return arrays


def _walk(g, key: str, depth: int, seen: set) -> V3Object:
    from .infer import V3Object

    if depth > 64:
        raise CorruptFileError("weights file nests groups more than 64 deep")
    # Hard links can make one group appear under many names (and a handful of groups
    # into exponentially many paths): each group is visited once.
    address = _created(g)
    if address and address in seen:
        raise CorruptFileError(f"group '{g.name}' is linked into the file more than once; refused")
    seen.add(address)
    if len(seen) > MAX_GROUPS:
        raise UnsupportedError(f"the weights file has more than {MAX_GROUPS} groups; refused")
    vars_group = group(g, "vars")
    name = attr(vars_group, "name") if vars_group is not None else None
    obj = V3Object(key=key, name=name if isinstance(name, str) else None)
    if vars_group is not None:
        obj.arrays = _vars(vars_group)
    nodes = []
    for child in keys(g):
        if child == "vars":
            continue
        node = member(g, child)
        if node is not None and hasattr(node, "keys"):
            nodes.append((_created(node), child, node))
    # h5py lists names alphabetically; Keras wrote the layers in model order, so the
    # order their object headers were allocated in is the model's layer order.
    for _, child, node in sorted(nodes, key=lambda t: t[0]):
        obj.children[child] = _walk(node, child, depth + 1, seen)
    return obj


def _created(node) -> int:
    try:
        return int(h5py.h5o.get_info(node.id).addr)
    except Exception:  # older HDF5 builds without addresses: keep name order
        return 0
