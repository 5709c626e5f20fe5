"""Writing export artifacts atomically (a temporary file renamed into place), never onto a
file the command reads."""

from __future__ import annotations

import os
import secrets
from typing import Sequence

from ..errors import InputError
from ..reading.files import remove_quietly, same_file, write_error


def write_atomic(path: str, data: bytes, protect: Sequence[str] = ()) -> None:
    path = os.fspath(path)
    for other in map(os.fspath, protect):
        if same_file(path, other):
            raise InputError(f"refusing to overwrite {other!r}, which this command reads; choose another output",
                             file=path)
    if os.path.isdir(path):
        raise InputError("is a directory, not a file", file=path)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as err:
        raise InputError(write_error(err, folder), file=path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        remove_quietly(tmp)
        if isinstance(err, OSError):
            raise InputError(write_error(err, folder), file=path) from None
        raise


def make_folder(path: str, protect: Sequence[str] = ()) -> None:
    """``path`` as a folder for a multi-file export (created when absent)."""
    for other in map(os.fspath, protect):
        if os.path.exists(path) and same_file(path, other):
            raise InputError(f"refusing to overwrite {other!r}, which this command reads", file=path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise InputError("exists and is not a folder; --to torch writes a folder", file=path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise InputError(write_error(err, os.path.dirname(os.path.abspath(path))), file=path) from None
