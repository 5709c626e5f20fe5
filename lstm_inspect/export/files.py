"""Writing export artifacts atomically (a temporary file renamed into place), never onto a
file the command reads."""

from __future__ import annotations

import os
from typing import Sequence

from ..errors import InputError
from ..reading.files import same_file, save_atomically, write_error


def write_atomic(path: str, data: bytes, protect: Sequence[str] = ()) -> None:
    """``data`` written to ``path`` as ``run --npz`` writes its file (reading.files.save_atomically)."""
    save_atomically(path, lambda fh: fh.write(data), protect)


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
