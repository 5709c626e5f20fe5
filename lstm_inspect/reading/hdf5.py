"""Careful access to HDF5 files: read-only, no links out of the file, bounded reads.

This module and the readers beside it are the only code that imports h5py.
"""

from __future__ import annotations

import io
from typing import Any, List, Optional

import h5py
import numpy as np

from ..errors import CorruptFileError, UnsupportedError
from ..limits import current_budget, human, native_memory_cap, scrub

#: Compressed datasets may expand at most this much (real weights compress 1-10x) ...
MAX_RATIO = 1000
#: ... beyond this many bytes.
RATIO_FLOOR = 1024**2
#: HDF5 type classes an attribute may have: text and numbers.
ATTRIBUTE_CLASSES = (h5py.h5t.STRING, h5py.h5t.INTEGER, h5py.h5t.FLOAT)
#: What libhdf5 may allocate beyond an object's declared size while it reads it.
NATIVE_SLACK = 256 * 1024**2
#: Refuse attributes that declare more elements than this (Keras writes a few thousand names at most).
MAX_ATTRIBUTE_ELEMENTS = 10_000_000
#: HDF5 filters built into libhdf5 and h5py. Any other filter id would make HDF5 look for a
#: plugin library to load; such datasets are refused before HDF5 is asked to read them.
BUILTIN_FILTERS = {
    h5py.h5z.FILTER_DEFLATE: "gzip",
    h5py.h5z.FILTER_SHUFFLE: "shuffle",
    h5py.h5z.FILTER_FLETCHER32: "fletcher32",
    h5py.h5z.FILTER_SZIP: "szip",
    h5py.h5z.FILTER_NBIT: "nbit",
    h5py.h5z.FILTER_SCALEOFFSET: "scaleoffset",
    32000: "lzf",
}


#: What h5py raises when libhdf5 reports an error in a damaged file.
H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, OverflowError)


def open_h5(source: Any, file: str) -> h5py.File:
    """Open a path or in-memory bytes read-only, turning h5py's errors into ours.

    The file's global heaps are checked first: libhdf5 loops forever on some damaged
    ones (see :func:`check_global_heaps`), and C code cannot be interrupted."""
    check_global_heaps(source, file)
    try:
        with native_memory_cap(NATIVE_SLACK):
            try:
                return h5py.File(source, "r", locking=False)
            except TypeError:  # h5py without the locking argument
                return h5py.File(source, "r")
    except (OSError, RuntimeError, ValueError, OverflowError) as e:
        raise CorruptFileError(
            f"cannot read this HDF5 file ({_short(e)}); it may be truncated or damaged", file=file
        ) from None


GCOL = b"GCOL"
_GCOL_MIN_SIZE = 4096  # H5HG_MINSIZE: libhdf5 never writes smaller collections


def check_global_heaps(source: Any, file: str) -> None:
    """Refuse a file whose global heap collections libhdf5 would walk forever.

    Variable-length strings (Keras's layer and weight names) live in global heap
    collections ("GCOL"). libhdf5 decodes a collection object by object, each advancing
    by the size the object declares; a damaged size of zero (or one that lands inside
    another object's data, on a zero) makes it spin without end. This replays that
    walk on the raw bytes, bounded, and refuses what would not end cleanly.
    """
    import mmap

    if isinstance(source, io.BytesIO):
        _walk_heaps(source.getvalue(), file)
        return
    try:
        with open(source, "rb") as fh:
            try:
                buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            except ValueError:  # an empty file: h5py says what is wrong with it
                return
            with buf:
                _walk_heaps(buf, file)
    except (OSError, TypeError):
        return  # h5py reports an unreadable file in its own words


def _walk_heaps(buf: Any, file: str) -> None:
    data = buf
    end = len(data)
    at = data.find(GCOL)
    while at != -1:
        if at + 16 <= end and data[at + 4] == 1:  # version 1; lengths are 8 bytes in every Keras file
            size = int.from_bytes(data[at + 8:at + 16], "little")
            if _GCOL_MIN_SIZE <= size <= end - at:
                _walk_heap(data, at, size, file)
        at = data.find(GCOL, at + 1)


def _walk_heap(buf: Any, at: int, size: int, file: str) -> None:
    """libhdf5's walk (H5HG__cache_heap_deserialize) over one collection: 16-byte header,
    then objects of (2-byte index, 2-byte refcount, 4 reserved, 8-byte size, data padded
    to 8 bytes); index 0 is free space, whose size includes its header."""
    p = 16
    for _ in range(size // 16 + 1):
        if p >= size:
            return
        if p + 16 > size:  # a tail too small for an object header is free space
            return
        index = int.from_bytes(buf[at + p:at + p + 2], "little")
        length = int.from_bytes(buf[at + p + 8:at + p + 16], "little")
        need = 16 + ((length + 7) & ~7) if index > 0 else length
        if need == 0 or need > size - p:
            break
        p += need
    raise CorruptFileError(
        f"the global heap at byte {at} (where variable-length strings are kept) is damaged; "
        "refused before libhdf5 reads it, as libhdf5 can loop forever on such a heap", file=file
    )


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
    if isinstance(value, str):
        return scrub(value)  # h5py keeps undecodable bytes as lone surrogates
    return value


def attr(obj: Any, name: str, default: Any = None) -> Any:
    """A decoded attribute, joining Keras's chunked ``name0, name1, ...`` form."""
    try:
        attrs = obj.attrs
        if name in attrs:
            return decode(_read_attr(obj, name))
        if f"{name}0" in attrs:
            parts: List[Any] = []
            k = 0
            while f"{name}{k}" in attrs:
                value = decode(_read_attr(obj, f"{name}{k}"))
                if not isinstance(value, list):
                    raise CorruptFileError(f"attribute '{name}{k}' of {obj.name} is not a list of names")
                parts.extend(value)
                k += 1
            return parts
    except (CorruptFileError, UnsupportedError):
        raise
    except H5_ERRORS as e:
        raise _damaged(f"cannot read attribute '{name}' of {obj.name}", e) from None
    return default


def _read_attr(obj: Any, name: str) -> Any:
    """One attribute, after checking what it declares against the limits."""
    aid = h5py.h5a.open(obj.id, name.encode("utf-8"))
    kind = aid.get_type().get_class()
    if kind not in ATTRIBUTE_CLASSES:
        # Keras writes text and numbers only; other classes (variable-length sequences,
        # references, compounds...) are where libhdf5's conversions of damaged data crash.
        raise CorruptFileError(f"attribute '{name}' of {obj.name} is not text or numbers (HDF5 type class {kind})")
    shape = aid.shape or ()
    n = int(np.prod(shape, dtype=np.float64))
    if n > MAX_ATTRIBUTE_ELEMENTS:
        raise UnsupportedError(f"attribute '{name}' of {obj.name} declares {n} elements; refused")
    nbytes = n * max(aid.dtype.itemsize, 1)
    current_budget().charge(nbytes, f"attribute '{name}' of {obj.name}")
    with native_memory_cap(nbytes + NATIVE_SLACK):
        value = obj.attrs[name]
    if isinstance(value, h5py.Empty):
        raise CorruptFileError(f"attribute '{name}' of {obj.name} is empty")
    if isinstance(value, np.ndarray) and value.dtype.kind not in "SUOfiub":
        raise CorruptFileError(f"attribute '{name}' of {obj.name} holds {value.dtype}, not text or numbers")
    if isinstance(value, (h5py.Reference, h5py.RegionReference)):
        raise CorruptFileError(f"attribute '{name}' of {obj.name} holds an object reference, not text")
    return value


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
        if not isinstance(node, h5py.Group):
            return None
        where = f"{node.name.rstrip('/')}/{part}"
        try:
            with native_memory_cap(NATIVE_SLACK):
                link = node.get(part, getlink=True)
        except H5_ERRORS as e:
            raise _damaged(f"cannot look up '{where}'", e) from None
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink):
            raise UnsupportedError(f"'{where}' is a {type(link).__name__}; links are never followed")
        try:
            with native_memory_cap(NATIVE_SLACK):
                node = node[part]
        except H5_ERRORS as e:
            raise _damaged(f"cannot open '{where}'", e) from None
    return node


def group(parent: Any, name: str) -> Optional[Any]:
    """:func:`member`, which must be a group when it is there."""
    node = member(parent, name)
    if node is not None and not isinstance(node, h5py.Group):
        raise CorruptFileError(f"'{node.name}' is a {type(node).__name__.lower()} where a group was expected")
    return node


def keys(g: Any) -> List[str]:
    """The names in a group, in h5py's (alphabetical) order."""
    try:
        with native_memory_cap(NATIVE_SLACK):
            names = list(g.keys())
    except H5_ERRORS as e:
        raise _damaged(f"cannot list '{g.name}'", e) from None
    for name in names:
        if not isinstance(name, str):  # h5py gives bytes for names that are not UTF-8
            raise CorruptFileError(
                f"group '{g.name}' holds a name that is not UTF-8 text ({name[:40]!r}); the file may be damaged"
            )
    return names


def _damaged(what: str, e: BaseException) -> CorruptFileError:
    return CorruptFileError(f"{what} ({_short(e)}); the file may be truncated or damaged")


def read_dataset(dataset: Any) -> np.ndarray:
    """Read a whole numeric dataset after checking it is safe and sane to read."""
    if not isinstance(dataset, h5py.Dataset):
        raise CorruptFileError(f"'{getattr(dataset, 'name', dataset)}' is not a dataset")
    try:
        if dataset.is_virtual:
            raise UnsupportedError(f"dataset '{dataset.name}' is virtual (maps other files); refused")
        plist = dataset.id.get_create_plist()
        if plist.get_external_count() > 0:
            raise UnsupportedError(f"dataset '{dataset.name}' stores its data in external files; refused")
        for k in range(plist.get_nfilters()):
            code, _, _, filter_name = plist.get_filter(k)
            if code not in BUILTIN_FILTERS:
                label = filter_name.decode("utf-8", "replace") if isinstance(filter_name, bytes) else filter_name
                raise UnsupportedError(
                    f"dataset '{dataset.name}' is compressed with HDF5 filter {code} ({label or 'unnamed'}), "
                    "which would need a plugin library; refused"
                )
        shape = dataset.shape
        if shape is None:
            raise CorruptFileError(f"dataset '{dataset.name}' is empty")
        if dataset.dtype.kind not in "fiub":
            raise CorruptFileError(f"dataset '{dataset.name}' holds {dataset.dtype}, not numbers")
        itemsize = dataset.dtype.itemsize
        n = int(np.prod(shape, dtype=np.float64))
        nbytes = n * itemsize
        budget = current_budget()
        if dataset.chunks is not None:  # HDF5 decompresses a whole chunk, however little of it is used
            budget.check(int(np.prod(dataset.chunks, dtype=np.float64)) * itemsize, f"a chunk of dataset '{dataset.name}'")
        budget.charge(nbytes, f"dataset '{dataset.name}' (shape {tuple(int(d) for d in shape)}, {dataset.dtype})")
        # Within the budget, the data must also be there: HDF5 would otherwise fill the
        # gap with zeros (a few bytes of file asking for gigabytes of memory).
        stored = dataset.id.get_storage_size()
        if nbytes and not plist.get_nfilters() and stored < nbytes:
            raise CorruptFileError(
                f"dataset '{dataset.name}' declares {human(nbytes)} of data but the file stores {human(stored)}; "
                "it may be truncated or damaged"
            )
        if nbytes > MAX_RATIO * stored + RATIO_FLOOR:
            raise UnsupportedError(
                f"dataset '{dataset.name}' expands {human(stored)} to {human(nbytes)}; refused as a compression bomb"
            )
        with native_memory_cap(2 * nbytes + NATIVE_SLACK):
            return np.asarray(dataset[()])
    except (UnsupportedError, CorruptFileError):
        raise
    except H5_ERRORS as e:
        raise _damaged(f"cannot read dataset '{dataset.name}'", e) from None


def _short(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else e.__class__.__name__
    return text[:120]

