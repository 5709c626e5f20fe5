"""Limits that keep reading a stranger's file bounded: a memory budget for the bytes
read from datasets, archive members and input arrays, and caps on JSON text.

The budget is per invocation: :func:`memory_budget` opens one for the duration of a
``with`` block (``load()`` and every CLI command do), held in a context variable so
nothing leaks from one call into the next. Every read charges it *before* it
allocates, from the size the file declares, so a file that claims a terabyte is
refused without the terabyte being asked for.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
from typing import Any, Iterator, Optional

from .errors import UnsupportedError

#: Default budget: room for the arrays and their copies on a 24 GB machine.
DEFAULT_MAX_MEMORY = 16 * 1024**3
#: JSON text (configs, metadata) longer than this is refused before parsing.
MAX_JSON_BYTES = 64 * 1024**2
#: JSON nested deeper than this is refused before parsing (real Keras configs stay under 30).
MAX_JSON_DEPTH = 100

_UNITS = {
    "": 1, "b": 1,
    "k": 1024, "kb": 1000, "kib": 1024,
    "m": 1024**2, "mb": 1000**2, "mib": 1024**2,
    "g": 1024**3, "gb": 1000**3, "gib": 1024**3,
    "t": 1024**4, "tb": 1000**4, "tib": 1024**4,
}


def parse_size(text: str) -> int:
    """``"24GB"``, ``"500MiB"``, ``"1e9"`` or ``"123456"`` -> bytes. Raises ValueError."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"{text!r} is not a size; write e.g. 24GB, 500MB, 2GiB or a number of bytes")
    value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if not value >= 1 or value > 2**62:
        raise ValueError(f"{text!r} is not a usable size (between 1 byte and 4 EiB)")
    return int(value)


def human(n: float) -> str:
    """Bytes for people: ``3.6 TiB``, ``16 GiB``, ``300 bytes``."""
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}" if n < 10 * size else f"{n / size:.0f} {unit}"
    return f"{int(n)} bytes"


class MemoryBudget:
    """Bytes the current invocation may still read into memory.

    ``cap_native`` (the CLI sets it) also caps what C libraries may allocate while a
    file is parsed (see :func:`native_memory_cap`)."""

    def __init__(self, limit: int = DEFAULT_MAX_MEMORY, cap_native: bool = False):
        self.limit = int(limit)
        self.used = 0
        self.cap_native = cap_native

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    def charge(self, nbytes: float, what: str) -> None:
        """Count ``nbytes`` about to be read for ``what``; refuse when over the budget."""
        if nbytes > self.remaining:
            before = f" after {human(self.used)} read before it" if self.used else ""
            raise UnsupportedError(
                f"{what} needs {human(nbytes)}{before}, more than the memory limit of {human(self.limit)}; "
                "refused (raise it with --max-memory if the file is trusted and the machine has the memory)"
            )
        self.used += int(nbytes)

    def check(self, nbytes: float, what: str) -> None:
        """Refuse a single allocation of ``nbytes`` larger than what is left, without counting it."""
        if nbytes > self.remaining:
            raise UnsupportedError(
                f"{what} would need {human(nbytes)}, more than the memory limit of {human(self.limit)}; "
                "refused (raise it with --max-memory)"
            )


_current: contextvars.ContextVar[Optional[MemoryBudget]] = contextvars.ContextVar(
    "lstm_inspect_memory_budget", default=None
)


@contextlib.contextmanager
def memory_budget(limit: Optional[int] = None, cap_native: bool = False) -> Iterator[MemoryBudget]:
    """Open a budget of ``limit`` bytes (default :data:`DEFAULT_MAX_MEMORY`) for the block."""
    budget = MemoryBudget(DEFAULT_MAX_MEMORY if limit is None else limit, cap_native=cap_native)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


@contextlib.contextmanager
def ensure_budget(limit: Optional[int] = None) -> Iterator[MemoryBudget]:
    """A new budget when ``limit`` is given or none is open, else the open one."""
    budget = _current.get()
    if limit is None and budget is not None:
        yield budget
        return
    with memory_budget(limit) as budget:
        yield budget


def current_budget() -> MemoryBudget:
    """The open budget; outside any, a fresh default one (so each read is checked alone)."""
    budget = _current.get()
    return budget if budget is not None else MemoryBudget()


def _data_segment() -> Optional[int]:
    """This process's data size as RLIMIT_DATA counts it (Linux: VmData), or None."""
    # Called around every libhdf5 call that reads the file: one unbuffered read, no line iteration.
    try:
        fd = os.open("/proc/self/status", os.O_RDONLY)
        try:
            status = os.read(fd, 1 << 16)
        finally:
            os.close(fd)
        at = status.find(b"\nVmData:")
        if at == -1:
            return None
        end = status.find(b"\n", at + 1)
        return int(status[at + 8:end if end != -1 else None].split()[0]) * 1024
    except (OSError, ValueError, IndexError, AttributeError):
        return None


@contextlib.contextmanager
def native_memory_cap(extra: int) -> Iterator[None]:
    """Let C code in the block allocate at most ``extra`` more bytes (Linux, CLI only).

    libhdf5 trusts sizes it reads from the file: a damaged variable-length string can
    make it allocate and zero gigabytes before it notices the damage. Python cannot
    count that, so while such code runs the process's data limit (RLIMIT_DATA) is
    lowered to what is in use plus ``extra``; an allocation past it fails and libhdf5
    reports an error instead. The limit is process-wide, so this only happens when
    the open budget asks for it (the CLI's do; library callers' do not).
    """
    budget = _current.get()
    used = _data_segment() if budget is not None and budget.cap_native else None
    if used is None:
        yield
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    cap = used + max(int(extra), 0)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if soft != resource.RLIM_INFINITY and soft <= cap:
        yield  # already at least this tight
        return
    resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.S)


def json_depth(text: str) -> int:
    """How deep ``text`` nests ``[`` and ``{``, counted without parsing (strings skipped)."""
    import numpy as np

    if '"' in text:
        text = _STRING.sub("", text)
    steps = np.zeros(256, dtype=np.int8)
    steps[[ord("["), ord("{")]] = 1
    steps[[ord("]"), ord("}")]] = -1
    codes = np.frombuffer(text.encode("utf-8", "replace"), dtype=np.uint8)
    return int(np.cumsum(steps[codes], dtype=np.int64).max(initial=0))


_SURROGATE = re.compile("[\ud800-\udfff]")


def scrub(text: str) -> str:
    """``text`` with lone surrogates (undecodable bytes, or JSON ``\\udc89`` escapes) as
    U+FFFD, so that a name from a file can always be printed."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    if isinstance(value, dict):
        return {scrub(k): _scrubbed(v) for k, v in value.items()}
    return value


def checked_json(text: Any, where: str, error=UnsupportedError) -> Any:
    """Parse JSON text after checking its size and nesting against the caps.

    ``error`` is the exception class for malformed JSON; oversized or overly deep
    JSON raises :class:`UnsupportedError`.
    """
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise error(f"{where} is not UTF-8 text (byte 0x{text[e.start]:02x} at offset {e.start})") from None
    if not isinstance(text, str):
        raise error(f"{where} is not JSON text")
    if len(text) > MAX_JSON_BYTES:
        raise UnsupportedError(f"{where} is {human(len(text))} of JSON, more than the limit of {human(MAX_JSON_BYTES)}; refused")
    if json_depth(text) > MAX_JSON_DEPTH:
        raise UnsupportedError(f"{where} nests JSON more than {MAX_JSON_DEPTH} levels deep; refused")
    import json  # only for files that carry JSON (configs, archive metadata)

    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as e:
        first = str(e).splitlines()[0][:80] if str(e) else ""
        raise error(f"{where} is not valid JSON ({e.__class__.__name__}: {first})") from None
    if "\\u" in text or _SURROGATE.search(text):  # escapes may spell lone surrogates
        value = _scrubbed(value)
    return value
