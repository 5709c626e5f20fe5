"""Careful access to HDF5 files: read-only, no links out of the file, bounded reads.

This module and the readers beside it are the only code that imports h5py.
"""

from __future__ import annotations

from typing import Any, List, Optional

import h5py
import numpy as np

from ..errors import CorruptFileError, NotAKerasFileError, UnsupportedError

#: Refuse to read a single dataset with more elements than this (about 4 GB of float32).
MAX_ELEMENTS = 1_000_000_000


def open_h5(source: Any, file: str) -> h5py.File:
    """Open a path or file-like object read-only, turning h5py's errors into ours."""
    try:
        return h5py.File(source, "r", locking=False)
    except TypeError:  # h5py without the locking argument
        return h5py.File(source, "r")
    except OSError as e:
        raise CorruptFileError(
            f"cannot read this HDF5 file ({_short(e)}); it may be truncated or damaged", file=file
        ) from None


def decode(value: Any) -> Any:
    """bytes / numpy.bytes_ / str / arrays of either -> str or list of str."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and value.size == 0:  # empty weight_names are float64 []
            return []
        return [decode(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [decode(v) for v in value]
    if hasattr(value, "decode"):
        try:
            return value.decode("utf8")
        except UnicodeDecodeError:
            return value.decode("latin1")
    return value


def attr(obj: Any, name: str, default: Any = None) -> Any:
    """A decoded attribute, joining Keras's chunked ``name0, name1, ...`` form."""
    try:
        attrs = obj.attrs
        if name in attrs:
            return decode(attrs[name])
        if f"{name}0" in attrs:
            parts: List[Any] = []
            k = 0
            while f"{name}{k}" in attrs:
                parts.extend(decode(attrs[f"{name}{k}"]))
                k += 1
            return parts
    except (OSError, KeyError, TypeError, ValueError) as e:
        raise CorruptFileError(f"cannot read attribute '{name}' of {obj.name} ({_short(e)})") from None
    return default


def str_list(obj: Any, name: str) -> List[str]:
    value = attr(obj, name, [])
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CorruptFileError(f"attribute '{name}' of {obj.name} is not a list of names")
    return value


def member(group: Any, name: str) -> Optional[Any]:
    """``group[name]`` if it is a hard link inside this file, else None. Never follows
    external or soft links."""
    parts = [p for p in name.split("/") if p]
    node = group
    for part in parts:
        try:
            link = node.get(part, getlink=True)
        except (OSError, KeyError, TypeError, ValueError, AttributeError):
            return None
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink):
            raise UnsupportedError(
                f"'{node.name.rstrip('/')}/{part}' is a {type(link).__name__}; links are never followed"
            )
        try:
            node = node[part]
        except (OSError, KeyError, ValueError) as e:
            raise CorruptFileError(f"cannot open '{node.name.rstrip('/')}/{part}' ({_short(e)})") from None
    return node


def read_dataset(dataset: Any) -> np.ndarray:
    """Read a whole numeric dataset after checking it is safe and sane to read."""
    if not isinstance(dataset, h5py.Dataset):
        raise CorruptFileError(f"'{getattr(dataset, 'name', dataset)}' is not a dataset")
    try:
        if dataset.is_virtual:
            raise UnsupportedError(f"dataset '{dataset.name}' is virtual (maps other files); refused")
        if dataset.id.get_create_plist().get_external_count() > 0:
            raise UnsupportedError(f"dataset '{dataset.name}' stores its data in external files; refused")
        shape = dataset.shape
        if shape is None:
            raise CorruptFileError(f"dataset '{dataset.name}' is empty")
        n = int(np.prod(shape, dtype=np.float64))
        if n > MAX_ELEMENTS:
            raise UnsupportedError(f"dataset '{dataset.name}' declares {n} elements, more than the limit {MAX_ELEMENTS}")
        if dataset.dtype.kind not in "fiub":
            raise CorruptFileError(f"dataset '{dataset.name}' holds {dataset.dtype}, not numbers")
        return np.asarray(dataset[()])
    except (UnsupportedError, CorruptFileError):
        raise
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as e:
        raise CorruptFileError(f"cannot read dataset '{dataset.name}' ({_short(e)})") from None


def _short(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else e.__class__.__name__
    return text[:120]


def not_keras(file: str, what: str) -> NotAKerasFileError:
    return NotAKerasFileError(what, file=file)
