"""Model inputs read from files for ``lstm-inspect run``, and npz files written safely.

``load_inputs`` reads ``.npy``, ``.npz``, ``.csv``/``.tsv``/``.txt`` (one sequence), ``.json``
or JSON on stdin (``-``), matches the arrays to the model's inputs and checks them
against each input's shape and dtype. ``load_states`` reads initial states,
``save_npz`` writes results atomically and never onto a file the command reads.

Arrays are parsed from their ``.npy`` header and raw bytes only: nothing is ever
unpickled or evaluated, and sizes are checked before anything is allocated.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from typing import IO, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import InputError
from .files import (
    Npz,
    check_path,
    first_line,
    read_npy,
    read_stdin,
    read_text,
)

MAX_JSON_DEPTH = 32
TEXT_DELIMITERS = {".csv": ",", ".tsv": "\t", ".txt": None}
FORMATS = ".npy, .npz, .json, .csv, .tsv or .txt (or - for JSON on stdin)"


@dataclass
class InputSpec:
    """One model input: its name, Keras shape (batch axis included) and dtype."""

    name: str
    shape: Tuple[Optional[int], ...]
    dtype: str  #: "float32", or "int32" for Embedding token ids


# ------------------------------------------------------------------------------------
# load_inputs


def load_inputs(
    source: str, specs: List[InputSpec], stdin: Optional[IO[str]] = None
) -> Tuple[List[np.ndarray], List[str]]:
    """Read ``source`` and return one checked array per spec, in specs order, and notes.

    Float inputs come back as float32, integer (token id) inputs in their spec's dtype.
    Notes are one-line remarks for stderr (a batch axis added, NaN values present).
    """
    source = os.fspath(source)
    label = "<stdin>" if source == "-" else source
    notes: List[str] = []
    try:
        values, one_sequence = _read_source(source, specs, stdin, notes)
        arrays = _fit_all(values, specs, one_sequence, notes)
    except InputError as err:
        raise err.with_file(label) from None
    return arrays, notes


def fit_arrays(arrays: Sequence[np.ndarray], specs: List[InputSpec]) -> Tuple[List[np.ndarray], List[str]]:
    """Arrays given in Python, one per spec in specs order, checked and converted as
    :func:`load_inputs` does with what it reads (a batch axis added to one sequence,
    float32 or the spec's integer dtype), and notes."""
    notes: List[str] = []
    if len(arrays) != len(specs):
        raise InputError(f"the model has {_count(len(specs), 'input')} ({_names(s.name for s in specs)}); "
                         f"got {_count(len(arrays), 'array')}")
    return _fit_all([np.asarray(a) for a in arrays], specs, False, notes), notes


def _fit_all(values, specs, one_sequence: bool, notes: List[str]) -> List[np.ndarray]:
    arrays = [_fit(value, spec, one_sequence, notes) for value, spec in zip(values, specs)]
    if len({a.shape[0] for a in arrays}) > 1:
        sizes = ", ".join(f"{s.name!r} {a.shape[0]}" for s, a in zip(specs, arrays))
        raise InputError(f"the inputs hold different numbers of samples ({sizes}); give every input the same batch size")
    return arrays


def _read_source(source, specs, stdin, notes):
    """The raw value for each spec (arrays or parsed JSON) and whether it is one text sequence."""
    if source == "-":
        return _json_values(read_stdin(stdin if stdin is not None else sys.stdin), specs, notes), False
    check_path(source)
    suffix = os.path.splitext(source)[1].lower()
    if suffix == ".npy":
        _one_array_only(specs)
        return [read_npy(source)], False
    if suffix == ".npz":
        return _read_npz_inputs(source, specs, notes), False
    if suffix == ".json":
        return _json_values(read_text(source), specs, notes), False
    if suffix in TEXT_DELIMITERS:
        _one_array_only(specs)
        return [_parse_table(read_text(source), suffix, specs[0].name)], True
    if not suffix:
        raise InputError(f"no file suffix to tell the format; use {FORMATS}")
    raise InputError(f"unknown input format {suffix!r}; use {FORMATS}")


def _one_array_only(specs):
    if len(specs) != 1:
        raise InputError(
            f"the file holds one array; the model has {len(specs)} inputs ({_names(s.name for s in specs)}): "
            "use .npz or .json with one array per input"
        )


def _read_npz_inputs(path: str, specs, notes) -> List[np.ndarray]:
    check_path(path)  # members are checked against the memory budget as they are read
    with Npz(path) as npz:
        keys = _match(list(npz.members), specs, notes)
        return [npz.array(key) for key in keys]


# ------------------------------------------------------------------------------------
# Matching stored arrays to model inputs


def _match(names: List[str], specs: Sequence[InputSpec], notes: List[str]) -> List[str]:
    """The stored name feeding each input: by input name, else by position when counts agree."""
    wanted = [s.name for s in specs]
    if any(w in names for w in wanted):
        missing = [w for w in wanted if w not in names]
        if missing:
            raise InputError(
                f"no array named {missing[0]!r} (the file holds {_names(names)}); "
                f"name one array after each model input: {_names(wanted)}"
            )
        extra = [n for n in names if n not in wanted]
        if extra:
            notes.append(f"ignored {_count(len(extra), 'array')} not named after a model input: {_names(extra)}")
        return wanted
    if len(names) != len(wanted):
        raise InputError(
            f"the file holds {_count(len(names), 'array')}{_paren(names)}; the model has "
            f"{_count(len(wanted), 'input')} ({_names(wanted)}): name one array after each input"
        )
    if len(wanted) > 1:
        pairs = ", ".join(f"{n!r} -> {w!r}" for n, w in zip(names, wanted))
        notes.append(f"array names do not match the model's inputs; taken in order: {pairs}")
    return names


def _names(names, limit: int = 6) -> str:
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _paren(names) -> str:
    return f" ({_names(names)})" if names else ""


def _count(n: int, noun: str) -> str:
    return f"no {noun}s" if n == 0 else f"{n} {noun}" + ("" if n == 1 else "s")


# ------------------------------------------------------------------------------------
# JSON


def _json_values(text: str, specs, notes) -> list:
    """One parsed JSON value per spec, from nested lists, a list of them, or an object."""
    if not text.strip():
        raise InputError("is empty; expected JSON")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
    except RecursionError:
        raise InputError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as err:
        raise InputError(f"not valid JSON ({first_line(err)})") from None
    if isinstance(doc, dict):
        return [doc[key] for key in _match(list(doc), specs, notes)]
    if not isinstance(doc, list):
        raise InputError(
            "expected nested lists of numbers, a list of them (one per input) or an object keyed by "
            f"input name; got {_json_type(doc)}"
        )
    if len(specs) == 1:
        return [doc]
    if len(doc) != len(specs):
        raise InputError(
            f"a list of {len(doc)} arrays for {len(specs)} inputs ({_names(s.name for s in specs)}); "
            "give one array per input, or an object keyed by input name"
        )
    return doc


def _json_type(value) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return {str: "a string", int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _nested_array(value, name: str) -> np.ndarray:
    """Nested lists of numbers as a float64 array; ragged lists, text, null, true refused."""
    shape = _nested_shape(value, name)
    try:
        return np.array(value, dtype=np.float64).reshape(shape)
    except OverflowError:
        raise InputError(f"input {name!r}: a number is too large") from None


def _nested_shape(value, name: str) -> Tuple[int, ...]:
    shape: List[int] = []
    level = [value]
    for _ in range(MAX_JSON_DEPTH + 1):
        lists = [isinstance(v, list) for v in level]
        if not any(lists):
            _check_numbers(level, shape, name)
            return tuple(shape)
        if not all(lists):
            p = lists.index(False)
            if _is_number(level[p]):
                raise InputError(
                    f"input {name!r}: ragged nested lists: a number at {_at(p, shape)}, "
                    f"a list at {_at(lists.index(True), shape)}"
                )
            _check_numbers([level[p]], [], name, where=_at(p, shape))
        first = len(level[0])
        for p, v in enumerate(level):
            if len(v) != first:
                raise InputError(
                    f"input {name!r}: ragged nested lists: {_count(len(v), 'item')} at {_at(p, shape)}, "
                    f"{_count(first, 'item')} at {_at(0, shape)}"
                )
        shape.append(first)
        level = [x for v in level for x in v]
    raise InputError(f"input {name!r}: nested deeper than {MAX_JSON_DEPTH} levels")


def _check_numbers(items, shape, name, where=None):
    for p, v in enumerate(items):
        if not _is_number(v):
            at = where or (_at(p, shape) if shape else None)
            raise InputError(f"input {name!r}: non-numeric value {_show(v)}" + (f" at {at}" if at else ""))


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _at(flat: int, shape: Sequence[int]) -> str:
    """Index of the ``flat``-th item of a level whose parents have ``shape``."""
    return "index " + _shape(np.unravel_index(flat, tuple(shape))) if shape else "the top"


def _show(v) -> str:
    text = repr(v) if isinstance(v, str) else json.dumps(v)
    return text if len(text) <= 40 else text[:37] + "..."


# ------------------------------------------------------------------------------------
# .csv / .tsv / .txt: one sequence, rows are time steps


def _parse_table(text: str, suffix: str, name: str) -> np.ndarray:
    delimiter = TEXT_DELIMITERS[suffix]
    if delimiter == "," and "," not in text and ";" in text:
        delimiter = ";"
    rows: List[List[float]] = []
    first_row = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = line.split(delimiter) if delimiter else line.split()
        _refuse_decimal_commas(line, cells, delimiter, number)
        if not rows and all(_number(c) is None for c in cells):
            raise InputError(
                f"row {number} is a header ({_names(c.strip() for c in cells)}); "
                "the file must hold numbers only, one time step per row"
            )
        rows.append(_parse_row(cells, number, name))
        first_row = first_row or number
        if len(rows[-1]) != len(rows[0]):
            raise InputError(
                f"input {name!r}: row {number} has {len(rows[-1])} values; row {first_row} has {len(rows[0])}"
            )
    if not rows:
        raise InputError(f"input {name!r}: the file holds no numbers")
    return np.array(rows, dtype=np.float64)


_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?")


def _refuse_decimal_commas(line: str, cells: List[str], delimiter: Optional[str], row: int) -> None:
    """Numbers written with a decimal comma (``0,725``, as many locales write them) are
    refused by name: read as two columns they would be wrong numbers."""
    if delimiter == ",":
        if ";" not in line:
            return
        cells = line.split(";")  # 0,725;1,5: semicolons between values, commas inside them
    found = next((c.strip() for c in cells if _DECIMAL_COMMA.fullmatch(c.strip())), None)
    if found is not None:
        raise InputError(
            f"row {row} holds a number with a decimal comma ({found!r}); write numbers with a decimal point "
            "(0.725) and separate values with commas, tabs or spaces"
        )


def _parse_row(cells: List[str], row: int, name: str) -> List[float]:
    values = []
    for column, cell in enumerate(cells, start=1):
        value = _number(cell)
        if value is None:
            what = "empty value" if not cell.strip() else f"non-numeric value {cell.strip()!r}"
            raise InputError(f"input {name!r}: {what} at row {row}, column {column}")
        values.append(value)
    return values


def _number(cell: str) -> Optional[float]:
    cell = cell.strip()
    if not cell or "_" in cell:
        return None
    try:
        return float(cell)
    except ValueError:
        return None


# ------------------------------------------------------------------------------------
# Fitting one array to one input


def _fit(value, spec: InputSpec, one_sequence: bool, notes: List[str]) -> np.ndarray:
    arr = value if isinstance(value, np.ndarray) else _nested_array(value, spec.name)
    if one_sequence:
        arr = _table_as_sample(arr, spec)
    arr = _add_batch_axis(arr, spec, notes)
    _check_shape(arr, spec)
    if np.dtype(spec.dtype).kind in "iu":
        return _token_ids(arr, spec)
    return _floats(arr, spec, notes)


def _table_as_sample(arr: np.ndarray, spec: InputSpec) -> np.ndarray:
    """A text table (rows, columns) as one sample without batch axis."""
    rank = len(spec.shape)
    if rank == 3:
        return arr
    if rank == 2 and 1 in arr.shape:
        return arr.reshape(-1)
    if rank == 2:
        raise InputError(
            f"input {spec.name!r} expects one row or one column of values (shape {_shape(spec.shape)}); "
            f"the file has {arr.shape[0]} rows of {arr.shape[1]} values"
        )
    raise InputError(
        f"input {spec.name!r} expects shape {_shape(spec.shape)}; a text file holds one 2-D sequence: "
        "use .npy, .npz or .json"
    )


def _add_batch_axis(arr: np.ndarray, spec: InputSpec, notes: List[str]) -> np.ndarray:
    rank = len(spec.shape)
    if rank < 2 or arr.ndim != rank - 1:
        return arr
    kind = "sequence" if rank >= 3 or _is_int(spec) else "sample"
    notes.append(f"input {spec.name!r}: one {kind} of shape {_shape(arr.shape)}; added a batch axis")
    return arr[np.newaxis]


def _check_shape(arr: np.ndarray, spec: InputSpec) -> None:
    expects = f"(shape {_shape(spec.shape)})"
    if arr.ndim == 0:
        raise InputError(f"input {spec.name!r} is a single number; the model expects shape {_shape(spec.shape)}")
    if arr.ndim != len(spec.shape):
        raise InputError(
            f"input {spec.name!r} has {arr.ndim} dimensions {_shape(arr.shape)}; "
            f"the model expects {len(spec.shape)} {expects}"
        )
    for axis, (want, got) in enumerate(zip(spec.shape, arr.shape)):
        if want is not None and int(want) != got:
            size = _axis_size(spec, axis, got)
            raise InputError(f"input {spec.name!r} has {size}; the model expects {want} {expects}")
    if arr.size == 0:
        raise InputError(f"input {spec.name!r} is empty (shape {_shape(arr.shape)})")


def _axis_size(spec: InputSpec, axis: int, size: int) -> str:
    rank = len(spec.shape)
    if axis == 0:
        return f"batch size {size}"
    if axis == 1 and (rank >= 3 or _is_int(spec)):
        return f"{size} time steps"
    if axis == rank - 1 and rank <= 3:
        return f"{size} features per step" if rank == 3 else f"{size} features"
    return f"size {size} on axis {axis}"


def _floats(arr: np.ndarray, spec: InputSpec, notes: List[str]) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        out = arr.astype(spec.dtype)
    bad = int(np.count_nonzero(~np.isfinite(out)))
    if bad:
        notes.append(f"input {spec.name!r}: {bad} of {out.size} values are NaN or infinite")
    return out


def _token_ids(arr: np.ndarray, spec: InputSpec) -> np.ndarray:
    name, dtype = spec.name, np.dtype(spec.dtype)
    if arr.dtype.kind == "f":
        _first_bad(arr, ~np.isfinite(arr) | (arr != np.floor(arr)), f"input {name!r} takes whole-number token ids; got")
    _first_bad(arr, arr < 0, f"input {name!r}: token ids must not be negative; got")
    _first_bad(arr, arr > np.iinfo(dtype).max, f"input {name!r}: token id too large for {dtype}; got")
    return arr.astype(dtype)


def _first_bad(arr: np.ndarray, bad: np.ndarray, message: str) -> None:
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        value = arr[index].item()
        raise InputError(f"{message} {value!r} at index {_shape(index)}")


def _is_int(spec: InputSpec) -> bool:
    return np.dtype(spec.dtype).kind in "iu"


def _shape(shape) -> str:
    return repr(tuple(None if d is None else int(d) for d in shape))
