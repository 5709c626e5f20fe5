"""Readers: one per container format. Each turns a file into a :class:`~lstm_inspect.model.Model`.

The container is told by its first bytes, never by the file name (real files
called ``.keras`` are HDF5, and ``.h5`` files can be anything).
"""

from __future__ import annotations

import os
from typing import Optional

from ..errors import CorruptFileError, LstmInspectError, NotAKerasFileError
from ..model import Model
from .config import ModelSpec, loads_config, parse_model_config

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"


def read_model(path: str, config: Optional[str] = None) -> Model:
    """Read a Keras model or weights file. ``config`` is an optional path to a
    ``model.to_json()`` JSON or a Keras 3 ``config.json`` describing the architecture."""
    file = str(path)
    try:
        head = _head(file)
        spec = _read_config(config) if config else None
        if head.startswith(HDF5_MAGIC):
            from .legacy_h5 import read_hdf5

            return read_hdf5(file, spec)
        if head.startswith(ZIP_MAGIC):
            from .keras_v3 import read_keras_archive

            return read_keras_archive(file, spec)
    except LstmInspectError as e:
        raise e.with_file(file) from None
    except RecursionError:
        raise CorruptFileError("the file nests its structure too deeply to read; refused", file=file) from None
    except (OSError, RuntimeError) as e:  # libhdf5 errors surfacing where no reader expected one
        text = (str(e).splitlines() or [e.__class__.__name__])[0][:120]
        raise CorruptFileError(f"cannot read this file ({text}); it may be truncated or damaged", file=file) from None
    if not head:
        raise NotAKerasFileError("the file is empty; expected a Keras .h5, .keras or .weights.h5 file", file=file)
    raise NotAKerasFileError(
        "not a Keras file: it is neither HDF5 (.h5, .hdf5, .weights.h5) nor a .keras zip archive", file=file
    )


def _head(file: str) -> bytes:
    if not os.path.exists(file):
        raise NotAKerasFileError("no such file", file=file)
    if os.path.isdir(file):
        raise NotAKerasFileError(
            "is a directory; give a Keras model file (SavedModel directories are not supported)", file=file
        )
    try:
        with open(file, "rb") as fh:
            return fh.read(8)
    except OSError as e:
        raise NotAKerasFileError(f"cannot read the file ({e.strerror or e})", file=file) from None


def _read_config(config: str) -> ModelSpec:
    """The --config file, parsed; its errors are reported under its own path."""
    try:
        with open(config, "rb") as fh:
            data = fh.read(64 * 1024 * 1024 + 1)
    except OSError as e:
        raise NotAKerasFileError(f"cannot read the config file ({e.strerror or e})", file=config) from None
    if len(data) > 64 * 1024 * 1024:
        raise NotAKerasFileError("the config file is larger than 64 MB; refused", file=config)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotAKerasFileError("the config file is not UTF-8 JSON", file=config) from None
    try:
        return parse_model_config(loads_config(text, "the --config file"))
    except LstmInspectError as e:
        raise e.with_file(config) from None
