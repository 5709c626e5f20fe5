"""Reading and writing the files `run` touches: bounded reads, ``.npy``/``.npz`` parsed
from their header and raw bytes (nothing is ever unpickled), and ``.npz`` results
written atomically, never onto a file the command reads."""

from __future__ import annotations

import math
import os
import secrets
import stat
import zipfile
import zlib
from typing import IO, BinaryIO, Callable, Dict, Sequence

import numpy as np
from numpy.lib import format as npy_format

from ..errors import InputError, LstmInspectError
from ..limits import current_budget, human

MAX_TEXT_BYTES = 64 << 20  #: .csv/.tsv/.txt/.json files and stdin
NUMERIC_KINDS = "biuf"


def check_path(path: str) -> os.stat_result:
    try:
        st = os.stat(path)
    except OSError as err:
        raise InputError(read_error(err)) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError("is a directory, not a file")
    return st


def read_error(err: OSError) -> str:
    if isinstance(err, FileNotFoundError):
        return "no such file"
    if isinstance(err, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(err, PermissionError):
        return "cannot read the file (permission denied)"
    return f"cannot read the file ({err.strerror or type(err).__name__})"


def too_large(size: int, limit: int) -> InputError:
    return InputError(f"the file is {mb(size)}; input files are limited to {mb(limit)}")


def check_budget(size: int, what: str = "the file") -> None:
    """Refuse to read ``size`` bytes when they do not fit the memory budget (--max-memory)."""
    budget = current_budget()
    if size > budget.remaining:
        raise InputError(
            f"{what} is {mb(size)}, more than the {human(budget.remaining)} left of the memory limit "
            f"({human(budget.limit)}); raise it with --max-memory"
        )


def mb(n: int) -> str:
    return f"{n / (1 << 20):.0f} MB" if n >= 1 << 20 else f"{n} bytes"


def read_text(path: str) -> str:
    """The file as UTF-8 text (a BOM is allowed), at most MAX_TEXT_BYTES."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_TEXT_BYTES + 1)
    except OSError as err:
        raise InputError(read_error(err)) from None
    if len(data) > MAX_TEXT_BYTES:
        raise too_large(max(len(data), os.stat(path).st_size), MAX_TEXT_BYTES)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})") from None


def read_stdin(stream: IO[str]) -> str:
    try:
        text = stream.read(MAX_TEXT_BYTES + 1)
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text") from None
    except OSError as err:
        raise InputError(f"cannot read standard input ({err.strerror or type(err).__name__})") from None
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError("not UTF-8 text") from None
    if len(text) > MAX_TEXT_BYTES:
        raise InputError(f"more than {mb(MAX_TEXT_BYTES)} on standard input")
    return text


def read_npy(path: str) -> np.ndarray:
    size = check_path(path).st_size
    check_budget(size)
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
            if head != b"\x93NUMPY":
                raise InputError(f"not a .npy file ({what_instead(head)})")
            fh.seek(0)
            return read_array(fh, size, "the array")
    except OSError as err:
        raise InputError(read_error(err)) from None


def what_instead(head: bytes) -> str:
    if head.startswith(b"\x80"):
        return "it is a Python pickle, which is never loaded"
    if head.startswith(b"PK"):
        return "it is a zip archive: name it .npz"
    return "it does not start with the NumPy header"


def read_array(fh, size: int, what: str) -> np.ndarray:
    """One array from an open .npy stream of ``size`` bytes; ``what`` names it in errors."""
    try:
        version = npy_format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = npy_format.read_array_header_2_0(fh)
        else:
            raise InputError(f"{what} uses .npy format version {version[0]}.{version[1]}, which is not read")
    except (ValueError, SyntaxError, TypeError, EOFError) as err:
        raise InputError(f"{what} is not a valid .npy array ({first_line(err)})") from None
    if dtype.hasobject:
        raise InputError(f"{what} holds Python objects (dtype object); pickled data is never loaded")
    if dtype.kind not in NUMERIC_KINDS:
        raise InputError(f"{what} is not numeric (dtype {dtype})")
    nbytes = math.prod(shape) * dtype.itemsize
    data = fh.read(min(nbytes, size))
    if len(data) < nbytes:
        raise InputError(f"{what} is truncated: its header promises {nbytes} bytes of data, the file has {len(data)}")
    try:
        current_budget().charge(nbytes, what)
    except LstmInspectError as err:
        raise InputError(err.detail) from None
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    line = text[0] if text else type(err).__name__
    return line if len(line) <= 160 else line[:157] + "..."


class Npz:
    """The .npy members of an .npz archive, read one at a time on demand."""

    def __init__(self, path: str):
        try:
            self.zip = zipfile.ZipFile(path)
        except OSError as err:
            raise InputError(read_error(err)) from None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as err:
            raise InputError(f"not a valid .npz file ({first_line(err)})") from None
        self.members = {i.filename[:-4]: i for i in self.zip.infolist() if i.filename.endswith(".npy")}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.zip.close()

    def array(self, key: str) -> np.ndarray:
        info = self.members[key]
        what = f"array {key!r}"
        check_budget(info.file_size, what)
        try:
            with self.zip.open(info) as fh:
                return read_array(fh, info.file_size, what)
        except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, OSError, EOFError) as err:
            raise InputError(f"{what} cannot be read ({first_line(err)})") from None


def load_states(path: str) -> Dict[str, Dict[str, np.ndarray]]:
    """Initial states from an .npz keyed ``<layer path>/h`` and ``<layer path>/c``, as float32."""
    path = os.fspath(path)
    states: Dict[str, Dict[str, np.ndarray]] = {}
    try:
        check_path(path)
        with Npz(path) as npz:
            for key in npz.members:
                layer, _, which = key.rpartition("/")
                if not layer or which not in ("h", "c"):
                    raise InputError(f"array {key!r} is not named '<layer path>/h' or '<layer path>/c'")
                states.setdefault(layer, {})[which] = npz.array(key).astype(np.float32)
        if not states:
            raise InputError("holds no arrays; expected '<layer path>/h' and, for LSTM layers, '<layer path>/c'")
    except InputError as err:
        raise err.with_file(path) from None
    return states


def save_npz(path: str, arrays: Dict[str, np.ndarray], protect: Sequence[str] = ()) -> None:
    """Write ``arrays`` as an .npz at ``path`` atomically, never onto a path in ``protect``."""
    save_atomically(path, lambda fh: write_npz(fh, arrays), protect)


def save_atomically(path: str, write: Callable[[BinaryIO], None], protect: Sequence[str] = ()) -> None:
    """``write(fh)`` into a temporary file beside ``path``, then rename it into place, so
    an interrupted write leaves no partial file; never onto a path in ``protect``."""
    path = os.fspath(path)
    for other in map(os.fspath, protect):
        if same_file(path, other):
            message = f"refusing to overwrite {other!r}, which this command reads; choose another output file"
            raise InputError(message, file=path)
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
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        remove_quietly(tmp)
        if isinstance(err, OSError):
            raise InputError(write_error(err, folder), file=path) from None
        raise


def write_npz(fh, arrays: Dict[str, np.ndarray]) -> None:
    """What np.savez writes, without its keyword clashes and with pickling off."""
    with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, value in arrays.items():
            with zf.open(f"{key}.npy", mode="w", force_zip64=True) as member:
                npy_format.write_array(member, np.asarray(value), allow_pickle=False)


def same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def write_error(err: OSError, folder: str) -> str:
    if isinstance(err, FileNotFoundError):
        return f"cannot write: no such folder {folder!r}"
    if isinstance(err, PermissionError):
        return "cannot write the file (permission denied)"
    return f"cannot write the file ({err.strerror or type(err).__name__})"


def remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
